package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// AdmissionPlanName is the name of the one AdmissionPlan of a governed namespace: the cluster-wide
// admission policies look their parameters up by this name in the namespace of the pod.
const AdmissionPlanName = "residency"

// AdmissionPlanSpec is a namespace's stores, exceptions and Jurisdictions compiled into data the
// cluster-wide residency admission policies read as their parameters (paramKind). The operator
// writes it; people read it. Its size does not depend on the number of pods.
type AdmissionPlanSpec struct {
	// selections are the distinct conditions under which stores select a pod: a store's workload
	// selector, less the active exceptions that lift it. Selection i is character i of a plan key.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=6
	Selections []PlanSelection `json:"selections,omitempty"`

	// plans says what admission does to a pod, keyed by which selections select it: one character
	// per selection, "1" when it selects the pod, "0" when not. A pod whose key is missing (none
	// selects it) is left alone.
	// +optional
	// +kubebuilder:validation:MaxProperties=63
	Plans map[string]PodPlan `json:"plans,omitempty"`
}

// PlanSelection is one condition on a pod's labels and the stores that govern a pod when it holds.
type PlanSelection struct {
	// stores are the names of the stores that select a pod under this condition, for readers.
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	Stores []string `json:"stores"`
	// requirements must all hold of the pod's labels (a store's workload selector).
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	Requirements []PlanRequirement `json:"requirements"`
	// liftedBy are the selectors of active exceptions: when any of them selects the pod, this
	// selection does not.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	LiftedBy []PlanSelector `json:"liftedBy,omitempty"`
}

// PlanSelector is a label selector in one form: requirements that must all hold.
type PlanSelector struct {
	// requirements must all hold of the pod's labels.
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	Requirements []PlanRequirement `json:"requirements"`
}

// PlanRequirement is one requirement of a label selector, matchLabels written as In.
type PlanRequirement struct {
	// key is the label key.
	// +kubebuilder:validation:MaxLength=317
	Key string `json:"key"`
	// operator is In, NotIn, Exists or DoesNotExist.
	// +kubebuilder:validation:Enum=In;NotIn;Exists;DoesNotExist
	Operator string `json:"operator"`
	// values are the label values In and NotIn compare with.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=256
	Values []string `json:"values,omitempty"`
}

// PodPlan is what admission does to a pod governed by one set of stores: engine.PlanPod, written
// as data. Terms and groups are lists of Jurisdiction names, each standing for the requirement
// "<its jurisdiction label> In [true]".
type PodPlan struct {
	// terms are the permitted node selector terms ANDed into the pod's required node affinity;
	// none when nothing is injected.
	// +optional
	// +listType=atomic
	Terms [][]string `json:"terms,omitempty"`
	// groups are the jurisdiction labels of each group the injected affinity must imply (one
	// label per group at least); a pod whose affinity already implies them is left as it is.
	// +optional
	// +listType=atomic
	Groups [][]string `json:"groups,omitempty"`
	// storesAnnotation is the value of the stores annotation written on the pod.
	// +optional
	StoresAnnotation string `json:"storesAnnotation,omitempty"`
	// allowedAnnotation is the value of the allowed-jurisdictions annotation written on the pod.
	// +optional
	AllowedAnnotation string `json:"allowedAnnotation,omitempty"`
	// enforced is true when an Enforce store governs the pod.
	// +optional
	Enforced bool `json:"enforced,omitempty"`
	// deny is the message refusing every such pod; empty when none is refused.
	// +optional
	Deny string `json:"deny,omitempty"`
	// denyGroups and denyRequirement: such a pod is refused unless its affinity implies
	// denyGroups (the pod loosened what was injected), with a message naming denyRequirement (the
	// rest of the message is the same for every plan, and is in the policy: kube-apiserver
	// converts the whole plan for every policy it evaluates on every pod, so plans are kept small).
	// +optional
	// +listType=atomic
	DenyGroups [][]string `json:"denyGroups,omitempty"`
	// denyRequirement names the stores and what they allow, for the refusal's message.
	// +optional
	DenyRequirement string `json:"denyRequirement,omitempty"`
	// warn, warnGroups and warnRequirement are the same for Warn stores: the pod is admitted
	// with the warning.
	// +optional
	Warn string `json:"warn,omitempty"`
	// warnGroups are the groups a Warn store's pod's affinity must imply.
	// +optional
	// +listType=atomic
	WarnGroups [][]string `json:"warnGroups,omitempty"`
	// warnRequirement names the stores and what they allow, for the warning's message.
	// +optional
	WarnRequirement string `json:"warnRequirement,omitempty"`
}

// AdmissionPlan is the compiled admission parameters of one namespace, named "residency". Written
// by the operator (in admission mode policies or both) from the namespace's PersonalDataStores,
// ResidencyExceptions and the Jurisdictions; kube-apiserver reads it as the parameters of the
// cluster-wide residency MutatingAdmissionPolicy and ValidatingAdmissionPolicies, so that the
// cost of a pod's admission does not grow with the number of governed namespaces. Do not edit it:
// the operator rewrites it, and only the operator may write it.
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Namespaced,categories=dataresidency
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type AdmissionPlan struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec AdmissionPlanSpec `json:"spec,omitempty"`
}

// +kubebuilder:object:root=true

// AdmissionPlanList contains a list of AdmissionPlan.
type AdmissionPlanList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AdmissionPlan `json:"items"`
}

func init() {
	SchemeBuilder.Register(&AdmissionPlan{}, &AdmissionPlanList{})
}
