package check

import (
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
	"github.com/residency-operator/residency-operator/internal/catalog"
	"github.com/residency-operator/residency-operator/internal/engine"
	"github.com/residency-operator/residency-operator/internal/manifest"
)

// checkPolicies checks the policy objects themselves: what they refer to exists, processors pass
// the sharing rules, exceptions are current, selectors can match.
func (c *checker) checkPolicies(pol *manifest.Set) {
	for _, j := range pol.Jurisdictions {
		c.checkJurisdiction(pol.ObjectOf(j), j)
	}
	for _, s := range pol.Stores {
		c.checkStore(pol.ObjectOf(s), s)
	}
	c.checkStorePairs(pol)
	for _, p := range pol.Processors {
		obj := pol.ObjectOf(p)
		for _, name := range p.Spec.Jurisdictions {
			if _, ok := c.jurisdictions[string(name)]; !ok {
				c.report(obj, RuleJurisdictionNotFound, Error,
					"spec.jurisdictions names Jurisdiction %q, which is not defined. Fix: add its manifest to the checked files, correct the name, or check against the cluster with --cluster", name)
			}
		}
	}
	for _, e := range pol.Exceptions {
		c.checkException(pol.ObjectOf(e), e)
	}
}

func (c *checker) checkJurisdiction(obj *manifest.Object, j *v1alpha1.Jurisdiction) {
	spec := &j.Spec
	if len(spec.Countries) == 0 && len(spec.Regions) == 0 && spec.NodeSelector == nil {
		c.report(obj, RuleInvalidPolicy, Error, "the Jurisdiction has no countries, regions or nodeSelector, so no node can ever be in it. Fix: list its countries")
	}
	var bad []string
	for _, cc := range spec.Countries {
		if !catalog.IsISOCountry(string(cc)) {
			bad = append(bad, string(cc))
		}
	}
	if len(bad) > 0 {
		c.report(obj, RuleInvalidPolicy, Error, "spec.countries has %s, which is not an ISO 3166-1 alpha-2 code (the United Kingdom is GB, not UK). Fix: use the ISO code", strings.Join(bad, ", "))
	}
	if spec.NodeSelector != nil {
		if problem := selectorProblem(spec.NodeSelector, "the Jurisdiction is defined by its countries and regions only"); problem != "" {
			c.report(obj, RuleInvalidPolicy, Error, "spec.nodeSelector %s", problem)
		} else if keys := engine.KubeletSettableSelectorKeys(spec.NodeSelector); len(keys) > 0 {
			c.report(obj, RuleSelectorTrust, Warning,
				"spec.nodeSelector uses %s, which a kubelet may set on its own Node, so a compromised node could put itself in this jurisdiction. Fix: use keys under a *.node-restriction.kubernetes.io/ prefix, such as site.dataresidency.node-restriction.kubernetes.io/affiliate",
				strings.Join(keys, ", "))
		}
	}
}

func (c *checker) checkStore(obj *manifest.Object, s *v1alpha1.PersonalDataStore) {
	if problem := selectorProblem(&s.Spec.WorkloadSelector, "the store governs no pod"); problem != "" {
		c.report(obj, RuleInvalidPolicy, Error, "spec.workloadSelector %s", problem)
	}
	if s.Spec.VolumeSelector != nil {
		if problem := selectorProblem(s.Spec.VolumeSelector, "the store governs no claim through it"); problem != "" {
			c.report(obj, RuleInvalidPolicy, Error, "spec.volumeSelector %s", problem)
		}
	}
	if len(s.Spec.AllowedJurisdictions) == 0 {
		c.report(obj, RuleInvalidPolicy, Error, "spec.allowedJurisdictions is empty, so no node is permitted. Fix: list the jurisdictions the data may be in")
	}
	for _, name := range s.Spec.AllowedJurisdictions {
		if _, ok := c.jurisdictions[string(name)]; !ok {
			c.report(obj, RuleJurisdictionNotFound, Error,
				"spec.allowedJurisdictions names Jurisdiction %q, which is not defined, so no node is labelled as in it. Fix: add its manifest to the checked files, correct the name, or check against the cluster with --cluster", name)
		}
	}
	for _, name := range s.Spec.Processors {
		p := c.processors[string(name)]
		if p == nil {
			c.report(obj, RuleProcessorNotFound, Error,
				"spec.processors names DataProcessor %q, which is not defined. Fix: add its manifest to the checked files, correct the name, or remove it from spec.processors", name)
			continue
		}
		if f := engine.ProcessorProblem(&s.Spec, p); f != nil {
			rule := RuleProcessorCategories
			if f.Reason == v1alpha1.JurisdictionNotPermitted {
				rule = RuleProcessorJurisdiction
			}
			c.report(obj, rule, Error, "%s", f.Message)
		}
	}
}

// checkStorePairs finds two stores of a namespace where every pod one selects the other selects
// too, and that permit no common node: such pods can never be placed, whether or not a workload
// is in the checked files. Only selectors made of matchLabels are compared; stores that merely
// might share a pod are left to the workload checks, which see the pods' labels.
func (c *checker) checkStorePairs(pol *manifest.Set) {
	for i, a := range pol.Stores {
		la, ok := labelsOnly(&a.Spec.WorkloadSelector)
		if !ok {
			continue
		}
		for _, b := range pol.Stores[i+1:] {
			lb, ok := labelsOnly(&b.Spec.WorkloadSelector)
			if !ok || a.Namespace != b.Namespace || a.Name == b.Name || conflicting(la, lb) {
				continue
			}
			req := engine.RequirementFor(a, b)
			if terms, err := req.Terms(c.jurisdictions); err != nil || len(terms) > 0 {
				continue
			}
			sev := Error
			if engine.ModeOf(a) != v1alpha1.Enforce || engine.ModeOf(b) != v1alpha1.Enforce {
				sev = Warning
			}
			switch {
			case subset(lb, la): // every pod a selects, b selects too
				c.report(pol.ObjectOf(a), RuleStoresDisagree, sev,
					"every pod this store selects (%s) is also selected by store %q (%s), and the two permit no common node: %s. Fix: give the stores a common allowed jurisdiction, or narrow a selector so that they never select the same pods",
					labels.Set(la), b.Name, labels.Set(lb), req)
			case subset(la, lb):
				c.report(pol.ObjectOf(b), RuleStoresDisagree, sev,
					"every pod this store selects (%s) is also selected by store %q (%s), and the two permit no common node: %s. Fix: give the stores a common allowed jurisdiction, or narrow a selector so that they never select the same pods",
					labels.Set(lb), a.Name, labels.Set(la), req)
			}
		}
	}
}

// labelsOnly returns a selector's matchLabels when that is all it has.
func labelsOnly(sel *metav1.LabelSelector) (labels.Set, bool) {
	if len(sel.MatchExpressions) > 0 || len(sel.MatchLabels) == 0 {
		return nil, false
	}
	return labels.Set(sel.MatchLabels), true
}

// conflicting reports whether no label set can match both: they need different values of a key.
func conflicting(a, b labels.Set) bool {
	for k, v := range a {
		if w, ok := b[k]; ok && w != v {
			return true
		}
	}
	return false
}

// subset reports whether every label of a is in b, so that whatever b's selector matches, a's does.
func subset(a, b labels.Set) bool {
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func (c *checker) checkException(obj *manifest.Object, e *v1alpha1.ResidencyException) {
	now := c.opts.Now
	if !e.Spec.ExpiresAt.IsZero() && !now.Before(e.Spec.ExpiresAt.Time) {
		c.report(obj, RuleExceptionExpired, Warning,
			"the exception expired at %s and exempts nothing any more; objects it covered are checked against store(s) %s again. Fix: remove it, or renew it with a new expiresAt and a new approval",
			e.Spec.ExpiresAt.UTC().Format("2006-01-02T15:04:05Z"), strings.Trim(engine.Names(e.Spec.Stores), "[]"))
	} else if e.Spec.ExpiresAt.IsZero() {
		c.report(obj, RuleInvalidPolicy, Error, "spec.expiresAt is missing: an exception without an end is a policy change. Fix: set expiresAt")
	} else if obj != nil && !obj.Source.IsZero() {
		c.report(obj, RuleExceptionNotApproved, Warning,
			"the exception exempts nothing until someone allowed to approve exceptions, other than whoever creates it, approves it in the cluster (kubectl residency approve exception/%s -n %s); until then the objects it selects are checked against store(s) %s. Fix: apply it, have it approved, then check the workloads with --cluster",
			e.Name, e.Namespace, strings.Trim(engine.Names(e.Spec.Stores), "[]"))
	}
	if problem := selectorProblem(&e.Spec.Selector, "the exception exempts nothing"); problem != "" {
		c.report(obj, RuleInvalidPolicy, Error, "spec.selector %s", problem)
	}
	for _, name := range e.Spec.Stores {
		if !c.hasStore(e.Namespace, string(name)) {
			c.report(obj, RuleExceptionStore, Warning,
				"spec.stores names PersonalDataStore %q, which is not defined in namespace %s. Fix: correct the name, or remove it", name, e.Namespace)
		}
	}
}

func (c *checker) hasStore(namespace, name string) bool {
	for _, s := range c.stores[namespace] {
		if s.Name == name {
			return true
		}
	}
	return false
}

// selectorProblem says why a selector would select nothing (admission ignores such selectors,
// and the API server rejects them) and what follows, or "" when it is fine.
func selectorProblem(sel *metav1.LabelSelector, consequence string) string {
	if len(sel.MatchLabels) == 0 && len(sel.MatchExpressions) == 0 {
		return "is empty: it would select everything, so the API server rejects it and residency-operator ignores it; " + consequence + ". Fix: give matchLabels or matchExpressions"
	}
	if _, err := metav1.LabelSelectorAsSelector(sel); err != nil {
		return fmt.Sprintf("is invalid (%v); %s. Fix: correct the selector", err, consequence)
	}
	return ""
}
