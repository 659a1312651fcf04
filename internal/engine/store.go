package engine

import (
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
)

// SelectorFor compiles a store's or exception's label selector the way admission does: a nil,
// empty or invalid selector selects nothing (ok false), so that a broken policy never governs or
// exempts every object of a namespace by accident.
func SelectorFor(sel *metav1.LabelSelector) (selector labels.Selector, ok bool) {
	if sel == nil {
		return nil, false
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil || s.Empty() {
		return nil, false
	}
	return s, true
}

// Selects reports whether sel selects an object with labels l, by the rule of SelectorFor: the one
// place that decides which stores govern, and which exceptions exempt, an object.
func Selects(sel *metav1.LabelSelector, l map[string]string) bool {
	s, ok := SelectorFor(sel)
	return ok && s.Matches(labels.Set(l))
}

// LabelledJurisdictions returns, sorted, the jurisdictions a node's labels put it in: the keys
// JurisdictionLabel(name) set to JurisdictionLabelValue, which is what the permitted terms require.
func LabelledJurisdictions(nodeLabels map[string]string) []string {
	var names []string
	for k, v := range nodeLabels {
		if name, ok := strings.CutPrefix(k, v1alpha1.JurisdictionLabelPrefix); ok && v == v1alpha1.JurisdictionLabelValue {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// RequirementFromAnnotations reads back the requirement the mutating webhook wrote into a pod's
// annotations (StoreNames and AnnotationValue); ok is false when they are absent or do not pair up.
func RequirementFromAnnotations(annotations map[string]string) (req Requirement, ok bool) {
	stores, allowed := annotations[v1alpha1.StoresAnnotation], annotations[v1alpha1.AllowedJurisdictionsAnnotation]
	if stores == "" || allowed == "" {
		return Requirement{}, false
	}
	names, groups := strings.Split(stores, ","), strings.Split(allowed, ";")
	if len(names) != len(groups) {
		return Requirement{}, false
	}
	for i, g := range groups {
		if g == "" {
			return Requirement{}, false
		}
		req.Groups = append(req.Groups, Group{Store: names[i], Jurisdictions: strings.Split(g, ",")})
	}
	return req, true
}
