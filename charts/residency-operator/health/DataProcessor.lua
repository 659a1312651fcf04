-- Argo CD health check for dataresidency.io/DataProcessor (residency-operator).
-- Healthy: Ready=True (its jurisdictions exist). Degraded: Stalled=True or Ready=False.
-- The chart puts health/common.lua before this part: it leaves hs, cond, text and ready (True).
hs.status = "Healthy"
hs.message = text(ready, "Ready")
return hs
