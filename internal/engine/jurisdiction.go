package engine

import (
	"fmt"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
)

// JurisdictionMatcher answers "is a node in this jurisdiction?" for one Jurisdiction, with its
// country and region sets and selector built once rather than per node.
type JurisdictionMatcher struct {
	Name      string
	countries map[string]struct{}
	regions   map[string]struct{}
	selector  labels.Selector // nil when the spec has no nodeSelector
}

// NewJurisdictionMatcher compiles a Jurisdiction's spec.
func NewJurisdictionMatcher(name string, spec *v1alpha1.JurisdictionSpec) (*JurisdictionMatcher, error) {
	m := &JurisdictionMatcher{
		Name:      name,
		countries: make(map[string]struct{}, len(spec.Countries)),
		regions:   make(map[string]struct{}, len(spec.Regions)),
	}
	for _, c := range spec.Countries {
		m.countries[string(c)] = struct{}{}
	}
	for _, r := range spec.Regions {
		m.regions[r] = struct{}{}
	}
	if spec.NodeSelector != nil {
		sel, err := metav1.LabelSelectorAsSelector(spec.NodeSelector)
		if err != nil {
			return nil, fmt.Errorf("jurisdiction %q: nodeSelector: %w", name, err)
		}
		m.selector = sel
	}
	return m, nil
}

// Contains reports whether a node at loc with nodeLabels is in the jurisdiction: its country is
// listed, or its region is, or the nodeSelector matches. Untrusted nodes are in no jurisdiction.
func (m *JurisdictionMatcher) Contains(loc NodeLocation, nodeLabels labels.Set) bool {
	if !loc.Trusted() {
		return false
	}
	return m.Claims(loc, nodeLabels)
}

// Claims is Contains without the trust check: whether the node's own claim puts it in the
// jurisdiction. Status uses it to list untrusted nodes where a person would look for them.
func (m *JurisdictionMatcher) Claims(loc NodeLocation, nodeLabels labels.Set) bool {
	if _, ok := m.countries[loc.Country]; ok && loc.Country != "" {
		return true
	}
	if _, ok := m.regions[loc.Region]; ok && loc.Region != "" {
		return true
	}
	return m.selector != nil && m.selector.Matches(nodeLabels)
}

// JurisdictionsOf returns the sorted names of the jurisdictions a node is in.
func JurisdictionsOf(matchers []*JurisdictionMatcher, loc NodeLocation, nodeLabels labels.Set) []string {
	var names []string
	for _, m := range matchers {
		if m.Contains(loc, nodeLabels) {
			names = append(names, m.Name)
		}
	}
	slices.Sort(names)
	return names
}

// The label keys a kubelet may set on its own Node under the NodeRestriction admission plugin,
// within the kubernetes.io and k8s.io namespaces; outside those namespaces it may set anything
// except keys under node-restriction.kubernetes.io.
var kubeletSettableKeys = map[string]bool{
	"kubernetes.io/hostname":                   true,
	"kubernetes.io/arch":                       true,
	"kubernetes.io/os":                         true,
	"beta.kubernetes.io/arch":                  true,
	"beta.kubernetes.io/os":                    true,
	"beta.kubernetes.io/instance-type":         true,
	"node.kubernetes.io/instance-type":         true,
	"failure-domain.beta.kubernetes.io/region": true,
	"failure-domain.beta.kubernetes.io/zone":   true,
	"topology.kubernetes.io/region":            true,
	"topology.kubernetes.io/zone":              true,
}

// KubeletSettable reports whether a kubelet may set label key on its own Node, so that a
// compromised node could claim it. Keys under a *.node-restriction.kubernetes.io/ prefix are safe.
func KubeletSettable(key string) bool {
	prefix, _, found := strings.Cut(key, "/")
	if !found {
		return true
	}
	if prefix == "node-restriction.kubernetes.io" || strings.HasSuffix(prefix, ".node-restriction.kubernetes.io") {
		return false
	}
	if kubeletSettableKeys[key] {
		return true
	}
	if prefix == "kubelet.kubernetes.io" || strings.HasSuffix(prefix, ".kubelet.kubernetes.io") ||
		prefix == "node.kubernetes.io" || strings.HasSuffix(prefix, ".node.kubernetes.io") {
		return true
	}
	inReservedNamespace := prefix == "kubernetes.io" || strings.HasSuffix(prefix, ".kubernetes.io") ||
		prefix == "k8s.io" || strings.HasSuffix(prefix, ".k8s.io")
	return !inReservedNamespace
}

// KubeletSettableSelectorKeys returns the keys of a Jurisdiction's nodeSelector that a kubelet may
// set on itself, sorted; empty when the selector is safe or absent.
func KubeletSettableSelectorKeys(sel *metav1.LabelSelector) []string {
	if sel == nil {
		return nil
	}
	seen := map[string]bool{}
	for k := range sel.MatchLabels {
		if KubeletSettable(k) {
			seen[k] = true
		}
	}
	for _, e := range sel.MatchExpressions {
		if KubeletSettable(e.Key) {
			seen[e.Key] = true
		}
	}
	keys := make([]string, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// ExceptionActive reports whether a ResidencyException applies at now: approved at its current
// generation, and from startsAt (or its creation) until, not including, expiresAt.
func ExceptionActive(ex *v1alpha1.ResidencyException, now time.Time) bool {
	if RequiresNothing(&ex.Spec.Selector) {
		return false // stored before the schema refused it: exempting everything unlabelled is no exception
	}
	if ExceptionApproval(ex) != v1alpha1.ReasonWithinWindow {
		return false
	}
	return WithinWindow(&ex.Spec, ex.CreationTimestamp.Time, now)
}

// WithinWindow reports whether now is within an exception's window: from startsAt (or its
// creation) until, not including, expiresAt.
func WithinWindow(spec *v1alpha1.ResidencyExceptionSpec, created, now time.Time) bool {
	start := created
	if spec.StartsAt != nil {
		start = spec.StartsAt.Time
	}
	return !now.Before(start) && now.Before(spec.ExpiresAt.Time)
}

// ExceptionApproval says where an exception stands with its approval: ReasonWithinWindow when it
// is approved at its current generation (only its window then decides), else
// ReasonPendingApproval, ReasonApprovalDenied or ReasonApprovalOutdated (the spec changed after
// the decision). Approval is written only through the operator's webhook, which checks the
// approver's right and that they did not request it.
func ExceptionApproval(ex *v1alpha1.ResidencyException) string {
	a := ex.Status.Approval
	switch {
	case a == nil:
		return v1alpha1.ReasonPendingApproval
	case a.Generation != ex.Generation:
		return v1alpha1.ReasonApprovalOutdated
	case a.Decision == v1alpha1.Approved:
		return v1alpha1.ReasonWithinWindow
	case a.Decision == v1alpha1.Denied:
		return v1alpha1.ReasonApprovalDenied
	default:
		return v1alpha1.ReasonPendingApproval
	}
}

// RequiresNothing reports whether a selector asks nothing of the objects it matches: no
// matchLabels, and only NotIn and DoesNotExist expressions, which every object lacking a label
// matches (every new pod, say). An exception with such a selector is never active, and the schema
// refuses it.
func RequiresNothing(sel *metav1.LabelSelector) bool {
	if len(sel.MatchLabels) > 0 {
		return false
	}
	for _, e := range sel.MatchExpressions {
		if e.Operator == metav1.LabelSelectorOpIn || e.Operator == metav1.LabelSelectorOpExists {
			return false
		}
	}
	return true
}
