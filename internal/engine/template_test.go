package engine

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
	"github.com/residency-operator/residency-operator/internal/catalog"
)

// tplJurisdictions are the shipped eu and us Jurisdictions (eu shortened to a few countries), an
// on-prem jurisdiction by region name, and one defined only by a node selector.
func tplJurisdictions() map[string]*v1alpha1.JurisdictionSpec {
	return map[string]*v1alpha1.JurisdictionSpec{
		"eu":     {Countries: []v1alpha1.CountryCode{"DE", "FR", "IE", "NL", "SE"}},
		"us":     {Countries: []v1alpha1.CountryCode{"US"}},
		"onprem": {Regions: []string{"dc-zurich"}},
		"affiliate": {NodeSelector: &metav1.LabelSelector{MatchLabels: map[string]string{
			"site.dataresidency.node-restriction.kubernetes.io/affiliate": "true"}}},
	}
}

func tplAffinity(terms ...corev1.NodeSelectorTerm) *corev1.Affinity {
	return &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: terms}}}
}

func tplIn(key string, values ...string) corev1.NodeSelectorRequirement {
	return corev1.NodeSelectorRequirement{Key: key, Operator: corev1.NodeSelectorOpIn, Values: values}
}

// tplVerdict runs PlacesOfPod and asks NodePermitted about each place, the way the offline check
// does, and summarises: "open", "permitted", "denied" or "unknown".
func tplVerdict(t *testing.T, spec *corev1.PodSpec, provider catalog.Provider, allowed ...string) (string, PodPlaces) {
	t.Helper()
	jurs := tplJurisdictions()
	matchers, err := NewJurisdictionMatchers(jurs)
	if err != nil {
		t.Fatal(err)
	}
	store := v1alpha1.PersonalDataStore{ObjectMeta: metav1.ObjectMeta{Name: "s"}}
	for _, a := range allowed {
		store.Spec.AllowedJurisdictions = append(store.Spec.AllowedJurisdictions, v1alpha1.JurisdictionName(a))
	}
	terms, err := requirementOf([]v1alpha1.PersonalDataStore{store}).Terms(jurs)
	if err != nil {
		t.Fatal(err)
	}
	pp := PlacesOfPod(spec, matchers, jurs, provider)
	switch {
	case pp.Open:
		return "open", pp
	case slices.ContainsFunc(pp.Places, func(n *corev1.Node) bool { return NodePermitted(n, terms) }):
		return "permitted", pp
	case len(pp.Unknown) > 0:
		return "unknown", pp
	default:
		return "denied", pp
	}
}

func TestPlacesOfPod(t *testing.T) {
	tests := []struct {
		name     string
		spec     corev1.PodSpec
		provider catalog.Provider
		allowed  []string
		want     string
		unknown  []string
	}{
		{name: "no constraints", spec: corev1.PodSpec{}, allowed: []string{"eu"}, want: "open"},
		{name: "unrelated nodeSelector", spec: corev1.PodSpec{NodeSelector: map[string]string{"disktype": "ssd"}}, allowed: []string{"eu"}, want: "open"},
		{name: "us region for an eu store", spec: corev1.PodSpec{NodeSelector: map[string]string{RegionLabel: "us-east-1"}}, allowed: []string{"eu"}, want: "denied"},
		{name: "eu region for an eu store", spec: corev1.PodSpec{NodeSelector: map[string]string{RegionLabel: "eu-central-1"}}, allowed: []string{"eu"}, want: "permitted"},
		{name: "ambiguous region without a provider", spec: corev1.PodSpec{NodeSelector: map[string]string{RegionLabel: "eu-west-1"}}, allowed: []string{"eu"}, want: "unknown", unknown: []string{`region "eu-west-1"`}},
		{name: "ambiguous region with the provider", spec: corev1.PodSpec{NodeSelector: map[string]string{RegionLabel: "eu-west-1"}}, provider: catalog.AWS, allowed: []string{"eu"}, want: "permitted"},
		{name: "ambiguous region at the other provider", spec: corev1.PodSpec{NodeSelector: map[string]string{RegionLabel: "eu-west-1"}}, provider: catalog.Alibaba, allowed: []string{"eu"}, want: "denied"},
		{name: "legacy region key", spec: corev1.PodSpec{NodeSelector: map[string]string{LegacyRegionLabel: "us-west-2"}}, allowed: []string{"eu"}, want: "denied"},
		{name: "zone derives its region", spec: corev1.PodSpec{NodeSelector: map[string]string{ZoneLabel: "europe-west4-a"}}, allowed: []string{"eu"}, want: "permitted"},
		{name: "affinity naming some permitted regions", spec: corev1.PodSpec{Affinity: tplAffinity(corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{tplIn(RegionLabel, "us-east-1", "eu-central-1")}})}, allowed: []string{"eu"}, want: "permitted"},
		{name: "affinity naming only us regions", spec: corev1.PodSpec{Affinity: tplAffinity(corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{tplIn(RegionLabel, "us-east-1", "us-west-2")}})}, allowed: []string{"eu"}, want: "denied"},
		{name: "a second term without location is open", spec: corev1.PodSpec{Affinity: tplAffinity(
			corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{tplIn(RegionLabel, "us-east-1")}},
			corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{tplIn("disktype", "ssd")}})}, allowed: []string{"eu"}, want: "open"},
		{name: "nodeSelector ANDs with each term", spec: corev1.PodSpec{NodeSelector: map[string]string{RegionLabel: "us-east-1"}, Affinity: tplAffinity(
			corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{tplIn("disktype", "ssd")}})}, allowed: []string{"eu"}, want: "denied"},
		{name: "contradictory region and zone accept nothing", spec: corev1.PodSpec{NodeSelector: map[string]string{RegionLabel: "eu-west-1", ZoneLabel: "us-east-1a"}}, allowed: []string{"eu"}, want: "denied"},
		{name: "only exclusions are open", spec: corev1.PodSpec{Affinity: tplAffinity(corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: RegionLabel, Operator: corev1.NodeSelectorOpNotIn, Values: []string{"eu-west-1"}}}})}, allowed: []string{"eu"}, want: "open"},
		{name: "NotIn removes the permitted region", spec: corev1.PodSpec{Affinity: tplAffinity(corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{
			tplIn(RegionLabel, "eu-west-1", "us-east-1"), {Key: RegionLabel, Operator: corev1.NodeSelectorOpNotIn, Values: []string{"eu-west-1"}}}})}, allowed: []string{"eu"}, want: "denied"},
		{name: "unknown region", spec: corev1.PodSpec{NodeSelector: map[string]string{RegionLabel: "mars-north-1"}}, allowed: []string{"eu"}, want: "unknown", unknown: []string{`region "mars-north-1"`}},
		{name: "known and unknown, one permitted", spec: corev1.PodSpec{Affinity: tplAffinity(corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{tplIn(RegionLabel, "mars-north-1", "eu-west-3")}})}, allowed: []string{"eu"}, want: "permitted", unknown: []string{`region "mars-north-1"`}},
		{name: "private region of a Jurisdiction", spec: corev1.PodSpec{NodeSelector: map[string]string{RegionLabel: "dc-zurich"}}, allowed: []string{"onprem"}, want: "permitted"},
		{name: "country label", spec: corev1.PodSpec{NodeSelector: map[string]string{v1alpha1.CountryLabel: "US"}}, allowed: []string{"eu"}, want: "denied"},
		{name: "country label not ISO", spec: corev1.PodSpec{NodeSelector: map[string]string{v1alpha1.CountryLabel: "UK"}}, allowed: []string{"eu"}, want: "unknown", unknown: []string{`country "UK" (not an ISO 3166-1 alpha-2 code)`}},
		{name: "pre-pinned to the us jurisdiction", spec: corev1.PodSpec{NodeSelector: map[string]string{v1alpha1.JurisdictionLabel("us"): "true"}}, allowed: []string{"eu"}, want: "denied"},
		{name: "pre-pinned to the eu jurisdiction", spec: corev1.PodSpec{NodeSelector: map[string]string{v1alpha1.JurisdictionLabel("eu"): "true"}}, allowed: []string{"eu", "us"}, want: "permitted"},
		{name: "pinned to a selector jurisdiction", spec: corev1.PodSpec{NodeSelector: map[string]string{v1alpha1.JurisdictionLabel("affiliate"): "true"}}, allowed: []string{"affiliate"}, want: "permitted"},
		{name: "pinned to an undefined jurisdiction", spec: corev1.PodSpec{NodeSelector: map[string]string{v1alpha1.JurisdictionLabel("mars"): "true"}}, allowed: []string{"eu"}, want: "unknown", unknown: []string{`jurisdiction "mars" (not defined)`}},
		{name: "matchFields is open", spec: corev1.PodSpec{Affinity: tplAffinity(corev1.NodeSelectorTerm{MatchFields: []corev1.NodeSelectorRequirement{tplIn("metadata.name", "node-1")}})}, allowed: []string{"eu"}, want: "open"},
		{name: "CSI zone key", spec: corev1.PodSpec{NodeSelector: map[string]string{"topology.ebs.csi.aws.com/zone": "us-east-1a"}}, allowed: []string{"eu"}, want: "denied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, pp := tplVerdict(t, &tt.spec, tt.provider, tt.allowed...)
			if got != tt.want {
				var where []string
				for _, p := range pp.Places {
					where = append(where, Describe(p))
				}
				t.Errorf("verdict = %s, want %s (places %v, unknown %v)", got, tt.want, where, pp.Unknown)
			}
			if diff := cmp.Diff(tt.unknown, pp.Unknown); diff != "" {
				t.Errorf("unknown (-want +got):\n%s", diff)
			}
		})
	}
}

// TestPlacesOfPodDoesNotChangeTheSpec guards the caller's object: the check reads templates that
// it also reports on.
func TestPlacesOfPodDoesNotChangeTheSpec(t *testing.T) {
	spec := corev1.PodSpec{NodeSelector: map[string]string{LegacyRegionLabel: "us-east-1"}, Affinity: tplAffinity(
		corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{tplIn("topology.gke.io/zone", "europe-west1-b")}})}
	before := spec.DeepCopy()
	tplVerdict(t, &spec, "", "eu")
	if diff := cmp.Diff(before, &spec); diff != "" {
		t.Errorf("spec changed (-before +after):\n%s", diff)
	}
}

func TestProcessorProblem(t *testing.T) {
	store := &v1alpha1.PersonalDataStoreSpec{
		AllowedJurisdictions: []v1alpha1.JurisdictionName{"eu"},
		DataCategories:       []v1alpha1.DataCategory{v1alpha1.ContactDetails, v1alpha1.Credentials},
	}
	proc := func(jurs []v1alpha1.JurisdictionName, cats ...v1alpha1.DataCategory) *v1alpha1.DataProcessor {
		return &v1alpha1.DataProcessor{ObjectMeta: metav1.ObjectMeta{Name: "mail"}, Spec: v1alpha1.DataProcessorSpec{Jurisdictions: jurs, DataCategories: cats}}
	}
	tests := []struct {
		name string
		p    *v1alpha1.DataProcessor
		want v1alpha1.ProcessorFindingReason
	}{
		{"passes", proc([]v1alpha1.JurisdictionName{"us", "eu"}, v1alpha1.ContactDetails, v1alpha1.Credentials, v1alpha1.EmailEngagement), ""},
		{"outside", proc([]v1alpha1.JurisdictionName{"us"}, v1alpha1.ContactDetails, v1alpha1.Credentials), v1alpha1.JurisdictionNotPermitted},
		{"minimisation", proc([]v1alpha1.JurisdictionName{"eu"}, v1alpha1.ContactDetails), v1alpha1.CategoriesNotCovered},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ProcessorProblem(store, tt.p)
			var reason v1alpha1.ProcessorFindingReason
			if got != nil {
				reason = got.Reason
			}
			if reason != tt.want {
				t.Errorf("reason = %q, want %q (%+v)", reason, tt.want, got)
			}
		})
	}
}

func TestSelectorFor(t *testing.T) {
	if _, ok := SelectorFor(nil); ok {
		t.Error("nil selector selects")
	}
	if _, ok := SelectorFor(&metav1.LabelSelector{}); ok {
		t.Error("empty selector selects")
	}
	if _, ok := SelectorFor(&metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "a", Operator: "Bogus"}}}); ok {
		t.Error("invalid selector selects")
	}
	if s, ok := SelectorFor(&metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}); !ok || !s.Matches(labels.Set{"app": "db"}) {
		t.Error("valid selector does not select")
	}
}
