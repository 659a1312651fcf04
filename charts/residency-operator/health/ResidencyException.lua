-- Argo CD health check for dataresidency.io/ResidencyException (residency-operator).
-- Healthy: Ready=True, whether or not the exemption applies now (Active); the message says which,
-- and whether it awaits approval (an exception that exempts nothing breaks no promise).
-- Degraded: Stalled=True or Ready=False (e.g. it names a store that does not exist).
-- The chart puts health/common.lua before this part: it leaves hs, cond, text and ready (True).
hs.status = "Healthy"
local active = cond["Active"]
if active == nil then
  hs.message = text(ready, "Ready")
elseif active.status == "True" then
  hs.message = "Active: " .. text(active, "exempts matching objects now")
elseif active.reason == "Expired" then
  hs.message = "Expired: " .. text(active, "the stores' rules apply again")
elseif active.reason == "NotYetActive" then
  hs.message = "Not yet active: " .. text(active, "starts later")
elseif active.reason == "PendingApproval" or active.reason == "ApprovalOutdated" then
  hs.message = "Pending approval: " .. text(active, "exempts nothing until an approver approves it")
elseif active.reason == "ApprovalDenied" then
  hs.message = "Denied: " .. text(active, "exempts nothing")
else
  hs.message = "Not active: " .. text(active, "the stores' rules apply")
end
return hs
