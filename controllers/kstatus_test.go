package controllers

import (
	"errors"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
)

// TestKstatus computes kstatus (what Flux's health checks, `kubectl wait` users and GitOps tools
// read) for every kind in every state its reconciler can leave it in, through setSummary, the
// one function that writes the summary conditions.
func TestKstatus(t *testing.T) {
	stalled := &blocker{v1alpha1.ReasonJurisdictionNotFound, "Jurisdiction moon not found"}
	invalid := &blocker{v1alpha1.ReasonInvalidSelector, "spec.nodeSelector does not compile"}
	ready := summary{readyReason: v1alpha1.ReasonResolved, readyMessage: "resolved"}
	type state struct {
		name    string
		s       summary
		err     error
		behind  bool // metadata.generation is ahead of status.observedGeneration
		deleted bool
		extra   func(*[]metav1.Condition)
		want    status.Status
	}
	states := []state{
		{name: "ready", s: ready, want: status.CurrentStatus},
		{name: "step failed", s: ready, err: errors.New("listing pods: timeout"), want: status.InProgressStatus},
		{name: "stalled", s: summary{stalled: stalled}, want: status.FailedStatus},
		{name: "stalled and failing", s: summary{stalled: invalid}, err: errors.New("boom"), want: status.FailedStatus},
		{name: "spec not yet seen", s: ready, behind: true, want: status.InProgressStatus},
		{name: "being deleted", s: summary{reconciling: &blocker{v1alpha1.ReasonDeleting, "removing labels"}}, deleted: true, want: status.TerminatingStatus},
		{name: "deleting, seen without the timestamp", s: summary{reconciling: &blocker{v1alpha1.ReasonDeleting, "removing labels"}}, want: status.InProgressStatus},
	}
	kinds := map[string]func(conds []metav1.Condition, observed int64) client.Object{
		"Jurisdiction": func(c []metav1.Condition, g int64) client.Object {
			return &v1alpha1.Jurisdiction{Status: v1alpha1.JurisdictionStatus{Conditions: c, ObservedGeneration: g}}
		},
		"PersonalDataStore": func(c []metav1.Condition, g int64) client.Object {
			return &v1alpha1.PersonalDataStore{Status: v1alpha1.PersonalDataStoreStatus{Conditions: c, ObservedGeneration: g}}
		},
		"DataProcessor": func(c []metav1.Condition, g int64) client.Object {
			return &v1alpha1.DataProcessor{Status: v1alpha1.DataProcessorStatus{Conditions: c, ObservedGeneration: g}}
		},
		"ResidencyException": func(c []metav1.Condition, g int64) client.Object {
			return &v1alpha1.ResidencyException{Status: v1alpha1.ResidencyExceptionStatus{Conditions: c, ObservedGeneration: g}}
		},
	}
	// Facts beside the summary must not change kstatus: a store that is Ready but not Compliant
	// is reconciled (Argo CD's health script shows it Degraded; kstatus leaves that to it).
	states = append(states, state{name: "ready, not compliant", s: ready, want: status.CurrentStatus, extra: func(c *[]metav1.Condition) {
		meta.SetStatusCondition(c, metav1.Condition{Type: v1alpha1.CompliantCondition, Status: metav1.ConditionFalse, Reason: v1alpha1.ReasonViolations, Message: "1 of 2 outside", ObservedGeneration: 3})
	}})
	for kind, build := range kinds {
		for _, st := range states {
			t.Run(kind+"/"+st.name, func(t *testing.T) {
				const generation = 3
				var conds []metav1.Condition
				// Start from the opposite of what is expected, as a later reconcile would find it.
				setSummary(&conds, generation-1, summary{stalled: invalid}, errors.New("earlier"))
				setSummary(&conds, generation, st.s, st.err)
				if st.extra != nil {
					st.extra(&conds)
				}
				observed := int64(generation)
				if st.behind {
					observed--
				}
				obj := build(conds, observed)
				obj.SetName("x")
				obj.SetGeneration(generation)
				if st.deleted {
					obj.SetDeletionTimestamp(&metav1.Time{Time: time.Now()})
				}
				raw, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
				if err != nil {
					t.Fatal(err)
				}
				u := &unstructured.Unstructured{Object: raw}
				u.SetAPIVersion(v1alpha1.GroupVersion.String())
				u.SetKind(kind)
				res, err := status.Compute(u)
				if err != nil {
					t.Fatal(err)
				}
				if res.Status != st.want {
					t.Fatalf("kstatus %s (%s), want %s; conditions %+v", res.Status, res.Message, st.want, conds)
				}
				// Abnormal-true conditions are removed, never left False, when they stop holding.
				for _, c := range conds {
					if (c.Type == v1alpha1.ReconcilingCondition || c.Type == v1alpha1.StalledCondition) && c.Status != metav1.ConditionTrue {
						t.Errorf("%s is %s: it should have been removed", c.Type, c.Status)
					}
					if c.ObservedGeneration != generation {
						t.Errorf("%s has observedGeneration %d, want %d", c.Type, c.ObservedGeneration, generation)
					}
				}
			})
		}
	}
}
