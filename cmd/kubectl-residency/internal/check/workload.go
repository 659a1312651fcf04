package check

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/residency-operator/residency-operator/internal/engine"
	"github.com/residency-operator/residency-operator/internal/manifest"
)

// checkWorkload asks the engine about a pod template, and about the claims its pods will create
// (volumeClaimTemplates, ephemeral volumes).
func (c *checker) checkWorkload(w *manifest.Workload) {
	obj, tmpl := w.Object, w.Template
	ns := tmpl.Namespace
	facts := engine.FactsOf(tmpl.Labels, &tmpl.Spec)
	v, _ := engine.DecidePod(c.policiesOf(ns), &facts, c.context()) // offline lookups never fail
	stores := v.All()
	if len(stores) > 0 {
		for _, vol := range tmpl.Spec.Volumes {
			if vol.PersistentVolumeClaim != nil {
				key := ns + "/" + vol.PersistentVolumeClaim.ClaimName
				c.mounts[key] = append(c.mounts[key], stores...)
			}
		}
		path := templatePath(obj.Ref.Kind)
		if note := engine.HostPathNote(&tmpl.Spec); note != "" {
			c.report(obj, RuleHostPath, Warning, "%s.volumes: %s", path, note)
		}
		c.reportVerdict(obj, v, func(f engine.Finding) string {
			// The engine names fields of a pod; the template's sit deeper in the object.
			if rest, ok := strings.CutPrefix(f.Field, "metadata."); ok {
				return strings.TrimSuffix(path, "spec") + "metadata." + rest + ": "
			}
			return path + strings.TrimPrefix(f.Field, "spec") + ": "
		})
	}
	for i := range w.ClaimTemplates {
		claim := w.ClaimTemplates[i].DeepCopy()
		claim.Namespace = ns
		c.checkClaimOf(obj, claim, fmt.Sprintf("volumeClaimTemplate %q ", claim.Name), stores)
	}
	for _, vol := range tmpl.Spec.Volumes {
		if vol.Ephemeral == nil || vol.Ephemeral.VolumeClaimTemplate == nil {
			continue
		}
		claim := &corev1.PersistentVolumeClaim{ObjectMeta: vol.Ephemeral.VolumeClaimTemplate.ObjectMeta, Spec: vol.Ephemeral.VolumeClaimTemplate.Spec}
		claim.Namespace = ns
		c.checkClaimOf(obj, claim, fmt.Sprintf("ephemeral volume %q ", vol.Name), stores)
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
