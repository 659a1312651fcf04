// Package admissionpolicy compiles a namespace's residency policies into MutatingAdmissionPolicy
// and ValidatingAdmissionPolicy objects, which kube-apiserver evaluates itself: no call to the
// operator, no TLS, and they keep placing pods while the operator is down.
//
// The engine decides; this package only writes its decisions down. For every set of stores that
// can govern a pod together, engine.PlanPod says what to inject and what to deny or warn about;
// the policies pick the plan by which stores' selectors (less the exceptions active when compiled)
// select the pod, and apply it. Only what depends on the pod itself is evaluated in CEL: the cross
// product of the pod's own required node affinity with the permitted terms, and whether the
// affinity, after every mutation, still implies the permitted set (engine.AffinityImplies).
package admissionpolicy

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
	"github.com/residency-operator/residency-operator/internal/engine"
)

// Labels on every compiled object: who manages it and which namespace it is for.
const (
	ManagedByLabel = "app.kubernetes.io/managed-by"
	ManagedBy      = "residency-operator"
	NamespaceLabel = "dataresidency.io/compiled-for"
)

// MaxSelections bounds the distinct store selections (a selector, less the exceptions that lift it)
// compiled for one namespace: the policies hold one plan per combination, 2^n - 1 of them. Stores
// with the same selector and exceptions count once.
const MaxSelections = 6

// ErrTooManySelections is returned for a namespace whose stores need more than MaxSelections.
var ErrTooManySelections = errors.New("too many distinct store selectors to compile")

// Names of the compiled objects of a namespace; each binding has its policy's name.
func MutatingName(namespace string) string { return "residency." + namespace }
func DenyName(namespace string) string     { return "residency-deny." + namespace }
func WarnName(namespace string) string     { return "residency-warn." + namespace }

// Compiled are the admission policies of one namespace. Deny and Warn are nil when no Enforce,
// respectively no Warn, store can govern a pod.
type Compiled struct {
	Mutating        *admissionregistrationv1.MutatingAdmissionPolicy
	MutatingBinding *admissionregistrationv1.MutatingAdmissionPolicyBinding
	Deny, Warn      *admissionregistrationv1.ValidatingAdmissionPolicy
	DenyBinding     *admissionregistrationv1.ValidatingAdmissionPolicyBinding
	WarnBinding     *admissionregistrationv1.ValidatingAdmissionPolicyBinding
	// Recompile is when an exception starts or expires, which changes the policies; zero if never.
	Recompile time.Time
}

// Objects returns the compiled objects in the order to create them: a policy before its binding,
// the mutating policy before the validating ones that check its work. Delete in reverse.
func (c *Compiled) Objects() []client.Object {
	out := []client.Object{c.Mutating, c.MutatingBinding}
	if c.Deny != nil {
		out = append(out, c.Deny, c.DenyBinding)
	}
	if c.Warn != nil {
		out = append(out, c.Warn, c.WarnBinding)
	}
	return out
}

// storeSelection is one bit of the key that picks a plan: the stores that select a pod exactly when cond
// holds.
type storeSelection struct {
	cond   string
	stores []*v1alpha1.PersonalDataStore
}

// Compile returns the admission policies for the pods of namespace under p, or nil when no Enforce
// or Warn store can govern a pod there. p.Now is when exceptions are judged: Recompile says when
// that judgement changes.
func Compile(namespace string, p *engine.Policies) (*Compiled, error) {
	sels, recompile := selections(p)
	if len(sels) == 0 {
		return nil, nil
	}
	if len(sels) > MaxSelections {
		return nil, fmt.Errorf("%w: namespace %s has %d, at most %d are compiled; give stores that govern the same pods the same workloadSelector",
			ErrTooManySelections, namespace, len(sels), MaxSelections)
	}

	var tables planTables
	for mask := 1; mask < 1<<len(sels); mask++ {
		var g engine.Governance
		for bit, s := range sels {
			if mask&(1<<bit) == 0 {
				continue
			}
			for _, st := range s.stores {
				if engine.ModeOf(st) == v1alpha1.Warn {
					g.Warn = append(g.Warn, st)
				} else {
					g.Enforce = append(g.Enforce, st)
				}
			}
		}
		byName := func(a, b *v1alpha1.PersonalDataStore) int { return strings.Compare(a.Name, b.Name) }
		slices.SortFunc(g.Enforce, byName)
		slices.SortFunc(g.Warn, byName)
		tables.add(mask, engine.PlanPod(p, g))
	}

	common := []admissionregistrationv1.Variable{{Name: "l", Expression: "object.metadata.?labels.orValue({})"}}
	var key []string
	for bit, s := range sels {
		common = append(common, admissionregistrationv1.Variable{Name: "b" + strconv.Itoa(bit), Expression: s.cond})
		key = append(key, fmt.Sprintf("(variables.b%d ? %d : 0)", bit, 1<<bit))
	}
	common = append(common,
		admissionregistrationv1.Variable{Name: "k", Expression: strings.Join(key, " + ")},
		admissionregistrationv1.Variable{Name: "own", Expression: ownTerms})

	c := &Compiled{Recompile: recompile}
	c.Mutating, c.MutatingBinding = mutating(namespace, common, &tables)
	if tables.anyDeny {
		c.Deny, c.DenyBinding = validating(DenyName(namespace), namespace, admissionregistrationv1.Deny, common,
			tables.denyMsg, tables.denyGroups, tables.denyLoosened, tables.termCount, tables.enforced)
	}
	if tables.anyWarn {
		c.Warn, c.WarnBinding = validating(WarnName(namespace), namespace, admissionregistrationv1.Warn, common,
			tables.warnMsg, tables.warnGroups, tables.warnLoosened, nil, nil)
	}
	return c, nil
}

// selections groups the namespace's Enforce and Warn stores by the CEL condition under which they
// govern a pod: their selector, less the exceptions active at p.Now that lift them. It also
// returns the next time an exception starts or expires.
func selections(p *engine.Policies) ([]storeSelection, time.Time) {
	var next time.Time
	soonest := func(t time.Time) {
		if t.After(p.Now) && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	lifts := map[string][]string{}
	for _, ex := range p.Exceptions {
		if !ex.DeletionTimestamp.IsZero() {
			continue
		}
		start := ex.CreationTimestamp.Time
		if ex.Spec.StartsAt != nil {
			start = ex.Spec.StartsAt.Time
		}
		soonest(start)
		soonest(ex.Spec.ExpiresAt.Time)
		if !engine.ExceptionActive(ex, p.Now) {
			continue
		}
		cond := selectorCEL(&ex.Spec.Selector)
		if cond == "false" {
			continue
		}
		for _, name := range ex.Spec.Stores {
			lifts[string(name)] = append(lifts[string(name)], cond)
		}
	}

	var out []storeSelection
	for _, s := range p.Stores {
		if !s.DeletionTimestamp.IsZero() || engine.ModeOf(s) == v1alpha1.Audit {
			continue
		}
		cond := selectorCEL(engine.SelectorOf(s, engine.Workload))
		if cond == "false" {
			continue
		}
		if l := lifts[s.Name]; len(l) > 0 {
			slices.Sort(l)
			cond = "(" + cond + ") && !(" + strings.Join(slices.Compact(l), " || ") + ")"
		}
		i := slices.IndexFunc(out, func(o storeSelection) bool { return o.cond == cond })
		if i < 0 {
			out = append(out, storeSelection{cond: cond})
			i = len(out) - 1
		}
		out[i].stores = append(out[i].stores, s)
	}
	return out, next
}

// selectorCEL is a CEL condition on variables.l that holds exactly when engine.Selects(sel, l):
// false for a nil, empty or invalid selector.
func selectorCEL(sel *metav1.LabelSelector) string {
	compiled, ok := engine.SelectorFor(sel)
	if !ok {
		return "false"
	}
	reqs, _ := compiled.Requirements()
	var parts []string
	for _, r := range reqs {
		key := celString(r.Key())
		values := r.Values().UnsortedList()
		slices.Sort(values)
		quoted := make([]string, len(values))
		for i, v := range values {
			quoted[i] = celString(v)
		}
		set := "[" + strings.Join(quoted, ", ") + "]"
		switch r.Operator() {
		case selection.In, selection.Equals, selection.DoubleEquals:
			parts = append(parts, fmt.Sprintf("(%s in variables.l && variables.l[%s] in %s)", key, key, set))
		case selection.NotIn, selection.NotEquals:
			parts = append(parts, fmt.Sprintf("(!(%s in variables.l) || !(variables.l[%s] in %s))", key, key, set))
		case selection.Exists:
			parts = append(parts, fmt.Sprintf("(%s in variables.l)", key))
		case selection.DoesNotExist:
			parts = append(parts, fmt.Sprintf("!(%s in variables.l)", key))
		default:
			return "false" // label selectors have no other operators; select nothing rather than guess
		}
	}
	return strings.Join(parts, " && ")
}

// celString quotes s as a CEL string literal: Go's escapes are a subset of CEL's.
func celString(s string) string { return strconv.Quote(s) }

// planTables are the plans by key, as the CEL literals the policies select from.
type planTables struct {
	terms, termCount, groups, annotations       []entry
	denyMsg, denyGroups, denyLoosened, enforced []entry
	warnMsg, warnGroups, warnLoosened           []entry
	anyDeny, anyWarn                            bool
}

// entry is one case of a chain on variables.k.
type entry struct {
	key   int
	value string
}

func (t *planTables) add(key int, plan engine.PodPlan) {
	if plan.Inject {
		t.terms = append(t.terms, entry{key, termsCEL(plan.Terms)})
		t.termCount = append(t.termCount, entry{key, strconv.Itoa(len(plan.Terms))})
		t.groups = append(t.groups, entry{key, groupsCEL(plan.Requirement)})
		ann := plan.Requirement.PlacementAnnotations()
		t.annotations = append(t.annotations, entry{key, fmt.Sprintf("[%s, %s]",
			celString(ann[v1alpha1.StoresAnnotation]), celString(ann[v1alpha1.AllowedJurisdictionsAnnotation]))})
	}
	if len(plan.Governance.Enforce) > 0 {
		t.enforced = append(t.enforced, entry{key, "true"})
	}
	if len(plan.Denied) > 0 {
		t.anyDeny = true
		t.denyMsg = append(t.denyMsg, entry{key, celString(engine.DenialMessage(plan.Denied))})
	}
	if u := plan.DenyUnless; u != nil {
		t.anyDeny = true
		t.denyGroups = append(t.denyGroups, entry{key, groupsCEL(u.Requirement)})
		t.denyLoosened = append(t.denyLoosened, entry{key, celString(engine.DenialMessage([]engine.Finding{u.Finding}))})
	}
	if len(plan.Warned) > 0 {
		t.anyWarn = true
		t.warnMsg = append(t.warnMsg, entry{key, celString(strings.Join(engine.WarningMessages(plan.Warned), "; "))})
	}
	if u := plan.WarnUnless; u != nil {
		t.anyWarn = true
		t.warnGroups = append(t.warnGroups, entry{key, groupsCEL(u.Requirement)})
		t.warnLoosened = append(t.warnLoosened, entry{key, celString(strings.Join(engine.WarningMessages([]engine.Finding{u.Finding}), "; "))})
	}
}

// chain is a CEL expression worth the entry whose key is variables.k, or otherwise: only the
// comparisons up to the match are evaluated, and only the matching literal is built.
func chain(entries []entry, otherwise string) string {
	var b strings.Builder
	for _, e := range entries {
		fmt.Fprintf(&b, "variables.k == %d ? %s : ", e.key, e.value)
	}
	b.WriteString(otherwise)
	return b.String()
}

// termsCEL writes permitted terms as lists of label keys: every permitted expression is
// "key In [true]" (engine.Requirement.Terms).
func termsCEL(terms []corev1.NodeSelectorTerm) string {
	out := make([]string, len(terms))
	for i, t := range terms {
		keys := make([]string, len(t.MatchExpressions))
		for j, e := range t.MatchExpressions {
			keys[j] = celString(e.Key)
		}
		out[i] = "[" + strings.Join(keys, ", ") + "]"
	}
	return "[" + strings.Join(out, ", ") + "]"
}

// groupsCEL writes a requirement's groups as lists of jurisdiction label keys.
func groupsCEL(r engine.Requirement) string {
	out := make([]string, len(r.Groups))
	for i, g := range r.Groups {
		keys := make([]string, len(g.Jurisdictions))
		for j, name := range g.Jurisdictions {
			keys[j] = celString(v1alpha1.JurisdictionLabel(name))
		}
		out[i] = "[" + strings.Join(keys, ", ") + "]"
	}
	return "[" + strings.Join(out, ", ") + "]"
}

// ownTerms are the pod's required node selector terms, none when it has no required affinity.
const ownTerms = "has(object.spec.affinity) && has(object.spec.affinity.nodeAffinity) && " +
	"has(object.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution) ? " +
	"object.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms : []"

// implies is engine.AffinityImplies in CEL: every non-empty term of the pod's required affinity
// requires, for each group, the label of one of the group's jurisdictions.
func implies(groups string) string {
	return "variables.own.size() > 0 && variables.own.all(o, " +
		"(o.?matchExpressions.orValue([]).size() == 0 && o.?matchFields.orValue([]).size() == 0) || " +
		groups + ".all(g, o.?matchExpressions.orValue([]).exists(e, e.key in g && " +
		`(e.operator == "Exists" || (e.operator == "In" && e.?values.orValue([]).size() > 0 && e.values.all(v, v == "true"))))))`
}

// Typed object names for the JSON patch values (only mutation expressions know them).
const (
	typeSelector = "Object.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"
	typeTerm     = typeSelector + ".nodeSelectorTerms"
	typeExpr     = typeTerm + ".matchExpressions"
	typeFields   = typeTerm + ".matchFields"
)

// mutation sets the placement annotations and ANDs the permitted terms into the pod's required
// node affinity, unless the affinity already implies the permitted set (the policy is re-invoked
// after later mutations, and must then change nothing) or the product would have more than
// engine.MaxTerms terms (denied, or warned about, by the validating policies).
var mutation = `variables.t.size() == 0 || (!variables.done && variables.own.size() * variables.t.size() > ` + maxTerms + `) ? [] :
(variables.annotated ? [] : [has(object.metadata.annotations) ?
  JSONPatch{op: "add", path: "/metadata/annotations/dataresidency.io~1stores", value: variables.ann[0]} :
  JSONPatch{op: "add", path: "/metadata/annotations", value: {"dataresidency.io/stores": variables.ann[0], "dataresidency.io/allowed-jurisdictions": variables.ann[1]}}] +
(has(object.metadata.annotations) ?
  [JSONPatch{op: "add", path: "/metadata/annotations/dataresidency.io~1allowed-jurisdictions", value: variables.ann[1]}] : [])) +
(variables.done ? [] :
[!has(object.spec.affinity) ?
    JSONPatch{op: "add", path: "/spec/affinity", value: Object.spec.affinity{nodeAffinity: Object.spec.affinity.nodeAffinity{
      requiredDuringSchedulingIgnoredDuringExecution: ` + typeSelector + `{nodeSelectorTerms: ` + newTerms + `}}}} :
  !has(object.spec.affinity.nodeAffinity) ?
    JSONPatch{op: "add", path: "/spec/affinity/nodeAffinity", value: Object.spec.affinity.nodeAffinity{
      requiredDuringSchedulingIgnoredDuringExecution: ` + typeSelector + `{nodeSelectorTerms: ` + newTerms + `}}} :
    JSONPatch{op: "add", path: "/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution",
      value: ` + typeSelector + `{nodeSelectorTerms: ` + newTerms + `}}])`

// newTerms is the pod's required terms ANDed with the permitted ones, engine.IntersectPlacement's
// product without its minimisation (the same nodes): each own term with each permitted term's
// expressions appended (those it lacks); an empty own term matches nothing and stays empty. The
// pod's own requirements are rebuilt as typed objects: the API server cannot write a list that
// mixes them with the object's own values. CEL in admission policies has no let, so the mutation
// writes this once per patch path; only one is evaluated.
const newTerms = `(variables.own.size() == 0 ?
    variables.t.map(t, ` + typeTerm + `{matchExpressions: t.map(k, ` + typeExpr + `{key: k, operator: "In", values: ["true"]})}) :
    variables.own.map(o, o.?matchExpressions.orValue([]).size() == 0 && o.?matchFields.orValue([]).size() == 0 ? [` + typeTerm + `{}] :
      variables.t.map(t, ` + typeTerm + `{
        ?matchFields: has(o.matchFields) ? optional.of(o.matchFields.map(e, ` + typeFields + `{key: e.key, operator: e.operator, ?values: e.?values})) : optional.none(),
        matchExpressions: o.?matchExpressions.orValue([]).map(e, ` + typeExpr + `{key: e.key, operator: e.operator, ?values: e.?values}) +
          t.filter(k, !o.?matchExpressions.orValue([]).exists(e, e.key == k && e.operator == "In" && e.?values.orValue([]) == ["true"])).map(k,
            ` + typeExpr + `{key: k, operator: "In", values: ["true"]})})).flatten())`

var maxTerms = strconv.Itoa(engine.MaxTerms)

// productTooLargeMessage is engine.ProductTooLarge's denial in CEL, the counts filled in from the
// pod: the engine's text with placeholders -1, -2, -3 for the counts, cut there.
var productTooLargeMessage = func() string {
	quoted := strconv.Quote(engine.DenialMessage([]engine.Finding{engine.ProductTooLarge(-1, -2, -3)}))
	return strings.NewReplacer(
		"-1", `" + string(variables.own.size()) + "`,
		"-2", `" + string(variables.permittedTerms) + "`,
		"-3", `" + string(variables.own.size() * variables.permittedTerms) + "`,
	).Replace(quoted)
}()

func meta(name, namespace string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Labels: map[string]string{ManagedByLabel: ManagedBy, NamespaceLabel: namespace}}
}

// podAdmission matches pod creation and updates: placement is decided once, when a pod is
// created or, for a pod held by the placement gate, when the gate is removed (releasing).
var podAdmission = admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
	RuleWithOperations: admissionregistrationv1.RuleWithOperations{
		Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
		Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"},
			Scope: ptr.To(admissionregistrationv1.NamespacedScope)},
	},
}}}

// hasGate is a CEL condition: the pod in obj carries the placement gate.
func hasGate(obj string) string {
	return obj + ".spec.?schedulingGates.orValue([]).exists(g, g.name == " + celString(v1alpha1.PlacementGate) + ")"
}

// creationOrRelease limits the compiled policies to pod creation and to the update that removes
// the placement gate: a gated pod's node affinity may still be narrowed then, and is.
var creationOrRelease = []admissionregistrationv1.MatchCondition{{
	Name:       "creation-or-gate-release",
	Expression: `request.operation == "CREATE" || (` + hasGate("oldObject") + ` && !` + hasGate("object") + `)`,
}}

// inNamespace binds a policy to one namespace by the name label the API server sets on every
// namespace: nothing the operator has to label first.
func inNamespace(namespace string) *admissionregistrationv1.MatchResources {
	return &admissionregistrationv1.MatchResources{NamespaceSelector: &metav1.LabelSelector{
		MatchLabels: map[string]string{corev1.LabelMetadataName: namespace}}}
}

func mutating(namespace string, common []admissionregistrationv1.Variable, t *planTables) (
	*admissionregistrationv1.MutatingAdmissionPolicy, *admissionregistrationv1.MutatingAdmissionPolicyBinding) {
	vars := append(slices.Clone(common),
		admissionregistrationv1.Variable{Name: "t", Expression: chain(t.terms, "[]")},
		admissionregistrationv1.Variable{Name: "g", Expression: chain(t.groups, "[]")},
		admissionregistrationv1.Variable{Name: "ann", Expression: chain(t.annotations, `["", ""]`)},
		admissionregistrationv1.Variable{Name: "done", Expression: implies("variables.g")},
		admissionregistrationv1.Variable{Name: "annotated", Expression: `has(object.metadata.annotations) && ` +
			`object.metadata.annotations[?"dataresidency.io/stores"].orValue("") == variables.ann[0] && ` +
			`object.metadata.annotations[?"dataresidency.io/allowed-jurisdictions"].orValue("") == variables.ann[1]`},
	)
	name := MutatingName(namespace)
	policy := &admissionregistrationv1.MutatingAdmissionPolicy{
		ObjectMeta: meta(name, namespace),
		Spec: admissionregistrationv1.MutatingAdmissionPolicySpec{
			MatchConstraints: &podAdmission,
			MatchConditions:  creationOrRelease,
			Variables:        vars,
			Mutations: []admissionregistrationv1.Mutation{{
				PatchType: admissionregistrationv1.PatchTypeJSONPatch,
				JSONPatch: &admissionregistrationv1.JSONPatch{Expression: mutation},
			}},
			FailurePolicy: ptr.To(admissionregistrationv1.Fail),
			// Later mutations may touch the affinity; the policy runs again and, when the affinity
			// still implies the permitted set, changes nothing.
			ReinvocationPolicy: admissionregistrationv1.IfNeededReinvocationPolicy,
		},
	}
	binding := &admissionregistrationv1.MutatingAdmissionPolicyBinding{
		ObjectMeta: meta(name, namespace),
		Spec:       admissionregistrationv1.MutatingAdmissionPolicyBindingSpec{PolicyName: name, MatchResources: inNamespace(namespace)},
	}
	return policy, binding
}

// validating checks a pod after every mutation: the findings its plan raises whatever the pod
// (msg), and the finding raised unless its affinity implies the plan's groups (loosened). The
// deny policy (enforced non-nil) also refuses a pod of Enforce stores whose own affinity is too
// large to AND with the permitted terms, which the mutating policy then left alone.
func validating(name, namespace string, action admissionregistrationv1.ValidationAction, common []admissionregistrationv1.Variable,
	msg, groups, loosened, termCount, enforced []entry) (*admissionregistrationv1.ValidatingAdmissionPolicy, *admissionregistrationv1.ValidatingAdmissionPolicyBinding) {
	vars := append(slices.Clone(common),
		admissionregistrationv1.Variable{Name: "msg", Expression: chain(msg, `""`)},
		admissionregistrationv1.Variable{Name: "groups", Expression: chain(groups, "[]")},
		admissionregistrationv1.Variable{Name: "loosened", Expression: chain(loosened, `""`)},
	)
	validations := []admissionregistrationv1.Validation{
		{Expression: `variables.msg == ""`, MessageExpression: "variables.msg", Reason: ptr.To(metav1.StatusReasonForbidden)},
	}
	if enforced != nil {
		vars = append(vars,
			admissionregistrationv1.Variable{Name: "enforced", Expression: chain(enforced, "false")},
			admissionregistrationv1.Variable{Name: "permittedTerms", Expression: chain(termCount, "0")})
		// The mutating policy left such a pod alone, so its own terms are as written.
		validations = append(validations, admissionregistrationv1.Validation{
			Expression: `!variables.enforced || variables.permittedTerms == 0 || variables.own.size() * variables.permittedTerms <= ` + maxTerms +
				` || ` + implies("variables.groups"),
			MessageExpression: productTooLargeMessage,
			Reason:            ptr.To(metav1.StatusReasonForbidden),
		})
	}
	validations = append(validations, admissionregistrationv1.Validation{
		Expression: `variables.loosened == "" || ` + implies("variables.groups"), MessageExpression: "variables.loosened",
		Reason: ptr.To(metav1.StatusReasonForbidden)})
	policy := &admissionregistrationv1.ValidatingAdmissionPolicy{
		ObjectMeta: meta(name, namespace),
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			MatchConstraints: &podAdmission,
			MatchConditions:  creationOrRelease,
			Variables:        vars,
			Validations:      validations,
			FailurePolicy:    ptr.To(admissionregistrationv1.Fail),
		},
	}
	binding := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: meta(name, namespace),
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: name, MatchResources: inNamespace(namespace),
			ValidationActions: []admissionregistrationv1.ValidationAction{action}},
	}
	return policy, binding
}

// GateName names the placement gate's policy and binding.
const GateName = "residency-placement-gate"

// Gate is the one policy the operator keeps for the whole cluster: in namespaces labelled
// AwaitPoliciesLabel whose policies are not compiled yet (no PoliciesCompiledLabel), new pods
// get the PlacementGate scheduling gate, so that a GitOps tool applying workloads before stores
// cannot have them scheduled unplaced. Pods pinned with spec.nodeName are not schedulable, so not
// gated (the webhook judges them). excluded namespaces are never matched.
func Gate(excluded []string) (*admissionregistrationv1.MutatingAdmissionPolicy, *admissionregistrationv1.MutatingAdmissionPolicyBinding) {
	gate := celString(v1alpha1.PlacementGate)
	policy := &admissionregistrationv1.MutatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: GateName, Labels: map[string]string{ManagedByLabel: ManagedBy}},
		Spec: admissionregistrationv1.MutatingAdmissionPolicySpec{
			MatchConstraints: &admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionregistrationv1.RuleWithOperations{
					Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
					Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"},
						Scope: ptr.To(admissionregistrationv1.NamespacedScope)},
				},
			}}},
			MatchConditions: []admissionregistrationv1.MatchCondition{{
				Name: "schedulable", Expression: `object.spec.?nodeName.orValue("") == ""`,
			}},
			Mutations: []admissionregistrationv1.Mutation{{
				PatchType: admissionregistrationv1.PatchTypeJSONPatch,
				JSONPatch: &admissionregistrationv1.JSONPatch{Expression: hasGate("object") + ` ? [] :
has(object.spec.schedulingGates) ?
  [JSONPatch{op: "add", path: "/spec/schedulingGates/-", value: Object.spec.schedulingGates{name: ` + gate + `}}] :
  [JSONPatch{op: "add", path: "/spec/schedulingGates", value: [Object.spec.schedulingGates{name: ` + gate + `}]}]`},
			}},
			FailurePolicy:      ptr.To(admissionregistrationv1.Fail),
			ReinvocationPolicy: admissionregistrationv1.NeverReinvocationPolicy,
		},
	}
	binding := &admissionregistrationv1.MutatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: GateName, Labels: map[string]string{ManagedByLabel: ManagedBy}},
		Spec: admissionregistrationv1.MutatingAdmissionPolicyBindingSpec{PolicyName: GateName,
			MatchResources: &admissionregistrationv1.MatchResources{NamespaceSelector: &metav1.LabelSelector{
				MatchExpressions: []metav1.LabelSelectorRequirement{
					{Key: v1alpha1.AwaitPoliciesLabel, Operator: metav1.LabelSelectorOpIn, Values: []string{"true"}},
					{Key: v1alpha1.PoliciesCompiledLabel, Operator: metav1.LabelSelectorOpDoesNotExist},
					{Key: corev1.LabelMetadataName, Operator: metav1.LabelSelectorOpNotIn, Values: excluded},
				}}}},
	}
	return policy, binding
}
