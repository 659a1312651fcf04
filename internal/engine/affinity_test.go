package engine

import (
	"errors"
	"fmt"
	"math/rand"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
)

func affExpr(key string, op corev1.NodeSelectorOperator, values ...string) corev1.NodeSelectorRequirement {
	return corev1.NodeSelectorRequirement{Key: key, Operator: op, Values: values}
}

// affRequired wraps terms in a pod spec's required node affinity.
func affRequired(terms ...corev1.NodeSelectorTerm) *corev1.PodSpec {
	return &corev1.PodSpec{Affinity: &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: terms},
	}}}
}

func affRequiredOf(spec *corev1.PodSpec) *corev1.NodeSelector {
	if spec.Affinity == nil || spec.Affinity.NodeAffinity == nil {
		return nil
	}
	return spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution
}

func TestIntersectPlacement(t *testing.T) {
	arch := affExpr("kubernetes.io/arch", corev1.NodeSelectorOpIn, "amd64")
	zone := affExpr("topology.kubernetes.io/zone", corev1.NodeSelectorOpNotIn, "eu-west-1c")
	name := affExpr("metadata.name", corev1.NodeSelectorOpIn, "node-1")
	euOnly := []corev1.NodeSelectorTerm{permTerm("eu")}
	euOrUS := []corev1.NodeSelectorTerm{permTerm("eu"), permTerm("us")}
	euUS := permTerm("eu", "us")

	withTerm := func(base corev1.NodeSelectorTerm, extra ...corev1.NodeSelectorRequirement) corev1.NodeSelectorTerm {
		t := *base.DeepCopy()
		t.MatchExpressions = append(t.MatchExpressions, extra...)
		return t
	}
	tests := []struct {
		name      string
		spec      *corev1.PodSpec
		permitted []corev1.NodeSelectorTerm
		want      []corev1.NodeSelectorTerm
	}{{
		name:      "no affinity: just the permitted terms",
		spec:      &corev1.PodSpec{},
		permitted: euOrUS,
		want:      euOrUS,
	}, {
		name:      "node affinity with only preferred terms",
		spec:      &corev1.PodSpec{Affinity: &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{}}},
		permitted: euOnly,
		want:      euOnly,
	}, {
		name: "existing expressions and fields are ANDed into every permitted term",
		spec: affRequired(
			corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{arch}, MatchFields: []corev1.NodeSelectorRequirement{name}},
			corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{zone}},
		),
		permitted: euOrUS,
		want: []corev1.NodeSelectorTerm{
			{MatchExpressions: []corev1.NodeSelectorRequirement{arch, permTerm("eu").MatchExpressions[0]}, MatchFields: []corev1.NodeSelectorRequirement{name}},
			{MatchExpressions: []corev1.NodeSelectorRequirement{arch, permTerm("us").MatchExpressions[0]}, MatchFields: []corev1.NodeSelectorRequirement{name}},
			withTerm(corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{zone}}, permTerm("eu").MatchExpressions...),
			withTerm(corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{zone}}, permTerm("us").MatchExpressions...),
		},
	}, {
		name:      "a term with only fields gains the permitted expressions",
		spec:      affRequired(corev1.NodeSelectorTerm{MatchFields: []corev1.NodeSelectorRequirement{name}}),
		permitted: euOnly,
		want:      []corev1.NodeSelectorTerm{{MatchExpressions: permTerm("eu").MatchExpressions, MatchFields: []corev1.NodeSelectorRequirement{name}}},
	}, {
		name:      "an empty term matches nothing and stays empty",
		spec:      affRequired(corev1.NodeSelectorTerm{}, corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{arch}}),
		permitted: euOnly,
		want:      []corev1.NodeSelectorTerm{{}, withTerm(corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{arch}}, permTerm("eu").MatchExpressions...)},
	}, {
		name:      "a pod term that already requires a jurisdiction: duplicates removed, supersets dropped",
		spec:      affRequired(permTerm("eu"), withTerm(permTerm("us"), arch)),
		permitted: euOrUS,
		want:      []corev1.NodeSelectorTerm{permTerm("eu"), withTerm(permTerm("us"), arch)},
	}, {
		name:      "a pod term that requires both jurisdictions survives once",
		spec:      affRequired(euUS),
		permitted: euOrUS,
		want:      []corev1.NodeSelectorTerm{euUS},
	}, {
		name:      "duplicate expressions inside a pod term are merged",
		spec:      affRequired(corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{arch, arch}}),
		permitted: euOnly,
		want:      []corev1.NodeSelectorTerm{withTerm(corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{arch}}, permTerm("eu").MatchExpressions...)},
	}, {
		name:      "empty permitted terms match nothing and are ignored",
		spec:      affRequired(corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{arch}}),
		permitted: []corev1.NodeSelectorTerm{{}, permTerm("eu")},
		want:      []corev1.NodeSelectorTerm{withTerm(corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{arch}}, permTerm("eu").MatchExpressions...)},
	}, {
		name:      "nothing permitted: one empty term, which matches no node",
		spec:      affRequired(corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{arch}}),
		permitted: []corev1.NodeSelectorTerm{},
		want:      []corev1.NodeSelectorTerm{{}},
	}, {
		name:      "nothing permitted, no affinity",
		spec:      &corev1.PodSpec{},
		permitted: nil,
		want:      []corev1.NodeSelectorTerm{{}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orig := tt.spec.DeepCopy()
			permitted := slices.Clone(tt.permitted)
			for i := range permitted {
				permitted[i] = *permitted[i].DeepCopy()
			}
			if err := IntersectPlacement(tt.spec, permitted); err != nil {
				t.Fatalf("IntersectPlacement: %v", err)
			}
			got := affRequiredOf(tt.spec)
			if got == nil {
				t.Fatal("no required node affinity")
			}
			if diff := cmp.Diff(tt.want, got.NodeSelectorTerms); diff != "" {
				t.Fatalf("required terms = %s, want %s; diff (-want +got):\n%s", permTermsString(got.NodeSelectorTerms), permTermsString(tt.want), diff)
			}
			if !reflect.DeepEqual(permitted, tt.permitted) {
				t.Error("IntersectPlacement changed the permitted terms")
			}
			// The result shares no memory with the permitted terms.
			for i := range permitted {
				for k := range permitted[i].MatchExpressions {
					permitted[i].MatchExpressions[k].Values[0] = "mutated"
				}
			}
			if strings.Contains(permTermsString(got.NodeSelectorTerms), "mutated") {
				t.Error("the pod's affinity aliases the permitted terms")
			}
			// Idempotent: the webhook may be invoked again on the mutated pod.
			again := tt.spec.DeepCopy()
			if err := IntersectPlacement(again, tt.permitted); err != nil {
				t.Fatalf("second IntersectPlacement: %v", err)
			}
			if !reflect.DeepEqual(again, tt.spec) {
				t.Errorf("not idempotent: second pass gave\n  %s\nfirst\n  %s",
					permTermsString(affRequiredOf(again).NodeSelectorTerms), permTermsString(got.NodeSelectorTerms))
			}
			affCheckUntouched(t, orig, tt.spec)
		})
	}
}

func TestIntersectPlacementPreservesTheRest(t *testing.T) {
	spec := &corev1.PodSpec{
		NodeSelector: map[string]string{"disktype": "ssd"},
		Affinity: &corev1.Affinity{
			NodeAffinity: &corev1.NodeAffinity{
				RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
					MatchExpressions: []corev1.NodeSelectorRequirement{affExpr("kubernetes.io/arch", corev1.NodeSelectorOpIn, "arm64")},
				}}},
				PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{{
					Weight:     10,
					Preference: corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{affExpr("topology.kubernetes.io/zone", corev1.NodeSelectorOpIn, "a")}},
				}},
			},
			PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
				TopologyKey: "kubernetes.io/hostname", LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}},
			}}},
		},
		Tolerations: []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpExists}},
	}
	orig := spec.DeepCopy()
	if err := IntersectPlacement(spec, []corev1.NodeSelectorTerm{permTerm("eu")}); err != nil {
		t.Fatal(err)
	}
	affCheckUntouched(t, orig, spec)
	if orig.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[0].MatchExpressions[0].Values[0] != "arm64" {
		t.Error("the original required affinity was edited in place")
	}
}

func TestIntersectPlacementBound(t *testing.T) {
	var podTerms []corev1.NodeSelectorTerm
	for i := range 6 {
		podTerms = append(podTerms, corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{
			affExpr("topology.kubernetes.io/zone", corev1.NodeSelectorOpIn, fmt.Sprintf("zone-%d", i)),
		}})
	}
	var permitted []corev1.NodeSelectorTerm
	for _, j := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		permitted = append(permitted, permTerm(j))
	}
	spec := affRequired(podTerms...)
	orig := spec.DeepCopy()
	err := IntersectPlacement(spec, permitted)
	if !errors.Is(err, ErrTooManyTerms) {
		t.Fatalf("6 x 8 terms: error = %v, want ErrTooManyTerms", err)
	}
	if !strings.Contains(err.Error(), "48") || !strings.Contains(err.Error(), "32") {
		t.Errorf("error %q does not name the count and the bound", err)
	}
	if !reflect.DeepEqual(spec, orig) {
		t.Error("the spec changed although IntersectPlacement failed")
	}

	// The quadratic guard on combinations: many pod terms, even if they would collapse.
	spec = affRequired(slices.Repeat(podTerms[:1], affMaxCandidates/len(permitted)+1)...)
	if err := IntersectPlacement(spec, permitted); !errors.Is(err, ErrTooManyTerms) {
		t.Errorf("%d combinations: error = %v, want ErrTooManyTerms", affMaxCandidates+len(permitted), err)
	}

	// Exactly MaxTerms is allowed.
	spec = affRequired(podTerms[:4]...)
	if err := IntersectPlacement(spec, permitted); err != nil {
		t.Errorf("4 x 8 terms: %v", err)
	}
	if IntersectPlacement(nil, permitted) == nil {
		t.Error("IntersectPlacement(nil spec) succeeded")
	}
}

// affCheckUntouched fails unless before and after differ only in the required node affinity.
func affCheckUntouched(t *testing.T, before, after *corev1.PodSpec) {
	t.Helper()
	strip := func(s *corev1.PodSpec) *corev1.PodSpec {
		s = s.DeepCopy()
		if s.Affinity != nil && s.Affinity.NodeAffinity != nil {
			s.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution = nil
			if reflect.DeepEqual(*s.Affinity.NodeAffinity, corev1.NodeAffinity{}) {
				s.Affinity.NodeAffinity = nil
			}
		}
		if s.Affinity != nil && reflect.DeepEqual(*s.Affinity, corev1.Affinity{}) {
			s.Affinity = nil
		}
		return s
	}
	if b, a := strip(before), strip(after); !reflect.DeepEqual(b, a) {
		t.Errorf("IntersectPlacement changed more than the required node affinity:\nbefore %+v\nafter  %+v", b, a)
	}
}

// affValidRequired mirrors the API server's validation of a pod's required node affinity
// (k8s.io/kubernetes/pkg/apis/core/validation.ValidateNodeSelector, which this module cannot import
// without depending on all of Kubernetes). It returns nil when the affinity is valid.
func affValidRequired(ns *corev1.NodeSelector) error {
	if ns == nil {
		return nil
	}
	if len(ns.NodeSelectorTerms) == 0 {
		return errors.New("must have at least one node selector term")
	}
	for i, term := range ns.NodeSelectorTerms {
		for k, rq := range term.MatchExpressions {
			var msgs []string
			switch rq.Operator {
			case corev1.NodeSelectorOpIn, corev1.NodeSelectorOpNotIn:
				if len(rq.Values) == 0 {
					msgs = append(msgs, "values required")
				}
			case corev1.NodeSelectorOpExists, corev1.NodeSelectorOpDoesNotExist:
				if len(rq.Values) > 0 {
					msgs = append(msgs, "values forbidden")
				}
			case corev1.NodeSelectorOpGt, corev1.NodeSelectorOpLt:
				if len(rq.Values) != 1 {
					msgs = append(msgs, "one value required")
				}
			default:
				msgs = append(msgs, "bad operator")
			}
			msgs = append(msgs, validation.IsQualifiedName(rq.Key)...)
			for _, v := range rq.Values {
				msgs = append(msgs, validation.IsValidLabelValue(v)...)
			}
			if len(msgs) > 0 {
				return fmt.Errorf("term %d expression %d: %s", i, k, strings.Join(msgs, "; "))
			}
		}
		for k, rq := range term.MatchFields {
			var msgs []string
			switch rq.Operator {
			case corev1.NodeSelectorOpIn, corev1.NodeSelectorOpNotIn:
				if len(rq.Values) != 1 {
					msgs = append(msgs, "one value required")
				}
			default:
				msgs = append(msgs, "bad operator")
			}
			if rq.Key != metav1.ObjectNameField {
				msgs = append(msgs, "bad field key")
			}
			for _, v := range rq.Values {
				msgs = append(msgs, validation.IsDNS1123Subdomain(v)...)
			}
			if len(msgs) > 0 {
				return fmt.Errorf("term %d field %d: %s", i, k, strings.Join(msgs, "; "))
			}
		}
	}
	return nil
}

// The vocabulary of the property and fuzz tests: small, so that random nodes and random terms
// often meet.
var (
	affTestJurisdictions = []string{"eu", "us", "ch", "jp", "br"}
	affTestLabelValues   = map[string][]string{
		"topology.kubernetes.io/region": {"eu-west-1", "us-east-1", "ap-south-1"},
		"topology.kubernetes.io/zone":   {"a", "b", "c"},
		"tier":                          {"gold", "silver"},
		"cpu-count":                     {"1", "4", "16", "many"},
	}
	affTestKeys      []string
	affTestNodeNames = []string{"", "n1", "n2", "n3"}
	affTestNumbers   = []string{"0", "2", "8", "20"}
	affTestOps       = []corev1.NodeSelectorOperator{
		corev1.NodeSelectorOpIn, corev1.NodeSelectorOpNotIn, corev1.NodeSelectorOpExists,
		corev1.NodeSelectorOpDoesNotExist, corev1.NodeSelectorOpGt, corev1.NodeSelectorOpLt,
	}
	// affTestSpecs lets Terms prune: eu, us and ch are disjoint countries, jp a region, br has a
	// selector and so overlaps everything.
	affTestSpecs = map[string]*v1alpha1.JurisdictionSpec{
		"eu": {Countries: []v1alpha1.CountryCode{"DE", "FR"}},
		"us": {Countries: []v1alpha1.CountryCode{"US"}},
		"ch": {Countries: []v1alpha1.CountryCode{"CH"}},
		"jp": {Regions: []string{"ap-northeast-1"}},
		"br": {Countries: []v1alpha1.CountryCode{"BR"}, NodeSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"x": "y"}}},
	}
)

func init() {
	for _, j := range affTestJurisdictions {
		affTestKeys = append(affTestKeys, v1alpha1.JurisdictionLabel(j))
		affTestLabelValues[v1alpha1.JurisdictionLabel(j)] = []string{"true", "false"}
	}
	for k := range affTestLabelValues {
		if !strings.HasPrefix(k, v1alpha1.JurisdictionLabelPrefix) {
			affTestKeys = append(affTestKeys, k)
		}
	}
	slices.Sort(affTestKeys) // map order must not leak into seeded runs
}

// affChooser is where random choices come from: math/rand in the property test, fuzz bytes in the
// fuzz target.
type affChooser interface{ Intn(n int) int }

// affBytes turns fuzz input into choices; once exhausted, every choice is 0.
type affBytes struct {
	b []byte
	i int
}

func (c *affBytes) Intn(n int) int {
	if n <= 1 || c.i >= len(c.b) {
		return 0
	}
	v := int(c.b[c.i])
	c.i++
	return v % n
}

func affPick[T any](c affChooser, xs []T) T { return xs[c.Intn(len(xs))] }

func affRandNode(c affChooser) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: affPick(c, affTestNodeNames), Labels: map[string]string{}}}
	for _, k := range affTestKeys {
		if c.Intn(2) == 0 {
			continue
		}
		vals := affTestLabelValues[k]
		if strings.HasPrefix(k, v1alpha1.JurisdictionLabelPrefix) && c.Intn(5) != 0 {
			n.Labels[k] = v1alpha1.JurisdictionLabelValue // mostly "true"; sometimes "false"
			continue
		}
		n.Labels[k] = affPick(c, vals)
	}
	return n
}

func affRandExpr(c affChooser) corev1.NodeSelectorRequirement {
	key := affPick(c, affTestKeys)
	op := affPick(c, affTestOps)
	e := corev1.NodeSelectorRequirement{Key: key, Operator: op}
	invalid := c.Intn(20) == 0 // sometimes an expression the API would reject and the scheduler cannot parse
	switch op {
	case corev1.NodeSelectorOpIn, corev1.NodeSelectorOpNotIn:
		if !invalid {
			for range 1 + c.Intn(3) {
				e.Values = append(e.Values, affPick(c, affTestLabelValues[key]))
			}
		}
	case corev1.NodeSelectorOpGt, corev1.NodeSelectorOpLt:
		if invalid {
			e.Values = []string{"not-a-number"}
		} else {
			e.Values = []string{affPick(c, affTestNumbers)}
		}
	default:
		if invalid {
			e.Values = []string{"x"}
		}
	}
	return e
}

func affRandTerm(c affChooser) corev1.NodeSelectorTerm {
	var t corev1.NodeSelectorTerm
	if c.Intn(8) == 0 {
		return t // empty: matches nothing
	}
	for range c.Intn(4) {
		t.MatchExpressions = append(t.MatchExpressions, affRandExpr(c))
	}
	if c.Intn(4) == 0 {
		op := corev1.NodeSelectorOpIn
		if c.Intn(2) == 0 {
			op = corev1.NodeSelectorOpNotIn
		}
		t.MatchFields = append(t.MatchFields, affExpr(metav1.ObjectNameField, op, affPick(c, affTestNodeNames[1:])))
	}
	return t
}

func affRandSpec(c affChooser) *corev1.PodSpec {
	spec := &corev1.PodSpec{}
	if c.Intn(4) == 0 {
		spec.NodeSelector = map[string]string{"tier": affPick(c, affTestLabelValues["tier"])}
	}
	switch c.Intn(8) {
	case 0:
		return spec // no affinity
	case 1:
		spec.Affinity = &corev1.Affinity{PodAffinity: &corev1.PodAffinity{}}
		return spec
	}
	na := &corev1.NodeAffinity{}
	spec.Affinity = &corev1.Affinity{NodeAffinity: na}
	if c.Intn(3) == 0 {
		na.PreferredDuringSchedulingIgnoredDuringExecution = []corev1.PreferredSchedulingTerm{{Weight: 5, Preference: affRandTerm(c)}}
	}
	if c.Intn(6) == 0 {
		return spec // preferred only
	}
	ns := &corev1.NodeSelector{}
	n := 1 + c.Intn(4)
	if c.Intn(20) == 0 {
		n = 0 // invalid, matches nothing
	}
	for range n {
		ns.NodeSelectorTerms = append(ns.NodeSelectorTerms, affRandTerm(c))
	}
	na.RequiredDuringSchedulingIgnoredDuringExecution = ns
	return spec
}

func affRandRequirement(c affChooser) Requirement {
	var stores []v1alpha1.PersonalDataStore
	for i := range 1 + c.Intn(3) {
		var js []string
		for range 1 + c.Intn(3) {
			js = append(js, affPick(c, affTestJurisdictions))
		}
		stores = append(stores, permStore(fmt.Sprintf("store-%d", i), js...))
	}
	return requirementOf(stores)
}

// affRequirementHolds is the permitted-set semantics, written out independently of Terms: in at
// least one jurisdiction of every group.
func affRequirementHolds(r Requirement, node *corev1.Node) bool {
	for _, g := range r.Groups {
		ok := false
		for _, j := range g.Jurisdictions {
			ok = ok || node.Labels[v1alpha1.JurisdictionLabel(j)] == v1alpha1.JurisdictionLabelValue
		}
		if !ok {
			return false
		}
	}
	return true
}

// affClaimsDisjoint reports whether node carries the labels of two jurisdictions of affTestSpecs
// that cannot overlap.
func affClaimsDisjoint(node *corev1.Node) bool {
	for i, a := range affTestJurisdictions {
		for _, b := range affTestJurisdictions[i+1:] {
			if node.Labels[v1alpha1.JurisdictionLabel(a)] == v1alpha1.JurisdictionLabelValue &&
				node.Labels[v1alpha1.JurisdictionLabel(b)] == v1alpha1.JurisdictionLabelValue &&
				Disjoint(affTestSpecs[a], affTestSpecs[b], CountryOfRegion) {
				return true
			}
		}
	}
	return false
}

// affCase is one generated input of the property and fuzz tests.
type affCase struct {
	spec  *corev1.PodSpec
	req   Requirement
	prune bool
	// arbitrary, when not nil, replaces the requirement's terms: IntersectPlacement must AND any
	// terms correctly, including empty and unparsable ones.
	arbitrary []corev1.NodeSelectorTerm
	nodes     []*corev1.Node
}

func affRandCase(c affChooser, nodes int) affCase {
	tc := affCase{spec: affRandSpec(c), req: affRandRequirement(c), prune: c.Intn(4) == 0}
	if c.Intn(6) == 0 {
		tc.arbitrary = []corev1.NodeSelectorTerm{}
		for range c.Intn(4) {
			tc.arbitrary = append(tc.arbitrary, affRandTerm(c))
		}
	}
	for range nodes {
		tc.nodes = append(tc.nodes, affRandNode(c))
	}
	return tc
}

// affCheck asserts the properties of IntersectPlacement on one case and reports whether the case
// was tested to the end (false when the bound was hit).
func affCheck(t *testing.T, tc affCase) bool {
	t.Helper()
	var specs map[string]*v1alpha1.JurisdictionSpec
	if tc.prune {
		specs = affTestSpecs
	}
	terms, err := tc.req.Terms(specs)
	if errors.Is(err, ErrTooManyTerms) {
		return false
	}
	if err != nil {
		t.Fatalf("Terms(%v): %v", tc.req, err)
	}
	if tc.arbitrary != nil {
		terms = tc.arbitrary
	}
	for _, n := range tc.nodes {
		if tc.arbitrary != nil {
			break
		}
		// Pruning may only drop nodes that claim two disjoint jurisdictions, which the operator
		// never labels; without pruning the terms mean exactly the requirement.
		permitted, holds := NodePermitted(n, terms), affRequirementHolds(tc.req, n)
		if (permitted && !holds) || (permitted != holds && (!tc.prune || !affClaimsDisjoint(n))) {
			t.Fatalf("NodePermitted(%v) = %v, but the requirement %v says %v; terms %s",
				n.Labels, permitted, tc.req, holds, permTermsString(terms))
		}
	}

	orig := tc.spec.DeepCopy()
	spec := tc.spec.DeepCopy()
	if err := IntersectPlacement(spec, terms); err != nil {
		if !errors.Is(err, ErrTooManyTerms) {
			t.Fatalf("IntersectPlacement: %v", err)
		}
		if !reflect.DeepEqual(spec, orig) {
			t.Fatal("the spec changed although IntersectPlacement failed")
		}
		return false
	}

	before := nodeaffinity.GetRequiredNodeAffinity(&corev1.Pod{Spec: *orig})
	after := nodeaffinity.GetRequiredNodeAffinity(&corev1.Pod{Spec: *spec})
	for _, n := range tc.nodes {
		b, _ := before.Match(n)
		a, _ := after.Match(n)
		p := NodePermitted(n, terms)
		if a != (b && p) {
			t.Fatalf("node %q %v: matches after = %v, want before (%v) && permitted (%v)\nbefore %s\nafter  %s\npermitted %s",
				n.Name, n.Labels, a, b, p, affTermsOf(orig), affTermsOf(spec), permTermsString(terms))
		}
	}

	affCheckUntouched(t, orig, spec)
	got := affRequiredOf(spec).NodeSelectorTerms
	if len(got) > MaxTerms {
		t.Fatalf("%d terms, more than MaxTerms", len(got))
	}
	for i, term := range got {
		for k := range term.MatchExpressions {
			if slices.ContainsFunc(term.MatchExpressions[k+1:], func(e corev1.NodeSelectorRequirement) bool {
				return reflect.DeepEqual(e, term.MatchExpressions[k])
			}) {
				t.Fatalf("term %d repeats an expression: %s", i, affTermsOf(spec))
			}
		}
		for _, other := range got[i+1:] {
			if reflect.DeepEqual(term, other) {
				t.Fatalf("term %d is repeated: %s", i, affTermsOf(spec))
			}
		}
	}
	permittedValid := len(terms) == 0 || affValidRequired(&corev1.NodeSelector{NodeSelectorTerms: terms}) == nil
	if affValidRequired(affRequiredOf(orig)) == nil && permittedValid {
		if err := affValidRequired(affRequiredOf(spec)); err != nil {
			t.Fatalf("a valid pod became invalid: %v\nbefore %s\nafter  %s", err, affTermsOf(orig), affTermsOf(spec))
		}
	}

	again := spec.DeepCopy()
	if err := IntersectPlacement(again, terms); err != nil {
		t.Fatalf("second IntersectPlacement: %v", err)
	}
	if !reflect.DeepEqual(again, spec) {
		t.Fatalf("not idempotent:\nfirst  %s\nsecond %s", affTermsOf(spec), affTermsOf(again))
	}
	return true
}

func affTermsOf(spec *corev1.PodSpec) string {
	ns := affRequiredOf(spec)
	if ns == nil {
		return "<no required affinity>"
	}
	return permTermsString(ns.NodeSelectorTerms)
}

// TestIntersectPlacementProperty checks, on random pods, stores and nodes, that a node matches the
// injected affinity exactly when it matched the pod's own and is permitted, as the scheduler's own
// matcher decides; and that the result is idempotent, valid when the input was, and bounded.
func TestIntersectPlacementProperty(t *testing.T) {
	const casesPerSeed, nodesPerCase = 1500, 24
	for _, seed := range []int64{1, 2, 3, 20260601} {
		rng := rand.New(rand.NewSource(seed))
		tested := 0
		for range casesPerSeed {
			if affCheck(t, affRandCase(rng, nodesPerCase)) {
				tested++
			}
		}
		if tested < casesPerSeed*9/10 {
			t.Errorf("seed %d: only %d of %d cases ran to the end", seed, tested, casesPerSeed)
		}
		t.Logf("seed %d: %d cases x %d nodes checked, %d hit the bound", seed, tested, nodesPerCase, casesPerSeed-tested)
	}
}

func FuzzIntersectPlacement(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{3, 1, 2, 0, 5, 7, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Add([]byte("the quick brown fox jumps over the lazy dog, twice: the quick brown fox"))
	rng := rand.New(rand.NewSource(7))
	for range 8 {
		b := make([]byte, 64)
		rng.Read(b)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		affCheck(t, affRandCase(&affBytes{b: data}, 6))
	})
}

// BenchmarkIntersectPlacement measures a typical admission: a pod with one required term of two
// expressions, governed by two stores.
func BenchmarkIntersectPlacement(b *testing.B) {
	terms, err := requirementOf([]v1alpha1.PersonalDataStore{
		permStore("customer-db", "eu", "us"), permStore("web", "eu", "ch"),
	}).Terms(nil)
	if err != nil {
		b.Fatal(err)
	}
	orig := &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{
		affExpr("kubernetes.io/arch", corev1.NodeSelectorOpIn, "amd64", "arm64"),
		affExpr("node.kubernetes.io/instance-type", corev1.NodeSelectorOpNotIn, "t3.micro"),
	}}}}
	na := &corev1.NodeAffinity{}
	spec := &corev1.PodSpec{Affinity: &corev1.Affinity{NodeAffinity: na}}
	b.ReportAllocs()
	for b.Loop() {
		na.RequiredDuringSchedulingIgnoredDuringExecution = orig // IntersectPlacement never edits orig
		if err := IntersectPlacement(spec, terms); err != nil {
			b.Fatal(err)
		}
	}
	if got := len(na.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms); got != 2 {
		b.Fatalf("%d terms, want 2", got)
	}
}
