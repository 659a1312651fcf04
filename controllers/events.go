package controllers

import "github.com/residency-operator/residency-operator/internal/engine"

// Event reasons, one constant each so that they can be found with grep and filtered with
// `kubectl get events --field-selector reason=...`. Events fire on transitions only.
const (
	// EventLocationUntrusted: a node's location claim contradicts what cannot be forged.
	EventLocationUntrusted = "LocationUntrusted"
	// EventLocationUnknown: nothing locates a node.
	EventLocationUnknown = "LocationUnknown"
	// EventViolationDetected: a store found a governed object outside its jurisdictions.
	EventViolationDetected = "ViolationDetected"
	// EventResidencyViolation: the same, recorded on the offending object.
	EventResidencyViolation = "ResidencyViolation"
	// EventCompliant: a store's violations are all resolved.
	EventCompliant = "Compliant"
	// EventEvicted: a violating pod was evicted.
	EventEvicted = "Evicted"
	// EventEvictionBlocked: a PodDisruptionBudget refused an eviction; it is retried.
	EventEvictionBlocked = "EvictionBlocked"
	// EventEvictionHeld: a violating pod is not evicted because no Ready, schedulable node is
	// permitted for its replacement; it is evicted once one appears.
	EventEvictionHeld = "EvictionHeld"
	// EventExceptionActive and EventExceptionExpired announce an exception's window.
	EventExceptionActive  = "ExceptionActive"
	EventExceptionExpired = "ExceptionExpired"
	// EventAdmissionNotCompiled: a namespace's stores could not be compiled into admission
	// policies; the previous policies stay in force.
	EventAdmissionNotCompiled = "AdmissionNotCompiled"
	// EventPlacementRefused: a pod held by the placement gate could not be placed on release.
	EventPlacementRefused = "PlacementRefused"
	// EventHostPathData: governed pods mount hostPath volumes (more of them than before).
	EventHostPathData = "HostPathData"
)

// Event actions: what the operator was doing.
const (
	actionLocate          = "Locate"
	actionAudit           = "Audit"
	actionEvict           = "Evict"
	actionExempt          = "Exempt"
	actionCheckProcessors = "CheckProcessors"
	actionRestrictEgress  = "RestrictEgress"
)

// locationEvents maps a node's location problem to its Event reason.
var locationEvents = map[string]string{
	engine.ProblemUntrusted: EventLocationUntrusted,
	engine.ProblemUnknown:   EventLocationUnknown,
}
