package webhook

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
	"github.com/residency-operator/residency-operator/internal/engine"
)

// TestSelectorMemo: the memo answers as engine.Selects does, follows a selector that changes
// with the generation, keeps a store's two selectors apart, and starts over when full.
func TestSelectorMemo(t *testing.T) {
	memo := &selectorMemo{m: map[selectorKey]compiledSelector{}}
	store := &v1alpha1.PersonalDataStore{ObjectMeta: metav1.ObjectMeta{UID: "u1", Generation: 1}, Spec: v1alpha1.PersonalDataStoreSpec{
		WorkloadSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}},
		VolumeSelector:   &metav1.LabelSelector{MatchLabels: map[string]string{"data": "customers"}},
	}}
	db, disk := map[string]string{"app": "db"}, map[string]string{"data": "customers"}
	check := func(which engine.SelectorKind, sel *metav1.LabelSelector, l map[string]string) {
		t.Helper()
		if got, want := memo.selects(store, which, sel, l), engine.Selects(sel, l); got != want {
			t.Fatalf("%s selector %v on %v: memo says %v, engine %v", which, sel, l, got, want)
		}
	}
	for range 2 { // compiled, then from the memo
		check("workload", &store.Spec.WorkloadSelector, db)
		check("workload", &store.Spec.WorkloadSelector, disk)
		check("volume", store.Spec.VolumeSelector, disk)
		check("volume", store.Spec.VolumeSelector, db)
	}
	store.Spec.WorkloadSelector = metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
	store.Generation = 2
	check("workload", &store.Spec.WorkloadSelector, db)
	check("workload", &store.Spec.WorkloadSelector, map[string]string{"app": "web"})

	// Invalid and empty selectors select nothing, from the memo too.
	for _, sel := range []*metav1.LabelSelector{{MatchLabels: map[string]string{"bad key!": "x"}}, {}, nil} {
		store.Generation++
		for range 2 {
			check("workload", sel, db)
		}
	}

	for i := range maxMemoizedSelectors + 1 {
		store.Generation = int64(100 + i)
		check("workload", &store.Spec.WorkloadSelector, db)
	}
	if len(memo.m) > maxMemoizedSelectors {
		t.Fatalf("the memo holds %d selectors, more than %d", len(memo.m), maxMemoizedSelectors)
	}
}
