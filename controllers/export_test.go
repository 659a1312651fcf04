package controllers

import (
	"context"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
	"github.com/residency-operator/residency-operator/internal/engine"
)

// RecheckNow runs one recheck of the report writer now: the CRD, the sweep, the dirty namespaces.
func (w *PolicyReports) RecheckNow(ctx context.Context) { w.recheck(ctx) }

// ObservePods hands the writer an audit of store that found the given pods on their nodes, those
// in failing outside.
func (w *PolicyReports) ObservePods(ctx context.Context, store *v1alpha1.PersonalDataStore, nodes map[string]string, failing ...string) {
	a := &auditResult{}
	for pod, node := range nodes {
		o := auditedObject{Ref: v1alpha1.ObjectReference{Kind: "Pod", Name: pod}, Where: node}
		for _, f := range failing {
			if f == pod {
				o.Denied = []engine.Finding{{Reason: engine.NodeNotPermitted, Severity: engine.Breach, Message: "node " + node + " is outside"}}
			}
		}
		a.observed = append(a.observed, o)
	}
	w.observe(ctx, store, &storeRun{audit: a})
}
