package engine

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
	"github.com/residency-operator/residency-operator/internal/catalog"
)

// PodPlaces is what a pod's own nodeSelector and required node affinity say about where it may
// run, before admission adds the permitted-node affinity. Offline checks use it to catch a
// workload whose own constraints leave no permitted node: the webhook would AND the two and the
// pod would stay pending for ever.
type PodPlaces struct {
	// Open is true when at least one way of satisfying the pod's constraints names no region, zone,
	// country or jurisdiction (or only excludes some): the injected permitted affinity can then
	// always be met alongside them, and nothing can be concluded offline.
	Open bool
	// Places are stand-in nodes (see PlaceOf) for the locations the constraints name and accept.
	// Ask NodePermitted whether one of them is permitted.
	Places []*corev1.Node
	// Unknown describes the named locations that neither the region catalog nor a Jurisdiction
	// can place, such as `region "mars-1"`; a place there may or may not be permitted.
	Unknown []string
}

// PlacesOfPod returns the places a pod spec's own node constraints allow. A term of the required
// node affinity, ANDed with the nodeSelector as the scheduler does, contributes one stand-in per
// region, zone, country or jurisdiction its In (or, for jurisdiction labels, Exists) expressions
// name, kept when the term's location expressions accept it. Legacy and CSI topology keys are
// read as the standard region and zone keys. spec.nodeName and matchFields name a node whose
// location is not known offline: such terms count as open, and callers check nodeName themselves.
//
// provider, when not empty, is the cloud the pods will run in: it resolves region names that
// several providers use for different countries (eu-west-1 is Ireland at AWS, London at Alibaba),
// which the catalog otherwise leaves unknown.
//
// Whether a place is permitted is left to NodePermitted, so offline checks use the scheduler's own
// matching just like the webhook and the audit.
func PlacesOfPod(spec *corev1.PodSpec, matchers []*JurisdictionMatcher, jurisdictions map[string]*v1alpha1.JurisdictionSpec, provider catalog.Provider) PodPlaces {
	var out PodPlaces
	if spec == nil {
		out.Open = true
		return out
	}
	var affinityTerms []corev1.NodeSelectorTerm
	if a := spec.Affinity; a != nil && a.NodeAffinity != nil && a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil {
		affinityTerms = a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	}
	if len(affinityTerms) == 0 {
		affinityTerms = []corev1.NodeSelectorTerm{{}}
	}
	selector := selectorRequirements(spec.NodeSelector)

	seen := map[string]bool{}
	unknown := map[string]bool{}
	for _, t := range affinityTerms {
		if len(t.MatchFields) > 0 {
			out.Open = true // pinned to named nodes: their location is not known here
			continue
		}
		exprs := append(slices.Clone(t.MatchExpressions), selector...)
		loc := locationRequirements(exprs)
		if len(loc) == 0 {
			out.Open = true
			continue
		}
		cands := candidatePlaces(loc, matchers, jurisdictions, provider)
		if cands == nil {
			out.Open = true // only exclusions: the term still accepts most of the world
			continue
		}
		term := []corev1.NodeSelectorTerm{{MatchExpressions: loc}}
		for _, c := range cands {
			if !NodePermitted(c.node, term) {
				continue
			}
			if c.unknown {
				if !unknown[c.what] {
					unknown[c.what] = true
					out.Unknown = append(out.Unknown, c.what)
				}
				continue
			}
			key := placeKey(c.node)
			if !seen[key] {
				seen[key] = true
				out.Places = append(out.Places, c.node)
			}
		}
	}
	slices.Sort(out.Unknown)
	return out
}

// selectorRequirements turns a nodeSelector into In requirements, in key order for stable output.
func selectorRequirements(sel map[string]string) []corev1.NodeSelectorRequirement {
	if len(sel) == 0 {
		return nil
	}
	keys := make([]string, 0, len(sel))
	for k := range sel {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]corev1.NodeSelectorRequirement, 0, len(keys))
	for _, k := range keys {
		out = append(out, corev1.NodeSelectorRequirement{Key: k, Operator: corev1.NodeSelectorOpIn, Values: []string{sel[k]}})
	}
	return out
}

// LocationKeys are the node label keys, besides the jurisdiction labels, through which a pod's own
// nodeSelector or required affinity names a place (the keys locationRequirements reads), sorted.
// The placement-conflict webhook is sent only pods that use one of them.
func LocationKeys() []string {
	keys := []string{v1alpha1.CountryLabel}
	for k := range regionKeys {
		keys = append(keys, k)
	}
	for k := range zoneKeys {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// locationRequirements keeps the requirements on location keys, with legacy and CSI topology keys
// rewritten to the standard ones that stand-in nodes carry. Requirements on other labels (disk
// type, instance type, ...) say nothing about residency and are dropped.
func locationRequirements(exprs []corev1.NodeSelectorRequirement) []corev1.NodeSelectorRequirement {
	var out []corev1.NodeSelectorRequirement
	for _, e := range exprs {
		isRegion, isZone := TopologyKey(e.Key)
		switch {
		case isRegion:
			e.Key = RegionLabel
		case isZone:
			e.Key = ZoneLabel
		case e.Key == v1alpha1.CountryLabel, strings.HasPrefix(e.Key, v1alpha1.JurisdictionLabelPrefix):
		default:
			continue
		}
		out = append(out, e)
	}
	return out
}

// candidate is a stand-in node for one location value a requirement names.
type candidate struct {
	node    *corev1.Node
	what    string // `region "eu-west-1"`, for messages
	unknown bool   // no country and no jurisdiction: the location cannot be judged
}

// candidatePlaces returns a stand-in for every value the positive requirements name, or nil when
// no requirement is positive (NotIn, DoesNotExist and the like only exclude).
func candidatePlaces(exprs []corev1.NodeSelectorRequirement, matchers []*JurisdictionMatcher, jurisdictions map[string]*v1alpha1.JurisdictionSpec, provider catalog.Provider) []candidate {
	var out []candidate
	add := func(loc NodeLocation, extra map[string]string, what string) {
		node := placeWithLabels(loc, extra, matchers)
		_, hasCountry := node.Labels[v1alpha1.CountryLabel]
		out = append(out, candidate{node: node, what: what, unknown: !hasCountry && !hasJurisdiction(node)})
	}
	for _, e := range exprs {
		if name, ok := strings.CutPrefix(e.Key, v1alpha1.JurisdictionLabelPrefix); ok {
			if e.Operator == corev1.NodeSelectorOpExists || (e.Operator == corev1.NodeSelectorOpIn && slices.Contains(e.Values, v1alpha1.JurisdictionLabelValue)) {
				out = append(out, jurisdictionCandidates(name, matchers, jurisdictions, provider)...)
			}
			continue
		}
		if e.Operator != corev1.NodeSelectorOpIn {
			continue
		}
		for _, v := range e.Values {
			switch e.Key {
			case RegionLabel:
				add(ProviderLocation(provider, v, ""), nil, fmt.Sprintf("region %q", v))
			case ZoneLabel:
				add(ProviderLocation(provider, "", v), nil, fmt.Sprintf("zone %q", v))
			case v1alpha1.CountryLabel:
				if !catalog.IsISOCountry(v) {
					// Not a country code at all (UK for GB, say): no node can honestly carry it.
					out = append(out, candidate{node: placeWithLabels(NodeLocation{}, map[string]string{v1alpha1.CountryLabel: v}, nil), what: fmt.Sprintf("country %q (not an ISO 3166-1 alpha-2 code)", v), unknown: true})
					continue
				}
				add(NodeLocation{Country: v, CountrySource: CountryFromLabel}, nil, fmt.Sprintf("country %q", v))
			}
		}
	}
	return out
}

// jurisdictionCandidates returns stand-ins for where a Jurisdiction says it is: each of its
// regions and countries, and a node its nodeSelector's matchLabels would match.
func jurisdictionCandidates(name string, matchers []*JurisdictionMatcher, jurisdictions map[string]*v1alpha1.JurisdictionSpec, provider catalog.Provider) []candidate {
	spec := jurisdictions[name]
	what := fmt.Sprintf("jurisdiction %q", name)
	if spec == nil {
		return []candidate{{node: placeWithLabels(NodeLocation{}, map[string]string{v1alpha1.JurisdictionLabel(name): v1alpha1.JurisdictionLabelValue}, nil), what: what + " (not defined)", unknown: true}}
	}
	var out []candidate
	for _, r := range spec.Regions {
		out = append(out, candidate{node: placeWithLabels(ProviderLocation(provider, r, ""), nil, matchers), what: fmt.Sprintf("region %q of %s", r, what)})
	}
	for _, c := range spec.Countries {
		out = append(out, candidate{node: placeWithLabels(NodeLocation{Country: string(c), CountrySource: CountryFromLabel}, nil, matchers), what: fmt.Sprintf("country %q of %s", c, what)})
	}
	if spec.NodeSelector != nil && len(spec.NodeSelector.MatchLabels) > 0 {
		out = append(out, candidate{node: placeWithLabels(NodeLocation{}, spec.NodeSelector.MatchLabels, matchers), what: fmt.Sprintf("the nodes %s selects", what)})
	} else if spec.NodeSelector != nil {
		// Only matchExpressions: no node can be built from them, so the place cannot be judged.
		out = append(out, candidate{node: placeWithLabels(NodeLocation{}, map[string]string{v1alpha1.JurisdictionLabel(name): v1alpha1.JurisdictionLabelValue}, nil), what: fmt.Sprintf("the nodes %s selects", what), unknown: true})
	}
	return out
}

// ProviderLocation is LocationOf for a known cloud provider: the region (or the region a zone
// encodes) is looked up in that provider's part of the catalog, as LocateNode does for a node whose
// spec.providerID names its provider. With no provider, or a region the provider does not have, it
// falls back to LocationOf, which knows a region only when every provider agrees on its country.
func ProviderLocation(provider catalog.Provider, region, zone string) NodeLocation {
	if provider == "" {
		loc, _ := LocationOf(region, zone)
		return loc
	}
	loc := NodeLocation{Region: region, Zone: zone, Provider: provider}
	if loc.Region == "" && zone != "" {
		if r, ok := catalog.RegionFromZone(provider, zone); ok {
			loc.Region = r
		}
	}
	if loc.Region == "" {
		return loc
	}
	if r, ok := catalog.Lookup(provider, loc.Region); ok {
		loc.Country, loc.CountrySource = r.Country, CountryFromCatalog
		return loc
	}
	fallback, _ := LocationOf(loc.Region, "")
	loc.Country, loc.CountrySource = fallback.Country, fallback.CountrySource
	return loc
}

// placeWithLabels is PlaceOf for a node that also carries extra labels (a Jurisdiction's
// nodeSelector), so that selector-defined jurisdictions are found by the same matchers.
func placeWithLabels(loc NodeLocation, extra map[string]string, matchers []*JurisdictionMatcher) *corev1.Node {
	if len(extra) == 0 {
		return PlaceOf(loc, matchers)
	}
	node := PlaceOf(loc, nil)
	for k, v := range extra {
		node.Labels[k] = v
	}
	for _, name := range JurisdictionsOf(matchers, loc, labels.Set(node.Labels)) {
		node.Labels[v1alpha1.JurisdictionLabel(name)] = v1alpha1.JurisdictionLabelValue
	}
	return node
}

func hasJurisdiction(node *corev1.Node) bool {
	for k := range node.Labels {
		if strings.HasPrefix(k, v1alpha1.JurisdictionLabelPrefix) {
			return true
		}
	}
	return false
}

// placeKey identifies a stand-in by its labels, so that a region named twice is listed once.
func placeKey(node *corev1.Node) string {
	return labels.Set(node.Labels).String()
}

// NewJurisdictionMatchers compiles every Jurisdiction, in name order so that results and messages
// do not depend on map order. A spec that does not compile is skipped and reported in the error;
// the matchers of the others are still returned.
func NewJurisdictionMatchers(jurisdictions map[string]*v1alpha1.JurisdictionSpec) ([]*JurisdictionMatcher, error) {
	names := make([]string, 0, len(jurisdictions))
	for name := range jurisdictions {
		names = append(names, name)
	}
	slices.Sort(names)
	matchers := make([]*JurisdictionMatcher, 0, len(names))
	var errs []string
	for _, name := range names {
		m, err := NewJurisdictionMatcher(name, jurisdictions[name])
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		matchers = append(matchers, m)
	}
	if len(errs) > 0 {
		return matchers, fmt.Errorf("compiling jurisdictions: %s", strings.Join(errs, "; "))
	}
	return matchers, nil
}
