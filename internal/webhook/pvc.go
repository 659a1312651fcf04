package webhook

import (
	"context"
	"fmt"
	"maps"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
	"github.com/residency-operator/residency-operator/internal/engine"
	"github.com/residency-operator/residency-operator/internal/lookup"
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
	// Sources reads the claim or VolumeSnapshot a new claim is cloned or restored from, straight
	// from the API server (nil: Reader): a rare read, not worth a cache of every snapshot.
	Sources client.Reader
	// Providers says which cloud the cluster runs in (nil: unknown).
	Providers *lookup.ClusterProvider
}

var _ admission.Validator[*corev1.PersistentVolumeClaim] = (*PVCResidency)(nil)

// ValidateCreate checks a new claim. A claim cloned or restored from the data of a claim that a
// store governs is governed by that store too, whatever its own labels: a copy of personal data is
// personal data, and it must be provisioned where the source may be.
func (v *PVCResidency) ValidateCreate(ctx context.Context, pvc *corev1.PersistentVolumeClaim) (admission.Warnings, error) {
	namespace := requestNamespace(ctx, pvc)
	pol, selected, err := loadPolicies(ctx, v.Reader, namespace, engine.Volume, pvc.Labels, v.Now())
	if err != nil {
		return nil, internalError(err)
	}
	var sourceStores []*v1alpha1.PersonalDataStore
	if len(pol.Stores) > 0 {
		sourceLabels, found, err := v.sourceLabels(ctx, namespace, pvc)
		if err != nil {
			return nil, internalError(err)
		}
		if found {
			if !selected {
				if pol, selected, err = loadPolicies(ctx, v.Reader, namespace, engine.Volume, sourceLabels, v.Now()); err != nil {
					return nil, internalError(err)
				}
			}
			sourceStores = engine.Matching(pol, engine.Volume, sourceLabels)
		}
	}
	if !selected {
		return nil, nil
	}
	facts := engine.ClaimFactsOf(pvc)
	verdict, err := engine.DecideClaim(pol, &facts, admissionContext(ctx, v.Reader, pol, v.Providers), sourceStores...)
	if err != nil {
		return nil, internalError(err)
	}
	return answer(verdict, "PersistentVolumeClaim", pvcResource, pvc.Name)
}

// volumeSnapshot is the VolumeSnapshot kind (external-snapshotter's CRDs), read unstructured: the
// operator does not depend on the snapshot API being installed.
var volumeSnapshot = schema.GroupVersionKind{Group: "snapshot.storage.k8s.io", Version: "v1", Kind: "VolumeSnapshot"}

// +kubebuilder:rbac:groups=snapshot.storage.k8s.io,resources=volumesnapshots,verbs=get

// sourceLabels returns the labels of the claim whose data a new claim copies: its dataSourceRef
// (or dataSource) names that claim, or a VolumeSnapshot of it. found is false when the claim has
// no such source, or it cannot be found (a snapshot whose claim is gone, no snapshot API): then
// nothing says whose data it is.
func (v *PVCResidency) sourceLabels(ctx context.Context, namespace string, pvc *corev1.PersistentVolumeClaim) (map[string]string, bool, error) {
	kind, group, name := "", "", ""
	switch ref := pvc.Spec.DataSourceRef; {
	case ref != nil && (ref.Namespace == nil || *ref.Namespace == namespace):
		kind, group, name = ref.Kind, ptr.Deref(ref.APIGroup, ""), ref.Name
	case pvc.Spec.DataSource != nil:
		kind, group, name = pvc.Spec.DataSource.Kind, ptr.Deref(pvc.Spec.DataSource.APIGroup, ""), pvc.Spec.DataSource.Name
	}
	reader := v.Sources
	if reader == nil {
		reader = v.Reader
	}
	switch {
	case kind == "PersistentVolumeClaim" && group == "":
	case kind == volumeSnapshot.Kind && group == volumeSnapshot.Group:
		snap := &unstructured.Unstructured{}
		snap.SetGroupVersionKind(volumeSnapshot)
		err := reader.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, snap)
		if apierrors.IsNotFound(err) || meta.IsNoMatchError(err) {
			return nil, false, nil
		}
		if err != nil {
			return nil, false, fmt.Errorf("getting VolumeSnapshot %s: %w", name, err)
		}
		if name, _, _ = unstructured.NestedString(snap.Object, "spec", "source", "persistentVolumeClaimName"); name == "" {
			return nil, false, nil // pre-provisioned from a snapshot handle: no claim to follow
		}
	default:
		return nil, false, nil
	}
	source := &corev1.PersistentVolumeClaim{}
	if err := reader.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, source); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("getting PersistentVolumeClaim %s: %w", name, err)
	}
	return source.Labels, true, nil
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
