package engine

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
)

// TestPoliciesRemember: deciding about many pods with one Policies computes each permitted set
// once (the audit decides about every pod of a store), and gives what a fresh Policies gives.
func TestPoliciesRemember(t *testing.T) {
	store := &v1alpha1.PersonalDataStore{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "shop"},
		Spec: v1alpha1.PersonalDataStoreSpec{AllowedJurisdictions: []v1alpha1.JurisdictionName{"eu", "us"},
			WorkloadSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}}}
	pol := &Policies{Stores: []*v1alpha1.PersonalDataStore{store}}
	db := map[string]string{"app": "db"}
	first, second := PlacePod(pol, db), PlacePod(pol, db)
	if len(first.Terms) != 2 || &first.Terms[0] != &second.Terms[0] {
		t.Fatalf("the permitted terms were computed twice (or wrongly): %v, %v", first.Terms, second.Terms)
	}
	fresh := PlacePod(&Policies{Stores: []*v1alpha1.PersonalDataStore{store}}, db)
	if diff := fresh.Requirement.String(); diff != first.Requirement.String() {
		t.Errorf("remembered %q, fresh %q", first.Requirement, fresh.Requirement)
	}
	if other := PlacePod(pol, map[string]string{"app": "web"}); other.Governed() {
		t.Errorf("a remembered selector matched a pod it does not select")
	}
}

// TestExceptionAskingNothingIsNeverActive: an exception whose selector has only NotIn or
// DoesNotExist (stored before the schema refused it) would exempt every unlabelled pod: it is
// never active, for the webhook, the audit and the compiled policies alike.
func TestExceptionAskingNothingIsNeverActive(t *testing.T) {
	now := time.Now()
	spec := func(sel metav1.LabelSelector) *v1alpha1.ResidencyException {
		return &v1alpha1.ResidencyException{
			ObjectMeta: metav1.ObjectMeta{Generation: 1, CreationTimestamp: metav1.NewTime(now.Add(-time.Minute))},
			Spec:       v1alpha1.ResidencyExceptionSpec{Selector: sel, ExpiresAt: metav1.NewTime(now.Add(time.Hour))},
			Status:     v1alpha1.ResidencyExceptionStatus{Approval: &v1alpha1.ExceptionApproval{Decision: v1alpha1.Approved, Generation: 1}},
		}
	}
	doesNotExist := metav1.LabelSelectorRequirement{Key: "team", Operator: metav1.LabelSelectorOpDoesNotExist}
	notIn := metav1.LabelSelectorRequirement{Key: "team", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"a"}}
	exists := metav1.LabelSelectorRequirement{Key: "job-name", Operator: metav1.LabelSelectorOpExists}
	for name, tc := range map[string]struct {
		sel  metav1.LabelSelector
		want bool
	}{
		"DoesNotExist alone":            {metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{doesNotExist}}, false},
		"NotIn and DoesNotExist":        {metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{notIn, doesNotExist}}, false},
		"Exists with DoesNotExist":      {metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{exists, doesNotExist}}, true},
		"matchLabels with DoesNotExist": {metav1.LabelSelector{MatchLabels: map[string]string{"job-name": "export"}, MatchExpressions: []metav1.LabelSelectorRequirement{doesNotExist}}, true},
	} {
		if got := ExceptionActive(spec(tc.sel), now); got != tc.want {
			t.Errorf("%s: active = %v, want %v", name, got, tc.want)
		}
	}
}

// TestExceptionActiveOnlyWhenApprovedAtItsGeneration: no decision, a denial, or a decision on an
// earlier spec leaves an exception inactive, whatever its window.
func TestExceptionActiveOnlyWhenApprovedAtItsGeneration(t *testing.T) {
	now := time.Now()
	ex := func(generation int64, approval *v1alpha1.ExceptionApproval) *v1alpha1.ResidencyException {
		return &v1alpha1.ResidencyException{
			ObjectMeta: metav1.ObjectMeta{Generation: generation, CreationTimestamp: metav1.NewTime(now.Add(-time.Minute))},
			Spec: v1alpha1.ResidencyExceptionSpec{Selector: metav1.LabelSelector{MatchLabels: map[string]string{"job-name": "export"}},
				ExpiresAt: metav1.NewTime(now.Add(time.Hour))},
			Status: v1alpha1.ResidencyExceptionStatus{Approval: approval},
		}
	}
	for name, tc := range map[string]struct {
		ex         *v1alpha1.ResidencyException
		wantState  string
		wantActive bool
	}{
		"no decision":                 {ex(1, nil), v1alpha1.ReasonPendingApproval, false},
		"approved at its spec":        {ex(2, &v1alpha1.ExceptionApproval{Decision: v1alpha1.Approved, Generation: 2}), v1alpha1.ReasonWithinWindow, true},
		"approved, then edited":       {ex(3, &v1alpha1.ExceptionApproval{Decision: v1alpha1.Approved, Generation: 2}), v1alpha1.ReasonApprovalOutdated, false},
		"denied":                      {ex(1, &v1alpha1.ExceptionApproval{Decision: v1alpha1.Denied, Generation: 1}), v1alpha1.ReasonApprovalDenied, false},
		"a decision of no known kind": {ex(1, &v1alpha1.ExceptionApproval{Decision: "Maybe", Generation: 1}), v1alpha1.ReasonPendingApproval, false},
	} {
		if got := ExceptionApproval(tc.ex); got != tc.wantState {
			t.Errorf("%s: approval = %s, want %s", name, got, tc.wantState)
		}
		if got := ExceptionActive(tc.ex, now); got != tc.wantActive {
			t.Errorf("%s: active = %v, want %v", name, got, tc.wantActive)
		}
	}
	approved := ex(1, &v1alpha1.ExceptionApproval{Decision: v1alpha1.Approved, Generation: 1})
	if ExceptionActive(approved, now.Add(2*time.Hour)) {
		t.Errorf("an approved exception is active after it expired")
	}
}
