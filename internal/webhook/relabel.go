package webhook

import (
	"context"
	"maps"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/residency-operator/residency-operator/internal/engine"
	"github.com/residency-operator/residency-operator/internal/lookup"
)

// The relabel webhook sees only pod updates that change labels (config/webhook's
// match_conditions_patch.yaml): rare, and never the kubelet's status writes. It fails closed in
// governed namespaces, as the pod creation webhooks do.
// +kubebuilder:webhook:path=/validate--v1-pod-updates,mutating=false,failurePolicy=fail,sideEffects=None,groups="",resources=pods,verbs=update,versions=v1,name=updates.pods.dataresidency.io,admissionReviewVersions=v1,timeoutSeconds=3

// PodRelabel denies (Enforce) or warns about (Warn) a label change on an existing pod that would
// make an exception lift a store that constrains it, or bring it under a store where it is not
// placed or runs outside the permitted jurisdictions (engine.DecideRelabel).
type PodRelabel struct {
	Reader    client.Reader
	Now       func() time.Time
	Providers *lookup.ClusterProvider
}

var _ admission.Validator[*corev1.Pod] = (*PodRelabel)(nil)

// ValidateCreate admits: creations are the other pod webhooks' (and policies') to judge.
func (v *PodRelabel) ValidateCreate(context.Context, *corev1.Pod) (admission.Warnings, error) {
	return nil, nil
}

// ValidateUpdate judges a label change.
func (v *PodRelabel) ValidateUpdate(ctx context.Context, old, pod *corev1.Pod) (admission.Warnings, error) {
	if maps.Equal(old.Labels, pod.Labels) {
		return nil, nil
	}
	pol, selected, err := loadPolicies(ctx, v.Reader, requestNamespace(ctx, pod), engine.Workload, pod.Labels, v.Now())
	if err != nil || !selected {
		return nil, internalError(err)
	}
	facts := engine.FactsOf(pod.Labels, &pod.Spec)
	verdict, err := engine.DecideRelabel(pol, old.Labels, &facts, admissionContext(ctx, v.Reader, pol, v.Providers))
	if err != nil {
		return nil, internalError(err)
	}
	return answer(verdict, "Pod", podResource, pod.Name)
}

// ValidateDelete admits.
func (v *PodRelabel) ValidateDelete(context.Context, *corev1.Pod) (admission.Warnings, error) {
	return nil, nil
}
