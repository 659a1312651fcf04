package v1alpha1

// Condition types. Each says which status is the good one.
//
// Every kind carries Ready, Reconciling and Stalled with status.observedGeneration, in the shape
// kstatus (sigs.k8s.io/cli-utils), Flux's health checks and Argo CD's health scripts read:
//
//   - observedGeneration below metadata.generation: the latest spec has not been looked at yet.
//   - Reconciling=True: the operator is working towards the latest spec; a step failed with an
//     error that retrying may fix (reason ReconcileError, the error in the message) or a
//     Jurisdiction is removing its labels before it goes (reason Deleting).
//   - Stalled=True: the spec cannot be enforced until a person changes something (an invalid
//     selector, a Jurisdiction that does not exist); the reason and message say what.
//   - Ready: the summary. True when the latest spec is reconciled and in force; False, with the
//     reason of Reconciling or Stalled, otherwise.
//
// Reconciling and Stalled are "abnormal-true": they are removed, not set False, when they no longer
// hold. Compliant (stores), Active (exceptions), SelectorTrusted (Jurisdictions) and
// EgressRestricted (stores) add facts that Ready does not summarise: a store can be Ready (its
// policy is in force) and not Compliant (something runs outside). EvictionHeld (stores) is
// abnormal-true like Stalled: present only while the operator holds back an eviction.
const (
	// ReadyCondition (True is good) says the latest spec is reconciled and in force: every
	// referenced Jurisdiction, store or processor exists and its selectors compile.
	ReadyCondition = "Ready"

	// ReconcilingCondition (abnormal-true) says the operator is still working towards the latest
	// spec: it will retry on its own.
	ReconcilingCondition = "Reconciling"

	// StalledCondition (abnormal-true) says the operator cannot make progress until a person fixes
	// the spec or creates what it refers to.
	StalledCondition = "Stalled"

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

	// EvictionHeldCondition (abnormal-true: removed, not set False, when nothing is held) says a
	// store in Enforce mode does not evict violating pods whose grace period has passed, because
	// evicting them would not help: no Ready, schedulable node is permitted for their
	// replacements (reason NoPermittedCapacity). The message names the held pods (at most 5) and
	// why the nodes of the permitted jurisdictions cannot take them; status.evictionsHeld counts
	// them. The evictions happen on their own once such a node appears.
	EvictionHeldCondition = "EvictionHeld"
)

// Condition reasons.
const (
	// ReasonResolved: everything the spec refers to exists.
	ReasonResolved = "Resolved"
	// ReasonReconcileError: a reconcile step failed with an error that retrying may fix; the
	// message names the step and the error.
	ReasonReconcileError = "ReconcileError"
	// ReasonInvalidSelector: a selector of the spec does not compile (a stored object that predates
	// a validation rule), so it would select nothing.
	ReasonInvalidSelector = "InvalidSelector"
	// ReasonDeleting: a Jurisdiction is removing its labels from nodes before it goes.
	ReasonDeleting = "Deleting"
	// ReasonNoNodes: a Jurisdiction's labels are in line, and no node is in it; pods allowed only
	// there stay Pending.
	ReasonNoNodes = "NoNodes"
	// ReasonTooManyTerms: the permitted set cannot be written as a node affinity of at most
	// 32 terms.
	ReasonTooManyTerms = "TooManyTerms"
	// ReasonStoreNotFound: an exception names a store that does not exist in its namespace.
	ReasonStoreNotFound = "StoreNotFound"
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
	// ReasonEgressWidened: another NetworkPolicy selects governed pods and allows them egress.
	ReasonEgressWidened = "EgressWidened"
	// ReasonNotYetActive: an exception's start time is in the future.
	ReasonNotYetActive = "NotYetActive"
	// ReasonWithinWindow: an exception applies now.
	ReasonWithinWindow = "WithinWindow"
	// ReasonExpired: an exception's expiresAt has passed.
	ReasonExpired = "Expired"
	// ReasonPendingApproval: no one allowed to approve has approved the exception's current spec.
	ReasonPendingApproval = "PendingApproval"
	// ReasonApprovalDenied: an approver denied the exception's current spec.
	ReasonApprovalDenied = "ApprovalDenied"
	// ReasonApprovalOutdated: the spec changed after the decision on it, which voids the decision.
	ReasonApprovalOutdated = "ApprovalOutdated"
	// ReasonNoPermittedCapacity: no Ready, schedulable node is permitted for a violating pod (by
	// its stores, its own nodeSelector and required affinity, and the taints it tolerates), so its
	// eviction is held.
	ReasonNoPermittedCapacity = "NoPermittedCapacity"
	// ReasonNoPermittedCluster: a governed resource template has no permitted member cluster to
	// be placed on (Stalled).
	ReasonNoPermittedCluster = "NoPermittedCluster"
	// ReasonEvictionBrake: a large share of the cluster's governed pods became violations at once,
	// so every eviction is paused until a person resumes them.
	ReasonEvictionBrake = "EvictionBrake"
)
