package webhook

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/residency-operator/residency-operator/internal/engine"
)

// +kubebuilder:webhook:path=/validate--v1-persistentvolumeclaim,mutating=false,failurePolicy=fail,sideEffects=None,groups="",resources=persistentvolumeclaims,verbs=create,versions=v1,name=residency.persistentvolumeclaims.dataresidency.io,admissionReviewVersions=v1,timeoutSeconds=3

var pvcResource = schema.GroupResource{Resource: "persistentvolumeclaims"}

// PVCResidency denies (Enforce) or warns about (Warn) a governed PersistentVolumeClaim that could
// end up outside its permitted jurisdictions: pre-bound to a volume elsewhere, or provisioned at
// once by a StorageClass that does not confine provisioning to permitted regions.
type PVCResidency struct {
	Reader client.Reader
	Now    func() time.Time
}

var _ admission.Validator[*corev1.PersistentVolumeClaim] = (*PVCResidency)(nil)

// ValidateCreate checks a new claim.
func (v *PVCResidency) ValidateCreate(ctx context.Context, pvc *corev1.PersistentVolumeClaim) (admission.Warnings, error) {
	pol, selected, err := loadPolicies(ctx, v.Reader, requestNamespace(ctx, pvc), engine.Volume, pvc.Labels, v.Now())
	if err != nil || !selected {
		return nil, internalError(err)
	}
	facts := engine.ClaimFactsOf(pvc)
	verdict, err := engine.DecideClaim(pol, &facts, admissionContext(ctx, v.Reader, pol))
	if err != nil {
		return nil, internalError(err)
	}
	return answer(verdict, "PersistentVolumeClaim", pvcResource, pvc.Name)
}

func internalError(err error) error {
	if err == nil {
		return nil
	}
	return apierrors.NewInternalError(err)
}

// ValidateUpdate is not called: the webhook is registered for CREATE only (the typed validator
// interface requires the method).
func (v *PVCResidency) ValidateUpdate(context.Context, *corev1.PersistentVolumeClaim, *corev1.PersistentVolumeClaim) (admission.Warnings, error) {
	return nil, nil
}

// ValidateDelete is not called: the webhook is registered for CREATE only.
func (v *PVCResidency) ValidateDelete(context.Context, *corev1.PersistentVolumeClaim) (admission.Warnings, error) {
	return nil, nil
}
