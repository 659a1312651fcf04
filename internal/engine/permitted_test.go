package engine

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
)

// permStore builds a store that allows jurisdictions, in Enforce mode.
func permStore(name string, jurisdictions ...string) v1alpha1.PersonalDataStore {
	s := v1alpha1.PersonalDataStore{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop"}}
	for _, j := range jurisdictions {
		s.Spec.AllowedJurisdictions = append(s.Spec.AllowedJurisdictions, v1alpha1.JurisdictionName(j))
	}
	return s
}

// permTerm builds the permitted term that requires every jurisdiction given, in the order given.
func permTerm(jurisdictions ...string) corev1.NodeSelectorTerm {
	var t corev1.NodeSelectorTerm
	for _, j := range jurisdictions {
		t.MatchExpressions = append(t.MatchExpressions, corev1.NodeSelectorRequirement{
			Key: v1alpha1.JurisdictionLabel(j), Operator: corev1.NodeSelectorOpIn, Values: []string{"true"},
		})
	}
	return t
}

// permTermsString renders terms compactly for failure messages: terms separated by " | ", each
// requirement as key op values.
func permTermsString(terms []corev1.NodeSelectorTerm) string {
	if terms == nil {
		return "<nil>"
	}
	var b strings.Builder
	b.WriteString("[")
	for i, t := range terms {
		if i > 0 {
			b.WriteString(" | ")
		}
		for k, e := range t.MatchExpressions {
			if k > 0 {
				b.WriteString(" & ")
			}
			b.WriteString(strings.TrimPrefix(e.Key, v1alpha1.JurisdictionLabelPrefix) + " " + string(e.Operator) + " " + strings.Join(e.Values, ","))
		}
		for _, e := range t.MatchFields {
			b.WriteString(" & field:" + e.Key + " " + string(e.Operator) + " " + strings.Join(e.Values, ","))
		}
		if len(t.MatchExpressions) == 0 && len(t.MatchFields) == 0 {
			b.WriteString("{}")
		}
	}
	b.WriteString("]")
	return b.String()
}

// requirementOf is RequirementFor over stores given by value, as the tables hold them.
func requirementOf(stores []v1alpha1.PersonalDataStore) Requirement {
	ptrs := make([]*v1alpha1.PersonalDataStore, len(stores))
	for i := range stores {
		ptrs[i] = &stores[i]
	}
	return RequirementFor(ptrs...)
}

func TestRequirementFor(t *testing.T) {
	audit := permStore("metrics", "us")
	audit.Spec.Enforcement = v1alpha1.Audit
	warn := permStore("web", "us", "eu", "us")
	warn.Spec.Enforcement = v1alpha1.Warn
	db := permStore("customer-db", "eu")
	for _, s := range []*v1alpha1.PersonalDataStore{&audit, &warn, &db} {
		s.Spec.WorkloadSelector = metav1.LabelSelector{MatchLabels: map[string]string{"app": "shop"}}
	}
	// Admission injects the Enforce and Warn stores' placement: Governance picks them.
	g := Govern(&Policies{Stores: []*v1alpha1.PersonalDataStore{&warn, &audit, &db}}, Workload, map[string]string{"app": "shop"})
	r := RequirementFor(g.Constraining()...)

	want := Requirement{Groups: []Group{
		{Store: "customer-db", Jurisdictions: []string{"eu"}},
		{Store: "web", Jurisdictions: []string{"eu", "us"}},
	}}
	if diff := cmp.Diff(want, r); diff != "" {
		t.Fatalf("RequirementFor mismatch (-want +got):\n%s", diff)
	}
	if got, want := r.String(), `store "customer-db" allows [eu]; store "web" allows [eu us]`; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if got, want := r.AnnotationValue(), "eu;eu,us"; got != want {
		t.Errorf("AnnotationValue() = %q, want %q", got, want)
	}
	if got, want := r.StoreNames(), []string{"customer-db", "web"}; !reflect.DeepEqual(got, want) {
		t.Errorf("StoreNames() = %q, want %q", got, want)
	}
	if r.IsZero() {
		t.Error("IsZero() = true for two Enforce/Warn stores")
	}
	if z := RequirementFor((&Governance{Audit: []*v1alpha1.PersonalDataStore{&audit}}).Constraining()...); !z.IsZero() {
		t.Errorf("an Audit store alone gave %v to constrain placement, want the zero requirement", z)
	}
	if all := RequirementFor(g.All()...); len(all.Groups) != 3 {
		t.Errorf("RequirementFor(All()) = %v, want the Audit store's group too", all)
	}
	if terms, err := (Requirement{}).Terms(nil); terms != nil || err != nil {
		t.Errorf("zero requirement: Terms = %v, %v; want nil, nil", terms, err)
	}
}

func TestTerms(t *testing.T) {
	eu := &v1alpha1.JurisdictionSpec{Countries: []v1alpha1.CountryCode{"DE", "FR", "IE"}}
	us := &v1alpha1.JurisdictionSpec{Countries: []v1alpha1.CountryCode{"US"}}
	onPrem := &v1alpha1.JurisdictionSpec{
		Countries:    []v1alpha1.CountryCode{"CH"},
		NodeSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"site.node-restriction.kubernetes.io/affiliate": "true"}},
	}
	tests := []struct {
		name          string
		stores        []v1alpha1.PersonalDataStore
		jurisdictions map[string]*v1alpha1.JurisdictionSpec
		want          []corev1.NodeSelectorTerm
		wantErr       error
	}{{
		name:   "one store, one jurisdiction",
		stores: []v1alpha1.PersonalDataStore{permStore("db", "eu")},
		want:   []corev1.NodeSelectorTerm{permTerm("eu")},
	}, {
		name:   "one store, two jurisdictions: either",
		stores: []v1alpha1.PersonalDataStore{permStore("db", "us", "eu")},
		want:   []corev1.NodeSelectorTerm{permTerm("eu"), permTerm("us")},
	}, {
		name:   "overlapping stores: (eu or us) and eu is eu, the eu-and-us term is subsumed",
		stores: []v1alpha1.PersonalDataStore{permStore("web", "eu", "us"), permStore("db", "eu")},
		want:   []corev1.NodeSelectorTerm{permTerm("eu")},
	}, {
		name:   "partly overlapping stores: (eu or us) and (eu or ch)",
		stores: []v1alpha1.PersonalDataStore{permStore("web", "eu", "us"), permStore("db", "eu", "ch")},
		want:   []corev1.NodeSelectorTerm{permTerm("ch", "us"), permTerm("eu")},
	}, {
		name:   "a later store absorbs intermediate terms",
		stores: []v1alpha1.PersonalDataStore{permStore("a", "a", "b"), permStore("b", "c", "d"), permStore("c", "a", "c")},
		want:   []corev1.NodeSelectorTerm{permTerm("a", "c"), permTerm("a", "d"), permTerm("b", "c")},
	}, {
		name:   "disjoint names without specs: a node may be labelled with both",
		stores: []v1alpha1.PersonalDataStore{permStore("db", "eu"), permStore("web", "us")},
		want:   []corev1.NodeSelectorTerm{permTerm("eu", "us")},
	}, {
		name:          "disjoint stores with jurisdiction specs: nothing is permitted",
		stores:        []v1alpha1.PersonalDataStore{permStore("db", "eu"), permStore("web", "us")},
		jurisdictions: map[string]*v1alpha1.JurisdictionSpec{"eu": eu, "us": us},
		want:          []corev1.NodeSelectorTerm{},
	}, {
		name:          "only the disjoint combination is pruned",
		stores:        []v1alpha1.PersonalDataStore{permStore("db", "eu", "us"), permStore("web", "us", "ch")},
		jurisdictions: map[string]*v1alpha1.JurisdictionSpec{"eu": eu, "us": us},
		want:          []corev1.NodeSelectorTerm{permTerm("ch", "eu"), permTerm("us")},
	}, {
		name:          "disjoint countries but a nodeSelector: not pruned",
		stores:        []v1alpha1.PersonalDataStore{permStore("db", "eu"), permStore("web", "affiliate-sites")},
		jurisdictions: map[string]*v1alpha1.JurisdictionSpec{"eu": eu, "affiliate-sites": onPrem},
		want:          []corev1.NodeSelectorTerm{permTerm("affiliate-sites", "eu")},
	}, {
		name:          "a jurisdiction without a spec is not pruned",
		stores:        []v1alpha1.PersonalDataStore{permStore("db", "eu"), permStore("web", "new")},
		jurisdictions: map[string]*v1alpha1.JurisdictionSpec{"eu": eu},
		want:          []corev1.NodeSelectorTerm{permTerm("eu", "new")},
	}, {
		name:   "a store that allows nothing permits nothing",
		stores: []v1alpha1.PersonalDataStore{permStore("db", "eu"), permStore("broken")},
		want:   []corev1.NodeSelectorTerm{},
	}, {
		name: "3 stores of 4 jurisdictions each, no overlap: 64 terms",
		stores: []v1alpha1.PersonalDataStore{
			permStore("a", "a1", "a2", "a3", "a4"),
			permStore("b", "b1", "b2", "b3", "b4"),
			permStore("c", "c1", "c2", "c3", "c4"),
		},
		wantErr: ErrTooManyTerms,
	}, {
		name: "4 stores of 16 jurisdictions each: the intermediate cap",
		stores: func() []v1alpha1.PersonalDataStore {
			var stores []v1alpha1.PersonalDataStore
			for _, s := range []string{"a", "b", "c", "d"} {
				var js []string
				for i := range 16 {
					js = append(js, s+string(rune('a'+i)))
				}
				stores = append(stores, permStore(s, js...))
			}
			return stores
		}(),
		wantErr: ErrTooManyTerms,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := requirementOf(tt.stores)
			got, err := r.Terms(tt.jurisdictions)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Terms() error = %v, want %v", err, tt.wantErr)
				}
				for _, s := range r.StoreNames() {
					if !strings.Contains(err.Error(), `"`+s+`"`) {
						t.Errorf("error %q does not name store %q", err, s)
					}
				}
				if !strings.Contains(err.Error(), "32") {
					t.Errorf("error %q does not name the bound", err)
				}
				t.Logf("error: %v", err)
				return
			}
			if err != nil {
				t.Fatalf("Terms() error = %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Terms() = %s, want %s; diff (-want +got):\n%s", permTermsString(got), permTermsString(tt.want), diff)
			}
			// The result is canonical: store order does not matter.
			rev := make([]v1alpha1.PersonalDataStore, len(tt.stores))
			for i, s := range tt.stores {
				rev[len(rev)-1-i] = s
			}
			if again, _ := requirementOf(rev).Terms(tt.jurisdictions); !reflect.DeepEqual(again, got) {
				t.Errorf("Terms() depends on store order: %s vs %s", permTermsString(again), permTermsString(got))
			}
		})
	}
}

func TestTermsCountOfTooMany(t *testing.T) {
	r := requirementOf([]v1alpha1.PersonalDataStore{
		permStore("a", "a1", "a2", "a3", "a4"),
		permStore("b", "b1", "b2", "b3", "b4"),
		permStore("c", "c1", "c2", "c3", "c4"),
	})
	_, err := r.Terms(nil)
	if err == nil || !strings.Contains(err.Error(), "need 64 node selector terms") {
		t.Errorf("Terms() error = %v, want it to say 64 terms are needed", err)
	}
}

func TestTermsRegionCountryPruning(t *testing.T) {
	old := CountryOfRegion
	t.Cleanup(func() { CountryOfRegion = old })
	CountryOfRegion = func(r string) (string, bool) {
		c, ok := map[string]string{"eu-central-1": "DE", "us-east-1": "US"}[r]
		return c, ok
	}
	specs := map[string]*v1alpha1.JurisdictionSpec{
		"eu":      {Countries: []v1alpha1.CountryCode{"DE"}},
		"private": {Regions: []string{"us-east-1"}},
		"lab":     {Regions: []string{"lab-1"}}, // unknown region: may be anywhere
	}
	r := requirementOf([]v1alpha1.PersonalDataStore{permStore("db", "eu"), permStore("web", "private", "lab")})
	got, err := r.Terms(specs)
	if err != nil {
		t.Fatal(err)
	}
	want := []corev1.NodeSelectorTerm{permTerm("eu", "lab")}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Terms() mismatch (-want +got):\n%s", diff)
	}
}

func TestDisjoint(t *testing.T) {
	countryOf := func(r string) (string, bool) {
		c, ok := map[string]string{"eu-central-1": "DE", "us-east-1": "US", "europe-west3": "DE"}[r]
		return c, ok
	}
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"k": "v"}}
	tests := []struct {
		name string
		a, b v1alpha1.JurisdictionSpec
		want bool
	}{
		{"disjoint countries", v1alpha1.JurisdictionSpec{Countries: []v1alpha1.CountryCode{"DE"}}, v1alpha1.JurisdictionSpec{Countries: []v1alpha1.CountryCode{"US"}}, true},
		{"shared country", v1alpha1.JurisdictionSpec{Countries: []v1alpha1.CountryCode{"DE", "FR"}}, v1alpha1.JurisdictionSpec{Countries: []v1alpha1.CountryCode{"FR"}}, false},
		{"shared region", v1alpha1.JurisdictionSpec{Regions: []string{"a", "b"}}, v1alpha1.JurisdictionSpec{Regions: []string{"b"}}, false},
		{"regions differing in case only", v1alpha1.JurisdictionSpec{Regions: []string{"Lab-1"}}, v1alpha1.JurisdictionSpec{Regions: []string{"lab-1"}}, false},
		{"disjoint regions", v1alpha1.JurisdictionSpec{Regions: []string{"a"}}, v1alpha1.JurisdictionSpec{Regions: []string{"b"}}, true},
		{"region in the other's country", v1alpha1.JurisdictionSpec{Regions: []string{"europe-west3"}}, v1alpha1.JurisdictionSpec{Countries: []v1alpha1.CountryCode{"DE"}}, false},
		{"region in the other's country, reversed", v1alpha1.JurisdictionSpec{Countries: []v1alpha1.CountryCode{"DE"}}, v1alpha1.JurisdictionSpec{Regions: []string{"europe-west3"}}, false},
		{"region outside the other's countries", v1alpha1.JurisdictionSpec{Regions: []string{"us-east-1"}}, v1alpha1.JurisdictionSpec{Countries: []v1alpha1.CountryCode{"DE"}}, true},
		{"unknown region may be in any country", v1alpha1.JurisdictionSpec{Regions: []string{"lab-1"}}, v1alpha1.JurisdictionSpec{Countries: []v1alpha1.CountryCode{"DE"}}, false},
		{"unknown region, other side has no countries", v1alpha1.JurisdictionSpec{Regions: []string{"lab-1"}}, v1alpha1.JurisdictionSpec{Regions: []string{"lab-2"}}, true},
		{"nodeSelector on one side", v1alpha1.JurisdictionSpec{Countries: []v1alpha1.CountryCode{"DE"}}, v1alpha1.JurisdictionSpec{Countries: []v1alpha1.CountryCode{"US"}, NodeSelector: sel}, false},
		{"nodeSelector on the other side", v1alpha1.JurisdictionSpec{Countries: []v1alpha1.CountryCode{"DE"}, NodeSelector: sel}, v1alpha1.JurisdictionSpec{Countries: []v1alpha1.CountryCode{"US"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Disjoint(&tt.a, &tt.b, countryOf); got != tt.want {
				t.Errorf("Disjoint(a, b) = %v, want %v", got, tt.want)
			}
			if got := Disjoint(&tt.b, &tt.a, countryOf); got != tt.want {
				t.Errorf("Disjoint(b, a) = %v, want %v", got, tt.want)
			}
		})
	}
	a := &v1alpha1.JurisdictionSpec{Regions: []string{"us-east-1"}}
	b := &v1alpha1.JurisdictionSpec{Countries: []v1alpha1.CountryCode{"DE"}}
	if Disjoint(a, b, nil) {
		t.Error("Disjoint with a nil region function claimed certainty about a region")
	}
	if Disjoint(nil, b, countryOf) || Disjoint(a, nil, countryOf) {
		t.Error("Disjoint with a missing spec claimed certainty")
	}
}

func TestNodePermitted(t *testing.T) {
	node := func(labels map[string]string) *corev1.Node {
		return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n", Labels: labels}}
	}
	eu := v1alpha1.JurisdictionLabel("eu")
	us := v1alpha1.JurisdictionLabel("us")
	terms, err := requirementOf([]v1alpha1.PersonalDataStore{permStore("web", "eu", "us"), permStore("db", "eu", "ch")}).Terms(nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		labels map[string]string
		terms  []corev1.NodeSelectorTerm
		want   bool
	}{
		{"in eu", map[string]string{eu: "true"}, terms, true},
		{"in us only", map[string]string{us: "true"}, terms, false},
		{"in us and ch", map[string]string{us: "true", v1alpha1.JurisdictionLabel("ch"): "true"}, terms, true},
		{"label not true", map[string]string{eu: "false"}, terms, false},
		{"no location (fail closed)", nil, terms, false},
		{"no terms: nothing permitted", map[string]string{eu: "true"}, []corev1.NodeSelectorTerm{}, false},
		{"unparsable terms: nothing permitted", map[string]string{eu: "true"}, []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: eu, Operator: "Bogus"}}}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NodePermitted(node(tt.labels), tt.terms); got != tt.want {
				t.Errorf("NodePermitted = %v, want %v", got, tt.want)
			}
		})
	}
	if NodePermitted(nil, terms) {
		t.Error("NodePermitted(nil) = true")
	}
}

// BenchmarkRequirementTerms measures building the permitted terms of a pod governed by two stores.
func BenchmarkRequirementTerms(b *testing.B) {
	stores := []v1alpha1.PersonalDataStore{permStore("customer-db", "eu", "us"), permStore("web", "eu", "ch")}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := requirementOf(stores).Terms(nil); err != nil {
			b.Fatal(err)
		}
	}
}
