package controllers

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
)

// BenchmarkJurisdictionChange5000Nodes measures, through a real kube-apiserver, how long the
// operator takes to bring 5,000 nodes in line after a Jurisdiction's countries change, and how
// many node writes that costs. Each op removes or re-adds Germany (1,000 of the nodes) to "eu".
func BenchmarkJurisdictionChange5000Nodes(b *testing.B) {
	const nodes = 5000
	ctrl.SetLogger(logr.Discard())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = v1alpha1.AddToScheme(scheme)
	env := &envtest.Environment{CRDDirectoryPaths: []string{filepath.Join("..", "config", "crd", "bases")}, ErrorIfCRDPathMissing: true}
	cfg, err := env.Start()
	if err != nil {
		b.Fatalf("starting envtest (run through make bench): %v", err)
	}
	defer func() { _ = env.Stop() }()
	cfg.QPS = -1 // as in production (ctrl.GetConfig): rely on the apiserver's priority and fairness
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		b.Fatal(err)
	}

	eu := &v1alpha1.Jurisdiction{ObjectMeta: metav1.ObjectMeta{Name: "eu"},
		Spec: v1alpha1.JurisdictionSpec{Countries: []v1alpha1.CountryCode{"DE", "BE", "NL", "FR"}}}
	us := &v1alpha1.Jurisdiction{ObjectMeta: metav1.ObjectMeta{Name: "us"},
		Spec: v1alpha1.JurisdictionSpec{Countries: []v1alpha1.CountryCode{"US"}}}
	for _, j := range []*v1alpha1.Jurisdiction{eu, us} {
		if err := c.Create(ctx, j); err != nil {
			b.Fatal(err)
		}
	}
	regions := []string{"eu-central-1", "europe-west1", "westeurope", "us-east-1", "ap-northeast-1"} // DE BE NL US JP
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, nodes)
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < nodes; i += 32 {
				n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("node-%05d", i),
					Labels: map[string]string{corev1.LabelTopologyRegion: regions[i%len(regions)], v1alpha1.ConfirmedRegionLabel: regions[i%len(regions)]}}}
				if err := c.Create(ctx, n); err != nil {
					errs <- err
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	b.Logf("created %d nodes in %s", nodes, time.Since(start).Round(time.Millisecond))

	// The benchmark framework runs this function more than once in one process.
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{Scheme: scheme, Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
		Controller: config.Controller{SkipNameValidation: ptr.To(true)}})
	if err != nil {
		b.Fatal(err)
	}
	if err := SetupWithManager(ctx, mgr); err != nil {
		b.Fatal(err)
	}
	go func() { _ = mgr.Start(ctx) }()
	cache := mgr.GetClient()
	waitForEU := func(want int) {
		for {
			var list corev1.NodeList
			if err := cache.List(ctx, &list, client.MatchingLabels{v1alpha1.JurisdictionLabel("eu"): "true"}); err == nil && len(list.Items) == want {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	start = time.Now()
	waitForEU(3000)
	b.Logf("initial labelling of %d nodes: %s, %.0f writes", nodes, time.Since(start).Round(time.Millisecond), testutil.ToFloat64(nodeLabelPatches))

	var writes float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		before := testutil.ToFloat64(nodeLabelPatches)
		want, countries := 3000, []v1alpha1.CountryCode{"DE", "BE", "NL", "FR"}
		if i%2 == 0 {
			want, countries = 2000, []v1alpha1.CountryCode{"BE", "NL", "FR"}
		}
		if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			if err := c.Get(ctx, client.ObjectKeyFromObject(eu), eu); err != nil {
				return err
			}
			eu.Spec.Countries = countries
			return c.Update(ctx, eu)
		}); err != nil {
			b.Fatal(err)
		}
		waitForEU(want)
		// The label count converges with the last patch; give stragglers (there should be none) no
		// chance to be missed by reading the counter only after convergence.
		writes += testutil.ToFloat64(nodeLabelPatches) - before
	}
	b.StopTimer()
	b.ReportMetric(writes/float64(b.N), "node-writes/op")
}
