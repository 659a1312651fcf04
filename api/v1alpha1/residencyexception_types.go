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

// ApprovalDecision is an approver's answer to a ResidencyException.
// +kubebuilder:validation:Enum=Approved;Denied
type ApprovalDecision string

const (
	// Approved: the exception may become Active within its window.
	Approved ApprovalDecision = "Approved"
	// Denied: the exception exempts nothing.
	Denied ApprovalDecision = "Denied"
)

// ResidencyExceptionSpec declares a time-boxed exemption from a store's residency rules.
// +kubebuilder:validation:XValidation:rule="!has(self.startsAt) || self.expiresAt > self.startsAt",message="expiresAt must be after startsAt"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.requester) || (has(self.requester) && self.requester == oldSelf.requester)",message="spec.requester is recorded when the exception is created and cannot change; create a new exception instead"
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

	// approvedBy is a note for readers: who was asked, such as a DPO's email address. It approves
	// nothing: only status.approval, written by someone allowed to approve (kubectl residency
	// approve), lets the exception become Active.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	ApprovedBy string `json:"approvedBy,omitempty"`

	// requester is who created the exception, as the API server authenticated them. The operator's
	// admission webhook records it at creation, replacing whatever the request said, and it never
	// changes. The requester cannot approve their own exception.
	// +optional
	Requester *ExceptionRequester `json:"requester,omitempty"`

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

// ExceptionRequester is the authenticated user who created an exception.
type ExceptionRequester struct {
	// username is the user's name as the API server authenticated it.
	// +required
	// +kubebuilder:validation:MaxLength=1024
	Username string `json:"username"`

	// uid is the user's unique id, when the authenticator gives one.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	UID string `json:"uid,omitempty"`

	// groups are the user's groups at creation.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MaxLength=1024
	Groups []string `json:"groups,omitempty"`
}

// ExceptionApproval is the decision on an exception, written through the status subresource by
// someone allowed to approve (the approve verb on residencyexceptions) who did not request it. The
// operator's admission webhook fills in user, generation and decidedAt from the request.
type ExceptionApproval struct {
	// decision is Approved or Denied.
	// +required
	Decision ApprovalDecision `json:"decision"`

	// user is who decided, as the API server authenticated them.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	User string `json:"user,omitempty"`

	// generation is the spec generation decided on. Any later change to the spec voids the
	// decision: the exception is pending approval again.
	// +optional
	Generation int64 `json:"generation,omitempty"`

	// decidedAt is when the decision was made.
	// +optional
	DecidedAt *metav1.Time `json:"decidedAt,omitempty"`

	// message is the approver's note, such as the ticket they checked.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message,omitempty"`
}

// ResidencyExceptionStatus is what the operator last observed of an exception.
type ResidencyExceptionStatus struct {
	// approval is the decision on the current spec, if any.
	// +optional
	Approval *ExceptionApproval `json:"approval,omitempty"`

	// observedGeneration is the generation of the spec this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// exemptedObjects is the number of pods and claims the exception exempts now.
	// +optional
	ExemptedObjects int32 `json:"exemptedObjects,omitempty"`

	// conditions: Active (approved, and within its window) and Ready.
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
// +kubebuilder:printcolumn:name="Decision",type=string,JSONPath=`.status.approval.decision`
// +kubebuilder:printcolumn:name="Requester",type=string,JSONPath=`.spec.requester.username`,priority=1
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
