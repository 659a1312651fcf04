package engine

import (
	"errors"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
)

// PodPlan is what admission decides about every pod of one governance before it looks at the
// pod: what to inject, and what to deny or warn about. The compiled admission policies are built
// from plans, one per set of stores that can govern a pod together, so that they say what
// PlacePod and DecidePod say about a pod at creation without a call to the operator.
type PodPlan struct {
	Governance Governance
	// Requirement and Terms are the permitted set of the Enforce and Warn stores.
	Requirement Requirement
	Terms       []corev1.NodeSelectorTerm
	// Inject says whether the permitted terms are ANDed into the pod's required node affinity:
	// false when the stores permit no common node or the set needs too many terms.
	Inject bool
	// Denied and Warned are raised for every pod of the governance, whatever its affinity.
	Denied, Warned []Finding
	// DenyUnless and WarnUnless, when set, are raised unless the pod's required node affinity,
	// after every mutation, implies the requirement of the Enforce stores (DenyUnless) or of the
	// Enforce and Warn stores (WarnUnless): AffinityImplies.
	DenyUnless, WarnUnless *ConditionalFinding
}

// ConditionalFinding is a finding raised unless the pod's affinity implies Requirement.
type ConditionalFinding struct {
	Requirement Requirement
	Finding     Finding
}

// PlanPod plans admission for pods that g governs, by the rules DecidePod applies at the
// Admission stage to a pod without spec.nodeName (a pinned pod needs its node's location, which
// only a decision with a Lookup can read). A pod whose own required affinity, ANDed with Terms,
// needs more than MaxTerms terms is the one case a plan cannot foresee.
func PlanPod(p *Policies, g Governance) PodPlan {
	v := &Verdict{Governance: g}
	v.permit(p)
	plan := PodPlan{Governance: g, Requirement: v.Requirement, Terms: v.Terms,
		Inject: v.TermsErr == nil && len(v.Terms) > 0}
	if !g.Constrained() {
		return plan
	}
	if len(g.Enforce) > 0 {
		req, _, found := permittedPodFindings(p, g.Enforce)
		plan.Denied = found
		if len(found) == 0 {
			plan.DenyUnless = &ConditionalFinding{Requirement: req, Finding: AffinityLoosenedFinding(req)}
		}
		// The mutating webhook refuses a pod of Enforce stores it cannot place, even when only the
		// Warn stores make the set too large.
		if v.TermsErr != nil && !slices.ContainsFunc(plan.Denied, func(f Finding) bool { return f.Reason == TooManyTerms }) {
			plan.Denied = append(plan.Denied, PlacementFailure("pod", v.TermsErr))
		}
	}
	if len(g.Warn) > 0 {
		req, _, found := permittedPodFindings(p, g.Constraining())
		for _, f := range found {
			if !slices.ContainsFunc(plan.Denied, func(d Finding) bool { return d.Reason == f.Reason }) {
				plan.Warned = append(plan.Warned, f)
			}
		}
		if len(found) == 0 {
			plan.WarnUnless = &ConditionalFinding{Requirement: req, Finding: AffinityLoosenedFinding(req)}
		}
	}
	return plan
}

// PlacementAnnotations are the annotations admission sets on a pod it places: its stores and,
// per store, its allowed jurisdictions.
func (r Requirement) PlacementAnnotations() map[string]string {
	return map[string]string{
		v1alpha1.StoresAnnotation:               strings.Join(r.StoreNames(), ","),
		v1alpha1.AllowedJurisdictionsAnnotation: r.AnnotationValue(),
	}
}

// FieldErrors shows findings as field errors: the path, then the message. Admission answers are
// built from them, whichever admission path denies.
func FieldErrors(findings []Finding) field.ErrorList {
	var errs field.ErrorList
	for _, f := range findings {
		parts := strings.Split(f.Field, ".")
		errs = append(errs, field.Forbidden(field.NewPath(parts[0], parts[1:]...), f.Message))
	}
	return errs
}

// DenialMessage is the message of an admission denial of findings.
func DenialMessage(findings []Finding) string { return FieldErrors(findings).ToAggregate().Error() }

// WarningMessages are the admission warnings for findings of Warn stores.
func WarningMessages(findings []Finding) []string {
	var out []string
	for _, e := range FieldErrors(findings) {
		out = append(out, e.Error()+WarnSuffix)
	}
	return out
}

// WarnSuffix ends every admission warning: the object was admitted.
const WarnSuffix = " (enforcement: Warn, so it is admitted)"

// Admitted is what admission does with a pod at creation (or when the placement gate releases
// it): the affinity and annotations it writes, and what it refuses or warns about once they are
// written. The webhooks, the gate's release and the compiled policies' agreement test use it, so
// that "what admission does" is written once.
type Admitted struct {
	Verdict *Verdict
	// Affinity is the pod's affinity with the permitted terms ANDed in, and Annotations the
	// placement annotations; both nil when admission leaves the pod as it is.
	Affinity    *corev1.Affinity
	Annotations map[string]string
	// Denied are what the Enforce stores refuse, Warned what the Warn stores warn about, judged
	// after the placement is written.
	Denied, Warned []Finding
}

// MutatePod is the mutating half of AdmitPod, all the mutating webhook needs: the placement to
// write, or Denied holding the one finding of Enforce stores that cannot place the pod at all.
func MutatePod(p *Policies, pod *PodFacts) Admitted {
	v := PlacePod(p, pod.Labels)
	a := Admitted{Verdict: v}
	if !v.Constrained() {
		return a
	}
	err := v.TermsErr
	if err == nil && len(v.Terms) > 0 {
		spec := corev1.PodSpec{Affinity: pod.Affinity}
		if err = IntersectPlacement(&spec, v.Terms); err == nil {
			a.Affinity, a.Annotations = spec.Affinity, v.Requirement.PlacementAnnotations()
		}
	}
	// Warn stores alone admit what they cannot place; the validating half warns about it.
	if err != nil && (!errors.Is(err, ErrTooManyTerms) || len(v.Enforce) > 0) {
		a.Denied = []Finding{PlacementFailure("pod", err)}
	}
	return a
}

// AdmitPod places a pod that has no spec.nodeName (a pinned pod's node needs a Lookup: use
// DecidePod) and judges the result, as the mutating then the validating webhook do. It leaves
// PlacementConflict out (no Matchers to locate places with), as the compiled policies do: the
// fail-open placement-conflict webhook judges that, with DecidePod.
func AdmitPod(p *Policies, pod *PodFacts) Admitted {
	a := MutatePod(p, pod)
	if len(a.Denied) > 0 {
		return a // refused before anything else is judged
	}
	placed := *pod
	if a.Affinity != nil {
		placed.Affinity = a.Affinity
	}
	// No lookup is needed without spec.nodeName.
	final, _ := DecidePod(p, &placed, &Context{Stage: Admission})
	a.Denied, a.Warned = final.Denied, final.Warned
	return a
}
