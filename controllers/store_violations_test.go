package controllers

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
)

// TestViolationClockSurvivesReasonChange: a pod whose node flips from not permitted to untrusted
// keeps the time its violation was first seen, and so its announced eviction time.
func TestViolationClockSurvivesReasonChange(t *testing.T) {
	first := metav1.NewTime(time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC))
	now := first.Add(3 * time.Minute)
	pod := v1alpha1.ObjectReference{Kind: "Pod", Name: "db-0"}
	store := &v1alpha1.PersonalDataStore{
		Spec: v1alpha1.PersonalDataStoreSpec{Enforcement: v1alpha1.Enforce, EvictionGracePeriod: &metav1.Duration{Duration: 10 * time.Minute}},
		Status: v1alpha1.PersonalDataStoreStatus{Violations: []v1alpha1.Violation{
			{Object: pod, Reason: v1alpha1.NodeNotPermitted, Since: first},
		}},
	}
	audit := &auditResult{violations: []v1alpha1.Violation{{Object: pod, Reason: v1alpha1.NodeLocationUnknown}}}
	got := (&StoreReconciler{}).trackViolations(store, audit, true, now)
	if len(got) != 1 {
		t.Fatalf("got %d violations, want 1", len(got))
	}
	if !got[0].Since.Equal(&first) {
		t.Errorf("since = %v, want %v: a new reason must not restart the clock", got[0].Since, first)
	}
	if want := first.Add(10 * time.Minute); got[0].EvictionTime == nil || !got[0].EvictionTime.Time.Equal(want) {
		t.Errorf("eviction time = %v, want %v", got[0].EvictionTime, want)
	}
}
