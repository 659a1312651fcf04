// Package engine is residency-operator's one decision, pure Go with no API calls, used by the
// admission webhooks, the controllers and `kubectl residency` alike:
//
//   - where a node is (LocateNode: region, zone, country, trust) and which Jurisdictions it is in
//     (JurisdictionMatcher, JurisdictionsOf);
//   - which stores govern an object and which an exception lifts (Govern), by enforcement mode;
//   - what is permitted (Requirement, Terms: node selector terms over the operator's jurisdiction
//     labels) and how it is ANDed with a pod's own affinity (IntersectPlacement);
//   - what is wrong with a pod or claim (DecidePod, DecideClaim): findings with a reason, a
//     severity, the field and the message, written once for every caller;
//   - whether a node is permitted (NodePermitted: the scheduler's own node-affinity matcher), for
//     volumes and regions too through stand-in nodes (PlaceOf), and whether an evicted pod's
//     replacement could run anywhere (PlaceableOn).
//
// Its correctness is tested with tables, property tests and fuzzing; docs/architecture.md says how
// the callers use it.
package engine
