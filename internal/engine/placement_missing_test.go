package engine

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
)

// TestPlacementMissing: a pending governed pod that admission did not place is a violation at
// once, unless it is gated or only Audit stores govern it; a placed one is not.
func TestPlacementMissing(t *testing.T) {
	store := func(mode v1alpha1.EnforcementMode) *v1alpha1.PersonalDataStore {
		s := &v1alpha1.PersonalDataStore{ObjectMeta: metav1.ObjectMeta{Name: "db"}}
		s.Spec.Enforcement = mode
		s.Spec.WorkloadSelector = metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}
		s.Spec.AllowedJurisdictions = []v1alpha1.JurisdictionName{"eu"}
		return s
	}
	placed := &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
		NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{
			{Key: v1alpha1.JurisdictionLabel("eu"), Operator: corev1.NodeSelectorOpIn, Values: []string{"true"}}}}}}}}
	for _, tc := range []struct {
		name  string
		mode  v1alpha1.EnforcementMode
		facts PodFacts
		want  bool
	}{
		{"pending, unplaced", v1alpha1.Enforce, PodFacts{}, true},
		{"pending, unplaced, Warn", v1alpha1.Warn, PodFacts{}, true},
		{"pending, placed", v1alpha1.Enforce, PodFacts{Affinity: placed}, false},
		{"pending, gated", v1alpha1.Enforce, PodFacts{Gated: true}, false},
		{"pending, Audit only", v1alpha1.Audit, PodFacts{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pol := &Policies{Stores: []*v1alpha1.PersonalDataStore{store(tc.mode)}}
			tc.facts.Labels = map[string]string{"app": "db"}
			v, err := DecidePod(pol, &tc.facts, &Context{Stage: Running})
			if err != nil {
				t.Fatal(err)
			}
			got := false
			for _, f := range v.Findings() {
				got = got || f.Reason == PlacementMissing
			}
			if got != tc.want {
				t.Errorf("PlacementMissing %v, want %v: %+v", got, tc.want, v.Findings())
			}
		})
	}
}
