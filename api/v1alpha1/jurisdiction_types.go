package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// JurisdictionSpec says where a legal area is physically. A node belongs to the jurisdiction when its
// country is in countries, OR its region is in regions, OR nodeSelector matches it.
// +kubebuilder:validation:XValidation:rule="(has(self.countries) && size(self.countries) > 0) || (has(self.regions) && size(self.regions) > 0) || has(self.nodeSelector)",message="a Jurisdiction needs at least one of countries, regions or nodeSelector, otherwise no node can ever be in it"
type JurisdictionSpec struct {
	// displayName is a human-readable name for reports, such as "European Economic Area".
	// +optional
	// +kubebuilder:validation:MaxLength=128
	DisplayName string `json:"displayName,omitempty"`

	// countries are the ISO 3166-1 alpha-2 codes of the countries in this jurisdiction, such as DE
	// or US. A node's country comes from the dataresidency.node-restriction.kubernetes.io/country
	// label when a person set it, else from its region through the built-in cloud region catalog.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=250
	Countries []CountryCode `json:"countries,omitempty"`

	// regions are values of the topology.kubernetes.io/region node label that belong to this
	// jurisdiction whatever their country, such as a private cloud's region names.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MaxLength=63
	// +kubebuilder:validation:items:Pattern=`^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$`
	Regions []string `json:"regions,omitempty"`

	// nodeSelector selects further nodes that belong to this jurisdiction, such as on-prem machines
	// of an affiliate. Use label keys under a *.node-restriction.kubernetes.io/ prefix: a kubelet can
	// set any other label on its own Node, so a compromised node could select itself.
	// +optional
	// +kubebuilder:validation:XValidation:rule="(has(self.matchLabels) && size(self.matchLabels) > 0) || (has(self.matchExpressions) && size(self.matchExpressions) > 0)",message="nodeSelector must not be empty: an empty selector matches every node; omit it instead"
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, e.operator in ['In', 'NotIn', 'Exists', 'DoesNotExist'])",message="nodeSelector.matchExpressions: operator must be In, NotIn, Exists or DoesNotExist, spelled with that case"
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, e.operator in ['In', 'NotIn'] ? (has(e.values) && size(e.values) > 0) : (!has(e.values) || size(e.values) == 0))",message="nodeSelector.matchExpressions: In and NotIn need at least one value; Exists and DoesNotExist take no values, remove them"
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, e.key.matches('^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9]$') && (!e.key.contains('/') || e.key.indexOf('/') <= 253))",message="nodeSelector.matchExpressions: each key must be a label key: an optional DNS subdomain prefix of at most 253 characters and a slash, then a name of at most 63 letters, digits, dashes, underscores or dots that starts and ends with a letter or digit"
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, !has(e.values) || e.values.all(v, v.matches('^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$')))",message="nodeSelector.matchExpressions: each value must be a label value: at most 63 letters, digits, dashes, underscores or dots, starting and ending with a letter or digit"
	// +kubebuilder:validation:XValidation:rule="!has(self.matchLabels) || self.matchLabels.all(k, k.matches('^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9]$') && (!k.contains('/') || k.indexOf('/') <= 253) && self.matchLabels[k].matches('^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$'))",message="nodeSelector.matchLabels: each key must be a label key (an optional DNS subdomain prefix of at most 253 characters and a slash, then a name of at most 63 letters, digits, dashes, underscores or dots that starts and ends with a letter or digit) and each value a label value (at most 63 letters, digits, dashes, underscores or dots, starting and ending with a letter or digit)"
	NodeSelector *metav1.LabelSelector `json:"nodeSelector,omitempty"`

	// entities are the legal entities (affiliates, subsidiaries, agents) that run facilities in this
	// jurisdiction, for reports.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=256
	Entities []string `json:"entities,omitempty"`
}

// UntrustedNode is a node whose location claim the operator does not believe.
type UntrustedNode struct {
	// name of the node.
	// +required
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// reason says what contradicts the node's claim, such as a region label that disagrees with the
	// region its spec.providerID encodes.
	// +required
	// +kubebuilder:validation:MaxLength=1024
	Reason string `json:"reason"`
}

// JurisdictionStatus is what the operator last observed of a Jurisdiction.
type JurisdictionStatus struct {
	// observedGeneration is the generation of the spec this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// nodeCount is the number of nodes labelled as in this jurisdiction.
	// +optional
	NodeCount int32 `json:"nodeCount"`

	// clusterCount is the number of member clusters (Karmada Clusters, OCM ManagedClusters)
	// labelled as in this jurisdiction, when the operator runs in a multi-cluster hub.
	// +optional
	ClusterCount int32 `json:"clusterCount,omitempty"`

	// countries are the countries of the nodes in this jurisdiction.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=250
	Countries []string `json:"countries,omitempty"`

	// regions are the regions of the nodes in this jurisdiction.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=512
	Regions []string `json:"regions,omitempty"`

	// untrustedNodes are nodes that claim to be in this jurisdiction but whose claim contradicts
	// their spec.providerID; they get no jurisdiction label. At most 50 are listed.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=50
	UntrustedNodes []UntrustedNode `json:"untrustedNodes,omitempty"`

	// untrustedNodeCount is the number of untrusted nodes, listed or not.
	// +optional
	UntrustedNodeCount int32 `json:"untrustedNodeCount,omitempty"`

	// conditions: Ready (labels are in line with the spec) and SelectorTrusted.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// Jurisdiction is a legal area and where it is physically: countries, cloud regions and node
// selectors. The operator labels each node with the jurisdictions it is in.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=jur,categories=dataresidency
// +kubebuilder:validation:XValidation:rule="self.metadata.name.size() <= 63 && self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="metadata.name must be a DNS-1123 label (lower case letters, digits and '-', at most 63 characters): it becomes part of a node label key"
// +kubebuilder:printcolumn:name="Display Name",type=string,JSONPath=`.spec.displayName`,priority=1
// +kubebuilder:printcolumn:name="Nodes",type=integer,JSONPath=`.status.nodeCount`
// +kubebuilder:printcolumn:name="Clusters",type=integer,JSONPath=`.status.clusterCount`,priority=1
// +kubebuilder:printcolumn:name="Untrusted",type=integer,JSONPath=`.status.untrustedNodeCount`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Jurisdiction struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec says where the jurisdiction is.
	// +required
	Spec JurisdictionSpec `json:"spec"`

	// status is what the operator observed.
	// +optional
	Status JurisdictionStatus `json:"status,omitempty"`
}

// JurisdictionList is a list of Jurisdictions.
// +kubebuilder:object:root=true
type JurisdictionList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Jurisdiction `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Jurisdiction{}, &JurisdictionList{})
}
