package engine

import (
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
	"github.com/residency-operator/residency-operator/internal/catalog"
)

// MaxTerms bounds the node selector terms of a pod's injected required node affinity. The DNF of
// several stores' allowed jurisdictions is a product and can explode; past this bound the pod is
// refused with a message rather than given an affinity nobody can read.
const MaxTerms = 32

// ErrTooManyTerms is wrapped by the errors of Terms and IntersectPlacement when the permitted set,
// alone or ANDed with the pod's own required node affinity, needs more than MaxTerms terms.
var ErrTooManyTerms = errors.New("too many node selector terms")

// CountryOfRegion maps a region (a topology.kubernetes.io/region value) to its ISO 3166-1 alpha-2
// country for Terms' disjointness pruning: the region catalog, which returns false when the region
// is unknown or ambiguous (then nothing is pruned on region grounds). Tests swap it.
var CountryOfRegion = catalog.CountryOf

// permIntermediateCap bounds the terms Terms keeps between two stores. Intermediate products can be
// larger than the final one (a later store may absorb terms), so the cap is well above MaxTerms, but
// it keeps the quadratic minimisation cheap inside an admission webhook.
const permIntermediateCap = 8 * MaxTerms

const permTooManyHint = "let fewer stores govern the pod, allow fewer jurisdictions per store, " +
	"or define one Jurisdiction for the places the stores share"

// Group is one governing store's allowed jurisdictions: a node must be in at least one of them.
type Group struct {
	// Store is the name of the PersonalDataStore.
	Store string
	// Jurisdictions are the names of its allowed Jurisdictions, sorted and distinct.
	Jurisdictions []string
}

// Requirement is the permitted set of a pod: a node must satisfy every group.
type Requirement struct {
	// Groups are sorted by store name.
	Groups []Group
}

// RequirementFor builds the requirement from the stores that govern a pod, whatever their mode:
// which stores count (admission injects only Enforce and Warn stores, the audit reports Audit
// stores too) is the caller's choice through Governance. A store that allows no jurisdiction
// (invalid, but possible in offline manifests) yields an empty group, which permits no node: fail
// closed.
func RequirementFor(stores ...*v1alpha1.PersonalDataStore) Requirement {
	var r Requirement
	for _, s := range stores {
		names := make([]string, 0, len(s.Spec.AllowedJurisdictions))
		for _, j := range s.Spec.AllowedJurisdictions {
			names = append(names, string(j))
		}
		slices.Sort(names)
		r.Groups = append(r.Groups, Group{Store: s.Name, Jurisdictions: slices.Compact(names)})
	}
	// Sorting by store (then by jurisdictions, for duplicate names in offline manifests) makes the
	// annotations and messages independent of list order.
	slices.SortStableFunc(r.Groups, func(a, b Group) int {
		if c := strings.Compare(a.Store, b.Store); c != 0 {
			return c
		}
		return slices.Compare(a.Jurisdictions, b.Jurisdictions)
	})
	return r
}

// IsZero reports whether the requirement has no groups, in which case the pod is not constrained.
func (r Requirement) IsZero() bool { return len(r.Groups) == 0 }

// StoreNames returns the names of the governing stores, in group order.
func (r Requirement) StoreNames() []string {
	names := make([]string, len(r.Groups))
	for i, g := range r.Groups {
		names[i] = g.Store
	}
	return names
}

// String describes the requirement for messages, such as
// `store "customer-db" allows [eu]; store "web" allows [eu us]`.
func (r Requirement) String() string {
	if r.IsZero() {
		return "no store constrains the pod"
	}
	var b strings.Builder
	for i, g := range r.Groups {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "store %q allows [%s]", g.Store, strings.Join(g.Jurisdictions, " "))
	}
	return b.String()
}

// AnnotationValue is the value of the allowed-jurisdictions pod annotation: each group's
// jurisdictions comma-separated, groups separated by ";", such as "eu;eu,us".
func (r Requirement) AnnotationValue() string {
	var b strings.Builder
	for i, g := range r.Groups {
		if i > 0 {
			b.WriteByte(';')
		}
		b.WriteString(strings.Join(g.Jurisdictions, ","))
	}
	return b.String()
}

// Terms returns the node selector terms, ORed, that mean exactly "permitted node": one term per
// combination of one jurisdiction from each group, each term requiring the combination's jurisdiction
// labels, with duplicate and subsumed terms removed and expressions sorted by key. The result is
// canonical: it does not depend on the order of groups or jurisdictions.
//
// jurisdictions, when non-nil, maps Jurisdiction names to their specs and lets Terms drop
// combinations of jurisdictions that no node can be in together (see Disjoint). A name missing from
// the map is never pruned: a Jurisdiction created later may still label nodes.
//
// A zero requirement has no terms (the pod is unconstrained); an empty result for a non-zero
// requirement means that no node is permitted (the stores disagree). More than MaxTerms terms is an
// error wrapping ErrTooManyTerms.
func (r Requirement) Terms(jurisdictions map[string]*v1alpha1.JurisdictionSpec) ([]corev1.NodeSelectorTerm, error) {
	if r.IsZero() {
		return nil, nil
	}

	// Index the jurisdiction names in sorted order, so that index order is label-key order.
	var names []string
	for _, g := range r.Groups {
		names = append(names, g.Jurisdictions...)
	}
	slices.Sort(names)
	names = slices.Compact(names)
	index := make(map[string]int, len(names))
	for i, n := range names {
		index[n] = i
	}
	w := (len(names) + 63) / 64
	if w == 0 {
		w = 1 // only empty groups: keep one word so that sets stay addressable
	}

	groups := jurisdictionSets{w: w}
	for _, g := range r.Groups {
		if len(g.Jurisdictions) == 0 {
			return []corev1.NodeSelectorTerm{}, nil
		}
		set := groups.grow()
		for _, j := range g.Jurisdictions {
			set.add(index[j])
		}
	}
	// A store whose jurisdictions include all of another's adds nothing ((A) AND (A OR B) = A);
	// dropping it first keeps the product small. Smaller groups first keeps intermediates small.
	groups, _ = groups.minimal(len(r.Groups))
	order := groups.bySize()

	var conflicts jurisdictionSets
	if jurisdictions != nil {
		conflicts = permDisjointPairs(names, jurisdictions, w)
	}

	cur := jurisdictionSets{w: w}
	cur.grow() // the empty combination
	for _, gi := range order {
		g := groups.at(gi)
		next := jurisdictionSets{w: w, words: make([]uint64, 0, cur.len()*g.size()*w)}
		for ti := 0; ti < cur.len(); ti++ {
			t := cur.at(ti)
			for wi, word := range g {
				for word != 0 {
					j := wi*64 + bits.TrailingZeros64(word)
					word &= word - 1
					if !t.has(j) && conflicts.w != 0 && t.intersects(conflicts.at(j)) {
						continue // j cannot share a node with a jurisdiction already in t
					}
					c := next.grow()
					copy(c, t)
					c.add(j)
				}
			}
		}
		var capped bool
		cur, capped = next.minimal(permIntermediateCap)
		if capped {
			return nil, fmt.Errorf("%w: the permitted nodes need more than %d node selector terms and at most %d are allowed (%s); %s",
				ErrTooManyTerms, permIntermediateCap, MaxTerms, r, permTooManyHint)
		}
		if cur.len() == 0 {
			return []corev1.NodeSelectorTerm{}, nil
		}
	}
	if cur.len() > MaxTerms {
		return nil, fmt.Errorf("%w: the permitted nodes need %d node selector terms and at most %d are allowed (%s); %s",
			ErrTooManyTerms, cur.len(), MaxTerms, r, permTooManyHint)
	}

	combos := make([][]int, cur.len())
	for i := range combos {
		combos[i] = cur.at(i).members()
	}
	slices.SortFunc(combos, slices.Compare)
	terms := make([]corev1.NodeSelectorTerm, len(combos))
	for i, combo := range combos {
		exprs := make([]corev1.NodeSelectorRequirement, len(combo))
		for k, j := range combo {
			exprs[k] = corev1.NodeSelectorRequirement{
				Key:      v1alpha1.JurisdictionLabel(names[j]),
				Operator: corev1.NodeSelectorOpIn,
				Values:   []string{v1alpha1.JurisdictionLabelValue},
			}
		}
		terms[i].MatchExpressions = exprs
	}
	return terms, nil
}

// permDisjointPairs returns, for each jurisdiction index, the set of jurisdictions it is provably
// disjoint from.
func permDisjointPairs(names []string, specs map[string]*v1alpha1.JurisdictionSpec, w int) jurisdictionSets {
	conflicts := jurisdictionSets{w: w, words: make([]uint64, len(names)*w)}
	for i := range names {
		a := specs[names[i]]
		if a == nil {
			continue
		}
		for j := i + 1; j < len(names); j++ {
			b := specs[names[j]]
			if b != nil && Disjoint(a, b, CountryOfRegion) {
				conflicts.at(i).add(j)
				conflicts.at(j).add(i)
			}
		}
	}
	return conflicts
}

// Disjoint reports whether no node can be in both jurisdictions. It is true only when that is
// certain: neither has a nodeSelector (a selector can match any node), their countries are
// disjoint, their regions are disjoint, and no region of one lies in a country of the other
// according to countryOfRegion. A region that countryOfRegion does not know (or a nil
// countryOfRegion) is assumed to be anywhere. Comparisons ignore case, erring towards overlap.
//
// It assumes that a node in a known region has that region's country; a node whose restricted
// country label contradicts its region breaks that assumption, and a wrong "disjoint" only ever
// removes permitted nodes, never adds any.
func Disjoint(a, b *v1alpha1.JurisdictionSpec, countryOfRegion func(string) (string, bool)) bool {
	if a == nil || b == nil || a.NodeSelector != nil || b.NodeSelector != nil {
		return false
	}
	for _, ca := range a.Countries {
		for _, cb := range b.Countries {
			if strings.EqualFold(string(ca), string(cb)) {
				return false
			}
		}
	}
	for _, ra := range a.Regions {
		for _, rb := range b.Regions {
			if strings.EqualFold(ra, rb) {
				return false
			}
		}
	}
	return !permRegionMayBeIn(a.Regions, b.Countries, countryOfRegion) &&
		!permRegionMayBeIn(b.Regions, a.Countries, countryOfRegion)
}

// permRegionMayBeIn reports whether any of regions may lie in one of countries.
func permRegionMayBeIn(regions []string, countries []v1alpha1.CountryCode, countryOfRegion func(string) (string, bool)) bool {
	if len(regions) == 0 || len(countries) == 0 {
		return false
	}
	if countryOfRegion == nil {
		return true
	}
	for _, r := range regions {
		c, ok := countryOfRegion(r)
		if !ok {
			return true
		}
		for _, cc := range countries {
			if strings.EqualFold(c, string(cc)) {
				return true
			}
		}
	}
	return false
}

// NodePermitted reports whether node satisfies the permitted terms. It evaluates them with the
// scheduler's own node affinity code, so that the webhook, the audit and the scheduler share one
// definition of a permitted node. No terms, or terms that fail to parse, permit nothing.
func NodePermitted(node *corev1.Node, permitted []corev1.NodeSelectorTerm) bool {
	if node == nil || len(permitted) == 0 {
		return false
	}
	ok, _ := nodeaffinity.NewLazyErrorNodeSelector(&corev1.NodeSelector{NodeSelectorTerms: permitted}).Match(node)
	return ok
}

// jurisdictionSet is a set of jurisdiction indexes (into the sorted names of a requirement).
type jurisdictionSet []uint64

func (s jurisdictionSet) add(i int)      { s[i/64] |= 1 << (i % 64) }
func (s jurisdictionSet) has(i int) bool { return s[i/64]&(1<<(i%64)) != 0 }

func (s jurisdictionSet) subsetOf(o jurisdictionSet) bool {
	for i := range s {
		if s[i]&^o[i] != 0 {
			return false
		}
	}
	return true
}

func (s jurisdictionSet) intersects(o jurisdictionSet) bool {
	for i := range s {
		if s[i]&o[i] != 0 {
			return true
		}
	}
	return false
}

func (s jurisdictionSet) size() int {
	n := 0
	for _, w := range s {
		n += bits.OnesCount64(w)
	}
	return n
}

// members returns the indexes in the set, ascending.
func (s jurisdictionSet) members() []int {
	out := make([]int, 0, s.size())
	for wi, w := range s {
		for w != 0 {
			out = append(out, wi*64+bits.TrailingZeros64(w))
			w &= w - 1
		}
	}
	return out
}

// jurisdictionSets stores jurisdiction sets of w words each back to back, so that a whole product
// step lives in one slice.
type jurisdictionSets struct {
	w     int
	words []uint64
}

func (s *jurisdictionSets) len() int {
	if s.w == 0 {
		return 0
	}
	return len(s.words) / s.w
}

func (s *jurisdictionSets) at(i int) jurisdictionSet {
	return jurisdictionSet(s.words[i*s.w : (i+1)*s.w : (i+1)*s.w])
}

// grow appends an empty set and returns it.
func (s *jurisdictionSets) grow() jurisdictionSet {
	s.words = append(s.words, make([]uint64, s.w)...)
	return s.at(s.len() - 1)
}

// bySize returns the set indexes ordered by size, ties in index order.
func (s *jurisdictionSets) bySize() []int {
	order := make([]int, s.len())
	sizes := make([]int, s.len())
	for i := range order {
		order[i] = i
		sizes[i] = s.at(i).size()
	}
	slices.SortStableFunc(order, func(a, b int) int { return sizes[a] - sizes[b] })
	return order
}

// minimal returns the sets that contain no other set, each once, in order of size. It gives up,
// reporting capped, as soon as it would keep more than limit sets.
func (s *jurisdictionSets) minimal(limit int) (out jurisdictionSets, capped bool) {
	out = jurisdictionSets{w: s.w}
	// A subset is never larger, so visiting by size means each candidate only needs checking
	// against the sets already kept.
	for _, i := range s.bySize() {
		c := s.at(i)
		subsumed := false
		for k := 0; k < out.len() && !subsumed; k++ {
			subsumed = out.at(k).subsetOf(c)
		}
		if subsumed {
			continue
		}
		if out.len() == limit {
			return out, true
		}
		out.words = append(out.words, c...)
	}
	return out, false
}
