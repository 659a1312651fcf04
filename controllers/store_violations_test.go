package controllers

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

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
	got := (&StoreReconciler{Evictor: NewEvictor(nil, 1, 1)}).trackViolations(store, audit, true, now)
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

// TestViolationClocksBeyondStatus: status lists 50 violations; the 10 others keep the time they
// were first seen across reconciles (by UID, in the Evictor), so their eviction time stays put.
func TestViolationClocksBeyondStatus(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	store := &v1alpha1.PersonalDataStore{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "shop"},
		Spec: v1alpha1.PersonalDataStoreSpec{Enforcement: v1alpha1.Enforce, EvictionGracePeriod: &metav1.Duration{Duration: 3 * time.Second}}}
	audit := &auditResult{objects: map[string]client.Object{}}
	for i := range 60 {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("db-%02d", i), UID: types.UID(fmt.Sprintf("uid-%d", i))}}
		audit.violations = append(audit.violations, v1alpha1.Violation{Object: v1alpha1.ObjectReference{Kind: "Pod", Name: pod.Name}, Reason: v1alpha1.NodeNotPermitted})
		audit.objects[objectKey("Pod", pod.Name)] = pod
	}
	r := &StoreReconciler{Evictor: NewEvictor(nil, 1, 1)}
	first := r.trackViolations(store, audit, true, t0)
	store.Status.Violations = first[:maxListedViolations] // what status keeps
	for _, step := range []time.Duration{time.Second, 2 * time.Second, 5 * time.Second} {
		again := r.trackViolations(store, audit, true, t0.Add(step))
		if len(again) != 60 {
			t.Fatalf("%d violations, want 60", len(again))
		}
		for _, v := range again {
			if !v.Since.Time.Equal(t0) || v.EvictionTime == nil || !v.EvictionTime.Time.Equal(t0.Add(3*time.Second)) {
				t.Fatalf("after %s, %s: since %v, eviction %v; want %v and %v", step, v.Object.Name, v.Since, v.EvictionTime, t0, t0.Add(3*time.Second))
			}
		}
		store.Status.Violations = again[:maxListedViolations]
	}
}

// TestViolationClocksSurviveRestart: an operator that restarts (a new Evictor, nothing in memory)
// reads every clock back from status, the 50 listed violations and the unlisted ones alike, by
// UID: a pod re-created with the same name is a new violation.
func TestViolationClocksSurviveRestart(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	store := &v1alpha1.PersonalDataStore{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "shop"},
		Spec: v1alpha1.PersonalDataStoreSpec{Enforcement: v1alpha1.Enforce, EvictionGracePeriod: &metav1.Duration{Duration: time.Hour}}}
	audit := &auditResult{objects: map[string]client.Object{}}
	for i := range 60 {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("db-%02d", i), UID: types.UID(fmt.Sprintf("uid-%d", i))}}
		audit.violations = append(audit.violations, v1alpha1.Violation{Object: v1alpha1.ObjectReference{Kind: "Pod", Name: pod.Name, UID: pod.UID}, Reason: v1alpha1.NodeNotPermitted})
		audit.objects[objectKey("Pod", pod.Name)] = pod
	}
	first := (&StoreReconciler{Evictor: NewEvictor(nil, 1, 1)}).trackViolations(store, audit, true, t0)
	store.Status.Violations, store.Status.UnlistedViolations = first[:maxListedViolations], unlistedClocks(first)
	if len(store.Status.UnlistedViolations) != 10 {
		t.Fatalf("%d unlisted clocks, want 10", len(store.Status.UnlistedViolations))
	}

	// db-07 was deleted and re-created under the same name while the operator was down.
	recreated := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "db-07", UID: "uid-new"}}
	audit.objects[objectKey("Pod", "db-07")] = recreated
	audit.violations[7].Object.UID = recreated.UID
	later := t0.Add(30 * time.Minute)
	again := (&StoreReconciler{Evictor: NewEvictor(nil, 1, 1)}).trackViolations(store, audit, true, later)
	for _, v := range again {
		want := t0
		if v.Object.Name == "db-07" {
			want = later
		}
		if !v.Since.Time.Equal(want) {
			t.Errorf("after a restart, %s: since %v, want %v", v.Object.Name, v.Since, want)
		}
	}
}
