-- Argo CD health check for dataresidency.io/PersonalDataStore (residency-operator).
-- Healthy: Ready=True and not Compliant=False. Degraded: Stalled=True, Ready=False, or Compliant=False
-- (the violations are in the Compliant message: what a person looking at the application wants).
-- The chart puts health/common.lua before this part: it leaves hs, cond, text and ready (True).
local compliant = cond["Compliant"]
if compliant ~= nil and compliant.status == "False" then
  hs.status = "Degraded"
  hs.message = text(compliant, "Not compliant")
  return hs
end
hs.status = "Healthy"
if compliant ~= nil and compliant.status == "True" then
  hs.message = text(compliant, "Compliant")
else
  hs.message = text(ready, "Ready")
end
return hs
