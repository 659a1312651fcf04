package engine

import (
	"math/rand"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
)

func TestAffinityImpliesWhatIntersectPlacementInjects(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	jurs := []string{"eu", "us", "ch", "jp"}
	for i := 0; i < 2000; i++ {
		var stores []v1alpha1.PersonalDataStore
		for s := 0; s < 1+rng.Intn(3); s++ {
			st := v1alpha1.PersonalDataStore{}
			st.Name = string(rune('a' + s))
			for _, j := range jurs {
				if rng.Intn(2) == 0 {
					st.Spec.AllowedJurisdictions = append(st.Spec.AllowedJurisdictions, v1alpha1.JurisdictionName(j))
				}
			}
			if len(st.Spec.AllowedJurisdictions) == 0 {
				st.Spec.AllowedJurisdictions = []v1alpha1.JurisdictionName{"eu"}
			}
			stores = append(stores, st)
		}
		req := requirementOf(stores)
		terms, err := req.Terms(nil)
		if err != nil || len(terms) == 0 {
			continue
		}
		spec := &corev1.PodSpec{}
		if rng.Intn(2) == 0 {
			spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "disk", Operator: corev1.NodeSelectorOpIn, Values: []string{"ssd"}}}}},
			}}}
		}
		if AffinityImplies(spec, req) {
			t.Fatalf("case %d: a pod without the injected terms passed for %s", i, req)
		}
		if err := IntersectPlacement(spec, terms); err != nil {
			continue
		}
		if !AffinityImplies(spec, req) {
			t.Fatalf("case %d: the injected affinity %+v does not pass for %s", i, spec.Affinity, req)
		}
	}
}

func TestAffinityImpliesRejectsLooseTerms(t *testing.T) {
	req := Requirement{Groups: []Group{{Store: "db", Jurisdictions: []string{"eu"}}}}
	loose := &corev1.PodSpec{Affinity: &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
		NodeSelectorTerms: []corev1.NodeSelectorTerm{
			{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: v1alpha1.JurisdictionLabel("eu"), Operator: corev1.NodeSelectorOpIn, Values: []string{"true"}}}},
			{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "disk", Operator: corev1.NodeSelectorOpIn, Values: []string{"ssd"}}}},
		},
	}}}}
	if AffinityImplies(loose, req) {
		t.Fatal("a second term without the jurisdiction label lets the pod anywhere, yet it passed")
	}
	notIn := loose.DeepCopy()
	notIn.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms = []corev1.NodeSelectorTerm{
		{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: v1alpha1.JurisdictionLabel("eu"), Operator: corev1.NodeSelectorOpNotIn, Values: []string{"true"}}}},
	}
	if AffinityImplies(notIn, req) {
		t.Fatal("NotIn on the jurisdiction label passed")
	}
}
