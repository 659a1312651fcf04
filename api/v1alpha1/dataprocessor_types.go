package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ProcessorRole is the relationship the privacy policy allows a recipient of personal data to have.
// +kubebuilder:validation:Enum=Affiliate;CoBrandPartner;ServiceProvider
type ProcessorRole string

const (
	// Affiliate is an entity the organisation controls.
	Affiliate ProcessorRole = "Affiliate"
	// CoBrandPartner is the partner of a co-branded service.
	CoBrandPartner ProcessorRole = "CoBrandPartner"
	// ServiceProvider performs a service for the organisation (mail delivery, support, hosting,
	// transaction processing) and uses the data for nothing else.
	ServiceProvider ProcessorRole = "ServiceProvider"
)

// Protocol is a network protocol of a processor endpoint.
// +kubebuilder:validation:Enum=TCP;UDP;SCTP
type Protocol string

// EndpointPort is a port, or a range of ports, of a processor endpoint.
// +kubebuilder:validation:XValidation:rule="!has(self.endPort) || self.endPort >= self.port",message="endPort must not be lower than port"
type EndpointPort struct {
	// port number, 1-65535.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port"`

	// endPort makes the port a range from port to endPort, inclusive.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	EndPort *int32 `json:"endPort,omitempty"`

	// protocol is TCP (default), UDP or SCTP.
	// +optional
	// +kubebuilder:default=TCP
	Protocol Protocol `json:"protocol,omitempty"`
}

// Endpoint is a network destination of a processor.
type Endpoint struct {
	// cidr is the destination address range, such as 203.0.113.0/24 or 2001:db8::/32.
	// +required
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="isCIDR(self)",message="cidr must be an IPv4 or IPv6 CIDR such as 203.0.113.0/24"
	// +kubebuilder:validation:XValidation:rule="!isCIDR(self) || cidr(self) == cidr(self).masked()",message="cidr must be the network address of its range (no host bits set), such as 203.0.113.0/24 rather than 203.0.113.7/24"
	CIDR string `json:"cidr"`

	// ports are the destination ports; at least one.
	// +required
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	Ports []EndpointPort `json:"ports"`
}

// TransferMechanism is the legal basis of a transfer to a third country (Chapter V GDPR).
// +kubebuilder:validation:Enum=AdequacyDecision;StandardContractualClauses;BindingCorporateRules;Derogation
type TransferMechanism string

const (
	// MechanismAdequacyDecision: the country has an adequacy decision (Art. 45); name it.
	MechanismAdequacyDecision TransferMechanism = "AdequacyDecision"
	// MechanismStandardContractualClauses: the Commission's clauses are signed with the processor (Art. 46(2)(c)).
	MechanismStandardContractualClauses TransferMechanism = "StandardContractualClauses"
	// MechanismBindingCorporateRules: approved rules within a group of companies (Art. 47).
	MechanismBindingCorporateRules TransferMechanism = "BindingCorporateRules"
	// MechanismDerogation: one of the derogations for specific situations (Art. 49), such as explicit consent.
	MechanismDerogation TransferMechanism = "Derogation"
)

// TransferBasis is the legal basis of transfers to a processor outside the EU and EEA.
// +kubebuilder:validation:XValidation:rule="self.mechanism != 'AdequacyDecision' || (has(self.adequacyDecision) && size(self.adequacyDecision) > 0)",message="transfer.adequacyDecision must name an entry of the RecordOfProcessing's adequacyDecisions when mechanism is AdequacyDecision"
// +kubebuilder:validation:XValidation:rule="self.mechanism == 'AdequacyDecision' || (has(self.reference) && size(self.reference) > 0)",message="transfer.reference must say where the clauses, rules or derogation are documented (such as a contract number) when mechanism is not AdequacyDecision"
type TransferBasis struct {
	// mechanism is AdequacyDecision, StandardContractualClauses, BindingCorporateRules or Derogation.
	// +required
	Mechanism TransferMechanism `json:"mechanism"`

	// adequacyDecision names an entry of the RecordOfProcessing's adequacyDecisions.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	AdequacyDecision string `json:"adequacyDecision,omitempty"`

	// reference says where the basis is documented: a contract or approval number, or the
	// derogation relied on, such as "Art. 49(1)(b): performance of the contract".
	// +optional
	// +kubebuilder:validation:MaxLength=512
	Reference string `json:"reference,omitempty"`
}

// DataProcessorSpec declares a party that receives personal data.
type DataProcessorSpec struct {
	// description says who the processor is, for reports.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Description string `json:"description,omitempty"`

	// role is Affiliate, CoBrandPartner or ServiceProvider.
	// +required
	Role ProcessorRole `json:"role"`

	// jurisdictions are the Jurisdictions where the processor processes the data.
	// +required
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	Jurisdictions []JurisdictionName `json:"jurisdictions"`

	// purposes are what the processor uses the data for, such as "mail delivery".
	// +required
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MinLength=3
	// +kubebuilder:validation:items:MaxLength=256
	Purposes []string `json:"purposes"`

	// dataCategories are the categories the processor may receive. A store may only name this
	// processor if it holds no other category (data minimisation).
	// +required
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=8
	DataCategories []DataCategory `json:"dataCategories"`

	// transfer is the legal basis for sending data to the processor where it processes outside the
	// EU and EEA (Art. 30(1)(e) and Chapter V GDPR). Reports say "not declared" when it is missing.
	// +optional
	Transfer *TransferBasis `json:"transfer,omitempty"`

	// endpoints are where governed pods may send data to the processor when a store restricts egress.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	Endpoints []Endpoint `json:"endpoints,omitempty"`
}

// DataProcessorStatus is what the operator last observed of a processor.
type DataProcessorStatus struct {
	// observedGeneration is the generation of the spec this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// stores are the PersonalDataStores that name this processor (at most 100 listed).
	// +optional
	// +kubebuilder:validation:MaxItems=100
	Stores []NamespacedReference `json:"stores,omitempty"`

	// conditions: Ready (its jurisdictions exist).
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// DataProcessor is a party that receives personal data: an affiliate, a co-brand partner or a
// service provider, where it processes, for what, and which data it may receive.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,categories=dataresidency
// +kubebuilder:printcolumn:name="Role",type=string,JSONPath=`.spec.role`
// +kubebuilder:printcolumn:name="Jurisdictions",type=string,JSONPath=`.spec.jurisdictions`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type DataProcessor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec declares the processor.
	// +required
	Spec DataProcessorSpec `json:"spec"`

	// status is what the operator observed.
	// +optional
	Status DataProcessorStatus `json:"status,omitempty"`
}

// DataProcessorList is a list of DataProcessors.
// +kubebuilder:object:root=true
type DataProcessorList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []DataProcessor `json:"items"`
}

func init() {
	SchemeBuilder.Register(&DataProcessor{}, &DataProcessorList{})
}
