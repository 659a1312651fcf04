package check

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
	"github.com/residency-operator/residency-operator/internal/engine"
	"github.com/residency-operator/residency-operator/internal/manifest"
)

// checkClaim checks a PersistentVolumeClaim of the input: governed when a store's volumeSelector
// matches it or a governed pod mounts it.
func (c *checker) checkClaim(obj *manifest.Object, claim *corev1.PersistentVolumeClaim, what string) {
	c.checkClaimOf(obj, claim, what, c.mounts[claim.Namespace+"/"+claim.Name])
}

// checkClaimOf checks a claim that podStores govern through the pods that mount it, plus the
// stores whose volumeSelector matches it, less what an active exception lifts for its labels.
// what names a claim that is part of another object (a volumeClaimTemplate), "" for a claim.
func (c *checker) checkClaimOf(obj *manifest.Object, claim *corev1.PersistentVolumeClaim, what string, podStores []*v1alpha1.PersonalDataStore) {
	set := labels.Set(claim.Labels)
	stores := c.matching(claim.Namespace, set, true)
	for _, s := range podStores {
		if !containsStore(stores, s) {
			stores = append(stores, s)
		}
	}
	stores = c.exempt(claim.Namespace, set, stores)
	if len(stores) == 0 {
		return
	}
	subject := "the claim"
	if what != "" {
		subject = what
	}
	c.reportModes(obj, stores, func(st []v1alpha1.PersonalDataStore) []problem {
		return c.claimProblems(claim, subject, st)
	})
}

func containsStore(stores []*v1alpha1.PersonalDataStore, s *v1alpha1.PersonalDataStore) bool {
	for _, o := range stores {
		if o == s {
			return true
		}
	}
	return false
}

// claimProblems mirrors the PVC webhook: a claim pre-bound to a volume must be in a permitted
// place; otherwise its StorageClass must bind WaitForFirstConsumer (the volume follows the
// placement-constrained pod) or confine provisioning to permitted regions with allowedTopologies.
func (c *checker) claimProblems(claim *corev1.PersistentVolumeClaim, subject string, stores []v1alpha1.PersonalDataStore) []problem {
	tr := c.permitted(stores)
	if tr.err != nil {
		return []problem{{RuleTooManyTerms, Error, fmt.Sprintf("%s: %v", subject, tr.err)}}
	}
	if len(tr.terms) == 0 {
		return []problem{{RuleStoresDisagree, Error, fmt.Sprintf(
			"%s is governed by stores that permit no common place: %s. Fix: give the stores a common allowed jurisdiction", subject, tr.req)}}
	}
	req := tr.req
	nodeByName := func(name string) *corev1.Node {
		if c.opts.NodeByName == nil {
			return nil
		}
		return c.opts.NodeByName(name)
	}

	if name := claim.Spec.VolumeName; name != "" {
		pv := c.volumes[name]
		if pv == nil {
			return []problem{{RuleVolume, Warning, fmt.Sprintf(
				"%s is pre-bound to PersistentVolume %q, which is not in the checked manifests, so its location cannot be checked; %s. Fix: add the volume's manifest to the checked files, or make sure it is in a permitted region",
				subject, name, req)}}
		}
		places, ok := engine.VolumePlaces(pv, c.matchers, nodeByName)
		if !ok {
			return []problem{{RuleVolume, Error, fmt.Sprintf(
				"%s is pre-bound to PersistentVolume %q, whose location is unknown (no region or zone label, no node affinity on region, zone or hostname); %s. Fix: label the volume with %s",
				subject, name, req, engine.RegionLabel)}}
		}
		for _, place := range places {
			if !engine.NodePermitted(place, tr.terms) {
				return []problem{{RuleVolume, Error, fmt.Sprintf(
					"%s is pre-bound to PersistentVolume %q %s, outside the permitted jurisdictions: %s. Fix: bind to a volume in a permitted region, or remove spec.volumeName",
					subject, name, engine.Describe(place), req)}}
			}
		}
		return nil
	}

	class, missing := c.storageClass(claim)
	if missing != "" {
		if c.opts.Live {
			return []problem{{RuleStorageClassNotFound, Error, fmt.Sprintf(
				"%s names StorageClass %q, which does not exist, so where the volume would be provisioned is unknown; %s. Fix: create the StorageClass first",
				subject, missing, req)}}
		}
		return []problem{{RuleStorageClassNotFound, Warning, fmt.Sprintf(
			"%s names StorageClass %q, which is not in the checked manifests, so where the volume would be provisioned cannot be checked; %s. Fix: add the StorageClass's manifest to the checked files, or run the check with --cluster",
			subject, missing, req)}}
	}
	if class == nil {
		return nil // static binding, or no default class: the audit finds where it binds
	}
	if class.VolumeBindingMode != nil && *class.VolumeBindingMode == storagev1.VolumeBindingWaitForFirstConsumer {
		return nil // provisioned where the (placement-constrained) pod is scheduled
	}
	fix := fmt.Sprintf("Fix: use a StorageClass with volumeBindingMode: WaitForFirstConsumer, or allowedTopologies limited to regions of the permitted jurisdictions (%s)", req)
	if len(class.AllowedTopologies) == 0 {
		return []problem{{RuleStorage, Error, fmt.Sprintf(
			"%s uses StorageClass %q, which binds Immediate without allowedTopologies, so the provisioner may create the volume in any region. %s", subject, class.Name, fix)}}
	}
	places, ok := engine.TopologyPlaces(class.AllowedTopologies, c.matchers, nodeByName)
	if !ok {
		return []problem{{RuleStorage, Error, fmt.Sprintf(
			"%s uses StorageClass %q, which binds Immediate and whose allowedTopologies name no region or zone the operator can locate. %s", subject, class.Name, fix)}}
	}
	for _, place := range places {
		if !engine.NodePermitted(place, tr.terms) {
			return []problem{{RuleStorage, Error, fmt.Sprintf(
				"%s uses StorageClass %q, which binds Immediate and whose allowedTopologies include %s, outside the permitted jurisdictions. %s", subject, class.Name, engine.Describe(place), fix)}}
		}
	}
	return nil
}

// storageClass returns the claim's StorageClass, the default one when it names none, or nil; and
// the name it names when that class is not known.
func (c *checker) storageClass(claim *corev1.PersistentVolumeClaim) (class *storagev1.StorageClass, missing string) {
	name := claim.Spec.StorageClassName
	if name == nil {
		return c.defaultClass, ""
	}
	if *name == "" {
		return nil, ""
	}
	if sc := c.classes[*name]; sc != nil {
		return sc, ""
	}
	return nil, *name
}
