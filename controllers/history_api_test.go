package controllers

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
	"github.com/residency-operator/residency-operator/internal/history"
	"github.com/residency-operator/residency-operator/internal/localcluster"
	"github.com/residency-operator/residency-operator/internal/lookup"
)

// TestHistoryAcrossDaysRestartsAndChurn runs the store reconciler and the history recorder that
// ship against a real kube-apiserver, on a fake clock over three simulated days: pods come and
// go, one runs outside for two hours, the operator is down for three hours and comes back with
// nothing in memory. The records read back from the API server must add up, say what happened
// and verify as one chain; a record edited afterwards must fail verification.
//
// It has a control plane of its own, not the suite's: the suite's manager reconciles every store
// on the real clock, and would write this store's status on another timeline.
func TestHistoryAcrossDaysRestartsAndChurn(t *testing.T) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set: run the tests through `make test`, which builds kube-apiserver and etcd")
	}
	ctx := context.Background()
	cluster, err := localcluster.Start(ctx, localcluster.Options{ControlPlaneOnly: true, CRDDir: filepath.Join("..", "config", "crd", "bases")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cluster.Stop() })
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = v1alpha1.AddToScheme(scheme)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	// The reconciler reads through the manager's cache and its field indexes, as it does in the
	// operator; no controller runs: the test calls Reconcile on its own clock.
	mgr, err := ctrl.NewManager(cluster.Config, ctrl.Options{Scheme: scheme, Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0"})
	must(err)
	mgrCtx, stop := context.WithCancel(ctx)
	t.Cleanup(stop)
	must(setupIndexers(mgrCtx, mgr))
	must(setupStoreIndexers(mgrCtx, mgr))
	go func() { _ = mgr.Start(mgrCtx) }()
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		t.Fatal("cache did not sync")
	}
	c := mgr.GetClient()
	direct, err := client.New(cluster.Config, client.Options{Scheme: scheme})
	must(err)
	// cached waits until the cache holds exactly these governed pods.
	cached := func(want ...string) {
		t.Helper()
		slices.Sort(want)
		deadline := time.Now().Add(10 * time.Second)
		for {
			var pods corev1.PodList
			must(c.List(ctx, &pods, client.InNamespace("shop")))
			var got []string
			for _, p := range pods.Items {
				got = append(got, p.Name)
			}
			slices.Sort(got)
			if slices.Equal(got, want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("cache holds pods %v, want %v", got, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	must(c.Create(ctx, &v1alpha1.Jurisdiction{ObjectMeta: metav1.ObjectMeta{Name: "hist-eu"}, Spec: v1alpha1.JurisdictionSpec{Countries: []v1alpha1.CountryCode{"DE"}}}))
	must(c.Create(ctx, &v1alpha1.Jurisdiction{ObjectMeta: metav1.ObjectMeta{Name: "hist-us"}, Spec: v1alpha1.JurisdictionSpec{Countries: []v1alpha1.CountryCode{"US"}}}))
	// Nodes as the node controller leaves them: located by spec.providerID, labelled with country
	// and jurisdiction under the restricted prefix.
	for _, n := range []struct{ name, region, zone, country, jurisdiction string }{
		{"de-1", "eu-central-1", "eu-central-1a", "DE", "hist-eu"},
		{"us-1", "us-east-1", "us-east-1a", "US", "hist-us"},
	} {
		must(c.Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n.name, Labels: map[string]string{
			"topology.kubernetes.io/region": n.region, "topology.kubernetes.io/zone": n.zone,
			v1alpha1.CountryLabel: n.country, v1alpha1.CountrySourceLabel: "catalog", v1alpha1.ConfirmedRegionLabel: n.region,
			v1alpha1.JurisdictionLabel(n.jurisdiction): v1alpha1.JurisdictionLabelValue,
		}}, Spec: corev1.NodeSpec{ProviderID: "aws:///" + n.zone + "/i-" + n.name}}))
	}
	must(c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}))
	store := &v1alpha1.PersonalDataStore{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "customers"}, Spec: v1alpha1.PersonalDataStoreSpec{
		DataCategories: []v1alpha1.DataCategory{v1alpha1.ContactDetails}, AllowedJurisdictions: []v1alpha1.JurisdictionName{"hist-eu"},
		WorkloadSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}, Enforcement: v1alpha1.Audit,
	}}
	must(c.Create(ctx, store))

	start := time.Date(2026, 3, 1, 20, 0, 0, 0, time.UTC)
	clk := clocktesting.NewFakeClock(start)
	opts := history.Options{Period: 24 * time.Hour, Flush: 30 * time.Minute, MaxGap: 90 * time.Minute, Retention: 10}
	newOperator := func() *StoreReconciler {
		return &StoreReconciler{Client: c, Recorder: events.NewFakeRecorder(100), Clock: clk,
			Evictor: NewEvictor(c, 1, 1), Providers: &lookup.ClusterProvider{Reader: c, Every: time.Hour},
			History: &HistoryRecorder{Client: direct, Reader: direct, Recorder: events.NewFakeRecorder(100), Options: opts}}
	}
	operator := newOperator()
	reconcile := func() {
		t.Helper()
		// A status write can meet the previous one's resourceVersion: retry as the manager would.
		var err error
		for range 5 {
			if _, err = operator.Reconcile(ctx, ctrl.Request{NamespacedName: types.NamespacedName{Namespace: "shop", Name: "customers"}}); err == nil {
				return
			}
		}
		t.Fatalf("reconcile at %s: %v", clk.Now(), err)
	}
	pod := func(name, node string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name, Labels: map[string]string{"app": "db"}},
			Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "db", Image: "postgres"}}}}
	}
	// runUntil reconciles every 30 minutes of fake time until end.
	runUntil := func(end time.Time) {
		t.Helper()
		for ; !clk.Now().After(end); clk.Step(30 * time.Minute) {
			reconcile()
		}
	}

	// Day 1, 20:00: two pods in Germany.
	must(c.Create(ctx, pod("db-0", "de-1")))
	must(c.Create(ctx, pod("db-1", "de-1")))
	cached("db-0", "db-1")
	runUntil(start.Add(5 * time.Hour)) // to 01:00 on day 2
	// Day 2, 01:30: churn: one pod replaced, and one runs in the US until 03:30.
	must(c.Delete(ctx, pod("db-1", ""), client.GracePeriodSeconds(0)))
	must(c.Create(ctx, pod("db-2", "de-1")))
	must(c.Create(ctx, pod("db-us", "us-1")))
	cached("db-0", "db-2", "db-us")
	runUntil(start.Add(7 * time.Hour))
	must(c.Delete(ctx, pod("db-us", ""), client.GracePeriodSeconds(0)))
	cached("db-0", "db-2")
	runUntil(start.Add(10 * time.Hour)) // to 06:00; the clock is at 06:30
	// The operator is down from 06:00 to 09:00 and restarts with nothing in memory.
	clk.Step(150 * time.Minute)
	operator = newOperator()
	runUntil(start.Add(31 * time.Hour)) // to 03:00 on day 3

	var list v1alpha1.ResidencyRecordList
	must(direct.List(ctx, &list, client.InNamespace("shop"), client.MatchingLabels{v1alpha1.RecordStoreUIDLabel: string(storeUID(t, direct, store))}))
	records := list.Items
	slices.SortFunc(records, func(a, b v1alpha1.ResidencyRecord) int { return int(a.Spec.Sequence - b.Spec.Sequence) })
	if len(records) != 3 {
		t.Fatalf("%d records, want 3 (days 1, 2 and 3): %v", len(records), names(records))
	}
	if problems := history.Verify(records); len(problems) != 0 {
		t.Fatalf("the chain written through the API server does not verify: %v", problems)
	}
	day1, day2, day3 := records[0].Spec, records[1].Spec, records[2].Spec
	if !day1.Sealed || !day2.Sealed || day3.Sealed {
		t.Errorf("sealed: %v %v %v, want days 1 and 2", day1.Sealed, day2.Sealed, day3.Sealed)
	}
	if got := podSeconds(day1, "DE"); got != 2*4*3600 {
		t.Errorf("day 1: %d pod-seconds in DE, want %d (two pods, 20:00-24:00)", got, 2*4*3600)
	}
	if got := podSeconds(day2, "US"); got != 2*3600 {
		t.Errorf("day 2: %d pod-seconds in US, want 7200 (01:30-03:30)", got)
	}
	// Day 2 is observed 00:00-06:00 and 09:00-24:00 with two pods in Germany all along.
	if day2.ObservedSeconds != 21*3600 || podSeconds(day2, "DE") != 2*21*3600 {
		t.Errorf("day 2: observed %d s, %d pod-seconds in DE; want %d and %d", day2.ObservedSeconds, podSeconds(day2, "DE"), 21*3600, 2*21*3600)
	}
	if len(day2.Gaps) != 1 || !day2.Gaps[0].From.Time.Equal(start.Add(10*time.Hour)) || !day2.Gaps[0].To.Time.Equal(start.Add(13*time.Hour)) {
		t.Errorf("day 2 gaps %+v, want 06:00-09:00 (the operator was down)", day2.Gaps)
	}
	if len(day2.Violations) != 1 || day2.Violations[0].Object.Name != "db-us" || day2.Violations[0].Country != "US" ||
		day2.Violations[0].End == nil || !day2.Violations[0].End.Time.Equal(start.Add(7*time.Hour+30*time.Minute)) {
		t.Errorf("day 2 violations %+v, want db-us in US, ended when first seen gone (03:30)", day2.Violations)
	}
	if len(day1.Violations) != 0 || len(day3.Violations) != 0 {
		t.Errorf("violations on day 1 %v or day 3 %v", day1.Violations, day3.Violations)
	}
	if len(day3.PolicyChanges) != 1 || day3.PolicyChanges[0].Enforcement != v1alpha1.Audit {
		t.Errorf("day 3 policy versions %+v, want the version in force", day3.PolicyChanges)
	}

	// Someone annotates the open record: the operator's next write meets a conflict, and
	// writes over it (it is the only writer of the content) instead of stopping the history.
	open := records[2].DeepCopy()
	open.Annotations = map[string]string{"example.com/touched": "yes"}
	must(direct.Update(ctx, open))
	reconcile()
	reopened := &v1alpha1.ResidencyRecord{}
	must(direct.Get(ctx, client.ObjectKeyFromObject(open), reopened))
	if !reopened.Spec.LastObserved.After(open.Spec.LastObserved.Time) || history.Hash(&reopened.Spec) != reopened.Spec.Hash {
		t.Errorf("after a conflicting write, the open record was last observed at %s (before: %s)", reopened.Spec.LastObserved, open.Spec.LastObserved)
	}

	// Retention, from the records' labels alone: with 2 periods kept, the store's record 0 goes,
	// and so does a record of a store deleted long ago; records 1 and 2 stay and still verify.
	gone := records[0].DeepCopy()
	gone.Name, gone.ResourceVersion, gone.UID = "old-store-20250101", "", ""
	gone.Labels = map[string]string{v1alpha1.RecordStoreUIDLabel: "another-store", v1alpha1.RecordSequenceLabel: "7", v1alpha1.RecordPeriodLabel: "20250101T0000Z"}
	must(direct.Create(ctx, gone))
	pruner := &HistoryRecorder{Client: direct, Reader: direct, Options: history.Options{Period: 24 * time.Hour, Retention: 2}}
	pruner.prune(ctx, storeWithUID(t, direct, store), 2, clk.Now())
	must(direct.List(ctx, &list, client.InNamespace("shop")))
	if got := names(list.Items); !slices.Equal(got, []string{records[1].Name, records[2].Name}) {
		t.Fatalf("after pruning to 2 periods: records %v, want %v", got, []string{records[1].Name, records[2].Name})
	}
	if problems := history.Verify(list.Items); len(problems) != 0 {
		t.Errorf("the chain after retention does not verify: %v", problems)
	}

	// A sealed record cannot be edited, not even by a cluster admin.
	edited := records[1].DeepCopy()
	edited.Spec.Violations = nil
	if err := direct.Update(ctx, edited); err == nil || !strings.Contains(err.Error(), "sealed ResidencyRecord cannot be changed") {
		t.Fatalf("editing a sealed record: %v, want it refused", err)
	}
	// It can be deleted and made again with the US pod left out: verification names it.
	must(direct.Delete(ctx, &records[1]))
	edited.ResourceVersion, edited.UID = "", ""
	must(direct.Create(ctx, edited))
	must(direct.List(ctx, &list, client.InNamespace("shop"), client.MatchingLabels{v1alpha1.RecordStoreUIDLabel: string(storeUID(t, direct, store))}))
	problems := history.Verify(list.Items)
	if len(problems) != 1 || problems[0].Record != records[1].Name || !strings.Contains(problems[0].Message, "changed after the operator wrote it") {
		t.Errorf("after the edit, Verify = %v, want one problem naming %s", problems, records[1].Name)
	}
}

func storeUID(t *testing.T, c client.Client, store *v1alpha1.PersonalDataStore) types.UID {
	t.Helper()
	return storeWithUID(t, c, store).UID
}

func storeWithUID(t *testing.T, c client.Client, store *v1alpha1.PersonalDataStore) *v1alpha1.PersonalDataStore {
	t.Helper()
	got := &v1alpha1.PersonalDataStore{}
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(store), got); err != nil {
		t.Fatal(err)
	}
	return got
}

func names(records []v1alpha1.ResidencyRecord) []string {
	var out []string
	for _, r := range records {
		out = append(out, r.Name)
	}
	return out
}

func podSeconds(s v1alpha1.ResidencyRecordSpec, country string) int64 {
	var n int64
	for _, l := range s.Locations {
		if l.Country == country {
			n += l.PodSeconds
		}
	}
	return n
}
