package engine

import (
	"slices"

	corev1 "k8s.io/api/core/v1"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
)

// AffinityImplies reports whether a pod's required node affinity by itself keeps the pod on nodes
// that satisfy r: every term requires, for each group, the label of one of the group's
// jurisdictions. It is a syntactic check, sufficient but not necessary, for the terms Terms and
// IntersectPlacement produce; the validating webhook uses it to catch a later mutating webhook
// that replaced the injected affinity. Terms with no requirements match no node and pass.
func AffinityImplies(spec *corev1.PodSpec, r Requirement) bool {
	if r.IsZero() {
		return true
	}
	if spec.Affinity == nil || spec.Affinity.NodeAffinity == nil ||
		spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return false
	}
	terms := spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	if len(terms) == 0 {
		return false
	}
	for _, term := range terms {
		if len(term.MatchExpressions) == 0 && len(term.MatchFields) == 0 {
			continue
		}
		for _, g := range r.Groups {
			if !slices.ContainsFunc(term.MatchExpressions, func(e corev1.NodeSelectorRequirement) bool {
				return requiresJurisdiction(e, g.Jurisdictions)
			}) {
				return false
			}
		}
	}
	return true
}

// requiresJurisdiction reports whether e can only match nodes labelled with one of names.
func requiresJurisdiction(e corev1.NodeSelectorRequirement, names []string) bool {
	for _, name := range names {
		if e.Key != v1alpha1.JurisdictionLabel(name) {
			continue
		}
		switch e.Operator {
		case corev1.NodeSelectorOpExists:
			return true
		case corev1.NodeSelectorOpIn:
			return len(e.Values) > 0 && !slices.ContainsFunc(e.Values, func(v string) bool { return v != v1alpha1.JurisdictionLabelValue })
		}
	}
	return false
}
