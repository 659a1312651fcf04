package engine

import (
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
	"github.com/residency-operator/residency-operator/internal/catalog"
)

func mcStore(name string, mode v1alpha1.EnforcementMode, allowed ...string) *v1alpha1.PersonalDataStore {
	s := &v1alpha1.PersonalDataStore{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop"}}
	s.Spec.Enforcement = mode
	for _, j := range allowed {
		s.Spec.AllowedJurisdictions = append(s.Spec.AllowedJurisdictions, v1alpha1.JurisdictionName(j))
	}
	s.Spec.WorkloadSelector = metav1.LabelSelector{MatchLabels: map[string]string{"app": name}}
	return s
}

func mcObject(t *testing.T, y string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal([]byte(y), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func clusterLabels(jurisdictions ...string) map[string]string {
	l := map[string]string{"env": "prod"}
	for _, j := range jurisdictions {
		l[v1alpha1.JurisdictionLabel(j)] = v1alpha1.JurisdictionLabelValue
	}
	return l
}

// selectedClusters evaluates a narrowed label selector over clusters, as Karmada's and OCM's
// schedulers do (metav1.LabelSelectorAsSelector).
func selects(t *testing.T, sel any, l map[string]string) bool {
	t.Helper()
	ls, err := selectorOf(sel)
	if err != nil {
		t.Fatal(err)
	}
	if ls == nil {
		return true
	}
	s, err := metav1.LabelSelectorAsSelector(ls)
	if err != nil {
		t.Fatal(err)
	}
	return s.Matches(labels.Set(l))
}

func TestKarmadaPolicyNarrowedToTheOnePermittedJurisdiction(t *testing.T) {
	p := &Policies{Stores: []*v1alpha1.PersonalDataStore{mcStore("customers", "", "eu")}}
	obj := mcObject(t, `
apiVersion: policy.karmada.io/v1alpha1
kind: PropagationPolicy
metadata: {name: all, namespace: shop}
spec:
  resourceSelectors: [{apiVersion: apps/v1, kind: Deployment}]
  placement:
    clusterAffinity:
      labelSelector: {matchLabels: {env: prod}}
`)
	d, err := DecideClusterPolicy(p, KindPropagationPolicy, obj)
	if err != nil || len(d.Denied) > 0 {
		t.Fatalf("err %v, denied %v", err, d.Denied)
	}
	if d.Narrowed == nil {
		t.Fatal("not narrowed")
	}
	aff, _ := getMap(d.Narrowed, "spec", "placement", "clusterAffinity")
	if !selects(t, aff["labelSelector"], clusterLabels("eu")) || selects(t, aff["labelSelector"], clusterLabels("us")) {
		t.Fatalf("narrowed selector %v", aff["labelSelector"])
	}
	if sel, _ := getMap(obj, "spec", "placement", "clusterAffinity", "labelSelector"); len(sel["matchLabels"].(map[string]any)) != 1 {
		t.Fatal("the input was changed")
	}
	// Idempotent: the narrowed policy is left as it is (Karmada's webhook and a re-apply resubmit it).
	again, err := DecideClusterPolicy(p, KindPropagationPolicy, d.Narrowed)
	if err != nil || again.Narrowed != nil || len(again.Denied) > 0 {
		t.Fatalf("second pass: narrowed %v, denied %v, err %v", again.Narrowed, again.Denied, err)
	}
}

func TestKarmadaPolicyWithoutAffinityAndEachAffinityTerm(t *testing.T) {
	p := &Policies{Stores: []*v1alpha1.PersonalDataStore{mcStore("customers", "", "eu")}}
	d, err := DecideClusterPolicy(p, KindClusterPropagationPolicy, mcObject(t, `{spec: {resourceSelectors: [{apiVersion: apps/v1, kind: Deployment}]}}`))
	if err != nil || d.Narrowed == nil {
		t.Fatalf("err %v, narrowed %v", err, d.Narrowed)
	}
	aff, _ := getMap(d.Narrowed, "spec", "placement", "clusterAffinity")
	if !selects(t, aff["labelSelector"], clusterLabels("eu")) || selects(t, aff["labelSelector"], clusterLabels()) {
		t.Fatalf("selector %v", aff)
	}
	d, err = DecideClusterPolicy(p, KindPropagationPolicy, mcObject(t, `
spec:
  placement:
    clusterAffinities:
    - {affinityName: primary, clusterNames: [frankfurt]}
    - {affinityName: backup, labelSelector: {matchLabels: {tier: dr}}}
`))
	if err != nil || d.Narrowed == nil {
		t.Fatalf("err %v", err)
	}
	terms := d.Narrowed["spec"].(map[string]any)["placement"].(map[string]any)["clusterAffinities"].([]any)
	for i, term := range terms {
		sel := term.(map[string]any)["labelSelector"]
		if selects(t, sel, map[string]string{"tier": "dr"}) || !selects(t, sel, map[string]string{"tier": "dr", v1alpha1.JurisdictionLabel("eu"): "true"}) {
			t.Fatalf("term %d not narrowed: %v", i, sel)
		}
	}
	if _, ok := d.Narrowed["spec"].(map[string]any)["placement"].(map[string]any)["clusterAffinity"]; ok {
		t.Fatal("clusterAffinity added next to clusterAffinities, which Karmada refuses")
	}
}

func TestKarmadaPolicyDeniedWhenSeveralJurisdictionsPermitted(t *testing.T) {
	p := &Policies{Stores: []*v1alpha1.PersonalDataStore{mcStore("web", "", "eu", "us")}}
	d, err := DecideClusterPolicy(p, KindPropagationPolicy, mcObject(t, `{spec: {placement: {}}}`))
	if err != nil || len(d.Denied) != 1 || d.Narrowed != nil {
		t.Fatalf("err %v, denied %v, narrowed %v", err, d.Denied, d.Narrowed)
	}
	msg := d.Denied[0].Message
	for _, want := range []string{`store "web" allows [eu us]`, v1alpha1.JurisdictionLabel("eu"), v1alpha1.JurisdictionLabel("us"), "matchLabels"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	// Choosing one of them is accepted as it is.
	d, err = DecideClusterPolicy(p, KindPropagationPolicy, mcObject(t, `{spec: {placement: {clusterAffinity: {labelSelector: {matchLabels: {"`+v1alpha1.JurisdictionLabel("us")+`": "true"}}}}}}`))
	if err != nil || len(d.Denied) > 0 || d.Narrowed != nil {
		t.Fatalf("chosen jurisdiction: err %v, denied %v, narrowed %v", err, d.Denied, d.Narrowed)
	}
	// A Warn store warns instead.
	p = &Policies{Stores: []*v1alpha1.PersonalDataStore{mcStore("web", v1alpha1.Warn, "eu", "us")}}
	d, _ = DecideClusterPolicy(p, KindPropagationPolicy, mcObject(t, `{spec: {placement: {}}}`))
	if len(d.Denied) > 0 || len(d.Warned) != 1 {
		t.Fatalf("warn mode: denied %v warned %v", d.Denied, d.Warned)
	}
	// Audit stores decide nothing at admission.
	p = &Policies{Stores: []*v1alpha1.PersonalDataStore{mcStore("web", v1alpha1.Audit, "eu")}}
	if d, _ = DecideClusterPolicy(p, KindPropagationPolicy, mcObject(t, `{spec: {}}`)); d.Narrowed != nil || len(d.Denied)+len(d.Warned) > 0 {
		t.Fatalf("audit mode: %+v", d)
	}
}

func TestStoresThatDisagreeRefuseEveryPolicy(t *testing.T) {
	p := &Policies{Stores: []*v1alpha1.PersonalDataStore{mcStore("a", "", "eu"), mcStore("b", "", "us")},
		Jurisdictions: map[string]*v1alpha1.JurisdictionSpec{"eu": {Countries: []v1alpha1.CountryCode{"DE"}}, "us": {Countries: []v1alpha1.CountryCode{"US"}}}}
	d, err := DecideClusterPolicy(p, KindPlacement, mcObject(t, `{spec: {}}`))
	if err != nil || len(d.Denied) != 1 || d.Denied[0].Reason != StoresDisagree {
		t.Fatalf("err %v denied %v", err, d.Denied)
	}
}

func TestKarmadaPurgeModeWarned(t *testing.T) {
	p := &Policies{Stores: []*v1alpha1.PersonalDataStore{mcStore("customers", "", "eu")}}
	d, _ := DecideClusterPolicy(p, KindPropagationPolicy, mcObject(t, `{spec: {failover: {application: {decisionConditions: {tolerationSeconds: 30}}}}}`))
	if len(d.Warned) != 1 || d.Warned[0].Reason != ClusterPolicyPurge || !strings.Contains(d.Warned[0].Message, "purgeMode: Never") {
		t.Fatalf("warned %v", d.Warned)
	}
	d, _ = DecideClusterPolicy(p, KindPropagationPolicy, mcObject(t, `{spec: {failover: {application: {purgeMode: Never}}}}`))
	if len(d.Warned) != 0 {
		t.Fatalf("purgeMode Never warned: %v", d.Warned)
	}
}

func TestOCMPlacementPredicatesCrossedWithPermittedTerms(t *testing.T) {
	p := &Policies{Stores: []*v1alpha1.PersonalDataStore{mcStore("web", "", "eu", "us")}}
	obj := mcObject(t, `
apiVersion: cluster.open-cluster-management.io/v1beta1
kind: Placement
spec:
  predicates:
  - requiredClusterSelector:
      labelSelector: {matchLabels: {env: prod}}
      claimSelector: {matchExpressions: [{key: platform.open-cluster-management.io, operator: In, values: [AWS]}]}
`)
	d, err := DecideClusterPolicy(p, KindPlacement, obj)
	if err != nil || d.Narrowed == nil || len(d.Denied) > 0 {
		t.Fatalf("err %v denied %v", err, d.Denied)
	}
	preds := d.Narrowed["spec"].(map[string]any)["predicates"].([]any)
	if len(preds) != 2 {
		t.Fatalf("want one predicate per permitted jurisdiction, got %d", len(preds))
	}
	anyOf := func(l map[string]string) bool {
		for _, pr := range preds {
			rcs := pr.(map[string]any)["requiredClusterSelector"].(map[string]any)
			if rcs["claimSelector"] == nil {
				t.Fatal("the predicate's own claim selector was dropped")
			}
			if selects(t, rcs["labelSelector"], l) {
				return true
			}
		}
		return false
	}
	eu, us, ch := clusterLabels("eu"), clusterLabels("us"), clusterLabels("ch")
	if !anyOf(eu) || !anyOf(us) || anyOf(ch) || anyOf(map[string]string{v1alpha1.JurisdictionLabel("eu"): "true"}) {
		t.Fatal("narrowed predicates select the wrong clusters")
	}
	again, err := DecideClusterPolicy(p, KindPlacement, d.Narrowed)
	if err != nil || again.Narrowed != nil {
		t.Fatalf("not idempotent: %v %v", again.Narrowed, err)
	}
	// No predicate: every cluster of the bound sets, narrowed to one predicate per jurisdiction.
	d, _ = DecideClusterPolicy(p, KindPlacement, mcObject(t, `{spec: {clusterSets: [global]}}`))
	if got := len(d.Narrowed["spec"].(map[string]any)["predicates"].([]any)); got != 2 {
		t.Fatalf("%d predicates", got)
	}
}

func TestClusterPermittedUsesTheNodeRule(t *testing.T) {
	p := &Policies{}
	_, terms, err := p.permitted([]*v1alpha1.PersonalDataStore{mcStore("web", "", "eu", "us")})
	if err != nil {
		t.Fatal(err)
	}
	if !ClusterPermitted(clusterLabels("us"), terms) || ClusterPermitted(clusterLabels("ch"), terms) || ClusterPermitted(nil, terms) {
		t.Fatal("wrong verdicts")
	}
}

func TestLocateCluster(t *testing.T) {
	loc := LocateCluster("clusters.cluster.karmada.io", "eu", "aws", "eu-central-1", "", nil)
	if !loc.Trusted() || loc.Country != "DE" || loc.Provider != catalog.AWS {
		t.Fatalf("%+v", loc)
	}
	// Pinned at first sight: a Cluster whose region changes is not believed until a person confirms.
	loc = LocateCluster("clusters.cluster.karmada.io", "moved", "aws", "us-east-1", "", map[string]string{v1alpha1.ConfirmedRegionLabel: "eu-central-1"})
	if loc.Trusted() || !strings.Contains(loc.Untrusted, "kubectl label clusters.cluster.karmada.io moved "+v1alpha1.ConfirmedRegionLabel+"=us-east-1") ||
		strings.Contains(loc.Untrusted, "node now") || strings.Contains(loc.Untrusted, "nodes do not") {
		t.Fatalf("moved cluster: %+v", loc)
	}
	// A person's country stands for on-prem clusters.
	loc = LocateCluster("managedclusters.cluster.open-cluster-management.io", "zurich", "", "", "", map[string]string{v1alpha1.CountryLabel: "CH"})
	if !loc.Trusted() || loc.Country != "CH" {
		t.Fatalf("%+v", loc)
	}
	if loc = LocateCluster("managedclusters.cluster.open-cluster-management.io", "claims", "", "", "", map[string]string{"region.open-cluster-management.io": "eu-central-1"}); loc.Country != "" {
		t.Fatalf("a label the hub does not read located the cluster: %+v", loc)
	}
}

func TestMultiClusterPolicyKind(t *testing.T) {
	for _, c := range []struct {
		apiVersion, kind string
		want             bool
	}{
		{"policy.karmada.io/v1alpha1", "PropagationPolicy", true},
		{"policy.karmada.io/v1alpha1", "ClusterPropagationPolicy", true},
		{"cluster.open-cluster-management.io/v1beta1", "Placement", true},
		{"policy.karmada.io/v1alpha1", "OverridePolicy", false},
		{"apps/v1", "Deployment", false},
	} {
		if got := MultiClusterPolicyKind(c.apiVersion, c.kind); got != c.want {
			t.Errorf("%s %s: %v", c.apiVersion, c.kind, got)
		}
	}
}

func TestClusterPolicyNamespaces(t *testing.T) {
	for _, c := range []struct {
		kind, obj string
		want      []string
		all       bool
	}{
		{KindPropagationPolicy, `{spec: {}}`, []string{"shop"}, false},
		{KindClusterPropagationPolicy, `{spec: {resourceSelectors: [{apiVersion: apps/v1, kind: Deployment, namespace: b}, {apiVersion: apps/v1, kind: Deployment, namespace: a}]}}`, []string{"a", "b"}, false},
		{KindClusterPropagationPolicy, `{spec: {resourceSelectors: [{apiVersion: v1, kind: Namespace, name: customers}]}}`, []string{"customers"}, false},
		{KindClusterPropagationPolicy, `{spec: {resourceSelectors: [{apiVersion: apps/v1, kind: Deployment}]}}`, nil, true},
		{KindClusterPropagationPolicy, `{spec: {}}`, nil, true},
		// Cluster-scoped kinds serve no namespace's stores.
		{KindClusterPropagationPolicy, `{spec: {resourceSelectors: [{apiVersion: rbac.authorization.k8s.io/v1, kind: ClusterRole}, {apiVersion: apiextensions.k8s.io/v1, kind: CustomResourceDefinition}]}}`, nil, false},
	} {
		got, all := ClusterPolicyNamespaces(c.kind, "shop", mcObject(t, c.obj))
		if all != c.all || !slices.Equal(got, c.want) {
			t.Errorf("%s %s: %v %v", c.kind, c.obj, got, all)
		}
	}
}

func TestPolicyRequiringAJurisdictionTheStoresNoLongerPermitIsRefused(t *testing.T) {
	// Narrowed to [eu] earlier; the store now allows only [us]. ANDing "us" onto "eu" would select
	// no cluster and Karmada would remove the workload everywhere: refuse instead.
	p := &Policies{Stores: []*v1alpha1.PersonalDataStore{mcStore("customers", "", "us")}}
	narrowedForEU := `{spec: {placement: {clusterAffinity: {labelSelector: {matchLabels: {"` + v1alpha1.JurisdictionLabel("eu") + `": "true"}}}}}}`
	d, err := DecideClusterPolicy(p, KindPropagationPolicy, mcObject(t, narrowedForEU))
	if err != nil || len(d.Denied) != 1 || d.Narrowed != nil || !strings.Contains(d.Denied[0].Message, "requires clusters in [eu]") {
		t.Fatalf("err %v denied %v narrowed %v", err, d.Denied, d.Narrowed)
	}
	d, _ = DecideClusterPolicy(p, KindPlacement, mcObject(t, `{spec: {predicates: [{requiredClusterSelector: {labelSelector: {matchExpressions: [{key: "`+v1alpha1.JurisdictionLabel("eu")+`", operator: Exists}]}}}]}}`))
	if len(d.Denied) != 1 || d.Narrowed != nil {
		t.Fatalf("OCM: denied %v narrowed %v", d.Denied, d.Narrowed)
	}
}

func TestEmptyClusterAffinitiesReplaced(t *testing.T) {
	p := &Policies{Stores: []*v1alpha1.PersonalDataStore{mcStore("customers", "", "eu")}}
	d, err := DecideClusterPolicy(p, KindPropagationPolicy, mcObject(t, `{spec: {placement: {clusterAffinities: []}}}`))
	if err != nil || d.Narrowed == nil {
		t.Fatalf("err %v", err)
	}
	placement := d.Narrowed["spec"].(map[string]any)["placement"].(map[string]any)
	if _, ok := placement["clusterAffinities"]; ok {
		t.Fatalf("empty clusterAffinities kept next to clusterAffinity: %v", placement)
	}
}
