package localcluster

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
)

// multiclusterAssets returns $KUBEBUILDER_ASSETS; StartKarmada and StartOCMPlacement fail, naming
// `make tools`, when the Karmada or OCM binaries are not in it.
func multiclusterAssets(t *testing.T) string {
	t.Helper()
	// envtest's clients log through controller-runtime, which dumps a stack trace when a test
	// outlives 30 s without a logger.
	logf.SetLogger(logr.Discard())
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set: run the tests through `make test`, which builds the control plane (`make tools`) and points it at it")
	}
	return assets
}

// testLogFile returns a log file that the test prints the end of when it fails.
func testLogFile(t *testing.T, name string) *os.File {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			if out, err := os.ReadFile(f.Name()); err == nil {
				t.Logf("%s (last 8 KiB):\n%s", name, out[max(0, len(out)-8192):])
			}
		}
		_ = f.Close()
	})
	return f
}

func keepLog(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return f
}

// TestKarmadaPropagatesToMembers starts Karmada with three members and proves the real scheduler,
// webhook and controllers place workloads by policy: a policy selecting the EU cluster by label
// puts a Deployment there only; one selecting every cluster puts another on all three.
func TestKarmadaPropagatesToMembers(t *testing.T) {
	assets := multiclusterAssets(t)
	logFile := testLogFile(t, "karmada.log")
	if path := os.Getenv("MULTICLUSTER_TEST_LOG"); path != "" { // keep the log for a look
		logFile = keepLog(t, path)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// The caller starts the hub (as the operator's tests will, with its CRDs and webhooks).
	hub, err := Start(ctx, Options{AssetsDir: assets, ControlPlaneOnly: true, AggregationLayer: true, Log: logFile})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = hub.Stop() })
	k, err := StartKarmada(ctx, KarmadaOptions{AssetsDir: assets, Log: logFile, Hub: hub, Members: DefaultKarmadaMembers()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := k.Stop(); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	t.Logf("Karmada with %d members Ready in %s (hub %s); RSS of all processes %d MiB",
		len(k.Members), k.StartupTime.Round(time.Millisecond), hub.StartupTime.Round(time.Millisecond), ProcessTreeRSS()>>20)

	hubCS := kubernetes.NewForConfigOrDie(hub.Config)
	const ns = "shop"
	if err := createNamespace(ctx, hubCS, ns); err != nil {
		t.Fatal(err)
	}
	members := map[string]kubernetes.Interface{}
	for name, c := range k.Members {
		members[name] = kubernetes.NewForConfigOrDie(c.Config)
	}

	// A policy that selects the EU cluster by label.
	began := time.Now()
	createDeployment(ctx, t, hubCS, ns, "eu-only")
	euPolicy := propagationPolicy(ns, "eu-only", "eu-only", map[string]any{
		"clusterAffinity": map[string]any{"labelSelector": map[string]any{
			"matchLabels": map[string]any{"residency.example/jurisdiction": "eu"}}}})
	created, err := k.Dynamic().Resource(KarmadaPropagationPolicyGVR).Namespace(ns).Create(ctx, euPolicy, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if created.GetLabels()["propagationpolicy.karmada.io/permanent-id"] == "" {
		t.Errorf("karmada-webhook did not label the policy with its permanent id: labels %v", created.GetLabels())
	}
	waitDeploymentOn(ctx, t, members, "eu-frankfurt", ns, "eu-only")
	t.Logf("eu-only on eu-frankfurt %s after creation", time.Since(began).Round(time.Millisecond))
	waitBindingClusters(ctx, t, k, ns, "eu-only-deployment", []string{"eu-frankfurt"})
	time.Sleep(2 * time.Second) // let anything wrong reach the other members
	for _, name := range []string{"us-virginia", "ap-tokyo"} {
		if _, err := members[name].AppsV1().Deployments(ns).Get(ctx, "eu-only", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("eu-only on %s: err = %v, want NotFound", name, err)
		}
	}

	// A policy with no cluster affinity selects every cluster.
	began = time.Now()
	createDeployment(ctx, t, hubCS, ns, "everywhere")
	if _, err := k.Dynamic().Resource(KarmadaPropagationPolicyGVR).Namespace(ns).Create(ctx,
		propagationPolicy(ns, "everywhere", "everywhere", map[string]any{}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for name := range members {
		waitDeploymentOn(ctx, t, members, name, ns, "everywhere")
	}
	t.Logf("everywhere on all %d members %s after creation; RSS of all processes %d MiB", len(members),
		time.Since(began).Round(time.Millisecond), ProcessTreeRSS()>>20)
}

func createDeployment(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns, name string) {
	t.Helper()
	labels := map[string]string{"app": name}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1"}}},
			},
		},
	}
	if _, err := cs.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func propagationPolicy(ns, name, deployment string, placement map[string]any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "policy.karmada.io/v1alpha1",
		"kind":       "PropagationPolicy",
		"metadata":   map[string]any{"name": name, "namespace": ns},
		"spec": map[string]any{
			"resourceSelectors": []any{map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment}},
			"placement":         placement,
		},
	}}
}

func waitDeploymentOn(ctx context.Context, t *testing.T, members map[string]kubernetes.Interface, member, ns, name string) {
	t.Helper()
	err := poll(ctx, 50*time.Millisecond, func() (bool, error) {
		_, err := members[member].AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		return err == nil, err
	}, "Deployment "+ns+"/"+name+" on "+member)
	if err != nil {
		t.Fatal(err)
	}
}

// waitBindingClusters waits until the ResourceBinding's spec.clusters are exactly want.
func waitBindingClusters(ctx context.Context, t *testing.T, k *Karmada, ns, binding string, want []string) {
	t.Helper()
	var got []string
	err := poll(ctx, 50*time.Millisecond, func() (bool, error) {
		rb, err := k.Dynamic().Resource(KarmadaResourceBindingGVR).Namespace(ns).Get(ctx, binding, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		clusters, _, _ := unstructured.NestedSlice(rb.Object, "spec", "clusters")
		got = got[:0]
		for _, c := range clusters {
			if m, ok := c.(map[string]any); ok {
				got = append(got, m["name"].(string))
			}
		}
		slices.Sort(got)
		return slices.Equal(got, want), nil
	}, "ResourceBinding "+ns+"/"+binding+" to target "+strings.Join(want, ","))
	if err != nil {
		t.Fatalf("%v (clusters %v)", err, got)
	}
}

// TestOCMPlacementDecides runs OCM's real placement controller: Placements with a label
// predicate and with a cluster-claim predicate decide exactly the matching ManagedClusters.
func TestOCMPlacementDecides(t *testing.T) {
	assets := multiclusterAssets(t)
	logFile := testLogFile(t, "ocm.log")
	if path := os.Getenv("MULTICLUSTER_TEST_LOG"); path != "" { // keep the log for a look
		logFile = keepLog(t, path)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	hub, err := Start(ctx, Options{AssetsDir: assets, ControlPlaneOnly: true, Log: logFile})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = hub.Stop() })
	p, err := StartOCMPlacement(ctx, OCMOptions{AssetsDir: assets, Log: logFile, Hub: hub})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Stop(); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	t.Logf("placement controller started in %s (hub %s); RSS of all processes %d MiB",
		p.StartupTime.Round(time.Millisecond), hub.StartupTime.Round(time.Millisecond), ProcessTreeRSS()>>20)

	const set, ns = "residency", "shop"
	for _, mc := range []ManagedCluster{
		{Name: "eu-frankfurt", Labels: map[string]string{OCMClusterSetLabel: set, "residency.example/jurisdiction": "eu"},
			ClusterClaims: map[string]string{"region.open-cluster-management.io": "eu-central-1"}},
		{Name: "eu-paris", Labels: map[string]string{OCMClusterSetLabel: set, "residency.example/jurisdiction": "eu"},
			ClusterClaims: map[string]string{"region.open-cluster-management.io": "eu-west-3"}},
		{Name: "us-virginia", Labels: map[string]string{OCMClusterSetLabel: set, "residency.example/jurisdiction": "us"},
			ClusterClaims: map[string]string{"region.open-cluster-management.io": "us-east-1"}},
	} {
		if err := p.CreateManagedCluster(ctx, mc); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.BindClusterSet(ctx, set, ns); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name      string
		predicate map[string]any
		want      []string
	}{
		{"eu-by-label", map[string]any{"labelSelector": map[string]any{
			"matchLabels": map[string]any{"residency.example/jurisdiction": "eu"}}}, []string{"eu-frankfurt", "eu-paris"}},
		{"frankfurt-by-claim", map[string]any{"claimSelector": map[string]any{"matchExpressions": []any{map[string]any{
			"key": "region.open-cluster-management.io", "operator": "In", "values": []any{"eu-central-1"}}}}}, []string{"eu-frankfurt"}},
	}
	for _, tc := range cases {
		began := time.Now()
		placement := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "cluster.open-cluster-management.io/v1beta1",
			"kind":       "Placement",
			"metadata":   map[string]any{"name": tc.name, "namespace": ns},
			"spec": map[string]any{
				"clusterSets": []any{set},
				"predicates":  []any{map[string]any{"requiredClusterSelector": tc.predicate}},
			},
		}}
		if _, err := p.Dynamic().Resource(OCMPlacementGVR).Namespace(ns).Create(ctx, placement, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		var got []string
		err := poll(ctx, 50*time.Millisecond, func() (bool, error) {
			if err := p.Exited(); err != nil {
				return false, stopPolling{err}
			}
			var err error
			got, err = p.PlacementDecisions(ctx, ns, tc.name)
			return slices.Equal(got, tc.want), err
		}, "Placement "+tc.name+" to decide "+strings.Join(tc.want, ","))
		if err != nil {
			t.Fatalf("%v (decided %v)", err, got)
		}
		t.Logf("Placement %s decided %v in %s", tc.name, got, time.Since(began).Round(time.Millisecond))
	}
	t.Logf("RSS of all processes after the decisions: %d MiB", ProcessTreeRSS()>>20)
}

func TestMulticlusterWithoutBinariesFailsCleanly(t *testing.T) {
	ctx := context.Background()
	if _, err := StartKarmada(ctx, KarmadaOptions{AssetsDir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "make tools") {
		t.Errorf("StartKarmada with an empty assets folder: err = %v, want one that says to run make tools", err)
	}
	hub := &Cluster{}
	if _, err := StartOCMPlacement(ctx, OCMOptions{AssetsDir: t.TempDir(), Hub: hub}); err == nil || !strings.Contains(err.Error(), "make tools") {
		t.Errorf("StartOCMPlacement with an empty assets folder: err = %v, want one that says to run make tools", err)
	}
}
