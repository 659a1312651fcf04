package engine

import (
	"testing"

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
