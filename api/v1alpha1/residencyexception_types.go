package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ExceptionReason is a ground the privacy policy gives for an exception.
// +kubebuilder:validation:Enum=LegalProcess;ProtectRights;UrgentSafety;Migration
type ExceptionReason string

const (
	// LegalProcess: disclosure required by law or legal process.
	LegalProcess ExceptionReason = "LegalProcess"
	// ProtectRights: protecting the organisation's rights or property.
	ProtectRights ExceptionReason = "ProtectRights"
	// UrgentSafety: urgent circumstances for someone's personal safety.
	UrgentSafety ExceptionReason = "UrgentSafety"
	// Migration: a planned move of data between permitted locations.
	Migration ExceptionReason = "Migration"
)

// ResidencyExceptionSpec declares a time-boxed exemption from a store's residency rules.
// +kubebuilder:validation:XValidation:rule="!has(self.startsAt) || self.expiresAt > self.startsAt",message="expiresAt must be after startsAt"
type ResidencyExceptionSpec struct {
	// selector selects the pods and PersistentVolumeClaims of this namespace that are exempt. It must
	// not be empty: an exception for everything is a policy change, not an exception.
	// +required
	// +kubebuilder:validation:XValidation:rule="(has(self.matchLabels) && size(self.matchLabels) > 0) || (has(self.matchExpressions) && size(self.matchExpressions) > 0)",message="selector must not be empty: it would exempt every pod and claim of the namespace; give matchLabels or matchExpressions"
	// +kubebuilder:validation:XValidation:rule="(has(self.matchLabels) && size(self.matchLabels) > 0) || !has(self.matchExpressions) || size(self.matchExpressions) == 0 || self.matchExpressions.exists(e, e.operator in ['In', 'Exists'])",message="selector must ask something of what it exempts: with only NotIn or DoesNotExist it matches every pod and claim without a label (every new one); add matchLabels, or an In or Exists expression"
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, e.operator in ['In', 'NotIn', 'Exists', 'DoesNotExist'])",message="selector.matchExpressions: operator must be In, NotIn, Exists or DoesNotExist, spelled with that case"
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, e.operator in ['In', 'NotIn'] ? (has(e.values) && size(e.values) > 0) : (!has(e.values) || size(e.values) == 0))",message="selector.matchExpressions: In and NotIn need at least one value; Exists and DoesNotExist take no values, remove them"
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, e.key.matches('^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9]$') && (!e.key.contains('/') || e.key.indexOf('/') <= 253))",message="selector.matchExpressions: each key must be a label key: an optional DNS subdomain prefix of at most 253 characters and a slash, then a name of at most 63 letters, digits, dashes, underscores or dots that starts and ends with a letter or digit"
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, !has(e.values) || e.values.all(v, v.matches('^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$')))",message="selector.matchExpressions: each value must be a label value: at most 63 letters, digits, dashes, underscores or dots, starting and ending with a letter or digit"
	// +kubebuilder:validation:XValidation:rule="!has(self.matchLabels) || self.matchLabels.all(k, k.matches('^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9]$') && (!k.contains('/') || k.indexOf('/') <= 253) && self.matchLabels[k].matches('^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$'))",message="selector.matchLabels: each key must be a label key (an optional DNS subdomain prefix of at most 253 characters and a slash, then a name of at most 63 letters, digits, dashes, underscores or dots that starts and ends with a letter or digit) and each value a label value (at most 63 letters, digits, dashes, underscores or dots, starting and ending with a letter or digit)"
	Selector metav1.LabelSelector `json:"selector"`

	// stores are the PersonalDataStores of this namespace whose rules are lifted.
	// +required
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	Stores []ObjectName `json:"stores"`

	// reason is LegalProcess, ProtectRights, UrgentSafety or Migration.
	// +required
	Reason ExceptionReason `json:"reason"`

	// justification explains, for an auditor, why the exception is needed (at least 20 characters).
	// +required
	// +kubebuilder:validation:MinLength=20
	// +kubebuilder:validation:MaxLength=4096
	Justification string `json:"justification"`

	// approvedBy names who approved the exception, such as a DPO's email address.
	// +required
	// +kubebuilder:validation:MinLength=3
	// +kubebuilder:validation:MaxLength=256
	ApprovedBy string `json:"approvedBy"`

	// ticket is a reference to the approval record, such as a ticket URL.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	Ticket string `json:"ticket,omitempty"`

	// startsAt is when the exemption begins; it applies from creation when omitted.
	// +optional
	StartsAt *metav1.Time `json:"startsAt,omitempty"`

	// expiresAt is when the exemption ends (RFC 3339, such as 2026-12-31T00:00:00Z). Required: an
	// exception without an end is a policy change.
	// +required
	ExpiresAt metav1.Time `json:"expiresAt"`
}

// ResidencyExceptionStatus is what the operator last observed of an exception.
type ResidencyExceptionStatus struct {
	// observedGeneration is the generation of the spec this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// exemptedObjects is the number of pods and claims the exception exempts now.
	// +optional
	ExemptedObjects int32 `json:"exemptedObjects,omitempty"`

	// conditions: Active.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// ResidencyException is a time-boxed exemption from the residency rules of stores, for legal
// process, protecting rights, urgent safety or a migration.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=rex,categories=dataresidency
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.spec.reason`
// +kubebuilder:printcolumn:name="Expires",type=string,JSONPath=`.spec.expiresAt`
// +kubebuilder:printcolumn:name="Active",type=string,JSONPath=`.status.conditions[?(@.type=="Active")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ResidencyException struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec declares the exemption.
	// +required
	Spec ResidencyExceptionSpec `json:"spec"`

	// status is what the operator observed.
	// +optional
	Status ResidencyExceptionStatus `json:"status,omitempty"`
}

// ResidencyExceptionList is a list of ResidencyExceptions.
// +kubebuilder:object:root=true
type ResidencyExceptionList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ResidencyException `json:"items"`
}

func init() {
	SchemeBuilder.Register(&ResidencyException{}, &ResidencyExceptionList{})
}
