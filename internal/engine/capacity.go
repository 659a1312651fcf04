package engine

import (
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"

	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
)

// Why a node cannot take the replacement of an evicted pod; PlaceableOn returns the first that
// holds, in this order, so messages and tests agree.
const (
	// Placeable: the node is Ready, schedulable, permitted, matches the pod and tolerates it.
	Placeable = ""
	// NodeNotReady: the node's Ready condition is not True.
	NodeNotReady = "NotReady"
	// NodeCordoned: the node is marked unschedulable.
	NodeCordoned = "Cordoned"
	// NodeOutsidePermitted: the node is outside the permitted jurisdictions.
	NodeOutsidePermitted = "NotPermitted"
	// NodeUnmatched: the pod's own nodeSelector or required node affinity excludes the node.
	NodeUnmatched = "AffinityMismatch"
	// NodeTainted: the node has a NoSchedule or NoExecute taint the pod does not tolerate.
	NodeTainted = "Tainted"
)

// PlaceableOn is the one rule for whether a node could take the replacement of a violating pod:
// it is Ready and not cordoned, permitted by terms (the permitted set of the pod's Enforce and
// Warn stores), matched by the pod's own nodeSelector and required node affinity, and every
// NoSchedule or NoExecute taint on it is tolerated. It returns Placeable or why not. Eviction
// helps only when some node is placeable: otherwise the replacement stays Pending and the
// application is down for nothing.
func PlaceableOn(node *corev1.Node, pod *PodFacts, terms []corev1.NodeSelectorTerm) string {
	switch {
	case !nodeReady(node):
		return NodeNotReady
	case node.Spec.Unschedulable:
		return NodeCordoned
	case !NodePermitted(node, terms):
		return NodeOutsidePermitted
	}
	if ok, err := nodeaffinity.NewRequiredNodeAffinity(pod.NodeSelector, pod.Affinity).Match(node); err != nil || !ok {
		return NodeUnmatched
	}
	if _, untolerated := corev1helpers.FindMatchingUntoleratedTaint(klog.Background(), node.Spec.Taints, pod.Tolerations, func(t *corev1.Taint) bool {
		return t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute
	}, false); untolerated {
		return NodeTainted
	}
	return Placeable
}

func nodeReady(node *corev1.Node) bool {
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// CandidateJurisdictions returns, for finding placeable nodes without looking at every node, one
// jurisdiction of each permitted term: a node that satisfies the term carries that jurisdiction's
// label, so listing the nodes labelled with these names (through an index) finds every permitted
// node. Sorted and distinct.
func CandidateJurisdictions(terms []corev1.NodeSelectorTerm) []string {
	var out []string
	for _, t := range terms {
		for _, e := range t.MatchExpressions {
			if name, ok := strings.CutPrefix(e.Key, v1alpha1.JurisdictionLabelPrefix); ok &&
				e.Operator == corev1.NodeSelectorOpIn && slices.Equal(e.Values, []string{v1alpha1.JurisdictionLabelValue}) {
				out = append(out, name)
				break
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
