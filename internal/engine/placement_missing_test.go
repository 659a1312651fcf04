package engine

import (
	"fmt"
	"strings"
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

// TestPlacementConflictPending: a placed pending pod whose own nodeSelector or affinity allows only
// places outside its stores' jurisdictions never runs; the audit says so (not the scheduler's
// generic message), and a pod whose own placement fits, or is open, is just pending.
// euOnlyStore is the policies of one Enforce store "db" (pods and claims labelled app=db) allowed
// only in an "eu" Jurisdiction of DE, FR and IE, and the compiled Jurisdictions.
func euOnlyStore(t *testing.T) (*Policies, []*JurisdictionMatcher) {
	t.Helper()
	store := &v1alpha1.PersonalDataStore{ObjectMeta: metav1.ObjectMeta{Name: "db"}}
	sel := metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}
	store.Spec.WorkloadSelector, store.Spec.VolumeSelector = sel, &sel
	store.Spec.AllowedJurisdictions = []v1alpha1.JurisdictionName{"eu"}
	pol := &Policies{Stores: []*v1alpha1.PersonalDataStore{store},
		Jurisdictions: map[string]*v1alpha1.JurisdictionSpec{"eu": {Countries: []v1alpha1.CountryCode{"DE", "FR", "IE"}}}}
	matchers, err := NewJurisdictionMatchers(pol.Jurisdictions)
	if err != nil {
		t.Fatal(err)
	}
	return pol, matchers
}

func TestPlacementConflictPending(t *testing.T) {
	pol, matchers := euOnlyStore(t)
	euTerm := corev1.NodeSelectorRequirement{Key: v1alpha1.JurisdictionLabel("eu"), Operator: corev1.NodeSelectorOpIn, Values: []string{"true"}}
	region := func(r string) corev1.NodeSelectorRequirement {
		return corev1.NodeSelectorRequirement{Key: corev1.LabelTopologyRegion, Operator: corev1.NodeSelectorOpIn, Values: []string{r}}
	}
	placed := func(own ...corev1.NodeSelectorRequirement) *corev1.Affinity {
		return &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
			NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: append(own, euTerm)}}}}}
	}
	for _, tc := range []struct {
		name  string
		facts PodFacts
		want  bool
	}{
		{"nodeSelector outside", PodFacts{NodeSelector: map[string]string{corev1.LabelTopologyRegion: "us-east-1"}, Affinity: placed()}, true},
		{"own affinity outside, ANDed with the permitted one", PodFacts{Affinity: placed(region("us-central1"))}, true},
		{"nodeSelector inside", PodFacts{NodeSelector: map[string]string{corev1.LabelTopologyRegion: "eu-central-1"}, Affinity: placed()}, false},
		{"no placement of its own", PodFacts{Affinity: placed()}, false},
		{"bound: judged by its node instead", PodFacts{NodeName: "n", NodeSelector: map[string]string{corev1.LabelTopologyRegion: "us-east-1"}, Affinity: placed()}, false},
	} {
		// The same decision at admission (the pod being created, already placed) and in the audit.
		for stage, says := range map[Stage]string{Running: "so it stays Pending", Admission: "so it would stay Pending forever"} {
			t.Run(fmt.Sprintf("%s at stage %d", tc.name, stage), func(t *testing.T) {
				tc.facts.Labels = map[string]string{"app": "db"}
				v, err := DecidePod(pol, &tc.facts, &Context{Stage: stage, Matchers: matchers})
				if err != nil {
					t.Fatal(err)
				}
				got := false
				for _, f := range v.Denied {
					if f.Reason == PlacementConflict {
						got = true
						if !strings.Contains(f.Message, says) || !strings.Contains(f.Message, "(region us-") {
							t.Errorf("message does not say where the pod asks to run and that it never runs: %s", f.Message)
						}
					}
				}
				if got != tc.want {
					t.Errorf("PlacementConflict denied %v, want %v: %+v", got, tc.want, v.Findings())
				}
			})
		}
	}
}

// TestPlacementConflictByMode: at admission a conflict with an Enforce store is denied, with a
// Warn store only warned about, and with an Audit store not judged (admission does not place for it).
func TestPlacementConflictByMode(t *testing.T) {
	jurisdictions := map[string]*v1alpha1.JurisdictionSpec{"eu": {Countries: []v1alpha1.CountryCode{"DE", "FR", "IE"}}}
	matchers, err := NewJurisdictionMatchers(jurisdictions)
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []v1alpha1.EnforcementMode{v1alpha1.Enforce, v1alpha1.Warn, v1alpha1.Audit} {
		t.Run(string(mode), func(t *testing.T) {
			s := &v1alpha1.PersonalDataStore{ObjectMeta: metav1.ObjectMeta{Name: "db"}}
			s.Spec.Enforcement = mode
			s.Spec.WorkloadSelector = metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}
			s.Spec.AllowedJurisdictions = []v1alpha1.JurisdictionName{"eu"}
			pol := &Policies{Stores: []*v1alpha1.PersonalDataStore{s}, Jurisdictions: jurisdictions}
			facts := PodFacts{Labels: map[string]string{"app": "db"}, NodeSelector: map[string]string{corev1.LabelTopologyRegion: "us-east-1"}}
			v, err := DecidePod(pol, &facts, &Context{Stage: Admission, Matchers: matchers})
			if err != nil {
				t.Fatal(err)
			}
			conflicts := func(fs []Finding) int {
				n := 0
				for _, f := range fs {
					if f.Reason == PlacementConflict {
						n++
					}
				}
				return n
			}
			denied, warned, reported := conflicts(v.Denied), conflicts(v.Warned), conflicts(v.Reported)
			want := map[v1alpha1.EnforcementMode][3]int{v1alpha1.Enforce: {1, 0, 0}, v1alpha1.Warn: {0, 1, 0}, v1alpha1.Audit: {0, 0, 0}}[mode]
			if [3]int{denied, warned, reported} != want {
				t.Errorf("conflicts denied/warned/reported = %d/%d/%d, want %v", denied, warned, reported, want)
			}
		})
	}
}

// TestPlacementConflictNotJudged: no PlacementConflict where a region cannot tell (a Jurisdiction
// defined by a nodeSelector takes nodes wherever its labels are), nor for what only an Audit store
// asks (admission placed the pod for the Enforce and Warn stores alone).
func TestPlacementConflictNotJudged(t *testing.T) {
	store := func(name string, mode v1alpha1.EnforcementMode, jurisdiction string) *v1alpha1.PersonalDataStore {
		s := &v1alpha1.PersonalDataStore{ObjectMeta: metav1.ObjectMeta{Name: name}}
		s.Spec.Enforcement = mode
		s.Spec.WorkloadSelector = metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}
		s.Spec.AllowedJurisdictions = []v1alpha1.JurisdictionName{v1alpha1.JurisdictionName(jurisdiction)}
		return s
	}
	jurisdictions := map[string]*v1alpha1.JurisdictionSpec{
		"us":    {Countries: []v1alpha1.CountryCode{"US"}},
		"eu":    {Countries: []v1alpha1.CountryCode{"DE", "FR", "IE"}},
		"sites": {NodeSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"site": "affiliate"}}},
	}
	matchers, err := NewJurisdictionMatchers(jurisdictions)
	if err != nil {
		t.Fatal(err)
	}
	placedIn := func(j string) *corev1.Affinity {
		return &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
			NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{
				{Key: v1alpha1.JurisdictionLabel(j), Operator: corev1.NodeSelectorOpIn, Values: []string{"true"}}}}}}}}
	}
	for name, tc := range map[string]struct {
		stores []*v1alpha1.PersonalDataStore
		placed string
	}{
		"a Jurisdiction by nodeSelector": {[]*v1alpha1.PersonalDataStore{store("db", v1alpha1.Enforce, "sites")}, "sites"},
		"only an Audit store objects":    {[]*v1alpha1.PersonalDataStore{store("db", v1alpha1.Enforce, "us"), store("report", v1alpha1.Audit, "eu")}, "us"},
	} {
		t.Run(name, func(t *testing.T) {
			pol := &Policies{Stores: tc.stores, Jurisdictions: jurisdictions}
			facts := PodFacts{Labels: map[string]string{"app": "db"}, NodeSelector: map[string]string{corev1.LabelTopologyRegion: "us-east-1"}, Affinity: placedIn(tc.placed)}
			for _, stage := range []Stage{Running, Admission} {
				v, err := DecidePod(pol, &facts, &Context{Stage: stage, Matchers: matchers})
				if err != nil {
					t.Fatal(err)
				}
				for _, f := range v.Findings() {
					if f.Reason == PlacementConflict {
						t.Errorf("stage %d: PlacementConflict: %s", stage, f.Message)
					}
				}
			}
		})
	}
}
