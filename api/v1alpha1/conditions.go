package v1alpha1

// Condition types. Each says which status is the good one.
const (
	// ReadyCondition (True is good) says the object's spec was resolved: every referenced
	// Jurisdiction, store or processor exists and the spec can be enforced.
	ReadyCondition = "Ready"

	// CompliantCondition (True is good) says every governed pod and volume of a store is in a
	// permitted jurisdiction, or exempted, and its processors pass the checks.
	CompliantCondition = "Compliant"

	// SelectorTrustedCondition (True is good) says a Jurisdiction's nodeSelector uses only label keys
	// that a kubelet cannot set on its own Node.
	SelectorTrustedCondition = "SelectorTrusted"

	// EgressRestrictedCondition (True is good) says, for a store with egress: Restrict, that the
	// operator's NetworkPolicy is in place.
	EgressRestrictedCondition = "EgressRestricted"

	// ActiveCondition (True means the exemption applies now) is set on ResidencyExceptions.
	ActiveCondition = "Active"
)

// Condition reasons.
const (
	// ReasonResolved: everything the spec refers to exists.
	ReasonResolved = "Resolved"
	// ReasonJurisdictionNotFound: the spec names a Jurisdiction that does not exist.
	ReasonJurisdictionNotFound = "JurisdictionNotFound"
	// ReasonNodesLabelled: the Jurisdiction's labels are in line with its spec on every node.
	ReasonNodesLabelled = "NodesLabelled"
	// ReasonKubeletSettableKeys: a nodeSelector uses label keys a kubelet may set on itself.
	ReasonKubeletSettableKeys = "KubeletSettableKeys"
	// ReasonRestrictedKeys: a nodeSelector uses only keys that kubelets cannot set, or none at all.
	ReasonRestrictedKeys = "RestrictedKeys"
	// ReasonAllCompliant: no violation.
	ReasonAllCompliant = "AllCompliant"
	// ReasonViolations: at least one governed object is outside the permitted jurisdictions.
	ReasonViolations = "Violations"
	// ReasonProcessorFindings: a processor the store names fails a check.
	ReasonProcessorFindings = "ProcessorFindings"
	// ReasonNetworkPolicyApplied: the store's egress NetworkPolicy is in place.
	ReasonNetworkPolicyApplied = "NetworkPolicyApplied"
	// ReasonNetworkPolicyConflict: a NetworkPolicy the operator does not own has the name it needs.
	ReasonNetworkPolicyConflict = "NetworkPolicyConflict"
	// ReasonNotYetActive: an exception's start time is in the future.
	ReasonNotYetActive = "NotYetActive"
	// ReasonWithinWindow: an exception applies now.
	ReasonWithinWindow = "WithinWindow"
	// ReasonExpired: an exception's expiresAt has passed.
	ReasonExpired = "Expired"
)
