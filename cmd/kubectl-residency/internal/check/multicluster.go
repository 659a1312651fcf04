package check

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
	"github.com/residency-operator/residency-operator/internal/engine"
	"github.com/residency-operator/residency-operator/internal/manifest"
)

// checkClusterPolicies decides each Karmada and OCM placement policy as the hub's admission
// webhook would (engine.DecideClusterPolicy): refusals are errors, narrowing is reported because
// the live object will then differ from the manifest, and a purging failover is a warning.
func (c *checker) checkClusterPolicies(set *manifest.Set) {
	karmadaNamespaces := map[string]bool{}
	for _, u := range set.ClusterPolicies {
		obj := set.ObjectOf(u)
		kind := u.GetKind()
		if !engine.MultiClusterPolicyKind(u.GetAPIVersion(), kind) {
			continue
		}
		namespaces, all := engine.ClusterPolicyNamespaces(kind, u.GetNamespace(), u.Object)
		var stores []*v1alpha1.PersonalDataStore
		for ns, list := range c.stores {
			if all || slices.Contains(namespaces, ns) {
				for _, s := range list {
					if all || len(namespaces) > 1 {
						s = s.DeepCopy()
						s.Name = s.Namespace + "/" + s.Name
					}
					stores = append(stores, s)
				}
			}
		}
		if len(stores) == 0 {
			continue
		}
		slices.SortFunc(stores, func(a, b *v1alpha1.PersonalDataStore) int { return strings.Compare(a.Name, b.Name) })
		if kind != engine.KindPlacement {
			for _, s := range stores {
				karmadaNamespaces[s.Namespace] = true
			}
		}
		d, err := engine.DecideClusterPolicy(&engine.Policies{Stores: stores, Jurisdictions: c.jurisdictions}, kind, u.Object)
		if err != nil {
			c.report(obj, RuleInvalidPolicy, Error, "%v", err)
			continue
		}
		for _, f := range d.Denied {
			c.reportFinding(obj, f, Error, f.Field+": "+f.Message)
		}
		for _, f := range d.Warned {
			c.reportFinding(obj, f, Warning, f.Field+": "+f.Message)
		}
		if d.Narrowed != nil {
			c.report(obj, RuleClusterPolicyNarrowed, Warning,
				"admission narrows this policy to the jurisdictions its stores permit (%s), so the live object will differ from this manifest. Fix: write the narrowed selectors into it: %s",
				d.Requirement, narrowedSelectors(kind, d.Narrowed))
		}
	}
	for _, ns := range set.Namespaces {
		if !karmadaNamespaces[ns.Name] || ns.Labels[engine.KarmadaSkipPropagationLabel] == "true" {
			continue
		}
		c.report(set.ObjectOf(ns), RuleNamespacePropagated, Warning,
			"namespace %q holds stores and is propagated by Karmada, whose namespace controller copies it to every member cluster, outside the permitted jurisdictions too. "+
				"Fix: label it %s: \"true\" and propagate it with a PropagationPolicy its stores narrow", ns.Name, engine.KarmadaSkipPropagationLabel)
	}
}

// narrowedSelectors shows the selectors admission would write, compactly.
func narrowedSelectors(kind string, narrowed map[string]any) string {
	var path []string
	if kind == engine.KindPlacement {
		path = []string{"spec", "predicates"}
	} else {
		path = []string{"spec", "placement"}
	}
	v, _, _ := unstructured.NestedFieldNoCopy(narrowed, path...)
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return strings.Join(path, ".") + " = " + string(b)
}
