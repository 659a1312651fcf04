package webhook

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
	"github.com/residency-operator/residency-operator/internal/localcluster"
)

const (
	latencyClients = 100
	latencyPods    = 5000
	latencyWarmup  = 200
	// latencySerialPods are created one after another per phase, to see the latency the webhooks
	// add when nothing queues.
	latencySerialPods = 300
)

// BenchmarkPodCreateLatency measures what the residency webhooks add to pod creation through a
// real kube-apiserver: 100 concurrent clients create 5,000 pods in a namespace no store governs
// (the webhooks' namespace selector skips it, so they are not called), then 5,000 governed pods in
// a governed namespace (the API server calls the mutating and the validating webhook for each).
// Same API server, same manager, same load; only the webhooks differ. It reports p50 and p99
// create latency of both phases and their difference, and the same for one client creating 300
// pods after another (serial-*), which shows the added latency without queueing.
//
// The manager serves the webhooks only, and the benchmark labels the governed namespace itself:
// the controllers (the store audit above all, which reacts to every governed pod) would otherwise
// add their own CPU use to the governed phase and be counted as webhook latency. Their cost is
// the subject of their own benchmarks.
func BenchmarkPodCreateLatency(b *testing.B) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		b.Fatal("KUBEBUILDER_ASSETS is not set: run the benchmarks through `make bench`, which builds kube-apiserver and etcd and points it at them")
	}
	logf.SetLogger(logr.Discard())
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)

	logFile, err := os.Create(filepath.Join(b.TempDir(), "cluster.log"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = logFile.Close() })
	startCtx, startCancel := context.WithTimeout(ctx, 90*time.Second)
	defer startCancel()
	cluster, err := localcluster.Start(startCtx, localcluster.Options{
		CRDDir:           filepath.Join("..", "..", "config", "crd", "bases"),
		WebhookConfigDir: filepath.Join("..", "..", "config", "webhook"),
		ControlPlaneOnly: true, // no scheduler: the pods stay Pending, which is all creation needs
		Log:              logFile,
	})
	if err != nil {
		b.Fatalf("starting kube-apiserver: %v", err)
	}
	b.Cleanup(func() {
		if err := cluster.Stop(); err != nil {
			b.Errorf("stopping the cluster: %v", err)
		}
	})

	s := benchScheme(b)
	mgr, err := ctrl.NewManager(cluster.Config, ctrl.Options{
		Scheme:                 s,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		WebhookServer:          ctrlwebhook.NewServer(cluster.WebhookServerOptions()),
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := Setup(mgr); err != nil {
		b.Fatal(err)
	}
	mgrDone := make(chan error, 1)
	go func() { mgrDone <- mgr.Start(ctx) }()
	b.Cleanup(func() {
		cancel()
		<-mgrDone // the manager stops before the cluster (cleanups run last-in, first-out)
	})
	waitCtx, waitCancel := context.WithTimeout(ctx, 30*time.Second)
	defer waitCancel()
	if err := cluster.WaitForWebhookServer(waitCtx); err != nil {
		b.Fatal(err)
	}

	c, err := client.New(cluster.Config, client.Options{Scheme: s})
	if err != nil {
		b.Fatal(err)
	}
	governedNS, plainNS := "governed", "plain"
	for _, o := range []client.Object{
		&v1alpha1.Jurisdiction{ObjectMeta: metav1.ObjectMeta{Name: "eu"}, Spec: v1alpha1.JurisdictionSpec{Countries: []v1alpha1.CountryCode{"DE", "BE", "NL", "FR"}}},
		// What the namespace controller does once the store exists.
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: governedNS, Labels: map[string]string{v1alpha1.GovernedNamespaceLabel: "true"}}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: plainNS}},
		&v1alpha1.PersonalDataStore{ObjectMeta: metav1.ObjectMeta{Name: "customer-db", Namespace: governedNS}, Spec: v1alpha1.PersonalDataStoreSpec{
			DataCategories:       []v1alpha1.DataCategory{v1alpha1.Credentials, v1alpha1.ContactDetails},
			AllowedJurisdictions: []v1alpha1.JurisdictionName{"eu"},
			WorkloadSelector:     metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": "customer-db"}},
		}},
	} {
		if err := c.Create(ctx, o); err != nil {
			b.Fatal(err)
		}
	}

	cfg := rest.CopyConfig(cluster.Config)
	cfg.QPS = -1 // no client-side throttling: measure the server
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		b.Fatal(err)
	}
	tmpl := benchPod()
	tmpl.OwnerReferences = nil
	// Wait until the webhooks see the store: a governed pod is placed.
	var lastErr error
	if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		p := tmpl.DeepCopy()
		p.Namespace = governedNS
		got, err := cs.CoreV1().Pods(governedNS).Create(ctx, p, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		lastErr = err
		return err == nil && got.Annotations[v1alpha1.StoresAnnotation] == "customer-db", nil
	}); err != nil {
		b.Fatalf("the webhooks never placed a governed pod: %v (last error: %v)", err, lastErr)
	}

	// Warm both paths up: connections, the API server's webhook client, caches.
	for _, ns := range []string{plainNS, governedNS} {
		if _, err := createPods(ctx, cs, ns, ns == governedNS, tmpl, latencyWarmup, latencyClients); err != nil {
			b.Fatal(err)
		}
	}

	// phase collects the latencies and the wall time of one kind of load.
	type phase struct {
		lat  []time.Duration
		wall time.Duration
	}
	run := func(p *phase, ns string, governed bool, n, clients int) {
		start := time.Now()
		lat, err := createPods(ctx, cs, ns, governed, tmpl, n, clients)
		if err != nil {
			b.Fatal(err)
		}
		p.wall += time.Since(start)
		p.lat = append(p.lat, lat...)
	}
	// webhookTime is the time the API server spent in the residency webhooks during f, as its
	// own admission metrics measure it (network and TLS included).
	// handlerTime is the part of it spent in the webhook server's handlers, as controller-runtime
	// measures it.
	var webhookTime, serialWebhookTime, handlerTime, serialHandlerTime time.Duration
	seconds := func(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }
	measured := func(into, handler *time.Duration, f func()) {
		before, beforeHandler := scrapeWebhookSeconds(ctx, b, cs), handlerSeconds(b)
		f()
		*into += seconds(scrapeWebhookSeconds(ctx, b, cs) - before)
		*handler += seconds(handlerSeconds(b) - beforeHandler)
	}
	var without, with, serialWithout, serialWith phase
	b.ResetTimer()
	for b.Loop() {
		run(&without, plainNS, false, latencyPods, latencyClients)
		measured(&webhookTime, &handlerTime, func() { run(&with, governedNS, true, latencyPods, latencyClients) })
		run(&serialWithout, plainNS, false, latencySerialPods, 1)
		measured(&serialWebhookTime, &serialHandlerTime, func() { run(&serialWith, governedNS, true, latencySerialPods, 1) })
	}
	b.StopTimer()

	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	p50w, p99w := percentile(with.lat, 50), percentile(with.lat, 99)
	p50o, p99o := percentile(without.lat, 50), percentile(without.lat, 99)
	b.ReportMetric(ms(p50w), "p50-ms")
	b.ReportMetric(ms(p99w), "p99-ms")
	b.ReportMetric(ms(p50o), "nowebhook-p50-ms")
	b.ReportMetric(ms(p99o), "nowebhook-p99-ms")
	b.ReportMetric(ms(p50w-p50o), "added-p50-ms")
	b.ReportMetric(ms(p99w-p99o), "added-p99-ms")
	b.ReportMetric(float64(len(with.lat))/with.wall.Seconds(), "pods/s")
	b.ReportMetric(float64(len(without.lat))/without.wall.Seconds(), "nowebhook-pods/s")
	s50w, s99w := percentile(serialWith.lat, 50), percentile(serialWith.lat, 99)
	s50o, s99o := percentile(serialWithout.lat, 50), percentile(serialWithout.lat, 99)
	b.ReportMetric(ms(s50w), "serial-p50-ms")
	b.ReportMetric(ms(s50o), "serial-nowebhook-p50-ms")
	b.ReportMetric(ms(s50w-s50o), "serial-added-p50-ms")
	b.ReportMetric(ms(s99w-s99o), "serial-added-p99-ms")
	b.ReportMetric(ms(webhookTime)/float64(len(with.lat)), "webhook-ms/pod")
	b.ReportMetric(ms(serialWebhookTime)/float64(len(serialWith.lat)), "serial-webhook-ms/pod")
	b.ReportMetric(ms(handlerTime)/float64(len(with.lat)), "handler-ms/pod")
	b.ReportMetric(ms(serialHandlerTime)/float64(len(serialWith.lat)), "serial-handler-ms/pod")
}

// handlerSeconds returns the total time the webhook server's pod handlers have taken
// (controller_runtime_webhook_latency_seconds, summed over the pod webhooks' paths).
func handlerSeconds(b *testing.B) float64 {
	b.Helper()
	families, err := metrics.Registry.Gather()
	if err != nil {
		b.Fatalf("gathering the manager's metrics: %v", err)
	}
	total := 0.0
	for _, f := range families {
		if f.GetName() != "controller_runtime_webhook_latency_seconds" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "webhook" && strings.HasSuffix(l.GetValue(), "-v1-pod") {
					total += m.GetHistogram().GetSampleSum()
				}
			}
		}
	}
	return total
}

// scrapeWebhookSeconds returns the total time the API server has spent calling the residency
// webhooks (apiserver_admission_webhook_admission_duration_seconds_sum, summed over the webhooks
// whose name ends in .dataresidency.io).
func scrapeWebhookSeconds(ctx context.Context, b *testing.B, cs kubernetes.Interface) float64 {
	b.Helper()
	raw, err := cs.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		b.Fatalf("reading the API server's metrics: %v", err)
	}
	const metric = "apiserver_admission_webhook_admission_duration_seconds_sum{"
	total := 0.0
	for line := range strings.Lines(string(raw)) {
		if !strings.HasPrefix(line, metric) || !strings.Contains(line, `.dataresidency.io"`) {
			continue
		}
		fields := strings.Fields(line)
		v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		if err != nil {
			b.Fatalf("parsing %q: %v", line, err)
		}
		total += v
	}
	return total
}

// createPods creates n pods from tmpl in ns with the given number of concurrent clients and
// returns each creation's latency. It checks that the webhooks placed every pod (wantPlaced) or
// none, so the phases measure what they claim to.
func createPods(ctx context.Context, cs kubernetes.Interface, ns string, wantPlaced bool, tmpl *corev1.Pod, n, clients int) ([]time.Duration, error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	lats := make([][]time.Duration, clients)
	errs := make([]error, clients)
	for w := range clients {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				p := tmpl.DeepCopy()
				p.Namespace = ns
				start := time.Now()
				got, err := cs.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
				lats[w] = append(lats[w], time.Since(start))
				if err != nil {
					errs[w] = fmt.Errorf("creating a pod in %s: %w", ns, err)
					return
				}
				if placed := got.Annotations[v1alpha1.StoresAnnotation] != ""; placed != wantPlaced {
					errs[w] = fmt.Errorf("pod %s/%s: placed by the webhooks = %v, unexpected in this namespace", ns, got.Name, placed)
					return
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return slices.Concat(lats...), nil
}

// percentile returns the p-th percentile (nearest rank) of ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[max(0, min(rank, len(s)-1))]
}
