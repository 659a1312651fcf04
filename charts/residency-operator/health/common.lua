-- The part every kind's Argo CD health check shares (residency-operator): the chart renders it
-- before the kind's own part (health/<Kind>.lua), so that the rules for Ready, Reconciling,
-- Stalled and observedGeneration (api/v1alpha1/conditions.go) are written once.
-- Runs in Argo CD's Lua sandbox (base and table libraries only: no string library), on whatever
-- object Argo CD has, so every field is checked before it is used. docs/gitops.md explains it.
-- Leaves hs, cond, text and ready for the kind's part, with Ready=True.
local hs = {status = "Progressing", message = "Waiting for the operator"}
if type(obj) ~= "table" then return hs end
local meta = obj.metadata
if type(meta) ~= "table" then meta = {} end
if meta.deletionTimestamp ~= nil then
  hs.message = "Deleting"
  return hs
end
local st = obj.status
if type(st) ~= "table" then return hs end
local generation = tonumber(meta.generation)
local observed = tonumber(st.observedGeneration)
if generation ~= nil and (observed == nil or observed < generation) then return hs end
local cond = {}
if type(st.conditions) == "table" then
  for _, c in ipairs(st.conditions) do
    if type(c) == "table" and type(c.type) == "string" then cond[c.type] = c end
  end
end
local function text(c, fallback)
  if type(c.message) == "string" and c.message ~= "" then return c.message end
  if type(c.reason) == "string" and c.reason ~= "" then return c.reason end
  return fallback
end
local ready = cond["Ready"]
if ready == nil then return hs end
if cond["Stalled"] ~= nil and cond["Stalled"].status == "True" then
  hs.status = "Degraded"
  hs.message = text(cond["Stalled"], "Stalled")
  return hs
end
if cond["Reconciling"] ~= nil and cond["Reconciling"].status == "True" then
  hs.message = text(cond["Reconciling"], "Reconciling")
  return hs
end
if ready.status == "False" then
  hs.status = "Degraded"
  hs.message = text(ready, "Not ready")
  return hs
end
if ready.status ~= "True" then
  hs.message = text(ready, "Waiting for the operator")
  return hs
end
