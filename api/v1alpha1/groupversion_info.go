// Package v1alpha1 contains the dataresidency.io/v1alpha1 API: where personal data may live
// (Jurisdiction), what holds it (PersonalDataStore), who receives it (DataProcessor) and time-boxed
// exemptions (ResidencyException).
// +kubebuilder:object:generate=true
// +groupName=dataresidency.io
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of every kind in this package.
	GroupVersion = schema.GroupVersion{Group: "dataresidency.io", Version: "v1alpha1"}

	// SchemeBuilder registers this package's kinds with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds this package's kinds to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
