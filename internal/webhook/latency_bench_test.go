package webhook

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
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
	// latencyRate is the offered load of the paced phases, in pod creations per second over all
	// clients: a busy cluster (kube-controller-manager's whole API budget is 50 requests per
	// second by default), well below what this machine's API server sustains with or without
	// webhooks, so the phases measure latency rather than a queue.
	latencyRate = 100
	// latencyRounds interleaves the paced phases (without, with, without, ...) so that drift in
	// the machine's load falls on both alike.
	latencyRounds = 5
	// latencySerialPods are created one after another per phase, to see the latency the webhooks
	// add when nothing queues.
	latencySerialPods = 300
)

// BenchmarkPodCreateLatency measures what the residency webhooks add to pod creation through a
// real kube-apiserver: pods created in a namespace no store governs (the webhooks' namespace
// selector skips it, so they are not called) against pods created in a governed namespace (the
// API server calls the mutating and the validating webhook for each). Same API server, same
// manager, same pod; only the webhooks differ. Three kinds of load, each with and without:
//
//   - paced (the reported p50-ms, p99-ms, added-*): 100 concurrent clients creating 5,000 pods
//     at 100 per second in all, open loop: latency counts from each creation's scheduled time,
//     so a slow answer delays nothing unmeasured;
//   - saturated-*: the same 100 clients creating 5,000 pods as fast as the API server answers.
//     That measures throughput: latency is the queue in front of two shared cores, and grows
//     with any CPU the webhook calls cost the API server;
//   - serial-*: one client creating 300 pods one after another.
//
// apiserver-cpu-ms/pod is the API server's CPU time per pod in the saturated phases, which is
// what the webhook calls cost it and why throughput drops.
//
// It runs once with the webhook server on HTTP/1.1 only (--webhook-http2=false) and once with
// HTTP/2 (the default). The manager serves the webhooks only, and the benchmark labels the governed
// namespace itself: the controllers (the store audit above all, which reacts to every governed
// pod) would otherwise add their own CPU use to the governed phase and be counted as webhook
// latency. Their cost is the subject of their own benchmarks.
func BenchmarkPodCreateLatency(b *testing.B) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		b.Fatal("KUBEBUILDER_ASSETS is not set: run the benchmarks through `make bench`, which builds kube-apiserver and etcd and points it at them")
	}
	logf.SetLogger(logr.Discard())
	for _, proto := range []struct {
		name  string
		http2 bool
	}{{"http1.1", false}, {"http2", true}} {
		b.Run(proto.name, func(b *testing.B) { podCreateLatency(b, proto.http2) })
	}
}

func podCreateLatency(b *testing.B, http2 bool) {
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
	serverOpts := cluster.WebhookServerOptions()
	serverOpts.TLSOpts = TLSOptions(http2) // as main.go configures it
	mgr, err := ctrl.NewManager(cluster.Config, ctrl.Options{
		Scheme:                 s,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		WebhookServer:          ctrlwebhook.NewServer(serverOpts),
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := Setup(mgr, DefaultOptions()); err != nil {
		b.Fatal(err)
	}
	mgrDone := make(chan error, 1)
	go func() { mgrDone <- mgr.Start(ctx) }()
	b.Cleanup(func() {
		cancel()
		// The manager stops before the cluster (cleanups run last-in, first-out).
		if err := <-mgrDone; err != nil {
			b.Log("manager: ", err)
		}
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

	load := func(ns string) localcluster.PodLoad {
		return localcluster.PodLoad{Client: cs, Namespace: ns, Governed: ns == governedNS, Template: tmpl}
	}
	plain, governed := load(plainNS), load(governedNS)
	// Warm both paths up: connections, the API server's webhook client, caches.
	for _, l := range []localcluster.PodLoad{plain, governed} {
		if _, err := l.Create(ctx, latencyWarmup, latencyClients, 0); err != nil {
			b.Fatal(err)
		}
	}

	// phase collects the latencies and the wall time of one kind of load.
	type phase struct {
		lat  []time.Duration
		wall time.Duration
	}
	run := func(p *phase, l localcluster.PodLoad, n, clients int, rate float64) {
		start := time.Now()
		lat, err := l.Create(ctx, n, clients, rate)
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
	// apiserverCPU* are the API server's CPU time in the saturated phases: what the webhook calls
	// cost it per pod (encoding the review, TLS, applying the patch, decoding the result).
	var apiserverCPUWith, apiserverCPUWithout time.Duration
	seconds := func(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }
	measured := func(into, handler *time.Duration, f func()) {
		before, beforeHandler := scrapeWebhookSeconds(ctx, b, cs), handlerSeconds(b)
		f()
		*into += seconds(scrapeWebhookSeconds(ctx, b, cs) - before)
		*handler += seconds(handlerSeconds(b) - beforeHandler)
	}
	var without, with, satWithout, satWith, serialWithout, serialWith phase
	// roundP99s are the no-webhook p99s of the single paced rounds: their spread is the noise
	// floor a difference of p99s has to be read against.
	var roundP99s []time.Duration
	b.ResetTimer()
	for b.Loop() {
		for range latencyRounds {
			before := len(without.lat)
			run(&without, plain, latencyPods/latencyRounds, latencyClients, latencyRate)
			roundP99s = append(roundP99s, localcluster.Percentile(without.lat[before:], 99))
			measured(&webhookTime, &handlerTime, func() { run(&with, governed, latencyPods/latencyRounds, latencyClients, latencyRate) })
		}
		cpu0 := apiserverCPU(b)
		run(&satWithout, plain, latencyPods, latencyClients, 0)
		cpu1 := apiserverCPU(b)
		run(&satWith, governed, latencyPods, latencyClients, 0)
		apiserverCPUWithout += cpu1 - cpu0
		apiserverCPUWith += apiserverCPU(b) - cpu1
		run(&serialWithout, plain, latencySerialPods, 1, 0)
		measured(&serialWebhookTime, &serialHandlerTime, func() { run(&serialWith, governed, latencySerialPods, 1, 0) })
	}
	b.StopTimer()

	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	report := func(prefix string, with, without phase, throughput bool) {
		p50w, p99w := localcluster.Percentile(with.lat, 50), localcluster.Percentile(with.lat, 99)
		p50o, p99o := localcluster.Percentile(without.lat, 50), localcluster.Percentile(without.lat, 99)
		b.ReportMetric(ms(p50w), prefix+"p50-ms")
		b.ReportMetric(ms(p99w), prefix+"p99-ms")
		b.ReportMetric(ms(p50o), prefix+"nowebhook-p50-ms")
		b.ReportMetric(ms(p99o), prefix+"nowebhook-p99-ms")
		b.ReportMetric(ms(p50w-p50o), prefix+"added-p50-ms")
		b.ReportMetric(ms(p99w-p99o), prefix+"added-p99-ms")
		if throughput {
			b.ReportMetric(float64(len(with.lat))/with.wall.Seconds(), prefix+"pods/s")
			b.ReportMetric(float64(len(without.lat))/without.wall.Seconds(), prefix+"nowebhook-pods/s")
		}
	}
	report("", with, without, false)
	b.ReportMetric(ms(slices.Max(roundP99s)-slices.Min(roundP99s)), "nowebhook-round-p99-spread-ms")
	report("saturated-", satWith, satWithout, true)
	report("serial-", serialWith, serialWithout, false)
	b.ReportMetric(ms(apiserverCPUWith)/float64(len(satWith.lat)), "apiserver-cpu-ms/pod")
	b.ReportMetric(ms(apiserverCPUWithout)/float64(len(satWithout.lat)), "nowebhook-apiserver-cpu-ms/pod")
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

// apiserverCPU returns the CPU time this benchmark's kube-apiserver has used.
func apiserverCPU(b *testing.B) time.Duration {
	b.Helper()
	cpu, err := localcluster.ChildCPU("kube-apiserver")
	if err != nil {
		b.Fatal(err)
	}
	return cpu
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
	total, err := localcluster.SumMetric(raw, "apiserver_admission_webhook_admission_duration_seconds_sum{", `.dataresidency.io"`)
	if err != nil {
		b.Fatal(err)
	}
	return total
}
