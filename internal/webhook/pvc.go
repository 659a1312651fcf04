package webhook

import (
	"context"
	"maps"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/residency-operator/residency-operator/internal/engine"
)

// +kubebuilder:webhook:path=/validate--v1-persistentvolumeclaim,mutating=false,failurePolicy=fail,sideEffects=None,groups="",resources=persistentvolumeclaims,verbs=create;update,versions=v1,name=residency.persistentvolumeclaims.dataresidency.io,admissionReviewVersions=v1,timeoutSeconds=3

var pvcResource = schema.GroupResource{Resource: "persistentvolumeclaims"}

// PVCResidency denies (Enforce) or warns about (Warn) a governed PersistentVolumeClaim that could
// end up outside its permitted jurisdictions: pre-bound to a volume elsewhere (at creation, or when
// an update labels it into a store), or provisioned at once by a StorageClass that does not confine
// provisioning to permitted regions.
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

// ValidateUpdate judges a claim again when an update changes which stores govern it: its labels
// (or its class, which may only be set once). Other updates pass, such as a resize, and the
// binding: the volume binder sets spec.volumeName moments after a provisioner creates the volume,
// often before it reaches this webhook's cache, and refusing it would leave a correctly placed
// claim unbound; the audit reports a claim bound outside (PersistentVolumes are never touched).
func (v *PVCResidency) ValidateUpdate(ctx context.Context, oldPVC, newPVC *corev1.PersistentVolumeClaim) (admission.Warnings, error) {
	if maps.Equal(oldPVC.Labels, newPVC.Labels) && ptr.Equal(oldPVC.Spec.StorageClassName, newPVC.Spec.StorageClassName) {
		return nil, nil
	}
	return v.ValidateCreate(ctx, newPVC)
}

// ValidateDelete is not called: the webhook is registered for CREATE and UPDATE only.
func (v *PVCResidency) ValidateDelete(context.Context, *corev1.PersistentVolumeClaim) (admission.Warnings, error) {
	return nil, nil
}
