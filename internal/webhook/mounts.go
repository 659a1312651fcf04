package webhook

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
	"github.com/residency-operator/residency-operator/internal/engine"
)

// The volumes webhook sees only pods that mount a PersistentVolumeClaim (config/webhook's
// match_conditions_patch.yaml), in both admission modes: compiled policies cannot look claims up.
// It fails closed in governed namespaces: while the operator is down, pods with claims there wait.
// +kubebuilder:webhook:path=/validate--v1-pod-volumes,mutating=false,failurePolicy=fail,sideEffects=None,groups="",resources=pods,verbs=create,versions=v1,name=volumes.pods.dataresidency.io,admissionReviewVersions=v1,timeoutSeconds=3

// PodVolumes denies (Enforce) or warns about (Warn) a pod that mounts a claim a store governs
// without the labels that make the store place it (engine.DecideMounts).
type PodVolumes struct {
	Reader client.Reader
	Now    func() time.Time
}

var _ admission.Validator[*corev1.Pod] = (*PodVolumes)(nil)

// ValidateCreate judges the claims a new pod mounts.
func (v *PodVolumes) ValidateCreate(ctx context.Context, pod *corev1.Pod) (admission.Warnings, error) {
	namespace := requestNamespace(ctx, pod)
	var claims []string
	for _, vol := range pod.Spec.Volumes {
		if vol.PersistentVolumeClaim != nil {
			claims = append(claims, vol.PersistentVolumeClaim.ClaimName)
		}
	}
	if len(claims) == 0 {
		return nil, nil
	}
	pol, err := loadStores(ctx, v.Reader, namespace, v.Now())
	if err != nil || len(pol.Stores) == 0 {
		return nil, internalError(err)
	}
	claimStores := map[string][]*v1alpha1.PersonalDataStore{}
	for _, name := range claims {
		claim := &corev1.PersistentVolumeClaim{}
		if err := v.Reader.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, claim); err != nil {
			if apierrors.IsNotFound(err) {
				continue // a claim created after its pod is judged when it is created, by the claim webhook
			}
			return nil, internalError(fmt.Errorf("getting PersistentVolumeClaim %s: %w", name, err))
		}
		if matched := engine.Matching(pol, engine.Volume, claim.Labels); len(matched) > 0 {
			claimStores[name] = matched
		}
	}
	if len(claimStores) == 0 {
		return nil, nil
	}
	if err := loadTheRest(ctx, v.Reader, namespace, pol); err != nil {
		return nil, internalError(err)
	}
	return answer(engine.DecideMounts(pol, pod.Labels, claimStores), "Pod", podResource, pod.Name)
}

// ValidateUpdate admits: a pod's volumes never change.
func (v *PodVolumes) ValidateUpdate(context.Context, *corev1.Pod, *corev1.Pod) (admission.Warnings, error) {
	return nil, nil
}

// ValidateDelete admits.
func (v *PodVolumes) ValidateDelete(context.Context, *corev1.Pod) (admission.Warnings, error) {
	return nil, nil
}
