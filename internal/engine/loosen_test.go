package engine

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
)

func TestLoosening(t *testing.T) {
	base := v1alpha1.PersonalDataStoreSpec{
		AllowedJurisdictions: []v1alpha1.JurisdictionName{"eu"},
		WorkloadSelector:     metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}},
		Enforcement:          v1alpha1.Enforce, Egress: v1alpha1.EgressRestrict,
		EvictionGracePeriod: &metav1.Duration{Duration: 10 * time.Minute},
	}
	for name, tc := range map[string]struct {
		change func(*v1alpha1.PersonalDataStoreSpec)
		want   []string
	}{
		"nothing":                {func(*v1alpha1.PersonalDataStoreSpec) {}, nil},
		"stricter is not looser": {func(s *v1alpha1.PersonalDataStoreSpec) { s.AllowedJurisdictions = nil }, nil},
		"description":            {func(s *v1alpha1.PersonalDataStoreSpec) { s.Description = "x" }, nil},
		"Enforce to Warn":        {func(s *v1alpha1.PersonalDataStoreSpec) { s.Enforcement = v1alpha1.Warn }, []string{"enforcement Enforce -> Warn"}},
		"another jurisdiction":   {func(s *v1alpha1.PersonalDataStoreSpec) { s.AllowedJurisdictions = append(s.AllowedJurisdictions, "us") }, []string{"allowedJurisdictions adds us"}},
		"selector": {func(s *v1alpha1.PersonalDataStoreSpec) {
			s.WorkloadSelector.MatchLabels = map[string]string{"app": "db", "tier": "x"}
		}, []string{"workloadSelector changed (pods it selected may no longer be governed)"}},
		"longer grace":             {func(s *v1alpha1.PersonalDataStoreSpec) { s.EvictionGracePeriod = &metav1.Duration{Duration: time.Hour} }, []string{"evictionGracePeriod 10m0s -> 1h0m0s"}},
		"egress":                   {func(s *v1alpha1.PersonalDataStoreSpec) { s.Egress = v1alpha1.EgressUnrestricted }, []string{"egress Restrict -> Unrestricted"}},
		"a processor":              {func(s *v1alpha1.PersonalDataStoreSpec) { s.Processors = []v1alpha1.ObjectName{"mail"} }, []string{"processors adds mail"}},
		"unset mode reads Enforce": {func(s *v1alpha1.PersonalDataStoreSpec) { s.Enforcement = "" }, nil},
	} {
		changed := *base.DeepCopy()
		tc.change(&changed)
		if diff := cmp.Diff(tc.want, Loosening(&base, &changed)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
}
