-- Argo CD health check for dataresidency.io/Jurisdiction (residency-operator).
-- Healthy: Ready=True (its labels are on the nodes). Degraded: Stalled=True or Ready=False.
-- The chart puts health/common.lua before this part: it leaves hs, cond, text and ready (True).
hs.status = "Healthy"
hs.message = text(ready, "Ready")
return hs
