package engine

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// affMaxCandidates bounds the pairs (pod term, permitted term) IntersectPlacement combines before
// removing subsumed ones; the removal is quadratic and runs inside an admission webhook.
const affMaxCandidates = MaxTerms * MaxTerms

// IntersectPlacement ANDs the pod's required node affinity with the permitted terms, so that the
// pod may only be scheduled on nodes that both the pod and its stores accept.
//
// Node affinity is an OR of terms, so the AND is the product: for each pod term T and permitted
// term P, a term with T's expressions and fields plus P's. Duplicate expressions, duplicate terms and
// terms that contain another term (they add nothing to an OR) are removed, which makes the function
// idempotent: the mutating webhook may run again on the same pod. An empty pod term matches no node
// in Kubernetes and stays empty. A pod without required node affinity gets just the permitted terms.
//
// permitted should be the Terms of a non-zero Requirement (call nothing for a zero one). An empty
// list means that no node is permitted: the pod then gets a single empty term, which is valid and
// matches no node, so it stays pending rather than landing anywhere (fail closed). Empty terms
// inside permitted match nothing and are ignored.
//
// Only spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution changes; on error
// (more than MaxTerms terms, wrapping ErrTooManyTerms) the spec is left as it was.
func IntersectPlacement(spec *corev1.PodSpec, permitted []corev1.NodeSelectorTerm) error {
	if spec == nil {
		return errors.New("adding the permitted nodes to the pod's node affinity: no pod spec")
	}
	var existing *corev1.NodeSelector
	if a := spec.Affinity; a != nil && a.NodeAffinity != nil {
		existing = a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution
	}
	terms, err := intersectTerms(existing, permitted)
	if err != nil {
		return fmt.Errorf("%s: %w", intersectContext, err)
	}
	if spec.Affinity == nil {
		spec.Affinity = &corev1.Affinity{}
	}
	if spec.Affinity.NodeAffinity == nil {
		spec.Affinity.NodeAffinity = &corev1.NodeAffinity{}
	}
	// A new NodeSelector rather than an edit in place: the old one may be shared with the caller.
	spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution = &corev1.NodeSelector{NodeSelectorTerms: terms}
	return nil
}

// intersectContext prefixes IntersectPlacement's errors.
const intersectContext = "adding the permitted nodes to the pod's required node affinity"

// errProductTooLarge is the error for a pod whose own terms ANDed with the permitted ones need
// more than MaxTerms terms.
func errProductTooLarge(own, permitted, product int) error {
	return fmt.Errorf("%w: the pod's %d node selector terms ANDed with %d permitted terms need %d terms, and at most %d are allowed; "+
		"simplify the pod's required node affinity or let fewer stores govern it", ErrTooManyTerms, own, permitted, product, MaxTerms)
}

// ProductTooLarge is the finding admission raises for a pod whose own terms ANDed with the
// permitted ones need more than MaxTerms terms, as IntersectPlacement's error gives it; the
// compiled policies fill in the counts themselves.
func ProductTooLarge(own, permitted, product int) Finding {
	return PlacementFailure("pod", fmt.Errorf("%s: %w", intersectContext, errProductTooLarge(own, permitted, product)))
}

// intersectTerms returns the terms of existing ANDed with permitted; a nil existing matches every
// node.
func intersectTerms(existing *corev1.NodeSelector, permitted []corev1.NodeSelectorTerm) ([]corev1.NodeSelectorTerm, error) {
	in := newAffInterner(existing, permitted)
	perm := make([]affTerm, 0, len(permitted))
	for i := range permitted {
		// An empty permitted term matches nothing, so it adds nothing to the OR; keeping it would
		// even be wrong, since T plus nothing is T.
		if t := in.term(&permitted[i]); !t.empty {
			perm = append(perm, t)
		}
	}
	perm = affMinimal(perm)
	if len(perm) == 0 {
		return []corev1.NodeSelectorTerm{{}}, nil
	}

	var cands []affTerm
	if existing == nil {
		cands = perm
	} else {
		if n := len(existing.NodeSelectorTerms) * len(perm); n > affMaxCandidates {
			return nil, fmt.Errorf("%w: the pod's %d node selector terms times the %d permitted terms make %d combinations, more than the %d that are checked",
				ErrTooManyTerms, len(existing.NodeSelectorTerms), len(perm), n, affMaxCandidates)
		}
		cands = make([]affTerm, 0, len(existing.NodeSelectorTerms)*len(perm))
		for i := range existing.NodeSelectorTerms {
			t := in.term(&existing.NodeSelectorTerms[i])
			if t.empty {
				cands = append(cands, t)
				continue
			}
			for _, p := range perm {
				cands = append(cands, affTerm{
					first:  t.first,
					second: p.first,
					set:    affUnion(t.set, p.set),
				})
			}
		}
		cands = affMinimal(cands)
	}
	if len(cands) == 0 {
		// The pod's required affinity had no terms at all and so matched no node; say so validly.
		return []corev1.NodeSelectorTerm{{}}, nil
	}
	if len(cands) > MaxTerms {
		if existing == nil {
			return nil, fmt.Errorf("%w: %d permitted terms, and at most %d are allowed", ErrTooManyTerms, len(cands), MaxTerms)
		}
		return nil, errProductTooLarge(len(existing.NodeSelectorTerms), len(perm), len(cands))
	}
	return in.build(cands), nil
}

// affTerm is a node selector term as interned expression ids: seq lists them in output order (the
// pod's term's own, then the permitted term's), set holds them sorted and distinct.
type affTerm struct {
	first, second []int32
	set           []int32
	empty         bool
}

// affExprKey identifies a node selector requirement. Values are compared in order: two requirements
// that differ only in value order are kept apart, which is harmless.
type affExprKey struct {
	field  bool
	key    string
	op     corev1.NodeSelectorOperator
	n      int
	values string // the only value, or every value length-prefixed so the encoding is injective
}

// affInterner gives each distinct requirement an id, so that terms compare as sorted id lists.
type affInterner struct {
	ids   map[affExprKey]int32
	exprs []*corev1.NodeSelectorRequirement
	field []bool
}

// newAffInterner sizes an interner for every requirement of the pod's and the permitted terms.
func newAffInterner(existing *corev1.NodeSelector, permitted []corev1.NodeSelectorTerm) *affInterner {
	n := 0
	count := func(terms []corev1.NodeSelectorTerm) {
		for i := range terms {
			n += len(terms[i].MatchExpressions) + len(terms[i].MatchFields)
		}
	}
	count(permitted)
	if existing != nil {
		count(existing.NodeSelectorTerms)
	}
	return &affInterner{
		ids:   make(map[affExprKey]int32, n),
		exprs: make([]*corev1.NodeSelectorRequirement, 0, n),
		field: make([]bool, 0, n),
	}
}

func (in *affInterner) id(e *corev1.NodeSelectorRequirement, field bool) int32 {
	k := affExprKey{field: field, key: e.Key, op: e.Operator, n: len(e.Values)}
	switch len(e.Values) {
	case 0:
	case 1:
		k.values = e.Values[0]
	default:
		var b strings.Builder
		for _, v := range e.Values {
			b.WriteString(strconv.Itoa(len(v)))
			b.WriteByte(':')
			b.WriteString(v)
		}
		k.values = b.String()
	}
	if id, ok := in.ids[k]; ok {
		return id
	}
	id := int32(len(in.exprs))
	in.ids[k] = id
	in.exprs = append(in.exprs, e)
	in.field = append(in.field, field)
	return id
}

func (in *affInterner) term(t *corev1.NodeSelectorTerm) affTerm {
	if len(t.MatchExpressions) == 0 && len(t.MatchFields) == 0 {
		return affTerm{empty: true}
	}
	seq := make([]int32, 0, len(t.MatchExpressions)+len(t.MatchFields))
	for i := range t.MatchExpressions {
		seq = append(seq, in.id(&t.MatchExpressions[i], false))
	}
	for i := range t.MatchFields {
		seq = append(seq, in.id(&t.MatchFields[i], true))
	}
	set := slices.Clone(seq)
	slices.Sort(set)
	return affTerm{first: seq, set: slices.Compact(set)}
}

// build turns interned terms back into node selector terms, deep-copying every requirement so
// that the pod shares no slice with the permitted terms or with other pods.
func (in *affInterner) build(terms []affTerm) []corev1.NodeSelectorTerm {
	out := make([]corev1.NodeSelectorTerm, len(terms))
	emitted := make([]int, len(in.exprs)) // term number + 1 that last emitted each id
	for i, t := range terms {
		if t.empty {
			continue
		}
		var nFields int
		for _, id := range t.set {
			if in.field[id] {
				nFields++
			}
		}
		o := &out[i]
		if n := len(t.set) - nFields; n > 0 {
			o.MatchExpressions = make([]corev1.NodeSelectorRequirement, 0, n)
		}
		if nFields > 0 {
			o.MatchFields = make([]corev1.NodeSelectorRequirement, 0, nFields)
		}
		for _, seq := range [2][]int32{t.first, t.second} {
			for _, id := range seq {
				if emitted[id] == i+1 {
					continue
				}
				emitted[id] = i + 1
				var r corev1.NodeSelectorRequirement
				in.exprs[id].DeepCopyInto(&r)
				if in.field[id] {
					o.MatchFields = append(o.MatchFields, r)
				} else {
					o.MatchExpressions = append(o.MatchExpressions, r)
				}
			}
		}
	}
	return out
}

// affMinimal removes, keeping order, the terms that contain another term or repeat an earlier
// one. An empty term matches nothing, so it never makes another term redundant.
func affMinimal(terms []affTerm) []affTerm {
	if len(terms) < 2 {
		return terms
	}
	out := terms[:0:0]
	for i, t := range terms {
		redundant := false
		for j, o := range terms {
			if i == j || o.empty != t.empty || (o.empty && j > i) {
				continue
			}
			if o.empty || affSubset(o.set, t.set) && (len(o.set) < len(t.set) || j < i) {
				redundant = true
				break
			}
		}
		if !redundant {
			out = append(out, t)
		}
	}
	return out
}

// affSubset reports whether sorted a is contained in sorted b.
func affSubset(a, b []int32) bool {
	if len(a) > len(b) {
		return false
	}
	j := 0
	for _, x := range a {
		for j < len(b) && b[j] < x {
			j++
		}
		if j == len(b) || b[j] != x {
			return false
		}
		j++
	}
	return true
}

// affUnion merges sorted distinct a and b.
func affUnion(a, b []int32) []int32 {
	out := make([]int32, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] < b[j]:
			out = append(out, a[i])
			i++
		case a[i] > b[j]:
			out = append(out, b[j])
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	out = append(out, a[i:]...)
	return append(out, b[j:]...)
}
