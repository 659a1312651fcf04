package v1alpha1

import "k8s.io/apimachinery/pkg/types"

// DataCategory is a category of personal data named by the privacy policy.
// +kubebuilder:validation:Enum=Credentials;SecurityQuestions;ContactDetails;Demographics;UsageActivity;DeviceAndNetwork;EmailEngagement;Transactions
type DataCategory string

// The data categories of the privacy policy.
const (
	// Credentials are sign-in credentials: email address and password.
	Credentials DataCategory = "Credentials"
	// SecurityQuestions are secret security questions and their answers.
	SecurityQuestions DataCategory = "SecurityQuestions"
	// ContactDetails are name, email, home or work address and phone number.
	ContactDetails DataCategory = "ContactDetails"
	// Demographics are ZIP code, age, preferences and favourites.
	Demographics DataCategory = "Demographics"
	// UsageActivity is pages viewed and links clicked.
	UsageActivity DataCategory = "UsageActivity"
	// DeviceAndNetwork is IP address, browser type and language, access times and referring sites.
	DeviceAndNetwork DataCategory = "DeviceAndNetwork"
	// EmailEngagement is newsletter open and click tracking.
	EmailEngagement DataCategory = "EmailEngagement"
	// Transactions are purchases and payments.
	Transactions DataCategory = "Transactions"
)

// ObjectReference names an object in the same namespace as the object that holds the reference.
type ObjectReference struct {
	// kind of the object, such as Pod or PersistentVolumeClaim.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Kind string `json:"kind"`

	// name of the object.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// uid of the object: a pod re-created with the same name (a StatefulSet's) is another object.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=36
	UID types.UID `json:"uid,omitempty"`
}

// NamespacedReference names a namespaced object from a cluster-scoped one.
type NamespacedReference struct {
	// namespace of the object.
	// +required
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace"`

	// name of the object.
	// +required
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}
