package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// EnforcementMode says what the operator does about a store's violations.
// +kubebuilder:validation:Enum=Enforce;Warn;Audit
type EnforcementMode string

const (
	// Enforce injects placement, denies contradicting objects and evicts violating pods after the
	// grace period.
	Enforce EnforcementMode = "Enforce"
	// Warn injects placement and admits contradicting objects with an admission warning; no eviction.
	Warn EnforcementMode = "Warn"
	// Audit only reports: no injection, no denial, no eviction.
	Audit EnforcementMode = "Audit"
)

// EgressMode says whether the operator restricts the network egress of governed pods.
// +kubebuilder:validation:Enum=Unrestricted;Restrict
type EgressMode string

const (
	// EgressUnrestricted leaves egress alone.
	EgressUnrestricted EgressMode = "Unrestricted"
	// EgressRestrict makes the operator own a NetworkPolicy that lets governed pods reach only DNS,
	// their own namespace and the endpoints of permitted processors.
	EgressRestrict EgressMode = "Restrict"
)

// JurisdictionName is the name of a Jurisdiction.
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=63
// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
type JurisdictionName string

// ObjectName is the name of a Kubernetes object: a DNS-1123 subdomain.
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=253
// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
type ObjectName string

// PersonalDataStoreSpec declares a store of personal data and where it may live.
type PersonalDataStoreSpec struct {
	// description says what the store is, for reports.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Description string `json:"description,omitempty"`

	// purposes are what the data is processed for, such as "order fulfilment" (Art. 30(1)(b)
	// GDPR), for the record of processing. Reports say "not declared" when there are none.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MinLength=3
	// +kubebuilder:validation:items:MaxLength=256
	Purposes []string `json:"purposes,omitempty"`

	// dataSubjects are the categories of people the data is about, such as "customers" or
	// "employees" (Art. 30(1)(c) GDPR).
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MinLength=3
	// +kubebuilder:validation:items:MaxLength=128
	DataSubjects []string `json:"dataSubjects,omitempty"`

	// erasureTimeLimit says when the data is erased, such as "24 months after the account is
	// closed" (Art. 30(1)(f) GDPR).
	// +optional
	// +kubebuilder:validation:MaxLength=512
	ErasureTimeLimit string `json:"erasureTimeLimit,omitempty"`

	// transfer is the legal basis for keeping the data in a third country, where
	// allowedJurisdictions reach outside the EU and EEA (hosting in a US region, say): the same
	// fields as a DataProcessor's transfer. Reports say "not declared" when it is missing.
	// +optional
	Transfer *TransferBasis `json:"transfer,omitempty"`

	// dataCategories are the categories of personal data the store holds.
	// +required
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=8
	DataCategories []DataCategory `json:"dataCategories"`

	// allowedJurisdictions are the Jurisdictions the store's pods and volumes may be in: a node is
	// permitted when it is in at least one of them. A pod governed by several stores must be in an
	// allowed jurisdiction of each.
	// +required
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	AllowedJurisdictions []JurisdictionName `json:"allowedJurisdictions"`

	// workloadSelector selects the pods of this namespace that store or process the data. It must
	// not be empty: an empty selector would govern every pod of the namespace by accident.
	// +required
	// +kubebuilder:validation:XValidation:rule="(has(self.matchLabels) && size(self.matchLabels) > 0) || (has(self.matchExpressions) && size(self.matchExpressions) > 0)",message="workloadSelector must not be empty: it would govern every pod in the namespace; give matchLabels or matchExpressions"
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, e.operator in ['In', 'NotIn', 'Exists', 'DoesNotExist'])",message="workloadSelector.matchExpressions: operator must be In, NotIn, Exists or DoesNotExist, spelled with that case"
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, e.operator in ['In', 'NotIn'] ? (has(e.values) && size(e.values) > 0) : (!has(e.values) || size(e.values) == 0))",message="workloadSelector.matchExpressions: In and NotIn need at least one value; Exists and DoesNotExist take no values, remove them"
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, e.key.matches('^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9]$') && (!e.key.contains('/') || e.key.indexOf('/') <= 253))",message="workloadSelector.matchExpressions: each key must be a label key: an optional DNS subdomain prefix of at most 253 characters and a slash, then a name of at most 63 letters, digits, dashes, underscores or dots that starts and ends with a letter or digit"
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, !has(e.values) || e.values.all(v, v.matches('^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$')))",message="workloadSelector.matchExpressions: each value must be a label value: at most 63 letters, digits, dashes, underscores or dots, starting and ending with a letter or digit"
	// +kubebuilder:validation:XValidation:rule="!has(self.matchLabels) || self.matchLabels.all(k, k.matches('^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9]$') && (!k.contains('/') || k.indexOf('/') <= 253) && self.matchLabels[k].matches('^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$'))",message="workloadSelector.matchLabels: each key must be a label key (an optional DNS subdomain prefix of at most 253 characters and a slash, then a name of at most 63 letters, digits, dashes, underscores or dots that starts and ends with a letter or digit) and each value a label value (at most 63 letters, digits, dashes, underscores or dots, starting and ending with a letter or digit)"
	WorkloadSelector metav1.LabelSelector `json:"workloadSelector"`

	// volumeSelector selects the PersistentVolumeClaims of this namespace that hold the data. Claims
	// mounted by governed pods are governed too, whether or not they match.
	// +optional
	// +kubebuilder:validation:XValidation:rule="(has(self.matchLabels) && size(self.matchLabels) > 0) || (has(self.matchExpressions) && size(self.matchExpressions) > 0)",message="volumeSelector must not be empty: it would govern every claim in the namespace; give matchLabels or matchExpressions, or omit it"
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, e.operator in ['In', 'NotIn', 'Exists', 'DoesNotExist'])",message="volumeSelector.matchExpressions: operator must be In, NotIn, Exists or DoesNotExist, spelled with that case"
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, e.operator in ['In', 'NotIn'] ? (has(e.values) && size(e.values) > 0) : (!has(e.values) || size(e.values) == 0))",message="volumeSelector.matchExpressions: In and NotIn need at least one value; Exists and DoesNotExist take no values, remove them"
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, e.key.matches('^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9]$') && (!e.key.contains('/') || e.key.indexOf('/') <= 253))",message="volumeSelector.matchExpressions: each key must be a label key: an optional DNS subdomain prefix of at most 253 characters and a slash, then a name of at most 63 letters, digits, dashes, underscores or dots that starts and ends with a letter or digit"
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, !has(e.values) || e.values.all(v, v.matches('^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$')))",message="volumeSelector.matchExpressions: each value must be a label value: at most 63 letters, digits, dashes, underscores or dots, starting and ending with a letter or digit"
	// +kubebuilder:validation:XValidation:rule="!has(self.matchLabels) || self.matchLabels.all(k, k.matches('^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9]$') && (!k.contains('/') || k.indexOf('/') <= 253) && self.matchLabels[k].matches('^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$'))",message="volumeSelector.matchLabels: each key must be a label key (an optional DNS subdomain prefix of at most 253 characters and a slash, then a name of at most 63 letters, digits, dashes, underscores or dots that starts and ends with a letter or digit) and each value a label value (at most 63 letters, digits, dashes, underscores or dots, starting and ending with a letter or digit)"
	VolumeSelector *metav1.LabelSelector `json:"volumeSelector,omitempty"`

	// enforcement is Enforce (deny and evict), Warn (admit with a warning) or Audit (report only).
	// +optional
	// +kubebuilder:default=Enforce
	Enforcement EnforcementMode `json:"enforcement,omitempty"`

	// evictionGracePeriod is how long a violating pod is announced (status and an Event) before it is
	// evicted in Enforce mode, such as "10m". Between 0s and 720h.
	// +optional
	// +kubebuilder:default="10m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="!self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') || (duration(self) >= duration('0s') && duration(self) <= duration('720h'))",message="evictionGracePeriod must be a duration between 0s and 720h, such as 10m or 1h30m"
	EvictionGracePeriod *metav1.Duration `json:"evictionGracePeriod,omitempty"`

	// processors are the DataProcessors that receive data from this store. Each must process in one
	// of the allowedJurisdictions and be permitted to receive every category the store holds.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	Processors []ObjectName `json:"processors,omitempty"`

	// egress is Unrestricted (default) or Restrict: the operator then owns a NetworkPolicy that
	// lets governed pods reach only DNS, this namespace and the endpoints of permitted processors.
	// +optional
	// +kubebuilder:default=Unrestricted
	Egress EgressMode `json:"egress,omitempty"`
}

// ViolationReason says why a governed object is a violation.
// +kubebuilder:validation:Enum=NodeNotPermitted;NodeLocationUnknown;PlacementMissing;PlacementConflict;VolumeNotPermitted;VolumeLocationUnknown;ClusterNotPermitted;ClusterLocationUnknown;NoPermittedCluster
type ViolationReason string

const (
	// NodeNotPermitted: the pod runs on a node outside the permitted jurisdictions.
	NodeNotPermitted ViolationReason = "NodeNotPermitted"
	// NodeLocationUnknown: the pod runs on a node whose location is unknown or untrusted.
	NodeLocationUnknown ViolationReason = "NodeLocationUnknown"
	// PlacementMissing: a pending pod was admitted without the permitted-node affinity (before
	// its store's policies were in force), so nothing keeps it inside: in Enforce mode it is
	// evicted at once, without the grace period (it never ran).
	PlacementMissing ViolationReason = "PlacementMissing"
	// PlacementConflict: a pending pod's own nodeSelector and required affinity allow no permitted
	// place (judged with the region catalog and the Jurisdictions), so it never runs. Reported,
	// never evicted: its replacement would be the same.
	PlacementConflict ViolationReason = "PlacementConflict"
	// VolumeNotPermitted: the volume is outside the permitted jurisdictions.
	VolumeNotPermitted ViolationReason = "VolumeNotPermitted"
	// VolumeLocationUnknown: the volume's location cannot be determined.
	VolumeLocationUnknown ViolationReason = "VolumeLocationUnknown"
	// ClusterNotPermitted: a multi-cluster engine (Karmada, OCM) placed a governed resource
	// template on a member cluster outside the permitted jurisdictions. Reported, never deleted.
	ClusterNotPermitted ViolationReason = "ClusterNotPermitted"
	// ClusterLocationUnknown: it placed one on a member cluster whose location is unknown or
	// untrusted.
	ClusterLocationUnknown ViolationReason = "ClusterLocationUnknown"
	// NoPermittedCluster: a governed resource template is scheduled on no member cluster because
	// none that is permitted fits its policy; the store is Stalled until a person acts.
	NoPermittedCluster ViolationReason = "NoPermittedCluster"
)

// ObservedLocation is where the operator found an object.
type ObservedLocation struct {
	// region of the node or volume, if known.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Region string `json:"region,omitempty"`

	// zone of the node or volume, if known.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Zone string `json:"zone,omitempty"`

	// country (ISO 3166-1 alpha-2), if known.
	// +optional
	// +kubebuilder:validation:MaxLength=2
	Country string `json:"country,omitempty"`

	// jurisdictions the location is in.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	Jurisdictions []string `json:"jurisdictions,omitempty"`
}

// Violation is a governed object outside the permitted jurisdictions.
type Violation struct {
	// object is the offending pod or PersistentVolumeClaim.
	// +required
	Object ObjectReference `json:"object"`

	// node the pod runs on.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Node string `json:"node,omitempty"`

	// volume is the PersistentVolume bound to the claim.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Volume string `json:"volume,omitempty"`

	// cluster is the member cluster (Karmada Cluster, OCM ManagedCluster) a resource template was
	// placed on, for the Cluster* reasons.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Cluster string `json:"cluster,omitempty"`

	// location is where the object was observed.
	// +optional
	Location ObservedLocation `json:"location,omitempty"`

	// reason is why this is a violation.
	// +required
	Reason ViolationReason `json:"reason"`

	// message says what is wrong and how to fix it.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message,omitempty"`

	// since is when the violation was first observed.
	// +required
	Since metav1.Time `json:"since"`

	// evictionTime is when the pod will be (or was) evicted, in Enforce mode.
	// +optional
	EvictionTime *metav1.Time `json:"evictionTime,omitempty"`
}

// ViolationClock is when a violating object, named by its UID, was first seen.
type ViolationClock struct {
	// uid of the violating object.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=36
	UID types.UID `json:"uid"`

	// since is when the violation was first observed.
	// +required
	Since metav1.Time `json:"since"`
}

// Exemption is a governed object that a ResidencyException exempts.
type Exemption struct {
	// object is the exempted pod or PersistentVolumeClaim.
	// +required
	Object ObjectReference `json:"object"`

	// exception is the name of the ResidencyException.
	// +required
	// +kubebuilder:validation:MaxLength=253
	Exception string `json:"exception"`

	// expiresAt is when the exemption ends.
	// +required
	ExpiresAt metav1.Time `json:"expiresAt"`
}

// ProcessorFindingReason says why a processor fails a check.
// +kubebuilder:validation:Enum=ProcessorNotFound;JurisdictionNotPermitted;CategoriesNotCovered
type ProcessorFindingReason string

const (
	// ProcessorNotFound: the store names a DataProcessor that does not exist.
	ProcessorNotFound ProcessorFindingReason = "ProcessorNotFound"
	// JurisdictionNotPermitted: none of the processor's jurisdictions is allowed for the store.
	JurisdictionNotPermitted ProcessorFindingReason = "JurisdictionNotPermitted"
	// CategoriesNotCovered: the processor may not receive every category the store holds.
	CategoriesNotCovered ProcessorFindingReason = "CategoriesNotCovered"
)

// ProcessorFinding is a processor that fails a check.
type ProcessorFinding struct {
	// processor is the DataProcessor's name.
	// +required
	// +kubebuilder:validation:MaxLength=253
	Processor string `json:"processor"`

	// reason is the check that failed.
	// +required
	Reason ProcessorFindingReason `json:"reason"`

	// message says what is wrong and how to fix it.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message,omitempty"`
}

// PersonalDataStoreStatus is what the operator last observed of a store.
type PersonalDataStoreStatus struct {
	// observedGeneration is the generation of the spec this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// governedPods is the number of pods the store governs.
	// +optional
	GovernedPods int32 `json:"governedPods"`

	// governedVolumes is the number of PersistentVolumeClaims the store governs.
	// +optional
	GovernedVolumes int32 `json:"governedVolumes"`

	// governedTemplates is the number of resource templates the store governs that a
	// multi-cluster engine (Karmada) propagates from this hub.
	// +optional
	GovernedTemplates int32 `json:"governedTemplates,omitempty"`

	// hostPathPods is the number of governed pods that mount hostPath volumes: no violation, but
	// what they write there stays on the node when the pod moves or the node leaves the
	// jurisdiction (a HostPathData Event names them).
	// +optional
	HostPathPods int32 `json:"hostPathPods,omitempty"`

	// violationCount is the number of violations, listed or not.
	// +optional
	ViolationCount int32 `json:"violationCount"`

	// evictionsHeld is the number of violating pods, past their eviction time, that are not
	// evicted because no Ready, schedulable node is permitted for them (see the EvictionHeld
	// condition). They are evicted once such a node appears.
	// +optional
	EvictionsHeld int32 `json:"evictionsHeld"`

	// violations lists at most 50 violations.
	// +optional
	// +kubebuilder:validation:MaxItems=50
	Violations []Violation `json:"violations,omitempty"`

	// unlistedViolations records when each violation beyond the 50 listed was first seen, by the
	// object's UID (at most 1000), so that its eviction clock survives a restart of the operator.
	// +optional
	// +kubebuilder:validation:MaxItems=1000
	UnlistedViolations []ViolationClock `json:"unlistedViolations,omitempty"`

	// exemptions lists at most 50 objects that an active ResidencyException exempts.
	// +optional
	// +kubebuilder:validation:MaxItems=50
	Exemptions []Exemption `json:"exemptions,omitempty"`

	// processorFindings lists the processors that fail a check.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	ProcessorFindings []ProcessorFinding `json:"processorFindings,omitempty"`

	// conditions: Ready (the policy resolved), Compliant, EvictionHeld (while evictions are held)
	// and EgressRestricted (with egress: Restrict).
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// PersonalDataStore declares a store of personal data: its categories, the jurisdictions it may
// live in, and the pods and volumes that hold or process it.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=pds,categories=dataresidency
// +kubebuilder:printcolumn:name="Jurisdictions",type=string,JSONPath=`.spec.allowedJurisdictions`
// +kubebuilder:printcolumn:name="Enforcement",type=string,JSONPath=`.spec.enforcement`
// +kubebuilder:printcolumn:name="Pods",type=integer,JSONPath=`.status.governedPods`
// +kubebuilder:printcolumn:name="Volumes",type=integer,JSONPath=`.status.governedVolumes`
// +kubebuilder:printcolumn:name="Violations",type=integer,JSONPath=`.status.violationCount`
// +kubebuilder:printcolumn:name="Held",type=integer,JSONPath=`.status.evictionsHeld`,description="Evictions held: violating pods no permitted node could take"
// +kubebuilder:printcolumn:name="Compliant",type=string,JSONPath=`.status.conditions[?(@.type=="Compliant")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type PersonalDataStore struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec declares the store.
	// +required
	Spec PersonalDataStoreSpec `json:"spec"`

	// status is what the operator observed.
	// +optional
	Status PersonalDataStoreStatus `json:"status,omitempty"`
}

// PersonalDataStoreList is a list of PersonalDataStores.
// +kubebuilder:object:root=true
type PersonalDataStoreList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []PersonalDataStore `json:"items"`
}

func init() {
	SchemeBuilder.Register(&PersonalDataStore{}, &PersonalDataStoreList{})
}
