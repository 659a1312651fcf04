// Package admissionbench measures what each admission mode costs pod creation through a real
// kube-apiserver, with the whole operator (controllers and webhooks) running in-process.
package admissionbench

import (
	"context"
	"fmt"
	"maps"
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
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
	"github.com/residency-operator/residency-operator/controllers"
	"github.com/residency-operator/residency-operator/internal/admissionpolicy"
	"github.com/residency-operator/residency-operator/internal/localcluster"
	residencywebhook "github.com/residency-operator/residency-operator/internal/webhook"
)

const (
	// rounds interleave the modes (each round measures every mode once, in rotating order), so
	// that drift in the shared machine's load falls on all of them alike.
	rounds = 5
	// satPods are created by satClients concurrent clients as fast as the API server answers:
	// throughput.
	satPods    = 600
	satClients = 50
	// serialPods are created one after another: the latency a mode adds when nothing queues.
	serialPods = 150
	// warmupPods warm up every path (connections, the API server's webhook client, CEL caches).
	warmupPods = 100
	// extraStores namespaces, each with one store, are compiled for the last phase.
	extraStores = 200
	// storesRounds are the rounds of the ungoverned namespace before and after they are compiled.
	storesRounds = 3
	storeName    = "bench-store"
)

// The admission modes, each served in its own namespace of the same name.
const (
	modeNone     = "none"     // no store: nothing governs the pods
	modePolicies = "policies" // compiled policies; the webhooks only judge pinned pods
	modeWebhook  = "webhook"  // not compiled; the webhooks do everything
	modeBoth     = "both"     // compiled policies and the webhooks
	// modeFloor is no store and one MutatingAdmissionPolicy without parameters that writes what
	// the compiled policies write into the benchmark's pod (the placement annotations and the
	// node affinity) without reading the pod: what kube-apiserver charges for any in-apiserver
	// placement, before any decision is made. No compiled placement can cost less.
	modeFloor = "floor"
)

var (
	modes = []string{modeNone, modePolicies, modeWebhook, modeBoth}
	// webhookModeNamespaces get config/webhook's configurations (no pinned-pods-only match
	// condition); every other namespace gets config/admission-policies'.
	webhookModeNamespaces = []string{modeWebhook, modeBoth}
)

// BenchmarkAdmissionModes measures pod creation through one kube-apiserver (etcd and
// kube-apiserver only, no scheduler: the pods stay Pending) in four namespaces side by side:
//
//   - none: no store;
//   - policies: one Enforce store selecting the pods, compiled into admission policies; the
//     webhook configurations are config/admission-policies', which call the webhooks for pinned
//     pods only, so never here;
//   - webhook: the same store, not compiled (the namespace is excluded from compilation) and
//     config/webhook's configurations, which call the webhooks for every pod;
//   - both: compiled and config/webhook's configurations.
//
// Per mode: saturated throughput (satPods pods from satClients clients, pods/s) and serial latency
// (serialPods pods one after another, p50 and p99 of the create call), in rounds that rotate the
// order of the modes. Ratios are against none: <mode>-sat-ratio, <mode>-added-p50-ms,
// <mode>-added-p99-ms. <mode>-apiserver-cpu-ms/pod is kube-apiserver's CPU time per pod in the
// saturated runs (the least noisy measure on a shared machine) and <mode>-webhook-calls/pod how
// many webhook calls the API server made per pod (0 for policies proves the match condition).
// <mode>-other-writes/pod counts the API server's write requests besides the pods' creation, from
// the serial run until the operator is idle after the saturated one: the operator's own writes in
// reaction to the pods (the log line breaks them down by verb and resource).
//
// Then, with the manager stopped (the policies stay compiled in the API server), none against
// policies and floor: stopped-*, the pure in-apiserver cost of the compiled policies, and the
// least any MutatingAdmissionPolicy that places the pod costs (stopped-floor-*). Per mode,
// <mode>-admission-policy-ms/pod is the time kube-apiserver spent evaluating admission policies
// (apiserver_{mutating,validating}_admission_policy_check_duration_seconds), per pod created in
// the saturated and serial runs: wall time, which under saturation includes waiting for a CPU.
//
// Last, with the manager started again: the ungoverned namespace's throughput before and after
// extraStores more namespaces with one store each are compiled (stores200-*). That comparison is
// before/after (storesRounds rounds each), not interleaved: compiled policies cannot be
// uncompiled and recompiled between rounds at a comparable cost. Then the manager is stopped once
// more and the ungoverned namespace measured again (stores200-after-stopped-none), against the
// stopped-none of the second phase: the part of that cost that is kube-apiserver's own.
//
// <mode>-sat-ratio is the ratio of the throughputs over all rounds; <mode>-sat-ratio-median, where
// the two were measured in the same rounds, the median of the rounds' ratios, which one round
// slowed by the machine's other load moves less. <prefix>-sat-round-spread is (max-min)/mean of a
// baseline's rounds: the noise to read the ratios against.
//
// Pods are deleted after every measurement, and the manager's work queues allowed to drain, so
// that every measurement starts from the same etcd contents and an idle operator. One call of the
// function is one whole experiment on its own cluster; b.N is not used.
func BenchmarkAdmissionModes(b *testing.B) {
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
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
		WebhookConfigDir: filepath.Join("..", "..", "config", "admission-policies"),
		ControlPlaneOnly: true,
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

	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		b.Fatal(err)
	}
	if err := v1alpha1.AddToScheme(s); err != nil {
		b.Fatal(err)
	}
	cfg := rest.CopyConfig(cluster.Config)
	cfg.QPS = -1 // no client-side throttling: measure the server
	c, err := client.New(cfg, client.Options{Scheme: s})
	if err != nil {
		b.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		b.Fatal(err)
	}
	if err := installWebhookModeConfigurations(ctx, c, assets); err != nil {
		b.Fatal(err)
	}

	op := startOperator(ctx, b, cluster, s)
	b.Cleanup(op.stop) // before the cluster stops (cleanups run last-in, first-out)

	objs := []client.Object{&v1alpha1.Jurisdiction{ObjectMeta: metav1.ObjectMeta{Name: "eu"},
		Spec: v1alpha1.JurisdictionSpec{Countries: []v1alpha1.CountryCode{"DE", "BE", "NL", "FR"}}}}
	for _, m := range modes {
		objs = append(objs, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: m}})
		if m != modeNone {
			objs = append(objs, benchStore(m))
		}
	}
	floor, floorBinding := floorPolicy()
	objs = append(objs, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: modeFloor}}, floor, floorBinding)
	for _, o := range objs {
		if err := c.Create(ctx, o); err != nil {
			b.Fatal(err)
		}
	}
	tmpl := benchPod()
	for _, m := range append(slices.Clone(modes), modeFloor) {
		if err := waitPlaced(ctx, cs, tmpl, m, m != modeNone); err != nil {
			b.Fatal(err)
		}
	}
	// The webhook namespace is served by the webhooks alone, the others as their names say.
	for m, want := range map[string]bool{modeNone: false, modePolicies: true, modeWebhook: false, modeBoth: true} {
		n, err := compiledFor(ctx, c, m)
		if err != nil {
			b.Fatal(err)
		}
		if (n > 0) != want {
			b.Fatalf("namespace %s has %d admission plans, want one: %v", m, n, want)
		}
	}

	r := &runner{b: b, ctx: ctx, c: c, cs: cs, tmpl: tmpl, op: op, results: map[string]*result{}}
	for _, m := range modes {
		r.warmup(m)
	}

	// Phase 1: the whole operator running, every mode.
	for round := range rounds {
		for i := range modes {
			m := modes[(round+i)%len(modes)]
			r.measure(m, m)
		}
	}

	// Phase 2: the manager stopped; the compiled policies stay in force in the API server.
	op.stop()
	stoppedModes := []string{modeNone, modePolicies, modeFloor}
	for _, m := range stoppedModes {
		r.warmup(m)
	}
	for round := range rounds {
		for i := range stoppedModes {
			m := stoppedModes[(round+i)%len(stoppedModes)]
			r.measure("stopped-"+m, m)
		}
	}

	// Phase 3: the manager again; the ungoverned namespace before and after extraStores more
	// namespaces are compiled.
	r.op = startOperator(ctx, b, cluster, s)
	b.Cleanup(r.op.stop)
	r.warmup(modeNone)
	for range storesRounds {
		r.measure("stores-before-none", modeNone)
	}
	began := time.Now()
	if err := compileExtraStores(ctx, c, cs, tmpl); err != nil {
		b.Fatal(err)
	}
	compileTime := time.Since(began)
	r.warmup(modeNone)
	for range storesRounds {
		r.measure("stores-after-none", modeNone)
	}
	// And with the manager stopped, to compare with phase 2's stopped-none: how much of the cost
	// is kube-apiserver's own (not adjacent in time; read it with the round spreads).
	r.op.stop()
	r.warmup(modeNone)
	for range storesRounds {
		r.measure("stores-after-stopped-none", modeNone)
	}

	r.report()
	b.ReportMetric(compileTime.Seconds(), "stores200-compile-s")
}

// result gathers the measurements of one mode in one phase over the rounds.
type result struct {
	satPods      int
	satWall      time.Duration
	roundRates   []float64 // pods/s of each round's saturated run
	serial       []time.Duration
	cpu          time.Duration // kube-apiserver's, in the saturated runs
	policyTime   float64       // seconds kube-apiserver spent evaluating admission policies, serial and saturated runs
	webhookCalls float64       // the residency webhooks', in the saturated runs
	// writes are the API server's write requests other than the pods' creation, by verb and
	// resource, from the serial run until the operator is idle after the saturated one: what the
	// operator writes in reaction to the pods, over writePods pods.
	writes    map[string]float64
	writePods int
}

func (r *result) rate() float64 { return float64(r.satPods) / r.satWall.Seconds() }

// policyTimePerPod is the admission policies' evaluation time per pod created, in ms.
func (r *result) policyTimePerPod() float64 {
	return r.policyTime * 1000 / float64(r.writePods)
}

type runner struct {
	b       *testing.B
	ctx     context.Context
	c       client.Client
	cs      kubernetes.Interface
	tmpl    *corev1.Pod
	op      *operator
	results map[string]*result
}

func (r *runner) load(ns string) localcluster.PodLoad {
	return localcluster.PodLoad{Client: r.cs, Namespace: ns, Governed: ns != modeNone, Template: r.tmpl}
}

// warmup creates pods in ns, concurrently and serially, and deletes them.
func (r *runner) warmup(ns string) {
	r.b.Helper()
	l := r.load(ns)
	if _, err := l.Create(r.ctx, warmupPods, satClients, 0); err != nil {
		r.b.Fatal(err)
	}
	if _, err := l.Create(r.ctx, warmupPods/5, 1, 0); err != nil {
		r.b.Fatal(err)
	}
	r.cleanup(ns)
}

// measure runs the serial and the saturated load in ns and adds them to the results under key.
func (r *runner) measure(key, ns string) {
	r.b.Helper()
	res := r.results[key]
	if res == nil {
		res = &result{}
		r.results[key] = res
	}
	l := r.load(ns)
	r.waitIdle()
	writes0, policy0 := scrapeWrites(r.ctx, r.b, r.cs), scrapePolicyTime(r.ctx, r.b, r.cs)
	lat, err := l.Create(r.ctx, serialPods, 1, 0)
	if err != nil {
		r.b.Fatal(err)
	}
	res.serial = append(res.serial, lat...)
	r.waitIdle()
	calls0, cpu0 := scrapeWebhookCalls(r.ctx, r.b, r.cs), apiserverCPU(r.b)
	start := time.Now()
	if _, err := l.Create(r.ctx, satPods, satClients, 0); err != nil {
		r.b.Fatal(err)
	}
	wall := time.Since(start)
	res.cpu += apiserverCPU(r.b) - cpu0
	res.webhookCalls += scrapeWebhookCalls(r.ctx, r.b, r.cs) - calls0
	res.satPods += satPods
	res.satWall += wall
	res.roundRates = append(res.roundRates, satPods/wall.Seconds())
	res.policyTime += scrapePolicyTime(r.ctx, r.b, r.cs) - policy0
	r.waitIdle()
	if res.writes == nil {
		res.writes = map[string]float64{}
	}
	for k, v := range scrapeWrites(r.ctx, r.b, r.cs) {
		res.writes[k] += v - writes0[k]
	}
	res.writes["POST pods"] -= serialPods + satPods
	res.writePods += serialPods + satPods
	r.cleanup(ns)
}

// cleanup deletes the pods of ns, waits until they are gone and the operator has seen it.
func (r *runner) cleanup(ns string) {
	r.b.Helper()
	if err := r.c.DeleteAllOf(r.ctx, &corev1.Pod{}, client.InNamespace(ns), client.GracePeriodSeconds(0)); err != nil {
		r.b.Fatalf("deleting the pods of %s: %v", ns, err)
	}
	if err := wait.PollUntilContextTimeout(r.ctx, 100*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		pods, err := r.cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{Limit: 1})
		return err == nil && len(pods.Items) == 0, nil
	}); err != nil {
		r.b.Fatalf("the pods of %s are not gone: %v", ns, err)
	}
	r.waitIdle()
}

// waitIdle waits until the operator's controllers have nothing left to do: no reconcile running and
// nothing added to a work queue for 1.5 s. It gives up (and says so) after a minute, as
// a controller may requeue periodically. With the manager stopped it returns at once.
func (r *runner) waitIdle() {
	r.b.Helper()
	if !r.op.running() {
		return
	}
	deadline := time.Now().Add(time.Minute)
	last, quiet := -1.0, 0
	for time.Now().Before(deadline) {
		adds, active := queueActivity(r.b)
		if adds == last && active == 0 {
			quiet++
		} else {
			quiet = 0
		}
		// 1.5 s: the store controller batches pod events for a second before it audits.
		if quiet >= 15 {
			return
		}
		last = adds
		select {
		case <-r.ctx.Done():
			r.b.Fatal(r.ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
	r.b.Logf("the operator did not go idle within a minute; measuring anyway")
}

// queueActivity returns how many items the manager's work queues have ever been given and how many
// reconciles run now (controller-runtime's workqueue_adds_total and
// controller_runtime_active_workers).
func queueActivity(b *testing.B) (adds, active float64) {
	b.Helper()
	families, err := metrics.Registry.Gather()
	if err != nil {
		b.Fatalf("gathering the manager's metrics: %v", err)
	}
	for _, f := range families {
		switch f.GetName() {
		case "workqueue_adds_total":
			for _, m := range f.GetMetric() {
				adds += m.GetCounter().GetValue()
			}
		case "controller_runtime_active_workers":
			for _, m := range f.GetMetric() {
				active += m.GetGauge().GetValue()
			}
		}
	}
	return adds, active
}

func (r *runner) report() {
	b := r.b
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	for _, key := range slices.Sorted(maps.Keys(r.results)) {
		res := r.results[key]
		rates := make([]string, len(res.roundRates))
		for i, v := range res.roundRates {
			rates[i] = strconv.FormatFloat(v, 'f', 0, 64)
		}
		var writes []string
		for _, k := range slices.Sorted(maps.Keys(res.writes)) {
			if per := res.writes[k] / float64(res.writePods); per >= 0.005 {
				writes = append(writes, fmt.Sprintf("%s %.2f", k, per))
			}
		}
		b.Logf("%-20s saturated %6.1f pods/s (rounds: %s), serial p50 %.2f ms p99 %.2f ms, apiserver %.2f ms CPU/pod, admission policies %.2f ms/pod, %.2f webhook calls/pod, other writes/pod: %s",
			key, res.rate(), strings.Join(rates, " "), ms(localcluster.Percentile(res.serial, 50)), ms(localcluster.Percentile(res.serial, 99)),
			ms(res.cpu)/float64(res.satPods), res.policyTimePerPod(), res.webhookCalls/float64(res.satPods), strings.Join(writes, ", "))
	}
	abs := func(prefix string, res *result) {
		b.ReportMetric(res.rate(), prefix+"-sat-pods/s")
		b.ReportMetric(ms(localcluster.Percentile(res.serial, 50)), prefix+"-serial-p50-ms")
		b.ReportMetric(ms(localcluster.Percentile(res.serial, 99)), prefix+"-serial-p99-ms")
		b.ReportMetric(ms(res.cpu)/float64(res.satPods), prefix+"-apiserver-cpu-ms/pod")
		b.ReportMetric(res.webhookCalls/float64(res.satPods), prefix+"-webhook-calls/pod")
		b.ReportMetric(res.policyTimePerPod(), prefix+"-admission-policy-ms/pod")
		total := 0.0
		for _, v := range res.writes {
			total += v
		}
		b.ReportMetric(total/float64(res.writePods), prefix+"-other-writes/pod")
	}
	vs := func(prefix string, res, base *result, paired bool) {
		b.ReportMetric(res.rate()/base.rate(), prefix+"-sat-ratio")
		if paired {
			// Each round measured both: the median of the rounds' ratios is paired, and less
			// sensitive to a round the machine's other load slowed down.
			ratios := make([]float64, len(res.roundRates))
			for i := range ratios {
				ratios[i] = res.roundRates[i] / base.roundRates[i]
			}
			slices.Sort(ratios)
			b.ReportMetric(ratios[len(ratios)/2], prefix+"-sat-ratio-median")
		}
		b.ReportMetric(ms(localcluster.Percentile(res.serial, 50)-localcluster.Percentile(base.serial, 50)), prefix+"-added-p50-ms")
		b.ReportMetric(ms(localcluster.Percentile(res.serial, 99)-localcluster.Percentile(base.serial, 99)), prefix+"-added-p99-ms")
		b.ReportMetric(ms(res.cpu)/float64(res.satPods)-ms(base.cpu)/float64(base.satPods), prefix+"-added-apiserver-cpu-ms/pod")
	}
	none := r.results[modeNone]
	abs("none", none)
	// The spread of the baseline's rounds is the noise a ratio has to be read against.
	b.ReportMetric((slices.Max(none.roundRates)-slices.Min(none.roundRates))/none.rate(), "none-sat-round-spread")
	for _, m := range modes[1:] {
		abs(m, r.results[m])
		vs(m, r.results[m], none, true)
	}
	stoppedNone, stoppedPolicies := r.results["stopped-"+modeNone], r.results["stopped-"+modePolicies]
	abs("stopped-none", stoppedNone)
	abs("stopped-policies", stoppedPolicies)
	vs("stopped-policies", stoppedPolicies, stoppedNone, true)
	stoppedFloor := r.results["stopped-"+modeFloor]
	abs("stopped-floor", stoppedFloor)
	vs("stopped-floor", stoppedFloor, stoppedNone, true)
	b.ReportMetric((slices.Max(stoppedNone.roundRates)-slices.Min(stoppedNone.roundRates))/stoppedNone.rate(), "stopped-none-sat-round-spread")
	before, after := r.results["stores-before-none"], r.results["stores-after-none"]
	abs("stores200-before-none", before)
	abs("stores200-after-none", after)
	vs("stores200-none", after, before, false) // before and after: not paired
	stoppedAfter := r.results["stores-after-stopped-none"]
	abs("stores200-after-stopped-none", stoppedAfter)
	b.ReportMetric(stoppedAfter.rate()/stoppedNone.rate(), "stores200-stopped-none-sat-ratio")
	b.ReportMetric(ms(stoppedAfter.cpu)/float64(stoppedAfter.satPods)-ms(stoppedNone.cpu)/float64(stoppedNone.satPods),
		"stores200-stopped-none-added-apiserver-cpu-ms/pod")
}

// operator is the manager (controllers and webhooks, wired as main.go wires them) running
// in-process.
type operator struct {
	b       *testing.B
	cancel  context.CancelFunc
	exited  chan struct{} // closed when the manager has stopped
	err     error         // what mgr.Start returned, once exited is closed
	once    sync.Once
	stopped atomic.Bool // stop was called
}

func startOperator(ctx context.Context, b *testing.B, cluster *localcluster.Cluster, s *runtime.Scheme) *operator {
	b.Helper()
	serverOpts := cluster.WebhookServerOptions()
	serverOpts.TLSOpts = residencywebhook.TLSOptions(true) // main.go's default, --webhook-http2=true
	mgr, err := ctrl.NewManager(cluster.Config, ctrl.Options{
		Scheme:                 s,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		// As main.go configures the cache.
		Cache: cache.Options{DefaultTransform: cache.TransformStripManagedFields(), ByObject: map[client.Object]cache.ByObject{
			&corev1.Secret{}: {Namespaces: map[string]cache.Config{"residency-system": {}}},
		}},
		WebhookServer: ctrlwebhook.NewServer(serverOpts),
		// The manager is started twice in one process.
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		b.Fatal(err)
	}
	mgrCtx, cancel := context.WithCancel(ctx)
	opts := controllers.DefaultOptions()
	opts.ExcludedNamespaces = []string{modeWebhook} // served by the webhooks alone
	if err := controllers.SetupWithManager(mgrCtx, mgr, opts); err != nil {
		cancel()
		b.Fatal(err)
	}
	if err := residencywebhook.Setup(mgr, residencywebhook.DefaultOptions()); err != nil {
		cancel()
		b.Fatal(err)
	}
	op := &operator{b: b, cancel: cancel, exited: make(chan struct{})}
	go func() {
		defer close(op.exited)
		op.err = mgr.Start(mgrCtx)
	}()
	waitCtx, waitCancel := context.WithTimeout(ctx, 30*time.Second)
	defer waitCancel()
	if err := cluster.WaitForWebhookServer(waitCtx); err != nil {
		b.Fatal(err)
	}
	return op
}

// running reports whether the manager runs; it fails the benchmark if the manager stopped without
// being told to.
func (o *operator) running() bool {
	select {
	case <-o.exited:
		if !o.stopped.Load() {
			o.b.Fatalf("the manager stopped unexpectedly: %v", o.err)
		}
		return false
	default:
		return true
	}
}

// stop stops the manager and waits until it is gone; it is safe to call more than once.
func (o *operator) stop() {
	o.once.Do(func() {
		o.stopped.Store(true)
		o.cancel()
		select {
		case <-o.exited:
			if o.err != nil {
				o.b.Log("manager: ", o.err)
			}
		case <-time.After(time.Minute):
			o.b.Error("the manager did not stop within a minute")
		}
	})
}

// installWebhookModeConfigurations gives the webhook and both namespaces config/webhook's
// configurations (the webhooks judge every pod) in place of config/admission-policies' (pinned pods
// only), which localcluster installed for all governed namespaces: those are narrowed to the other
// namespaces, and renamed copies of config/webhook's, pointing at the same local webhook server,
// select the two.
func installWebhookModeConfigurations(ctx context.Context, c client.Client, assets string) error {
	mutating, validating, err := localcluster.RenderWebhookConfigurations(ctx, filepath.Join(assets, "kustomize"),
		filepath.Join("..", "..", "config", "webhook"))
	if err != nil {
		return err
	}
	clientConfigs := map[string]admissionregistrationv1.WebhookClientConfig{}
	exclude := metav1.LabelSelectorRequirement{Key: corev1.LabelMetadataName, Operator: metav1.LabelSelectorOpNotIn, Values: webhookModeNamespaces}
	include := metav1.LabelSelectorRequirement{Key: corev1.LabelMetadataName, Operator: metav1.LabelSelectorOpIn, Values: webhookModeNamespaces}
	narrow := func(sel **metav1.LabelSelector, req metav1.LabelSelectorRequirement) {
		if *sel == nil {
			*sel = &metav1.LabelSelector{}
		}
		(*sel).MatchExpressions = append((*sel).MatchExpressions, req)
	}

	var installedMutating admissionregistrationv1.MutatingWebhookConfigurationList
	if err := c.List(ctx, &installedMutating); err != nil {
		return err
	}
	for i := range installedMutating.Items {
		cfg := &installedMutating.Items[i]
		for j := range cfg.Webhooks {
			clientConfigs[cfg.Webhooks[j].Name] = cfg.Webhooks[j].ClientConfig
			narrow(&cfg.Webhooks[j].NamespaceSelector, exclude)
		}
		if err := c.Update(ctx, cfg); err != nil {
			return fmt.Errorf("narrowing %s: %w", cfg.Name, err)
		}
	}
	var installedValidating admissionregistrationv1.ValidatingWebhookConfigurationList
	if err := c.List(ctx, &installedValidating); err != nil {
		return err
	}
	for i := range installedValidating.Items {
		cfg := &installedValidating.Items[i]
		for j := range cfg.Webhooks {
			clientConfigs[cfg.Webhooks[j].Name] = cfg.Webhooks[j].ClientConfig
			narrow(&cfg.Webhooks[j].NamespaceSelector, exclude)
		}
		if err := c.Update(ctx, cfg); err != nil {
			return fmt.Errorf("narrowing %s: %w", cfg.Name, err)
		}
	}

	clientConfig := func(name string) (admissionregistrationv1.WebhookClientConfig, error) {
		cc, ok := clientConfigs[name]
		if !ok {
			return cc, fmt.Errorf("webhook %s of config/webhook is not among the installed ones", name)
		}
		return cc, nil
	}
	for _, cfg := range mutating {
		cfg.Name = "webhook-mode-" + cfg.Name
		for j := range cfg.Webhooks {
			if cfg.Webhooks[j].ClientConfig, err = clientConfig(cfg.Webhooks[j].Name); err != nil {
				return err
			}
			narrow(&cfg.Webhooks[j].NamespaceSelector, include)
		}
		if err := c.Create(ctx, cfg); err != nil {
			return fmt.Errorf("creating %s: %w", cfg.Name, err)
		}
	}
	for _, cfg := range validating {
		cfg.Name = "webhook-mode-" + cfg.Name
		for j := range cfg.Webhooks {
			if cfg.Webhooks[j].ClientConfig, err = clientConfig(cfg.Webhooks[j].Name); err != nil {
				return err
			}
			narrow(&cfg.Webhooks[j].NamespaceSelector, include)
		}
		if err := c.Create(ctx, cfg); err != nil {
			return fmt.Errorf("creating %s: %w", cfg.Name, err)
		}
	}
	return nil
}

// floorPolicy is modeFloor's policy and binding: the benchmark pod's placement (what the compiled
// policies write for benchStore) as a constant JSON patch, so that nothing is read or decided.
func floorPolicy() (*admissionregistrationv1.MutatingAdmissionPolicy, *admissionregistrationv1.MutatingAdmissionPolicyBinding) {
	const selector = "Object.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"
	patch := `[
  JSONPatch{op: "add", path: "/metadata/annotations", value: {"` + v1alpha1.StoresAnnotation + `": "` + storeName + `", "` +
		v1alpha1.AllowedJurisdictionsAnnotation + `": "eu"}},
  JSONPatch{op: "add", path: "/spec/affinity", value: Object.spec.affinity{nodeAffinity: Object.spec.affinity.nodeAffinity{
    requiredDuringSchedulingIgnoredDuringExecution: ` + selector + `{nodeSelectorTerms: [` + selector + `.nodeSelectorTerms{
      matchExpressions: [` + selector + `.nodeSelectorTerms.matchExpressions{key: "` + v1alpha1.JurisdictionLabelPrefix + `eu", operator: "In", values: ["true"]}]}]}}}}]`
	policy := &admissionregistrationv1.MutatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "bench-floor"},
		Spec: admissionregistrationv1.MutatingAdmissionPolicySpec{
			MatchConstraints: &admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionregistrationv1.RuleWithOperations{
					Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
					Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}},
				}}}},
			Mutations: []admissionregistrationv1.Mutation{{PatchType: admissionregistrationv1.PatchTypeJSONPatch,
				JSONPatch: &admissionregistrationv1.JSONPatch{Expression: patch}}},
			FailurePolicy:      ptr.To(admissionregistrationv1.Fail),
			ReinvocationPolicy: admissionregistrationv1.NeverReinvocationPolicy,
		},
	}
	binding := &admissionregistrationv1.MutatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "bench-floor"},
		Spec: admissionregistrationv1.MutatingAdmissionPolicyBindingSpec{PolicyName: "bench-floor",
			MatchResources: &admissionregistrationv1.MatchResources{NamespaceSelector: &metav1.LabelSelector{
				MatchLabels: map[string]string{corev1.LabelMetadataName: modeFloor}}}},
	}
	return policy, binding
}

// benchStore is an Enforce store in ns that governs the benchmark's pods.
func benchStore(ns string) *v1alpha1.PersonalDataStore {
	return &v1alpha1.PersonalDataStore{
		ObjectMeta: metav1.ObjectMeta{Name: storeName, Namespace: ns},
		Spec: v1alpha1.PersonalDataStoreSpec{
			DataCategories:       []v1alpha1.DataCategory{v1alpha1.Credentials, v1alpha1.ContactDetails},
			AllowedJurisdictions: []v1alpha1.JurisdictionName{"eu"},
			WorkloadSelector:     metav1.LabelSelector{MatchLabels: map[string]string{"app": "bench"}},
			Enforcement:          v1alpha1.Enforce,
		},
	}
}

// benchPod is a small pod the benchmark's stores select.
func benchPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "bench-", Labels: map[string]string{"app": "bench"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "app", Image: "registry.example/bench:1.0",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi")}},
		}}},
	}
}

// waitPlaced waits until a dry-run pod created in ns is placed (the stores annotation set) exactly
// when governed: the API server has loaded the compiled policies or webhook configurations, and the
// webhooks' cache has the store.
func waitPlaced(ctx context.Context, cs kubernetes.Interface, tmpl *corev1.Pod, ns string, governed bool) error {
	var lastErr error
	var placed bool
	if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		p := tmpl.DeepCopy()
		p.Namespace = ns
		got, err := cs.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		lastErr = err
		placed = err == nil && got.Annotations[v1alpha1.StoresAnnotation] == storeName
		return err == nil && placed == governed, nil
	}); err != nil {
		return fmt.Errorf("a pod in %s is never placed = %v: %w (last error: %w)", ns, governed, err, lastErr)
	}
	return nil
}

// compiledFor counts the admission plans compiled for ns (one or none).
func compiledFor(ctx context.Context, c client.Client, ns string) (int, error) {
	var list v1alpha1.AdmissionPlanList
	err := c.List(ctx, &list, client.InNamespace(ns), client.MatchingLabels{admissionpolicy.ManagedByLabel: admissionpolicy.ManagedBy})
	return len(list.Items), err
}

// compileExtraStores creates extraStores namespaces with one store each and waits until their
// plans are compiled (every namespace's AdmissionPlan exists) and in force (a dry-run pod in every
// one of them is placed).
func compileExtraStores(ctx context.Context, c client.Client, cs kubernetes.Interface, tmpl *corev1.Pod) error {
	var names []string
	for i := range extraStores {
		ns := fmt.Sprintf("governed-%03d", i)
		names = append(names, ns)
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			return err
		}
		if err := c.Create(ctx, benchStore(ns)); err != nil {
			return err
		}
	}
	want := extraStores + 2 // and the policies and both namespaces'
	var got int
	if err := wait.PollUntilContextTimeout(ctx, time.Second, 10*time.Minute, true, func(ctx context.Context) (bool, error) {
		var list v1alpha1.AdmissionPlanList
		if err := c.List(ctx, &list, client.MatchingLabels{admissionpolicy.ManagedByLabel: admissionpolicy.ManagedBy}); err != nil {
			return false, nil
		}
		got = len(list.Items)
		return got >= want, nil
	}); err != nil {
		return fmt.Errorf("%d of %d namespaces' plans compiled: %w", got, want, err)
	}
	for _, ns := range names {
		if err := waitPlaced(ctx, cs, tmpl, ns, true); err != nil {
			return err
		}
	}
	return nil
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

// scrapeWebhookCalls returns how many times the API server has called the residency webhooks
// (apiserver_admission_webhook_admission_duration_seconds_count, summed over the webhooks whose name
// ends in .dataresidency.io).
func scrapeWebhookCalls(ctx context.Context, b *testing.B, cs kubernetes.Interface) float64 {
	b.Helper()
	raw, err := cs.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		b.Fatalf("reading the API server's metrics: %v", err)
	}
	total, err := localcluster.SumMetric(raw, "apiserver_admission_webhook_admission_duration_seconds_count{", `.dataresidency.io"`)
	if err != nil {
		b.Fatal(err)
	}
	return total
}

// scrapePolicyTime returns the seconds kube-apiserver has spent evaluating admission policies,
// mutating and validating.
func scrapePolicyTime(ctx context.Context, b *testing.B, cs kubernetes.Interface) float64 {
	b.Helper()
	raw, err := cs.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		b.Fatalf("reading the API server's metrics: %v", err)
	}
	var total float64
	for _, metric := range []string{"apiserver_mutating_admission_policy_check_duration_seconds_sum{",
		"apiserver_validating_admission_policy_check_duration_seconds_sum{"} {
		v, err := localcluster.SumMetric(raw, metric)
		if err != nil {
			b.Fatal(err)
		}
		total += v
	}
	return total
}

// scrapeWrites returns the API server's write requests so far (apiserver_request_total, not dry
// run), by "VERB resource[/subresource]".
func scrapeWrites(ctx context.Context, b *testing.B, cs kubernetes.Interface) map[string]float64 {
	b.Helper()
	raw, err := cs.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		b.Fatalf("reading the API server's metrics: %v", err)
	}
	label := func(line, name string) string {
		_, rest, ok := strings.Cut(line, name+`="`)
		if !ok {
			return ""
		}
		v, _, _ := strings.Cut(rest, `"`)
		return v
	}
	out := map[string]float64{}
	for line := range strings.Lines(string(raw)) {
		if !strings.HasPrefix(line, "apiserver_request_total{") || label(line, "dry_run") != "" {
			continue
		}
		verb := label(line, "verb")
		switch verb {
		case "POST", "PUT", "PATCH", "APPLY", "DELETE", "DELETECOLLECTION":
		default:
			continue
		}
		key := verb + " " + label(line, "resource")
		if sub := label(line, "subresource"); sub != "" {
			key += "/" + sub
		}
		fields := strings.Fields(line)
		v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		if err != nil {
			b.Fatalf("parsing %q: %v", line, err)
		}
		out[key] += v
	}
	return out
}
