package check

import (
	corev1 "k8s.io/api/core/v1"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
	"github.com/residency-operator/residency-operator/internal/engine"
	"github.com/residency-operator/residency-operator/internal/manifest"
)

// checkClaim checks a PersistentVolumeClaim of the input: governed when a store's volumeSelector
// matches it or a governed pod mounts it.
func (c *checker) checkClaim(obj *manifest.Object, claim *corev1.PersistentVolumeClaim, what string) {
	c.checkClaimOf(obj, claim, what, c.mounts[claim.Namespace+"/"+claim.Name])
}

// checkClaimOf asks the engine about a claim that podStores govern through the pods that mount
// it. what names a claim that is part of another object (a volumeClaimTemplate), "" for a claim.
func (c *checker) checkClaimOf(obj *manifest.Object, claim *corev1.PersistentVolumeClaim, what string, podStores []*v1alpha1.PersonalDataStore) {
	facts := engine.ClaimFactsOf(claim)
	v, _ := engine.DecideClaim(c.policiesOf(claim.Namespace), &facts, c.context(), podStores...) // offline lookups never fail
	c.reportVerdict(obj, v, func(f engine.Finding) string { return what + f.Field + ": " })
}
