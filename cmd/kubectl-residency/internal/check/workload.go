package check

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
	"github.com/residency-operator/residency-operator/internal/catalog"
	"github.com/residency-operator/residency-operator/internal/engine"
	"github.com/residency-operator/residency-operator/internal/manifest"
)

// maxPlacesListed bounds the places a message lists; the rest are counted.
const maxPlacesListed = 5

// checkWorkload checks a pod template against the stores that govern it, and the claims its
// pods will create (volumeClaimTemplates, ephemeral volumes).
func (c *checker) checkWorkload(w *manifest.Workload) {
	obj, tmpl := w.Object, w.Template
	ns := tmpl.Namespace
	stores := c.governing(ns, tmpl.Labels, false)
	if len(stores) > 0 {
		for _, v := range tmpl.Spec.Volumes {
			if v.PersistentVolumeClaim != nil {
				key := ns + "/" + v.PersistentVolumeClaim.ClaimName
				c.mounts[key] = append(c.mounts[key], stores...)
			}
		}
		path := templatePath(obj.Ref.Kind)
		c.reportModes(obj, stores, func(st []v1alpha1.PersonalDataStore) []problem {
			return c.templateProblems(path, &tmpl.Spec, st)
		})
	}
	for i := range w.ClaimTemplates {
		claim := w.ClaimTemplates[i].DeepCopy()
		claim.Namespace = ns
		c.checkClaimOf(obj, claim, fmt.Sprintf("volumeClaimTemplate %q", claim.Name), stores)
	}
	for _, v := range tmpl.Spec.Volumes {
		if v.Ephemeral == nil || v.Ephemeral.VolumeClaimTemplate == nil {
			continue
		}
		claim := &corev1.PersistentVolumeClaim{ObjectMeta: v.Ephemeral.VolumeClaimTemplate.ObjectMeta, Spec: v.Ephemeral.VolumeClaimTemplate.Spec}
		claim.Namespace = ns
		c.checkClaimOf(obj, claim, fmt.Sprintf("ephemeral volume %q", v.Name), stores)
	}
}

// templatePath is where the pod spec sits in an object of kind, for messages.
func templatePath(kind string) string {
	switch kind {
	case "Pod":
		return "spec"
	case "CronJob":
		return "spec.jobTemplate.spec.template.spec"
	}
	return "spec.template.spec"
}

// templateProblems is what the webhook and the audit would object to in a pod spec governed by
// stores: no common permitted node, own constraints that exclude every permitted place, a pin
// to a node outside them.
func (c *checker) templateProblems(path string, spec *corev1.PodSpec, stores []v1alpha1.PersonalDataStore) []problem {
	tr := c.permitted(stores)
	if tr.err != nil {
		return []problem{{RuleTooManyTerms, Error, fmt.Sprintf("cannot place the pods: %v", tr.err)}}
	}
	if len(tr.terms) == 0 {
		return []problem{{RuleStoresDisagree, Error, fmt.Sprintf(
			"the pods are governed by stores that permit no common node: %s; no node can be in an allowed jurisdiction of every store. "+
				"Fix: give the stores a common allowed jurisdiction, or change the pod template's labels so fewer stores select it", tr.req)}}
	}
	var out []problem
	pp := engine.PlacesOfPod(spec, c.matchers, c.jurisdictions, c.opts.Provider)
	if !pp.Open && len(pp.Unknown) == 0 && !slices.ContainsFunc(pp.Places, func(p *corev1.Node) bool { return engine.NodePermitted(p, tr.terms) }) {
		out = append(out, problem{RulePlacement, Error, fmt.Sprintf(
			"%s.nodeSelector and required node affinity only allow %s, none of which is permitted: %s; admission would add the permitted-node affinity and the pods would stay Pending. "+
				"Fix: point them at a region of an allowed jurisdiction, or remove them and let residency-operator place the pods",
			path, describePlaces(pp.Places), tr.req)})
	}
	if len(pp.Unknown) > 0 {
		out = append(out, problem{RuleUnknownLocation, Warning, fmt.Sprintf(
			"%s.nodeSelector or required node affinity names %s, which neither the region catalog nor a Jurisdiction locates, so whether it is permitted cannot be told (%s)%s. "+
				"Fix: use a region the catalog knows, or add it to a Jurisdiction's regions",
			path, strings.Join(pp.Unknown, ", "), tr.req, ambiguityHint(pp.Unknown))})
	}
	if spec.NodeName != "" {
		out = append(out, c.nodeNameProblems(path, spec.NodeName, tr)...)
	}
	return out
}

// nodeNameProblems judges a pin to a named node: against the live node when there is a cluster,
// as the webhook does, and as unknown offline.
func (c *checker) nodeNameProblems(path, name string, tr termsResult) []problem {
	if c.opts.NodeByName == nil {
		return []problem{{RuleNodeName, Warning, fmt.Sprintf(
			"%s.nodeName pins the pods to node %q, whose location cannot be checked offline (%s). "+
				"Fix: remove nodeName and let the scheduler place the pods, or run the check with --cluster", path, name, tr.req)}}
	}
	node := c.opts.NodeByName(name)
	if node == nil {
		return []problem{{RuleNodeName, Error, fmt.Sprintf(
			"%s.nodeName pins the pods to node %q, which does not exist, so its location is unknown; %s. Fix: remove nodeName and let the scheduler place the pods",
			path, name, tr.req)}}
	}
	if !engine.NodePermitted(node, tr.terms) {
		return []problem{{RuleNodeName, Error, fmt.Sprintf(
			"%s.nodeName pins the pods to %s, which is outside the permitted jurisdictions: %s. Fix: remove nodeName, or pin the pods to a node labelled %s<jurisdiction>=true",
			path, engine.Describe(node), tr.req, v1alpha1.JurisdictionLabelPrefix)}}
	}
	return nil
}

// describePlaces lists stand-in places for a message, at most maxPlacesListed of them.
func describePlaces(places []*corev1.Node) string {
	if len(places) == 0 {
		return "no node at all (they contradict each other)"
	}
	var parts []string
	for i, p := range places {
		if i == maxPlacesListed {
			parts = append(parts, fmt.Sprintf("and %d more", len(places)-maxPlacesListed))
			break
		}
		parts = append(parts, engine.Describe(p))
	}
	return strings.Join(parts, ", ")
}

// ambiguityHint explains region names that the catalog leaves unlocated because several clouds
// use them for different countries, and how to say which cloud is meant.
func ambiguityHint(unknown []string) string {
	var hints []string
	for _, u := range unknown {
		quoted, ok := strings.CutPrefix(u, "region ")
		if !ok {
			continue
		}
		region, err := strconv.Unquote(quoted)
		if err != nil {
			continue
		}
		var at []string
		for _, p := range catalog.Providers() {
			if r, ok := catalog.Lookup(p, region); ok {
				at = append(at, fmt.Sprintf("%s at %s", r.Country, p))
			}
		}
		if len(at) > 1 {
			hints = append(hints, fmt.Sprintf("%s is %s", region, strings.Join(at, ", ")))
		}
	}
	if len(hints) == 0 {
		return ""
	}
	return "; " + strings.Join(hints, "; ") + ": pass --provider to say which cloud the pods run in"
}
