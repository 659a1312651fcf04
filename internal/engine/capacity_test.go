package engine

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
)

func TestPlaceableOn(t *testing.T) {
	terms, err := Requirement{Groups: []Group{{Store: "db", Jurisdictions: []string{"eu"}}}}.Terms(nil)
	if err != nil {
		t.Fatal(err)
	}
	node := func(edit func(*corev1.Node)) *corev1.Node {
		n := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: "fra", Labels: map[string]string{
				v1alpha1.JurisdictionLabel("eu"): v1alpha1.JurisdictionLabelValue, corev1.LabelTopologyRegion: "eu-central-1", "disk": "ssd"}},
			Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}},
		}
		if edit != nil {
			edit(n)
		}
		return n
	}
	gpuTaint := corev1.Taint{Key: "gpu", Value: "true", Effect: corev1.TaintEffectNoSchedule}
	cases := []struct {
		name string
		node *corev1.Node
		pod  PodFacts
		want string
	}{
		{"ready, permitted node", node(nil), PodFacts{}, Placeable},
		{"no Ready condition (a node that never reported)", node(func(n *corev1.Node) { n.Status.Conditions = nil }), PodFacts{}, NodeNotReady},
		{"Ready=Unknown", node(func(n *corev1.Node) { n.Status.Conditions[0].Status = corev1.ConditionUnknown }), PodFacts{}, NodeNotReady},
		{"cordoned", node(func(n *corev1.Node) { n.Spec.Unschedulable = true }), PodFacts{}, NodeCordoned},
		{"outside the jurisdiction", node(func(n *corev1.Node) { delete(n.Labels, v1alpha1.JurisdictionLabel("eu")) }), PodFacts{}, NodeOutsidePermitted},
		{"pod's nodeSelector excludes it", node(nil), PodFacts{NodeSelector: map[string]string{"disk": "hdd"}}, NodeUnmatched},
		{"pod's nodeSelector matches", node(nil), PodFacts{NodeSelector: map[string]string{"disk": "ssd"}}, Placeable},
		{"pod's required affinity excludes it", node(nil), PodFacts{Affinity: &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelTopologyRegion, Operator: corev1.NodeSelectorOpIn, Values: []string{"us-east-1"}}},
			}}}}}}, NodeUnmatched},
		{"untolerated NoSchedule taint", node(func(n *corev1.Node) { n.Spec.Taints = []corev1.Taint{gpuTaint} }), PodFacts{}, NodeTainted},
		{"untolerated NoExecute taint", node(func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{{Key: "node.kubernetes.io/unreachable", Effect: corev1.TaintEffectNoExecute}}
		}), PodFacts{}, NodeTainted},
		{"PreferNoSchedule taint does not keep it off", node(func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{{Key: "gpu", Effect: corev1.TaintEffectPreferNoSchedule}}
		}), PodFacts{}, Placeable},
		{"tolerated taint", node(func(n *corev1.Node) { n.Spec.Taints = []corev1.Taint{gpuTaint} }),
			PodFacts{Tolerations: []corev1.Toleration{{Key: "gpu", Operator: corev1.TolerationOpExists}}}, Placeable},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := PlaceableOn(c.node, &c.pod, terms); got != c.want {
				t.Errorf("PlaceableOn = %q, want %q", got, c.want)
			}
		})
	}
	if got := PlaceableOn(node(nil), &PodFacts{}, []corev1.NodeSelectorTerm{}); got != NodeOutsidePermitted {
		t.Errorf("with stores that permit nothing: PlaceableOn = %q, want %q", got, NodeOutsidePermitted)
	}
}

func TestCandidateJurisdictions(t *testing.T) {
	terms, err := Requirement{Groups: []Group{
		{Store: "a", Jurisdictions: []string{"eu", "ch"}},
		{Store: "b", Jurisdictions: []string{"eu", "uk"}},
	}}.Terms(nil)
	if err != nil {
		t.Fatal(err)
	}
	// (eu OR ch) AND (eu OR uk) = eu OR (ch AND uk): a node in ch AND uk carries the ch label.
	got := CandidateJurisdictions(terms)
	want := []string{"ch", "eu"}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("CandidateJurisdictions = %v, want %v (terms %v)", got, want, terms)
	}
	if got := CandidateJurisdictions(nil); len(got) != 0 {
		t.Errorf("no terms: got %v", got)
	}
}
