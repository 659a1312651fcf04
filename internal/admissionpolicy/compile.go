// Package admissionpolicy compiles a namespace's residency policies into an AdmissionPlan, the
// parameters of three cluster-wide admission policies (a MutatingAdmissionPolicy placing pods, and
// ValidatingAdmissionPolicies denying and warning) that kube-apiserver evaluates itself: no call
// to the operator, no TLS, and they keep placing pods while the operator is down. The policies
// are the same for every namespace and bound once, so what each pod creation costs the API server
// does not grow with the number of governed namespaces; each looks up the plan of the pod's
// namespace.
//
// The engine decides; this package only writes its decisions down. For every set of stores that
// can govern a pod together, engine.PlanPod says what to inject and what to deny or warn about;
// the policies pick the plan by which stores' selectors (less the exceptions active when compiled)
// select the pod, and apply it. Only what depends on the pod itself is evaluated in CEL: the
// selectors, the cross product of the pod's own required node affinity with the permitted terms,
// and whether the affinity, after every mutation, still implies the permitted set
// (engine.AffinityImplies).
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

// ManagedByLabel is on every object the operator compiles.
const (
	ManagedByLabel = "app.kubernetes.io/managed-by"
	ManagedBy      = "residency-operator"
)

// MaxSelections bounds the distinct store selections (a selector, less the exceptions that lift it)
// compiled for one namespace: the plan holds one entry per combination, 2^n - 1 of them. Stores
// with the same selector and exceptions count once.
const MaxSelections = 6

// ErrTooManySelections is returned for a namespace whose stores need more than MaxSelections.
var ErrTooManySelections = errors.New("too many distinct store selectors to compile")

// Names of the cluster-wide policies; each binding has its policy's name.
const (
	PlacementName = "residency-placement"
	DenyName      = "residency-deny"
	WarnName      = "residency-warn"
)

// storeSelection is one character of the key that picks a plan: the stores that select a pod
// exactly when the selector holds and none of the lifting exceptions' selectors does.
type storeSelection struct {
	selection v1alpha1.PlanSelection
	stores    []*v1alpha1.PersonalDataStore
}

// Compile returns the AdmissionPlan for the pods of namespace under p (with no selections when no
// Enforce or Warn store can govern a pod there) and when it must be compiled again: when an
// exception starts or expires, zero if never. p.Now is when exceptions are judged.
func Compile(namespace string, p *engine.Policies) (*v1alpha1.AdmissionPlan, time.Time, error) {
	sels, recompile := selections(p)
	plan := &v1alpha1.AdmissionPlan{
		ObjectMeta: metav1.ObjectMeta{Name: v1alpha1.AdmissionPlanName, Namespace: namespace,
			Labels: map[string]string{ManagedByLabel: ManagedBy}},
	}
	if len(sels) > MaxSelections {
		return nil, recompile, fmt.Errorf("%w: namespace %s has %d, at most %d are compiled; give stores that govern the same pods the same workloadSelector",
			ErrTooManySelections, namespace, len(sels), MaxSelections)
	}
	for _, s := range sels {
		plan.Spec.Selections = append(plan.Spec.Selections, s.selection)
	}
	for mask := 1; mask < 1<<len(sels); mask++ {
		var g engine.Governance
		key := make([]byte, len(sels))
		for bit, s := range sels {
			key[bit] = '0'
			if mask&(1<<bit) == 0 {
				continue
			}
			key[bit] = '1'
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
		pp, ok, err := podPlan(engine.PlanPod(p, g))
		if err != nil {
			return nil, recompile, err
		}
		if ok {
			if plan.Spec.Plans == nil {
				plan.Spec.Plans = map[string]v1alpha1.PodPlan{}
			}
			plan.Spec.Plans[string(key)] = pp
		}
	}
	return plan, recompile, nil
}

// selections groups the namespace's Enforce and Warn stores by the condition under which they
// govern a pod: their selector, less the exceptions active at p.Now that lift them. It also
// returns the next time an exception starts or expires.
func selections(p *engine.Policies) ([]storeSelection, time.Time) {
	var next time.Time
	soonest := func(t time.Time) {
		if t.After(p.Now) && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	lifts := map[string][]v1alpha1.PlanSelector{}
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
		reqs, ok := requirements(&ex.Spec.Selector)
		if !ok {
			continue
		}
		for _, name := range ex.Spec.Stores {
			lifts[string(name)] = append(lifts[string(name)], v1alpha1.PlanSelector{Requirements: reqs})
		}
	}

	// By name: the cache lists in no fixed order, and the same stores must compile to the same
	// plan, or every reconcile would rewrite it.
	stores := slices.SortedFunc(slices.Values(p.Stores), func(a, b *v1alpha1.PersonalDataStore) int { return strings.Compare(a.Name, b.Name) })
	var out []storeSelection
	for _, s := range stores {
		if !s.DeletionTimestamp.IsZero() || engine.ModeOf(s) == v1alpha1.Audit {
			continue
		}
		reqs, ok := requirements(engine.SelectorOf(s, engine.Workload))
		if !ok {
			continue
		}
		sel := v1alpha1.PlanSelection{Requirements: reqs, LiftedBy: lifts[s.Name]}
		slices.SortFunc(sel.LiftedBy, func(a, b v1alpha1.PlanSelector) int { return strings.Compare(text(a), text(b)) })
		sel.LiftedBy = slices.CompactFunc(sel.LiftedBy, func(a, b v1alpha1.PlanSelector) bool { return text(a) == text(b) })
		i := slices.IndexFunc(out, func(o storeSelection) bool {
			return text(o.selection.Requirements, o.selection.LiftedBy) == text(sel.Requirements, sel.LiftedBy)
		})
		if i < 0 {
			out = append(out, storeSelection{selection: sel})
			i = len(out) - 1
		}
		out[i].stores = append(out[i].stores, s)
		out[i].selection.Stores = append(out[i].selection.Stores, s.Name)
	}
	return out, next
}

// text is a canonical rendering of selectors (requirements are sorted by key, values sorted), to
// sort and compare them by.
func text(v ...any) string { return fmt.Sprint(v...) }

// requirements writes sel as requirements that hold exactly when engine.Selects(sel, labels);
// false for a nil, empty or invalid selector, which selects nothing.
func requirements(sel *metav1.LabelSelector) ([]v1alpha1.PlanRequirement, bool) {
	compiled, ok := engine.SelectorFor(sel)
	if !ok {
		return nil, false
	}
	reqs, _ := compiled.Requirements()
	if len(reqs) == 0 {
		return nil, false
	}
	out := make([]v1alpha1.PlanRequirement, 0, len(reqs))
	for _, r := range reqs {
		values := r.Values().UnsortedList()
		slices.Sort(values)
		req := v1alpha1.PlanRequirement{Key: r.Key(), Values: values}
		switch r.Operator() {
		case selection.In, selection.Equals, selection.DoubleEquals:
			req.Operator = string(metav1.LabelSelectorOpIn)
		case selection.NotIn, selection.NotEquals:
			req.Operator = string(metav1.LabelSelectorOpNotIn)
		case selection.Exists:
			req.Operator, req.Values = string(metav1.LabelSelectorOpExists), nil
		case selection.DoesNotExist:
			req.Operator, req.Values = string(metav1.LabelSelectorOpDoesNotExist), nil
		default:
			return nil, false // label selectors have no other operators; select nothing rather than guess
		}
		out = append(out, req)
	}
	return out, true
}

// podPlan writes plan down; false when it does nothing to any pod. It is kept small: kube-apiserver
// converts the whole AdmissionPlan for every policy it evaluates on every pod of the namespace, so
// terms and groups hold Jurisdiction names (the policies add the label prefix) and the loosened
// findings only their requirement (the policies hold the rest of the message).
func podPlan(plan engine.PodPlan) (v1alpha1.PodPlan, bool, error) {
	var out v1alpha1.PodPlan
	var err error
	if plan.Inject {
		if out.Terms, err = termNames(plan.Terms); err != nil {
			return out, false, err
		}
		out.Groups = groupNames(plan.Requirement)
		ann := plan.Requirement.PlacementAnnotations()
		out.StoresAnnotation = ann[v1alpha1.StoresAnnotation]
		out.AllowedAnnotation = ann[v1alpha1.AllowedJurisdictionsAnnotation]
	}
	out.Enforced = len(plan.Governance.Enforce) > 0
	if len(plan.Denied) > 0 {
		out.Deny = engine.DenialMessage(plan.Denied)
	}
	if u := plan.DenyUnless; u != nil {
		out.DenyGroups = groupNames(u.Requirement)
		out.DenyRequirement = u.Requirement.String()
		if err := checkLoosened(u); err != nil {
			return out, false, err
		}
	}
	if len(plan.Warned) > 0 {
		out.Warn = strings.Join(engine.WarningMessages(plan.Warned), "; ")
	}
	if u := plan.WarnUnless; u != nil {
		out.WarnGroups = groupNames(u.Requirement)
		out.WarnRequirement = u.Requirement.String()
		if err := checkLoosened(u); err != nil {
			return out, false, err
		}
	}
	nothing := len(out.Terms) == 0 && out.Deny == "" && out.DenyRequirement == "" && out.Warn == "" && out.WarnRequirement == ""
	return out, !nothing, nil
}

// Warns reports whether plan warns about some pod: its namespace then needs the warn policy,
// and carries v1alpha1.PoliciesWarnLabel.
func Warns(plan *v1alpha1.AdmissionPlan) bool {
	for _, pp := range plan.Spec.Plans {
		if pp.Warn != "" || pp.WarnRequirement != "" {
			return true
		}
	}
	return false
}

// checkLoosened makes sure the policies' loosened message, filled with u's requirement, is the
// engine's: if the engine's wording changes shape, compiling fails instead of the message drifting.
func checkLoosened(u *engine.ConditionalFinding) error {
	if u.Finding.Reason != engine.AffinityLoosened || engine.DenialMessage([]engine.Finding{engine.AffinityLoosenedFinding(u.Requirement)}) !=
		engine.DenialMessage([]engine.Finding{u.Finding}) {
		return fmt.Errorf("the engine's conditional finding %q is not the loosened affinity the compiled policies word", u.Finding.Message)
	}
	return nil
}

// termNames writes permitted terms as lists of Jurisdiction names: every permitted expression is
// "<jurisdiction label> In [true]" (engine.Requirement.Terms).
func termNames(terms []corev1.NodeSelectorTerm) ([][]string, error) {
	out := make([][]string, len(terms))
	for i, t := range terms {
		out[i] = make([]string, len(t.MatchExpressions))
		for j, e := range t.MatchExpressions {
			name, ok := strings.CutPrefix(e.Key, v1alpha1.JurisdictionLabelPrefix)
			if !ok || e.Operator != corev1.NodeSelectorOpIn || !slices.Equal(e.Values, []string{"true"}) {
				return nil, fmt.Errorf("permitted term expression %v is not a jurisdiction label In [true]", e)
			}
			out[i][j] = name
		}
	}
	return out, nil
}

// groupNames writes a requirement's groups as lists of Jurisdiction names.
func groupNames(r engine.Requirement) [][]string {
	out := make([][]string, len(r.Groups))
	for i, g := range r.Groups {
		out[i] = slices.Clone(g.Jurisdictions)
	}
	return out
}

// labelsOf is a CEL expression: the jurisdiction labels of a plan's lists of Jurisdiction names.
func labelsOf(lists string) string {
	return lists + ".map(x, x.map(n, " + celString(v1alpha1.JurisdictionLabelPrefix) + " + n))"
}

// loosenedMessage is a CEL expression: the engine's loosened-affinity denial for the requirement
// text in variable req (engine.AffinityLoosenedFinding), or "" when req is empty.
func loosenedMessage(req string) string {
	sentinel := engine.Requirement{Groups: []engine.Group{{Store: "REQUIREMENT", Jurisdictions: []string{"x"}}}}
	quoted := strconv.Quote(engine.DenialMessage([]engine.Finding{engine.AffinityLoosenedFinding(sentinel)}))
	return req + ` == "" ? "" : ` + strings.Replace(quoted, strings.Trim(strconv.Quote(sentinel.String()), `"`), `" + `+req+` + "`, 1)
}

// celString quotes s as a CEL string literal: Go's escapes are a subset of CEL's.
func celString(s string) string { return strconv.Quote(s) }

// holds is a CEL condition: requirement r (a PlanRequirement) holds of the pod's labels.
func holds(r string) string {
	return fmt.Sprintf(`(%[1]s.operator == "In" ? (%[1]s.key in variables.l && variables.l[%[1]s.key] in %[1]s.?values.orValue([])) :
  %[1]s.operator == "NotIn" ? !(%[1]s.key in variables.l && variables.l[%[1]s.key] in %[1]s.?values.orValue([])) :
  %[1]s.operator == "Exists" ? %[1]s.key in variables.l : !(%[1]s.key in variables.l))`, r)
}

// planKey is the pod's plan key: for each selection, "1" when it selects the pod.
var planKey = `params.spec.?selections.orValue([]).map(s, s.requirements.all(r, ` + holds("r") + `) &&
  !s.?liftedBy.orValue([]).exists(x, x.requirements.all(q, ` + holds("q") + `)) ? "1" : "0").join()`

// planField is a CEL expression worth field of the pod's PodPlan, or otherwise when the pod has no
// plan or the plan no such field. (An optional held in a variable would lose the value: variables
// are dyn, and a field selected with .? on a dyn optional is none.)
func planField(field, otherwise string) string {
	return "params.spec.?plans[?variables.k].?" + field + ".orValue(" + otherwise + ")"
}

// common are the variables every compiled policy starts with.
var common = []admissionregistrationv1.Variable{
	applies,
	{Name: "l", Expression: "object.metadata.?labels.orValue({})"},
	{Name: "k", Expression: planKey},
	{Name: "t", Expression: labelsOf(planField("terms", "[]"))},
	{Name: "own", Expression: ownTerms},
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
var mutation = `!variables.applies || variables.t.size() == 0 || (!variables.done && variables.own.size() * variables.t.size() > ` + maxTerms + `) ? [] :
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
		"-2", `" + string(variables.t.size()) + "`,
		"-3", `" + string(variables.own.size() * variables.t.size()) + "`,
	).Replace(quoted)
}()

func meta(name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Labels: map[string]string{ManagedByLabel: ManagedBy}}
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

// applies limits the compiled policies to pod creation and to the update that removes the
// placement gate: a gated pod's node affinity may still be narrowed then, and is. It is a
// variable every expression starts with, not a matchCondition: kube-apiserver builds each
// condition's activation apart, converting the AdmissionPlan each time, so a matchCondition
// would double the work of every pod creation.
var applies = admissionregistrationv1.Variable{Name: "applies",
	Expression: `request.operation == "CREATE" || (` + hasGate("oldObject") + ` && !` + hasGate("object") + `)`}

// governed binds a policy to the namespaces whose plans are in force (PoliciesCompiledLabel,
// set by the operator once the namespace's AdmissionPlan is written) and that carry every one of
// also, never to excluded ones. The plan is the namespace's AdmissionPlan; a governed namespace
// without one is refused: fail closed.
func governed(excluded []string, also ...string) (*admissionregistrationv1.MatchResources, *admissionregistrationv1.ParamRef) {
	sel := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
		{Key: v1alpha1.PoliciesCompiledLabel, Operator: metav1.LabelSelectorOpExists},
	}}
	for _, label := range also {
		sel.MatchExpressions = append(sel.MatchExpressions, metav1.LabelSelectorRequirement{Key: label, Operator: metav1.LabelSelectorOpExists})
	}
	if len(excluded) > 0 {
		sel.MatchExpressions = append(sel.MatchExpressions, metav1.LabelSelectorRequirement{
			Key: corev1.LabelMetadataName, Operator: metav1.LabelSelectorOpNotIn, Values: slices.Sorted(slices.Values(excluded))})
	}
	return &admissionregistrationv1.MatchResources{NamespaceSelector: sel},
		&admissionregistrationv1.ParamRef{Name: v1alpha1.AdmissionPlanName,
			ParameterNotFoundAction: ptr.To(admissionregistrationv1.DenyAction)}
}

// paramKind is what every compiled policy reads as its parameters: the namespace's AdmissionPlan.
var paramKind = &admissionregistrationv1.ParamKind{APIVersion: v1alpha1.GroupVersion.String(), Kind: "AdmissionPlan"}

// Policies returns the cluster-wide policies and bindings that apply every governed namespace's
// AdmissionPlan, in the order to create them: a policy before its binding, the mutating policy
// before the validating ones that check its work. Delete in reverse.
func Policies(excluded []string) []client.Object {
	m, mb := mutating(excluded)
	d, db := validating(DenyName, excluded, admissionregistrationv1.Deny)
	w, wb := validating(WarnName, excluded, admissionregistrationv1.Warn)
	return []client.Object{m, mb, d, db, w, wb}
}

func mutating(excluded []string) (*admissionregistrationv1.MutatingAdmissionPolicy, *admissionregistrationv1.MutatingAdmissionPolicyBinding) {
	vars := append(slices.Clone(common),
		admissionregistrationv1.Variable{Name: "g", Expression: labelsOf(planField("groups", "[]"))},
		admissionregistrationv1.Variable{Name: "ann", Expression: "[" + planField("storesAnnotation", `""`) + ", " + planField("allowedAnnotation", `""`) + "]"},
		admissionregistrationv1.Variable{Name: "done", Expression: implies("variables.g")},
		admissionregistrationv1.Variable{Name: "annotated", Expression: `has(object.metadata.annotations) && ` +
			`object.metadata.annotations[?"dataresidency.io/stores"].orValue("") == variables.ann[0] && ` +
			`object.metadata.annotations[?"dataresidency.io/allowed-jurisdictions"].orValue("") == variables.ann[1]`},
	)
	match, param := governed(excluded)
	policy := &admissionregistrationv1.MutatingAdmissionPolicy{
		ObjectMeta: meta(PlacementName),
		Spec: admissionregistrationv1.MutatingAdmissionPolicySpec{
			ParamKind:        paramKind,
			MatchConstraints: &podAdmission,
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
		ObjectMeta: meta(PlacementName),
		Spec: admissionregistrationv1.MutatingAdmissionPolicyBindingSpec{PolicyName: PlacementName,
			ParamRef: param, MatchResources: match},
	}
	return policy, binding
}

// validating checks a pod after every mutation: the finding its plan raises whatever the pod
// (deny or warn), and the one raised unless its affinity implies the plan's groups (loosened).
// The deny policy also refuses a pod of Enforce stores whose own affinity is too large to AND
// with the permitted terms, which the mutating policy then left alone.
func validating(name string, excluded []string, action admissionregistrationv1.ValidationAction) (
	*admissionregistrationv1.ValidatingAdmissionPolicy, *admissionregistrationv1.ValidatingAdmissionPolicyBinding) {
	field, loosened := "deny", loosenedMessage("variables.requirement")
	if action == admissionregistrationv1.Warn {
		field, loosened = "warn", "("+loosened+`) + (variables.requirement == "" ? "" : `+celString(engine.WarnSuffix)+")"
	}
	vars := append(slices.Clone(common),
		admissionregistrationv1.Variable{Name: "msg", Expression: "string(" + planField(field, `""`) + ")"},
		admissionregistrationv1.Variable{Name: "groups", Expression: labelsOf(planField(field+"Groups", "[]"))},
		admissionregistrationv1.Variable{Name: "requirement", Expression: "string(" + planField(field+"Requirement", `""`) + ")"},
		admissionregistrationv1.Variable{Name: "loosened", Expression: loosened},
	)
	validations := []admissionregistrationv1.Validation{
		{Expression: `!variables.applies || variables.msg == ""`, MessageExpression: "variables.msg", Reason: ptr.To(metav1.StatusReasonForbidden)},
	}
	if action == admissionregistrationv1.Deny {
		// The mutating policy left such a pod alone, so its own terms are as written.
		validations = append(validations, admissionregistrationv1.Validation{
			Expression: `!variables.applies || !` + planField("enforced", "false") + ` || variables.t.size() == 0 || variables.own.size() * variables.t.size() <= ` + maxTerms +
				` || ` + implies("variables.groups"),
			MessageExpression: productTooLargeMessage,
			Reason:            ptr.To(metav1.StatusReasonForbidden),
		})
	}
	validations = append(validations, admissionregistrationv1.Validation{
		Expression: `!variables.applies || variables.loosened == "" || ` + implies("variables.groups"), MessageExpression: "variables.loosened",
		Reason: ptr.To(metav1.StatusReasonForbidden)})
	match, param := governed(excluded)
	if action == admissionregistrationv1.Warn {
		// Most namespaces have no Warn store, and every policy evaluated costs a pod creation
		// a conversion of the pod and of the plan: the warn policy runs only where it can warn.
		match, param = governed(excluded, v1alpha1.PoliciesWarnLabel)
	}
	policy := &admissionregistrationv1.ValidatingAdmissionPolicy{
		ObjectMeta: meta(name),
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			ParamKind:        paramKind,
			MatchConstraints: &podAdmission,
			Variables:        vars,
			Validations:      validations,
			FailurePolicy:    ptr.To(admissionregistrationv1.Fail),
		},
	}
	binding := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: meta(name),
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: name, ParamRef: param, MatchResources: match,
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
