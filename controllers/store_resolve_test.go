package controllers

import (
	"context"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
)

// TestResolveInvalidSelector covers what the API server no longer lets in: a store stored before
// the CRD's selector rules, whose selector does not compile, must be Ready=False (Stalled, reason
// InvalidSelector) and never Compliant=True, rather than govern nothing in silence. resolve returns
// before it reads the cluster, so no client is needed.
func TestResolveInvalidSelector(t *testing.T) {
	bad := metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: "in", Values: []string{"db"}}}}
	good := metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}
	for _, c := range []struct {
		name, field string
		spec        v1alpha1.PersonalDataStoreSpec
	}{
		{"workloadSelector with operator in", "spec.workloadSelector", v1alpha1.PersonalDataStoreSpec{WorkloadSelector: bad}},
		{"volumeSelector with Exists and values", "spec.volumeSelector", v1alpha1.PersonalDataStoreSpec{WorkloadSelector: good,
			VolumeSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: metav1.LabelSelectorOpExists, Values: []string{"db"}}}}}},
		{"workloadSelector with a bad matchLabels key", "spec.workloadSelector", v1alpha1.PersonalDataStoreSpec{
			WorkloadSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app name": "db"}}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.spec.AllowedJurisdictions = []v1alpha1.JurisdictionName{"eu"}
			store := &v1alpha1.PersonalDataStore{ObjectMeta: metav1.ObjectMeta{Name: "typo", Namespace: "shop", Generation: 1}, Spec: c.spec}
			r := &StoreReconciler{}
			run := &storeRun{}
			if err := r.resolve(context.Background(), store, run); err != nil {
				t.Fatalf("resolve: %v", err)
			}
			if run.stalled == nil || run.stalled.reason != v1alpha1.ReasonInvalidSelector {
				t.Fatalf("stalled = %+v, want reason %s", run.stalled, v1alpha1.ReasonInvalidSelector)
			}
			if !strings.Contains(run.stalled.message, c.field) {
				t.Errorf("message %q does not name %s", run.stalled.message, c.field)
			}
			r.summarise(store, run, nil)
			conds := run.status.Conditions
			ready := meta.FindStatusCondition(conds, v1alpha1.ReadyCondition)
			if ready == nil || ready.Status != metav1.ConditionFalse || ready.Reason != v1alpha1.ReasonInvalidSelector {
				t.Errorf("Ready = %+v, want False/%s", ready, v1alpha1.ReasonInvalidSelector)
			}
			if !meta.IsStatusConditionTrue(conds, v1alpha1.StalledCondition) {
				t.Error("not Stalled: a person must fix the selector")
			}
			if meta.IsStatusConditionTrue(conds, v1alpha1.CompliantCondition) {
				t.Error("Compliant=True for a store whose selector does not compile")
			}
		})
	}
}
