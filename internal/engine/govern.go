package engine

import (
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
)

// Annotations the node controller writes on a node whose location cannot be used, so that Events
// fire on changes only and the audit can say why a pod's node is in no jurisdiction.
const (
	// LocationProblemAnnotation is ProblemUntrusted or ProblemUnknown.
	LocationProblemAnnotation = "dataresidency.io/location-problem"
	// LocationDetailAnnotation says why, in words.
	LocationDetailAnnotation = "dataresidency.io/location-detail"
	// ProblemUntrusted: the node's location claim contradicts what cannot be forged.
	ProblemUntrusted = "Untrusted"
	// ProblemUnknown: neither the catalog, a country label nor a Jurisdiction locates the node.
	ProblemUnknown = "Unknown"
)

// SelectorKind says which selector of a store picks an object: pods by workloadSelector, claims by
// volumeSelector. Exceptions have one selector for both.
type SelectorKind string

const (
	// Workload: the store's workloadSelector, for pods and pod templates.
	Workload SelectorKind = "workload"
	// Volume: the store's volumeSelector, for PersistentVolumeClaims.
	Volume SelectorKind = "volume"
	// ExceptionSelector: a ResidencyException's selector.
	ExceptionSelector SelectorKind = "exception"
)

// SelectFunc reports whether sel, held by owner, selects an object labelled l. It must follow
// Selects; callers that decide often pass one that remembers compiled selectors.
type SelectFunc func(owner metav1.Object, which SelectorKind, sel *metav1.LabelSelector, l map[string]string) bool

// Policies are what decides about the objects of one namespace: its stores and exceptions, the
// cluster's Jurisdictions, and the time exceptions are judged at. Decisions only read them, so
// they may share a cache's objects. A Policies remembers the selectors it compiled and the
// permitted terms it computed, so that deciding about every pod of a store compiles and computes
// each once: build one per review or reconcile, and do not share it between goroutines.
type Policies struct {
	// Stores of the namespace; stores being deleted govern nothing.
	Stores []*v1alpha1.PersonalDataStore
	// Exceptions of the namespace.
	Exceptions []*v1alpha1.ResidencyException
	// Jurisdictions by name. Nil means not known (the audit): nothing is pruned as disjoint.
	Jurisdictions map[string]*v1alpha1.JurisdictionSpec
	// Now is when exceptions are judged.
	Now time.Time
	// Select matches selectors; nil compiles each selector once per Policies, by the rule of
	// SelectorFor.
	Select SelectFunc

	compiled map[compiledKey]labels.Selector // nil selector: selects nothing
	permits  map[string]permit
}

type compiledKey struct {
	owner metav1.Object
	which SelectorKind
}

// permit is a permitted set computed for a set of stores.
type permit struct {
	req   Requirement
	terms []corev1.NodeSelectorTerm
	err   error
}

func (p *Policies) selects(owner metav1.Object, which SelectorKind, sel *metav1.LabelSelector, l map[string]string) bool {
	if p.Select != nil {
		return p.Select(owner, which, sel, l)
	}
	key := compiledKey{owner, which}
	compiled, found := p.compiled[key]
	if !found {
		compiled, _ = SelectorFor(sel)
		if p.compiled == nil {
			p.compiled = map[compiledKey]labels.Selector{}
		}
		p.compiled[key] = compiled
	}
	return compiled != nil && compiled.Matches(labels.Set(l))
}

// permitted returns the requirement and permitted terms of a set of stores, computed once per
// distinct set (by name: the stores of one namespace).
func (p *Policies) permitted(stores []*v1alpha1.PersonalDataStore) (Requirement, []corev1.NodeSelectorTerm, error) {
	names := make([]string, len(stores))
	for i, s := range stores {
		names[i] = s.Name
	}
	slices.Sort(names)
	key := strings.Join(names, "\x00")
	if r, ok := p.permits[key]; ok {
		return r.req, r.terms, r.err
	}
	var r permit
	r.req = RequirementFor(stores...)
	r.terms, r.err = r.req.Terms(p.Jurisdictions)
	if p.permits == nil {
		p.permits = map[string]permit{}
	}
	p.permits[key] = r
	return r.req, r.terms, r.err
}

// Lift is a store that an active exception lifts for an object.
type Lift struct {
	Store     *v1alpha1.PersonalDataStore
	Exception string
	ExpiresAt metav1.Time
}

// Governance says which stores govern an object, by enforcement mode, and which an exception lifts.
type Governance struct {
	// Enforce, Warn and Audit are the governing stores that no exception lifts, sorted by name.
	Enforce, Warn, Audit []*v1alpha1.PersonalDataStore
	// Lifted are the stores that select the object and that an active exception lifts for it.
	Lifted []Lift
}

// Governed reports whether any store selects the object, lifted or not.
func (g *Governance) Governed() bool {
	return len(g.Enforce)+len(g.Warn)+len(g.Audit)+len(g.Lifted) > 0
}

// Constrained reports whether an Enforce or Warn store governs the object: admission places it.
func (g *Governance) Constrained() bool { return len(g.Enforce)+len(g.Warn) > 0 }

// Constraining returns the Enforce and Warn stores: admission injects their placement.
func (g *Governance) Constraining() []*v1alpha1.PersonalDataStore {
	return append(slices.Clip(g.Enforce), g.Warn...)
}

// All returns every governing store that no exception lifts, whatever its mode.
func (g *Governance) All() []*v1alpha1.PersonalDataStore {
	return append(g.Constraining(), g.Audit...)
}

// ModeOf is a store's enforcement mode, unset read as Enforce (the CRD's default): fail closed.
func ModeOf(s *v1alpha1.PersonalDataStore) v1alpha1.EnforcementMode {
	if s.Spec.Enforcement == "" {
		return v1alpha1.Enforce
	}
	return s.Spec.Enforcement
}

// SelectorOf returns the selector of a store that picks objects of kind which.
func SelectorOf(s *v1alpha1.PersonalDataStore, which SelectorKind) *metav1.LabelSelector {
	if which == Volume {
		return s.Spec.VolumeSelector
	}
	return &s.Spec.WorkloadSelector
}

// Matching returns the stores of p whose selector of kind which selects an object labelled l,
// stores being deleted left out. It is the first half of Govern, cheap enough to ask first.
func Matching(p *Policies, which SelectorKind, l map[string]string) []*v1alpha1.PersonalDataStore {
	var out []*v1alpha1.PersonalDataStore
	for _, s := range p.Stores {
		if s.DeletionTimestamp.IsZero() && p.selects(s, which, SelectorOf(s, which), l) {
			out = append(out, s)
		}
	}
	return out
}

// Govern is the one rule for which stores govern an object and which are lifted: the stores whose
// selector of kind which selects the object's labels, plus also (for a claim, the stores of the
// pods that mount it), less those an exception active at p.Now lifts for the object's labels.
func Govern(p *Policies, which SelectorKind, l map[string]string, also ...*v1alpha1.PersonalDataStore) Governance {
	stores := Matching(p, which, l)
	for _, s := range also {
		if !slices.Contains(stores, s) && s.DeletionTimestamp.IsZero() {
			stores = append(stores, s)
		}
	}
	slices.SortFunc(stores, func(a, b *v1alpha1.PersonalDataStore) int { return strings.Compare(a.Name, b.Name) })
	var g Governance
	if len(stores) == 0 {
		return g
	}
	lifts := map[string]Lift{}
	for _, ex := range p.Exceptions {
		if !ExceptionActive(ex, p.Now) || !p.selects(ex, ExceptionSelector, &ex.Spec.Selector, l) {
			continue
		}
		for _, name := range ex.Spec.Stores {
			if prev, ok := lifts[string(name)]; !ok || ex.Spec.ExpiresAt.After(prev.ExpiresAt.Time) {
				lifts[string(name)] = Lift{Exception: ex.Name, ExpiresAt: ex.Spec.ExpiresAt}
			}
		}
	}
	for _, s := range stores {
		if lift, ok := lifts[s.Name]; ok {
			lift.Store = s
			g.Lifted = append(g.Lifted, lift)
			continue
		}
		switch ModeOf(s) {
		case v1alpha1.Audit:
			g.Audit = append(g.Audit, s)
		case v1alpha1.Warn:
			g.Warn = append(g.Warn, s)
		default:
			g.Enforce = append(g.Enforce, s)
		}
	}
	return g
}
