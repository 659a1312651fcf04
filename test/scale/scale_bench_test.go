// Package scale measures the operator at cluster scale against a real kube-apiserver: 1,000 nodes,
// 10,000 pods and 200 stores. It runs the real manager binary as a separate process so its peak
// RSS can be read, and reports through Go benchmark metrics (`make bench`).
package scale

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
)

const (
	nodes          = 1000
	pods           = 10000
	namespaces     = 50
	storesPerNS    = 4 // 200 stores
	podsPerStore   = pods / (namespaces * storesPerNS)
	createWorkers  = 32
	pollInterval   = 50 * time.Millisecond
	convergeBudget = 5 * time.Minute
)

// regions cycles nodes over EU and US regions; stores allow eu only, so the US nodes' pods are
// violations (half of them), which the audit must find and list.
var regions = []string{"eu-central-1", "europe-west1", "us-east-1", "us-central1"}

func BenchmarkScale1000Nodes10000Pods200Stores(b *testing.B) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		b.Fatal("KUBEBUILDER_ASSETS is not set: run through `make bench`")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = v1alpha1.AddToScheme(scheme)
	env := &envtest.Environment{CRDDirectoryPaths: []string{filepath.Join("..", "..", "config", "crd", "bases")}, ErrorIfCRDPathMissing: true}
	cfg, err := env.Start()
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = env.Stop() }()
	cfg.QPS, cfg.Burst = -1, 0
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		b.Fatal(err)
	}

	start := time.Now()
	seed(ctx, b, c)
	b.Logf("seeded %d nodes, %d pods, %d stores in %s", nodes, pods, namespaces*storesPerNS, time.Since(start).Round(time.Millisecond))

	manager := buildManager(b)
	user, err := env.AddUser(envtest.User{Name: "operator", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		b.Fatal(err)
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		b.Fatal(err)
	}
	kubeconfigPath := filepath.Join(b.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfigPath, kubeconfig, 0o600); err != nil {
		b.Fatal(err)
	}

	b.ResetTimer()
	start = time.Now()
	cmd := exec.CommandContext(ctx, manager, "--leader-elect=false", "--enable-webhooks=false",
		"--metrics-bind-address=0", "--health-probe-bind-address=0")
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfigPath)
	logFile, _ := os.Create(filepath.Join(b.TempDir(), "manager.log"))
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	var peakRSS atomic.Int64
	go func() {
		for ctx.Err() == nil {
			if kb := vmHWM(cmd.Process.Pid); kb > peakRSS.Load() {
				peakRSS.Store(kb)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()

	waitConverged(ctx, b, c)
	converged := time.Since(start)

	// One node relabelled from the EU to the US: its pods' stores must list them within a second.
	var node corev1.Node
	if err := c.Get(ctx, client.ObjectKey{Name: "node-0000"}, &node); err != nil {
		b.Fatal(err)
	}
	var onNode corev1.PodList
	if err := c.List(ctx, &onNode, client.MatchingFields{"spec.nodeName": node.Name}); err != nil {
		b.Fatal(err)
	}
	if len(onNode.Items) == 0 {
		b.Fatal("no pod on node-0000")
	}
	victim := onNode.Items[0]
	patch := client.MergeFrom(node.DeepCopy())
	node.Labels[corev1.LabelTopologyRegion] = "us-west-2" // a person moves it, and confirms
	node.Labels[v1alpha1.ConfirmedRegionLabel] = "us-west-2"
	relabelled := time.Now()
	if err := c.Patch(ctx, &node, patch); err != nil {
		b.Fatal(err)
	}
	storeKey := client.ObjectKey{Namespace: victim.Namespace, Name: victim.Labels["store"]}
	for {
		var s v1alpha1.PersonalDataStore
		if err := c.Get(ctx, storeKey, &s); err == nil && hasViolation(&s, victim.Name) {
			break
		}
		if time.Since(relabelled) > time.Minute {
			b.Fatalf("no violation for %s in %s a minute after the relabel", victim.Name, storeKey)
		}
		time.Sleep(10 * time.Millisecond)
	}
	relabelToViolation := time.Since(relabelled)
	time.Sleep(time.Second) // let the RSS sampler see the settled process
	b.StopTimer()

	b.ReportMetric(converged.Seconds(), "s-to-converge")
	b.ReportMetric(float64(relabelToViolation.Milliseconds()), "ms-relabel-to-violation")
	b.ReportMetric(float64(peakRSS.Load())/1024, "MiB-peak-RSS")
	b.Logf("operator start to all %d statuses converged: %s; node relabel to violation in status: %s; manager peak RSS %d MiB",
		namespaces*storesPerNS, converged.Round(time.Millisecond), relabelToViolation.Round(time.Millisecond), peakRSS.Load()/1024)
}

func hasViolation(s *v1alpha1.PersonalDataStore, pod string) bool {
	for _, v := range s.Status.Violations {
		if v.Object.Name == pod {
			return true
		}
	}
	return false
}

// seed creates the jurisdictions, nodes, namespaces, stores and pods (bound by nodeName, as the
// scheduler would have bound them before the operator started).
func seed(ctx context.Context, b *testing.B, c client.Client) {
	for _, j := range []*v1alpha1.Jurisdiction{
		{ObjectMeta: metav1.ObjectMeta{Name: "eu"}, Spec: v1alpha1.JurisdictionSpec{Countries: []v1alpha1.CountryCode{"DE", "BE", "NL", "FR"}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "us"}, Spec: v1alpha1.JurisdictionSpec{Countries: []v1alpha1.CountryCode{"US"}}},
	} {
		if err := c.Create(ctx, j); err != nil {
			b.Fatal(err)
		}
	}
	parallel(b, nodes, func(i int) error {
		return c.Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("node-%04d", i),
			Labels: map[string]string{corev1.LabelTopologyRegion: regions[i%len(regions)], v1alpha1.ConfirmedRegionLabel: regions[i%len(regions)],
				corev1.LabelHostname: fmt.Sprintf("node-%04d", i)}}})
	})
	parallel(b, namespaces, func(i int) error {
		return c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("team-%02d", i)}})
	})
	parallel(b, namespaces*storesPerNS, func(i int) error {
		ns, name := fmt.Sprintf("team-%02d", i/storesPerNS), fmt.Sprintf("store-%d", i%storesPerNS)
		return c.Create(ctx, &v1alpha1.PersonalDataStore{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: v1alpha1.PersonalDataStoreSpec{
				DataCategories:       []v1alpha1.DataCategory{v1alpha1.ContactDetails},
				AllowedJurisdictions: []v1alpha1.JurisdictionName{"eu"},
				WorkloadSelector:     metav1.LabelSelector{MatchLabels: map[string]string{"store": name}},
				Enforcement:          v1alpha1.Audit, // measure the audit, not evictions
			},
		})
	})
	parallel(b, pods, func(i int) error {
		store := i % (namespaces * storesPerNS)
		ns, name := fmt.Sprintf("team-%02d", store/storesPerNS), fmt.Sprintf("store-%d", store%storesPerNS)
		return c.Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("pod-%05d", i), Namespace: ns,
				Labels: map[string]string{"store": name, "app": "scale"}},
			Spec: corev1.PodSpec{NodeName: fmt.Sprintf("node-%04d", (i*7)%nodes),
				Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1"}}},
		})
	})
}

// waitConverged waits until every store reports all its pods: the operator has audited them all.
func waitConverged(ctx context.Context, b *testing.B, c client.Client) {
	deadline := time.Now().Add(convergeBudget)
	for time.Now().Before(deadline) {
		var list v1alpha1.PersonalDataStoreList
		if err := c.List(ctx, &list); err != nil {
			b.Fatal(err)
		}
		done := 0
		for i := range list.Items {
			s := &list.Items[i]
			if s.Status.ObservedGeneration == s.Generation && int(s.Status.GovernedPods) == podsPerStore {
				done++
			}
		}
		if done == len(list.Items) {
			return
		}
		time.Sleep(pollInterval)
	}
	b.Fatalf("statuses did not converge within %s", convergeBudget)
}

func parallel(b *testing.B, n int, create func(i int) error) {
	var wg sync.WaitGroup
	var failed atomic.Value
	for w := 0; w < createWorkers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n; i += createWorkers {
				if err := create(i); err != nil {
					failed.Store(err)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	if err, ok := failed.Load().(error); ok {
		b.Fatal(err)
	}
}

func buildManager(b *testing.B) string {
	out := filepath.Join(b.TempDir(), "manager")
	cmd := exec.Command("go", "build", "-o", out, "github.com/residency-operator/residency-operator")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		b.Fatalf("building the manager: %v", err)
	}
	return out
}

// vmHWM reads a process's peak resident set size in KiB from /proc.
func vmHWM(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer func() { _ = f.Close() }()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "VmHWM:"); ok {
			var kb int64
			_, _ = fmt.Sscanf(strings.TrimSpace(rest), "%d", &kb)
			return kb
		}
	}
	return 0
}
