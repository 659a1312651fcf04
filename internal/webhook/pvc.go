package webhook

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
	"github.com/residency-operator/residency-operator/internal/engine"
)

// +kubebuilder:webhook:path=/validate--v1-persistentvolumeclaim,mutating=false,failurePolicy=fail,sideEffects=None,groups="",resources=persistentvolumeclaims,verbs=create,versions=v1,name=residency.persistentvolumeclaims.dataresidency.io,admissionReviewVersions=v1,timeoutSeconds=3

var pvcResource = schema.GroupResource{Resource: "persistentvolumeclaims"}

const defaultClassAnnotation = "storageclass.kubernetes.io/is-default-class"

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
	pol, err := loadPolicy(ctx, v.Reader, requestNamespace(ctx, pvc), pvc.Labels, volumeSelector, v.Now())
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	return decide(pol, "PersistentVolumeClaim", pvcResource, pvc.Name, func(stores []v1alpha1.PersonalDataStore) field.ErrorList {
		return v.check(ctx, pvc, stores, pol.jurisdictions)
	})
}

func (v *PVCResidency) check(ctx context.Context, pvc *corev1.PersistentVolumeClaim, stores []v1alpha1.PersonalDataStore, jurs map[string]*v1alpha1.JurisdictionSpec) field.ErrorList {
	if len(stores) == 0 {
		return nil
	}
	req, terms, errs := permittedTerms(stores, jurs, "claim", "give the stores a common allowed jurisdiction")
	if len(errs) > 0 {
		return errs
	}
	// A Jurisdiction whose selector does not compile matches nothing; the schema rejects those.
	matchers, _ := engine.NewJurisdictionMatchers(jurs)
	nodeByName := func(name string) *corev1.Node {
		node := &corev1.Node{}
		if err := v.Reader.Get(ctx, client.ObjectKey{Name: name}, node); err != nil {
			return nil
		}
		return node
	}

	if pvc.Spec.VolumeName != "" {
		path := field.NewPath("spec", "volumeName")
		pv := &corev1.PersistentVolume{}
		if err := v.Reader.Get(ctx, client.ObjectKey{Name: pvc.Spec.VolumeName}, pv); err != nil {
			if apierrors.IsNotFound(err) {
				return field.ErrorList{field.Forbidden(path, fmt.Sprintf("pre-bound to PersistentVolume %q, which does not exist, so its location is unknown; %s. Fix: create the volume first, or remove spec.volumeName", pvc.Spec.VolumeName, req))}
			}
			return field.ErrorList{field.InternalError(path, err)}
		}
		places, ok := engine.VolumePlaces(pv, matchers, nodeByName)
		if !ok {
			return field.ErrorList{field.Forbidden(path, fmt.Sprintf("pre-bound to PersistentVolume %q, whose location is unknown (no region or zone label, no node affinity on region, zone or hostname); %s. Fix: label the volume with %s", pv.Name, req, engine.RegionLabel))}
		}
		for _, place := range places {
			if !engine.NodePermitted(place, terms) {
				return field.ErrorList{field.Forbidden(path, fmt.Sprintf("pre-bound to PersistentVolume %q %s, outside the permitted jurisdictions: %s. Fix: bind to a volume in a permitted region, or remove spec.volumeName", pv.Name, engine.Describe(place), req))}
			}
		}
		return nil
	}

	path := field.NewPath("spec", "storageClassName")
	class, err := v.storageClass(ctx, pvc)
	if err != nil {
		return field.ErrorList{field.InternalError(path, err)}
	}
	if class == nil {
		if pvc.Spec.StorageClassName != nil && *pvc.Spec.StorageClassName != "" {
			return field.ErrorList{field.Forbidden(path, fmt.Sprintf("StorageClass %q does not exist, so where the volume would be provisioned is unknown; %s. Fix: create the StorageClass first", *pvc.Spec.StorageClassName, req))}
		}
		return nil // static binding or no default class: the audit finds where it binds
	}
	if class.VolumeBindingMode != nil && *class.VolumeBindingMode == storagev1.VolumeBindingWaitForFirstConsumer {
		return nil // provisioned where the (placement-constrained) pod is scheduled
	}
	fix := fmt.Sprintf("Fix: use a StorageClass with volumeBindingMode: WaitForFirstConsumer, or allowedTopologies limited to regions of the permitted jurisdictions (%s)", req)
	if len(class.AllowedTopologies) == 0 {
		return field.ErrorList{field.Forbidden(path, fmt.Sprintf("StorageClass %q binds Immediate without allowedTopologies, so the provisioner may create the volume in any region. %s", class.Name, fix))}
	}
	places, ok := engine.TopologyPlaces(class.AllowedTopologies, matchers, nodeByName)
	if !ok {
		return field.ErrorList{field.Forbidden(path, fmt.Sprintf("StorageClass %q binds Immediate and its allowedTopologies name no region or zone the operator can locate. %s", class.Name, fix))}
	}
	for _, place := range places {
		if !engine.NodePermitted(place, terms) {
			return field.ErrorList{field.Forbidden(path, fmt.Sprintf("StorageClass %q binds Immediate and its allowedTopologies include %s, outside the permitted jurisdictions. %s", class.Name, engine.Describe(place), fix))}
		}
	}
	return nil
}

// storageClass returns the claim's StorageClass, the cluster default when it names none, or nil.
func (v *PVCResidency) storageClass(ctx context.Context, pvc *corev1.PersistentVolumeClaim) (*storagev1.StorageClass, error) {
	if name := pvc.Spec.StorageClassName; name != nil {
		if *name == "" {
			return nil, nil
		}
		class := &storagev1.StorageClass{}
		if err := v.Reader.Get(ctx, client.ObjectKey{Name: *name}, class); err != nil {
			return nil, client.IgnoreNotFound(err)
		}
		return class, nil
	}
	var classes storagev1.StorageClassList
	if err := v.Reader.List(ctx, &classes); err != nil {
		return nil, fmt.Errorf("listing StorageClasses: %w", err)
	}
	for i := range classes.Items {
		if classes.Items[i].Annotations[defaultClassAnnotation] == "true" {
			return &classes.Items[i], nil
		}
	}
	return nil, nil
}

// ValidateUpdate allows updates: where a claim's volume is does not change after creation.
func (v *PVCResidency) ValidateUpdate(context.Context, *corev1.PersistentVolumeClaim, *corev1.PersistentVolumeClaim) (admission.Warnings, error) {
	return nil, nil
}

// ValidateDelete allows deletion.
func (v *PVCResidency) ValidateDelete(context.Context, *corev1.PersistentVolumeClaim) (admission.Warnings, error) {
	return nil, nil
}
