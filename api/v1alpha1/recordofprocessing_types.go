package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Contact is a person or organisation and how to reach them.
type Contact struct {
	// name of the person or organisation.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	Name string `json:"name"`

	// address, postal.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	Address string `json:"address,omitempty"`

	// email address.
	// +optional
	// +kubebuilder:validation:MaxLength=254
	// +kubebuilder:validation:Pattern=`^[^@\s]+@[^@\s]+$`
	Email string `json:"email,omitempty"`

	// phone number.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Phone string `json:"phone,omitempty"`
}

// AdequacyDecision is a decision of the European Commission that a third country (or a part of
// it) protects personal data adequately (Art. 45 GDPR), as data a person reviews and updates.
type AdequacyDecision struct {
	// name identifies the entry, such as "us-dpf"; processors name it in spec.transfer.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`

	// countries the decision covers (ISO 3166-1 alpha-2).
	// +required
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=8
	// +kubebuilder:validation:items:Pattern=`^[A-Z]{2}$`
	Countries []string `json:"countries"`

	// scope says what the decision covers when it does not cover everyone, such as "EU-US Data
	// Privacy Framework: certified organisations only".
	// +optional
	// +kubebuilder:validation:MaxLength=512
	Scope string `json:"scope,omitempty"`

	// reference is the decision, such as "Commission Implementing Decision (EU) 2023/1795".
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	Reference string `json:"reference"`

	// adopted is the date of the decision, YYYY-MM-DD.
	// +required
	// +kubebuilder:validation:Pattern=`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`
	Adopted string `json:"adopted"`

	// withdrawn is the date the decision stopped applying (annulled, expired), YYYY-MM-DD; a
	// withdrawn decision is no basis for a transfer after that date.
	// +optional
	// +kubebuilder:validation:Pattern=`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`
	Withdrawn string `json:"withdrawn,omitempty"`
}

// RecordOfProcessingSpec is what a record of processing activities (Art. 30(1) GDPR) needs that
// the cluster cannot infer: who the controller is, whom to contact, and the adequacy decisions.
type RecordOfProcessingSpec struct {
	// controller is the organisation that decides why and how the data is processed.
	// +required
	Controller Contact `json:"controller"`

	// representative is the controller's representative in the EU (Art. 27 GDPR), if it has one.
	// +optional
	Representative *Contact `json:"representative,omitempty"`

	// dataProtectionOfficer is the DPO (Art. 37 GDPR), if one is designated.
	// +optional
	DataProtectionOfficer *Contact `json:"dataProtectionOfficer,omitempty"`

	// adequacyDecisionsVersion names the version of the adequacy list below, such as the date it
	// was last reviewed ("2026-11-30"): reports print it next to every transfer they judge by it.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	AdequacyDecisionsVersion string `json:"adequacyDecisionsVersion,omitempty"`

	// adequacyDecisions are the decisions transfers may rely on (at most 64).
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=64
	AdequacyDecisions []AdequacyDecision `json:"adequacyDecisions,omitempty"`
}

// RecordOfProcessing holds the controller's details and the adequacy decisions for the record of
// processing activities that `kubectl residency report` writes. There is one, named "default".
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName=rop,categories=dataresidency
// +kubebuilder:validation:XValidation:rule="self.metadata.name == 'default'",message="there is one RecordOfProcessing per cluster and it is named default"
// +kubebuilder:printcolumn:name="Controller",type=string,JSONPath=`.spec.controller.name`
// +kubebuilder:printcolumn:name="DPO",type=string,JSONPath=`.spec.dataProtectionOfficer.name`
// +kubebuilder:printcolumn:name="Adequacy",type=string,JSONPath=`.spec.adequacyDecisionsVersion`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type RecordOfProcessing struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec holds the record's details.
	// +required
	Spec RecordOfProcessingSpec `json:"spec"`
}

// RecordOfProcessingList is a list of RecordOfProcessing.
// +kubebuilder:object:root=true
type RecordOfProcessingList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []RecordOfProcessing `json:"items"`
}

func init() {
	SchemeBuilder.Register(&RecordOfProcessing{}, &RecordOfProcessingList{})
}
