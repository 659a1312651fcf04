package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Bounds of a ResidencyRecord: a record never grows past them, whatever the store does in its
// period. Past a bound, entries are counted (the *NotListed fields) instead of listed.
const (
	MaxRecordLocations     = 64
	MaxRecordViolations    = 100
	MaxRecordEvictions     = 100
	MaxRecordHolds         = 50
	MaxRecordExceptions    = 32
	MaxRecordProcessors    = 64
	MaxRecordPolicyChanges = 32
	MaxRecordGaps          = 48
)

// RecordedLocation is where a store's pods and volumes were during a period, summed over time.
type RecordedLocation struct {
	// country (ISO 3166-1 alpha-2); empty when the location was not known.
	// +optional
	// +kubebuilder:validation:MaxLength=2
	Country string `json:"country,omitempty"`

	// jurisdictions the location was in.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	Jurisdictions []string `json:"jurisdictions,omitempty"`

	// podSeconds is the sum over the store's pods of the seconds each ran here.
	// +optional
	PodSeconds int64 `json:"podSeconds,omitempty"`

	// volumeSeconds is the sum over the store's bound claims of the seconds each was here.
	// +optional
	VolumeSeconds int64 `json:"volumeSeconds,omitempty"`

	// maxPods is the most pods seen here at once.
	// +optional
	MaxPods int32 `json:"maxPods,omitempty"`

	// maxVolumes is the most claims seen here at once.
	// +optional
	MaxVolumes int32 `json:"maxVolumes,omitempty"`
}

// RecordedViolation is a violation of the store's policy and how long it lasted.
type RecordedViolation struct {
	// object is the offending pod or claim.
	// +required
	Object ObjectReference `json:"object"`

	// reason is why it was a violation.
	// +required
	Reason ViolationReason `json:"reason"`

	// where is the node or volume.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Where string `json:"where,omitempty"`

	// country where it was, if known.
	// +optional
	// +kubebuilder:validation:MaxLength=2
	Country string `json:"country,omitempty"`

	// start is when it was first seen.
	// +required
	Start metav1.Time `json:"start"`

	// end is when it was last seen; absent while it lasts.
	// +optional
	End *metav1.Time `json:"end,omitempty"`
}

// RecordedEviction is a pod the operator evicted.
type RecordedEviction struct {
	// pod is the evicted pod.
	// +required
	Pod ObjectReference `json:"pod"`

	// node it was evicted from.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Node string `json:"node,omitempty"`

	// time of the eviction.
	// +required
	Time metav1.Time `json:"time"`
}

// RecordedHold is a period during which a violating pod's eviction was held.
type RecordedHold struct {
	// pod whose eviction was held.
	// +required
	Pod ObjectReference `json:"pod"`

	// why the eviction was held.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	Why string `json:"why,omitempty"`

	// start is when the hold was first seen.
	// +required
	Start metav1.Time `json:"start"`

	// end is when the hold was last seen; absent while it lasts.
	// +optional
	End *metav1.Time `json:"end,omitempty"`
}

// RecordedException is a ResidencyException that exempted some of the store's objects.
type RecordedException struct {
	// name of the ResidencyException.
	// +required
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// first is when it was first seen exempting an object in the period.
	// +required
	First metav1.Time `json:"first"`

	// last is when it was last seen exempting an object in the period.
	// +required
	Last metav1.Time `json:"last"`

	// expiresAt is when the exception ends.
	// +optional
	ExpiresAt *metav1.Time `json:"expiresAt,omitempty"`

	// maxObjects is the most objects it exempted at once.
	// +optional
	MaxObjects int32 `json:"maxObjects,omitempty"`
}

// RecordedProcessor is a DataProcessor the store shared data with in the period.
type RecordedProcessor struct {
	// name of the DataProcessor.
	// +required
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// role of the processor.
	// +optional
	Role ProcessorRole `json:"role,omitempty"`

	// jurisdictions where it processes.
	// +optional
	// +kubebuilder:validation:MaxItems=16
	Jurisdictions []string `json:"jurisdictions,omitempty"`

	// permitted is false when the processor failed the store's checks (see the store's status).
	// +optional
	Permitted bool `json:"permitted,omitempty"`
}

// RecordedPolicyChange is a version of the store's spec that took effect in the period.
type RecordedPolicyChange struct {
	// time the operator first saw this version.
	// +required
	Time metav1.Time `json:"time"`

	// generation of the store.
	// +required
	Generation int64 `json:"generation"`

	// specHash is the SHA-256 of the store's spec, in hex.
	// +required
	// +kubebuilder:validation:MaxLength=64
	SpecHash string `json:"specHash"`

	// allowedJurisdictions of that version.
	// +optional
	// +kubebuilder:validation:MaxItems=16
	AllowedJurisdictions []string `json:"allowedJurisdictions,omitempty"`

	// enforcement of that version.
	// +optional
	Enforcement EnforcementMode `json:"enforcement,omitempty"`
}

// RecordGap is a stretch of the period the operator did not observe (it was not running).
type RecordGap struct {
	// from is the last observation before the gap.
	// +required
	From metav1.Time `json:"from"`

	// to is the first observation after it.
	// +required
	To metav1.Time `json:"to"`
}

// ResidencyRecordSpec is what the operator observed of one store in one period.
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.sealed) || !oldSelf.sealed || self == oldSelf",message="a sealed ResidencyRecord cannot be changed: it is evidence of its period"
type ResidencyRecordSpec struct {
	// store is the PersonalDataStore this record is of.
	// +required
	Store NamespacedReference `json:"store"`

	// storeUID is the store's UID: a store deleted and created again under the same name starts a
	// new chain.
	// +required
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=36
	StoreUID types.UID `json:"storeUID"`

	// sequence numbers the store's records from 0, oldest first.
	// +required
	// +kubebuilder:validation:Minimum=0
	Sequence int64 `json:"sequence"`

	// periodStart is when the period starts, in UTC.
	// +required
	PeriodStart metav1.Time `json:"periodStart"`

	// periodEnd is when the period ends (excluded), in UTC.
	// +required
	PeriodEnd metav1.Time `json:"periodEnd"`

	// firstObserved is the first observation in the period.
	// +optional
	FirstObserved *metav1.Time `json:"firstObserved,omitempty"`

	// lastObserved is the latest observation in the period.
	// +optional
	LastObserved *metav1.Time `json:"lastObserved,omitempty"`

	// observedSeconds is how much of the period the operator observed.
	// +optional
	ObservedSeconds int64 `json:"observedSeconds,omitempty"`

	// gaps are stretches it did not observe, such as while it was down (at most 48).
	// +optional
	// +kubebuilder:validation:MaxItems=48
	Gaps []RecordGap `json:"gaps,omitempty"`

	// locations are where the store's pods and volumes were (at most 64).
	// +optional
	// +kubebuilder:validation:MaxItems=64
	Locations []RecordedLocation `json:"locations,omitempty"`

	// violations that lasted into the period (at most 100; violationsNotListed counts the rest).
	// +optional
	// +kubebuilder:validation:MaxItems=100
	Violations []RecordedViolation `json:"violations,omitempty"`

	// violationsNotListed counts the violations beyond the 100 listed.
	// +optional
	ViolationsNotListed int32 `json:"violationsNotListed,omitempty"`

	// evictions the operator made (at most 100; evictionsNotListed counts the rest).
	// +optional
	// +kubebuilder:validation:MaxItems=100
	Evictions []RecordedEviction `json:"evictions,omitempty"`

	// evictionsNotListed counts the evictions beyond the 100 listed.
	// +optional
	EvictionsNotListed int32 `json:"evictionsNotListed,omitempty"`

	// holds are evictions held because no permitted node could take the pod (at most 50).
	// +optional
	// +kubebuilder:validation:MaxItems=50
	Holds []RecordedHold `json:"holds,omitempty"`

	// holdsNotListed counts the holds beyond the 50 listed.
	// +optional
	HoldsNotListed int32 `json:"holdsNotListed,omitempty"`

	// exceptions that exempted the store's objects (at most 32).
	// +optional
	// +kubebuilder:validation:MaxItems=32
	Exceptions []RecordedException `json:"exceptions,omitempty"`

	// processors the store named in the period (at most 64).
	// +optional
	// +kubebuilder:validation:MaxItems=64
	Processors []RecordedProcessor `json:"processors,omitempty"`

	// policyChanges are the versions of the store's spec in force in the period, the one in force
	// at its start first (at most 32).
	// +optional
	// +kubebuilder:validation:MaxItems=32
	PolicyChanges []RecordedPolicyChange `json:"policyChanges,omitempty"`

	// sealed is true once the period has ended: the operator never writes a sealed record again.
	// +optional
	Sealed bool `json:"sealed,omitempty"`

	// previousHash is the hash of the store's record with the previous sequence number; empty for
	// the first.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	PreviousHash string `json:"previousHash,omitempty"`

	// hash is the SHA-256, in hex, of this spec's canonical JSON with hash empty: a record edited
	// after the operator wrote it no longer matches it, and the next record's previousHash pins it.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Hash string `json:"hash,omitempty"`
}

// ResidencyRecord is the residency history of one PersonalDataStore for one period: where its
// pods and volumes were, its violations, evictions, holds, exceptions, processors and policy
// versions. Written only by the operator; each record carries the hash of the previous one.
// +kubebuilder:object:root=true
// +kubebuilder:resource:shortName=rrec,categories=dataresidency
// +kubebuilder:printcolumn:name="Store",type=string,JSONPath=`.spec.store.name`
// +kubebuilder:printcolumn:name="Seq",type=integer,JSONPath=`.spec.sequence`
// +kubebuilder:printcolumn:name="Period",type=string,JSONPath=`.spec.periodStart`
// +kubebuilder:printcolumn:name="Sealed",type=boolean,JSONPath=`.spec.sealed`
// +kubebuilder:printcolumn:name="Hash",type=string,JSONPath=`.spec.hash`,priority=1
type ResidencyRecord struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the record.
	// +required
	Spec ResidencyRecordSpec `json:"spec"`
}

// ResidencyRecordList is a list of ResidencyRecords.
// +kubebuilder:object:root=true
type ResidencyRecordList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ResidencyRecord `json:"items"`
}

func init() {
	SchemeBuilder.Register(&ResidencyRecord{}, &ResidencyRecordList{})
}
