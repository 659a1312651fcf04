// Package rules is the one table of residency rules: stable IDs (RES001, …) that the CLI's
// `check` reports (text, JSON, JUnit, SARIF) and the operator's PolicyReports carry, and the map
// from the engine's finding reasons to them. Every caller keys on these IDs; none keeps its own.
package rules

import "github.com/residency-operator/residency-operator/internal/engine"

// Severity is how bad a finding is: errors fail a pipeline, warnings do not.
type Severity string

const (
	// Error: admission would deny the object, or the policy cannot work as written.
	Error Severity = "error"
	// Warning: something a person should look at that does not by itself break residency, or
	// that cannot be told offline.
	Warning Severity = "warning"
)

// Rule is a kind of finding, with a stable ID that CI systems key on.
type Rule struct {
	ID   string
	Name string
	// Short says what the rule checks, in one line.
	Short string
	// Help says how to fix a finding, for SARIF viewers and --help.
	Help string
	// Default is the severity findings of this rule usually have; some are errors against a live
	// cluster and warnings offline, or warnings when the store only warns or audits.
	Default Severity
}

// The rules. IDs are never reused: a removed rule leaves a gap.
var (
	Placement = Rule{ID: "RES001", Name: "placement-contradicts-store", Default: Error,
		Short: "A governed pod template's own nodeSelector or required node affinity allows no place its stores permit.",
		Help:  "Point the nodeSelector or node affinity at regions of the permitted jurisdictions, or remove it and let residency-operator inject the placement."}
	StoresDisagree = Rule{ID: "RES002", Name: "stores-disagree", Default: Error,
		Short: "The stores that govern an object have no allowed jurisdiction in common, so no node is permitted.",
		Help:  "Give the stores a common allowed jurisdiction, or change the object's labels so that fewer stores select it."}
	UnknownLocation = Rule{ID: "RES003", Name: "unknown-location", Default: Warning,
		Short: "A governed pod template names a region, zone, country or jurisdiction that cannot be located.",
		Help:  "Use a region the catalog knows, add the region to a Jurisdiction's regions, or pass --provider when a region name is shared by several clouds."}
	Storage = Rule{ID: "RES004", Name: "storage-not-confined", Default: Error,
		Short: "A governed claim's StorageClass may provision the volume outside the permitted regions.",
		Help:  "Use a StorageClass with volumeBindingMode: WaitForFirstConsumer, or with allowedTopologies limited to regions of the permitted jurisdictions."}
	JurisdictionNotFound = Rule{ID: "RES005", Name: "jurisdiction-not-found", Default: Error,
		Short: "A store or processor names a Jurisdiction that is not defined.",
		Help:  "Add the Jurisdiction's manifest to the checked files, fix the name, or check against the cluster's policies with --cluster."}
	ProcessorNotFound = Rule{ID: "RES006", Name: "processor-not-found", Default: Error,
		Short: "A store names a DataProcessor that is not defined.",
		Help:  "Add the DataProcessor's manifest, fix the name, or remove it from spec.processors."}
	ProcessorJurisdiction = Rule{ID: "RES007", Name: "processor-outside-jurisdictions", Default: Error,
		Short: "A store shares data with a processor that processes in none of the store's allowed jurisdictions.",
		Help:  "Use a processor in a permitted jurisdiction, or stop sharing with it."}
	ProcessorCategories = Rule{ID: "RES008", Name: "processor-categories-not-covered", Default: Error,
		Short: "A store shares data with a processor that may not receive every data category the store holds (data minimisation).",
		Help:  "Split the store so the processor only gets the categories it needs, or widen the processor's dataCategories if the policy allows."}
	ExceptionExpired = Rule{ID: "RES009", Name: "exception-expired", Default: Warning,
		Short: "A ResidencyException has expired and exempts nothing any more.",
		Help:  "Remove the exception, or renew it with a new expiresAt and a new approval."}
	NodeName = Rule{ID: "RES010", Name: "pinned-to-node", Default: Warning,
		Short: "A governed pod is pinned by spec.nodeName to a node that is not permitted, or whose location cannot be checked offline.",
		Help:  "Remove spec.nodeName and let the scheduler place the pod on a permitted node."}
	StorageClassNotFound = Rule{ID: "RES011", Name: "storage-class-not-found", Default: Warning,
		Short: "A governed claim names a StorageClass that is not defined, so where its volume would be provisioned is unknown.",
		Help:  "Add the StorageClass's manifest to the checked files, check against the cluster with --cluster, or create the StorageClass first."}
	TooManyTerms = Rule{ID: "RES012", Name: "placement-too-complex", Default: Error,
		Short: "The permitted nodes of an object need more node selector terms than admission allows.",
		Help:  "Let fewer stores govern the object, allow fewer jurisdictions per store, or define one Jurisdiction for the places the stores share."}
	ExceptionStore = Rule{ID: "RES013", Name: "exception-store-not-found", Default: Warning,
		Short: "A ResidencyException lifts a store that does not exist in its namespace.",
		Help:  "Fix the store name, or remove the exception."}
	Volume = Rule{ID: "RES014", Name: "volume-not-permitted", Default: Error,
		Short: "A governed claim is pre-bound to a PersistentVolume outside the permitted jurisdictions, or of unknown location.",
		Help:  "Bind the claim to a volume in a permitted region, label the volume with its region, or remove spec.volumeName."}
	InvalidPolicy = Rule{ID: "RES015", Name: "invalid-policy", Default: Error,
		Short: "A policy object has a spec the API server would reject or that can never match.",
		Help:  "Fix the field the message names; `kubectl apply --dry-run=server` shows the API server's own message."}
	SelectorTrust = Rule{ID: "RES016", Name: "jurisdiction-selector-forgeable", Default: Warning,
		Short: "A Jurisdiction's nodeSelector uses label keys that a kubelet may set on its own Node.",
		Help:  "Use label keys under a *.node-restriction.kubernetes.io/ prefix, which kubelets cannot set."}
	Duplicate = Rule{ID: "RES017", Name: "duplicate-object", Default: Warning,
		Short: "The same object is defined more than once in the checked manifests; the last one read is the one checked against.",
		Help:  "Check one rendering of each object (an overlay, not its base as well), or remove the duplicate."}
	HostPath = Rule{ID: "RES019", Name: "governed-pod-hostpath", Default: Warning,
		Short: "A governed pod template mounts a hostPath volume: what it writes there stays on the node when the pod moves or the node leaves the jurisdiction.",
		Help:  "Keep personal data in a PersistentVolumeClaim the store's volumeSelector governs, or make sure the host path holds none."}
	ExceptionNotApproved = Rule{ID: "RES020", Name: "exception-not-approved", Default: Warning,
		Short: "A ResidencyException in the manifests is not approved yet: it exempts nothing until an approver who did not request it approves it in the cluster.",
		Help:  "Apply the exception, have someone with the residency-approver role run kubectl residency approve, then check the workloads it exempts with --cluster."}
	ClusterPolicyOutside = Rule{ID: "RES021", Name: "cluster-policy-outside", Default: Error,
		Short: "A Karmada PropagationPolicy or ClusterPropagationPolicy, or an OCM Placement, could place a governed namespace's templates on member clusters outside the permitted jurisdictions, and admission cannot narrow it.",
		Help:  "Add the jurisdiction label the message names to the policy's cluster label selector (a Karmada cluster affinity can require only one jurisdiction), or move ungoverned workloads' policies to another namespace."}
	ClusterPolicyPurge = Rule{ID: "RES022", Name: "cluster-failover-purges", Default: Warning,
		Short: "A governed PropagationPolicy's application failover removes the workload from its cluster even when no permitted cluster can take it over (karmada#7455).",
		Help:  "Set spec.failover.application.purgeMode: Never, so that a person decides what happens when no permitted cluster is left."}
	ClusterPolicyNarrowed = Rule{ID: "RES023", Name: "cluster-policy-narrowed-at-admission", Default: Warning,
		Short: "A multi-cluster placement policy of a governed namespace will be narrowed at admission: the live object will differ from the manifest, which GitOps tools show as drift.",
		Help:  "Write the jurisdiction labels the message names into the policy's cluster label selectors in the manifest."}
	NamespacePropagated = Rule{ID: "RES024", Name: "governed-namespace-propagated", Default: Warning,
		Short: "Karmada copies every namespace of the hub to every member cluster, outside the permitted jurisdictions too, unless the namespace is labelled to skip it.",
		Help:  "Label the Namespace namespace.karmada.io/skip-auto-propagation: \"true\" and propagate it with a policy of its own that its stores narrow."}
	ApplyOrder = Rule{ID: "RES018", Name: "store-applied-with-its-workloads", Default: Warning,
		Short: "A store is applied together with the workloads it governs, in a namespace not labelled to wait for its policies: GitOps tools apply workloads before custom resources, so their first pods could be scheduled unplaced.",
		Help:  "Add the Namespace to the same manifests with the label dataresidency.io/await-policies: \"true\", or apply the store first (Argo CD sync-wave, Flux dependsOn)."}
)

// All lists every rule, for SARIF and documentation.
var All = []Rule{
	Placement, StoresDisagree, UnknownLocation, Storage, JurisdictionNotFound,
	ProcessorNotFound, ProcessorJurisdiction, ProcessorCategories, ExceptionExpired,
	NodeName, StorageClassNotFound, TooManyTerms, ExceptionStore, Volume,
	InvalidPolicy, SelectorTrust, Duplicate, ApplyOrder, HostPath, ExceptionNotApproved,
	ClusterPolicyOutside, ClusterPolicyPurge, ClusterPolicyNarrowed, NamespacePropagated,
}

// ByID returns the rule with id, and false when there is none.
func ByID(id string) (Rule, bool) {
	for _, r := range All {
		if r.ID == id {
			return r, true
		}
	}
	return Rule{}, false
}

// byReason maps the engine's reasons to rules. Reasons of the running audit that the offline check
// never sees map too, so that the operator's PolicyReports name a rule for every finding:
// PlacementMissing is RES018's consequence (a pod created before its store's policies) and has
// its fix; MountsGovernedClaim is a placement the store's workloadSelector does not make (RES001).
var byReason = map[engine.Reason]Rule{
	engine.StoresDisagree:        StoresDisagree,
	engine.TooManyTerms:          TooManyTerms,
	engine.PlacementConflict:     Placement,
	engine.PlacesUnknown:         UnknownLocation,
	engine.AffinityLoosened:      Placement,
	engine.MountsGovernedClaim:   Placement,
	engine.PlacementMissing:      ApplyOrder,
	engine.NodeNotFound:          NodeName,
	engine.NodeNotPermitted:      NodeName,
	engine.NodeLocationUnknown:   NodeName,
	engine.NodeUnchecked:         NodeName,
	engine.VolumeNotFound:        Volume,
	engine.VolumeUnchecked:       Volume,
	engine.VolumeLocationUnknown: Volume,
	engine.VolumeNotPermitted:    Volume,
	engine.StorageClassNotFound:  StorageClassNotFound,
	engine.StorageClassUnchecked: StorageClassNotFound,
	engine.StorageNotConfined:    Storage,
	engine.ClusterPolicyOutside:  ClusterPolicyOutside,
	engine.ClusterPolicyPurge:    ClusterPolicyPurge,
}

// ForReason returns the rule of an engine finding's reason, and false when no rule covers it
// (ExemptedByRelabel, a decision about a label change rather than a place).
func ForReason(r engine.Reason) (Rule, bool) {
	rule, ok := byReason[r]
	return rule, ok
}
