package v1alpha1

// Labels and annotations the operator reads and writes. Everything it writes on Nodes, and the
// country a person sets on an on-prem Node, lives under a *.node-restriction.kubernetes.io/ prefix:
// the NodeRestriction admission plugin forbids kubelets to set such labels on their own Node, so a
// compromised node cannot claim to be somewhere it is not.
const (
	// JurisdictionLabelPrefix starts the per-jurisdiction node label; the jurisdiction's name follows,
	// and the value is always "true".
	JurisdictionLabelPrefix = "jurisdiction.dataresidency.node-restriction.kubernetes.io/"

	// CountryLabel carries the node's ISO 3166-1 alpha-2 country. A person sets it on nodes whose
	// region is not in the catalog (on-prem); otherwise the operator writes the catalog's answer.
	CountryLabel = "dataresidency.node-restriction.kubernetes.io/country"

	// CountrySourceLabel is "catalog" on nodes whose country label the operator derived from the
	// region; a country label without it was set by a person and is kept as it is. A restricted
	// label, not an annotation: a kubelet may annotate its own Node, and could then turn a
	// person's country into one the operator rewrites from the kubelet's own region label.
	CountrySourceLabel = "dataresidency.node-restriction.kubernetes.io/country-source"

	// LegacyCountrySourceAnnotation is where releases before the restricted label recorded the
	// country's source. It is read once, to adopt the operator's own country labels (only where
	// the country still is the catalog's answer), and then removed; it is never trusted.
	LegacyCountrySourceAnnotation = "dataresidency.io/country-source"

	// ConfirmedRegionLabel is the region a node was first seen in, written by the operator, or
	// that a person vouches for. Nodes do not change region: once it is set, a region label or
	// spec.providerID that names another region makes the node Untrusted, until a person confirms
	// the move by setting this label to the new region. On providers whose spec.providerID does
	// not say where the node is (Azure, DigitalOcean, Hetzner, IBM, on-prem), it is how a person
	// vouches for the region a kubelet-settable topology label claims.
	ConfirmedRegionLabel = "dataresidency.node-restriction.kubernetes.io/region"

	// JurisdictionLabelValue is the value of every jurisdiction label.
	JurisdictionLabelValue = "true"

	// GovernedNamespaceLabel marks namespaces that contain at least one PersonalDataStore; the
	// webhooks select these namespaces and fail closed in them.
	GovernedNamespaceLabel = "dataresidency.io/governed"

	// AwaitPoliciesLabel, set to "true" by a person on a Namespace (in the same manifests as its
	// workloads), says that the namespace will hold stores: until its admission policies are
	// compiled, its new pods are held by PlacementGate instead of being scheduled unplaced.
	AwaitPoliciesLabel = "dataresidency.io/await-policies"

	// PoliciesCompiledLabel is set by the operator on a namespace whose compiled admission
	// policies are in force; pods created from then on are placed at creation and not gated.
	PoliciesCompiledLabel = "dataresidency.io/policies-compiled"

	// PoliciesWarnLabel is set by the operator, beside PoliciesCompiledLabel, on a namespace whose
	// compiled plan warns about some pod (it has Warn stores). The warn policy is bound to these
	// namespaces only, so that pods elsewhere do not pay for its evaluation.
	PoliciesWarnLabel = "dataresidency.io/policies-warn"

	// PlacementGate is the scheduling gate that holds a pod of an awaiting namespace until the
	// operator releases it; the release passes through the compiled policies, which place it.
	PlacementGate = "dataresidency.io/awaiting-policies"

	// StoresAnnotation lists, comma-separated, the stores that governed a pod at admission.
	StoresAnnotation = "dataresidency.io/stores"

	// AllowedJurisdictionsAnnotation lists the pod's permitted jurisdictions at admission, one
	// group per store separated by ";" (a node must be in one jurisdiction of every group).
	AllowedJurisdictionsAnnotation = "dataresidency.io/allowed-jurisdictions"

	// Evidence annotations: where a governed pod was bound, recorded once it is bound.
	ObservedRegionAnnotation        = "dataresidency.io/observed-region"
	ObservedCountryAnnotation       = "dataresidency.io/observed-country"
	ObservedJurisdictionsAnnotation = "dataresidency.io/observed-jurisdictions"
	ObservedAtAnnotation            = "dataresidency.io/observed-at"

	// RecordStoreUIDLabel is on every ResidencyRecord: the UID of the store it records, so that
	// one store's chain is found with a label selector (store names can be too long for a label).
	RecordStoreUIDLabel = "dataresidency.io/store-uid"

	// RecordSequenceLabel and RecordPeriodLabel repeat a ResidencyRecord's sequence number and
	// period start (UTC, 20060102T1504Z), so that the operator finds a store's newest record and
	// the records past retention from the records' metadata alone, without reading every record.
	// The spec, which the hash covers, stays the evidence.
	RecordSequenceLabel = "dataresidency.io/sequence"
	RecordPeriodLabel   = "dataresidency.io/period-start"

	// JurisdictionFinalizer lets a deleted Jurisdiction remove its labels from every node first.
	JurisdictionFinalizer = "dataresidency.io/node-labels"
)

// JurisdictionLabel returns the node label key that marks membership of jurisdiction name.
func JurisdictionLabel(name string) string { return JurisdictionLabelPrefix + name }
