package localcluster

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/residency-operator/residency-operator/internal/engine"
)

func TestLineWriterKeepsLinesWhole(t *testing.T) {
	var out bytes.Buffer
	s := &syncWriter{w: &out}
	a, b := s.prefixed("a"), s.prefixed("b")
	_, _ = a.Write([]byte("one "))
	_, _ = b.Write([]byte("x\ny"))
	_, _ = a.Write([]byte("two\nthree"))
	a.flush()
	b.flush()
	want := "b: x\na: one two\na: three\nb: y\n"
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("log (-want +got):\n%s", diff)
	}
}

func TestLineWriterConcurrent(t *testing.T) {
	var out bytes.Buffer
	s := &syncWriter{w: &out}
	var wg sync.WaitGroup
	for _, name := range []string{"p", "q", "r"} {
		w := s.prefixed(name)
		wg.Go(func() {
			for range 200 {
				_, _ = w.Write([]byte("hello "))
				_, _ = w.Write([]byte("world\n"))
			}
		})
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 600 {
		t.Fatalf("got %d lines, want 600", len(lines))
	}
	for _, l := range lines {
		if _, rest, ok := strings.Cut(l, ": "); !ok || rest != "hello world" {
			t.Fatalf("torn line %q", l)
		}
	}
}

func TestMultiRegionNodesAreTrustedAndSpread(t *testing.T) {
	nodes := MultiRegionNodes()
	if err := validateNodes(nodes); err != nil {
		t.Fatal(err)
	}
	countries := map[string]string{}
	regions := map[string]bool{}
	for _, spec := range nodes {
		n := nodeObject(spec)
		loc := engine.LocateNode(n, engine.Trust{}) // the default: every node must be believed without options
		if !loc.Trusted() {
			t.Errorf("node %s is untrusted: %s", spec.Name, loc.Untrusted)
		}
		if loc.Country == "" {
			t.Errorf("node %s has no country", spec.Name)
		}
		countries[spec.Name] = loc.Country
		if spec.Region != "" {
			regions[spec.Region] = true
		}
	}
	want := map[string]string{
		"aws-eu-central-1a": "DE", "aws-eu-central-1b": "DE", "gce-europe-west1-b": "BE", "azure-westeurope-1": "NL",
		"aws-us-east-1a": "US", "gce-us-central1-a": "US", "aws-ap-northeast-1a": "JP", "gce-asia-south1-a": "IN",
		"zurich-rack-7": "CH",
	}
	if diff := cmp.Diff(want, countries); diff != "" {
		t.Errorf("countries (-want +got):\n%s", diff)
	}
	if len(regions) < 5 {
		t.Errorf("want at least 5 regions, got %d", len(regions))
	}
}

func TestNodeObject(t *testing.T) {
	n := nodeObject(NodeSpec{Name: "n1", Region: "eu-central-1", Zone: "eu-central-1a", ProviderID: "aws:///eu-central-1a/i-1",
		Labels: map[string]string{"extra": "yes", corev1.LabelOSStable: "windows"}})
	wantLabels := map[string]string{
		corev1.LabelHostname: "n1", corev1.LabelOSStable: "windows", corev1.LabelArchStable: "amd64", "type": "kwok",
		corev1.LabelTopologyRegion: "eu-central-1", corev1.LabelTopologyZone: "eu-central-1a", "extra": "yes",
	}
	if diff := cmp.Diff(wantLabels, n.Labels); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
	if n.Annotations[KwokNodeAnnotation] != KwokNodeValue || n.Spec.ProviderID != "aws:///eu-central-1a/i-1" || len(n.Spec.Taints) != 0 {
		t.Errorf("unexpected node %+v", n)
	}
	if pods := n.Status.Allocatable[corev1.ResourcePods]; pods.Value() < 110 {
		t.Errorf("allocatable pods %s, want at least 110", pods.String())
	}
	// The template is not shared between nodes.
	n.Status.Capacity[corev1.ResourcePods] = n.Status.Capacity[corev1.ResourceCPU]
	if other := nodeObject(NodeSpec{Name: "n2"}); other.Status.Capacity[corev1.ResourcePods] != nodeCapacity[corev1.ResourcePods] {
		t.Error("nodeObject shares its capacity map")
	}
}

func TestValidateNodes(t *testing.T) {
	for _, nodes := range [][]NodeSpec{{{Name: ""}}, {{Name: "Upper"}}, {{Name: "a"}, {Name: "a"}}} {
		if err := validateNodes(nodes); err == nil {
			t.Errorf("validateNodes(%v) = nil, want an error", nodes)
		}
	}
}

func TestNodeSchedulable(t *testing.T) {
	ready := []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
	for _, tc := range []struct {
		name string
		node corev1.Node
		want bool
	}{
		{"ready", corev1.Node{Status: corev1.NodeStatus{Conditions: ready}}, true},
		{"no condition", corev1.Node{}, false},
		{"not ready", corev1.Node{Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionFalse}}}}, false},
		{"not-ready taint", corev1.Node{Spec: corev1.NodeSpec{Taints: []corev1.Taint{{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoSchedule}}},
			Status: corev1.NodeStatus{Conditions: ready}}, false},
		{"cordoned", corev1.Node{Spec: corev1.NodeSpec{Unschedulable: true}, Status: corev1.NodeStatus{Conditions: ready}}, false},
	} {
		if got := nodeSchedulable(&tc.node); got != tc.want {
			t.Errorf("%s: nodeSchedulable = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestParseWebhookConfigurations(t *testing.T) {
	stream := []byte(`apiVersion: v1
kind: Service
metadata: {name: webhook-service, namespace: system}
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata: {name: m}
webhooks: [{name: a.example.com, admissionReviewVersions: [v1], sideEffects: None, clientConfig: {url: "https://x"}}]
---
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: v}
webhooks: [{name: b.example.com, admissionReviewVersions: [v1], sideEffects: None, clientConfig: {url: "https://x"}}]
---
apiVersion: example.com/v1
kind: Unknown
metadata: {name: u}
`)
	m, v, err := parseWebhookConfigurations(stream)
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 1 || m[0].Name != "m" || len(v) != 1 || v[0].Name != "v" {
		t.Fatalf("got %d mutating, %d validating", len(m), len(v))
	}
	if _, _, err := parseWebhookConfigurations([]byte("apiVersion: v1\nkind: Service\nmetadata: {name: s}\n")); err == nil {
		t.Error("want an error for a stream without webhook configurations")
	}
}

func TestStartWithoutBinariesFailsCleanly(t *testing.T) {
	before, _ := filepath.Glob(filepath.Join(os.TempDir(), "residency-localcluster-*"))
	_, err := Start(context.Background(), Options{AssetsDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "make tools") {
		t.Fatalf("Start with an empty assets folder: err = %v, want one that says to run make tools", err)
	}
	after, _ := filepath.Glob(filepath.Join(os.TempDir(), "residency-localcluster-*"))
	if len(after) > len(before) {
		t.Errorf("Start left a folder behind: %v", after)
	}
	if _, err := Start(context.Background(), Options{AssetsDir: t.TempDir(), ControlPlaneOnly: true, Nodes: []NodeSpec{{Name: "n"}}}); err == nil {
		t.Error("ControlPlaneOnly with nodes: want an error")
	}
}

// TestStart runs the whole cluster: two nodes in two regions, a pod that the real scheduler must
// place by region, and kwok must report Running; then Stop must leave no process behind.
func TestStart(t *testing.T) {
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set: run the tests through `make test`, which builds the control plane and points it at it")
	}
	logFile, err := os.Create(filepath.Join(t.TempDir(), "cluster.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			if out, err := os.ReadFile(logFile.Name()); err == nil {
				t.Logf("cluster log (last 4 KiB):\n%s", out[max(0, len(out)-4096):])
			}
		}
		_ = logFile.Close()
	})

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c, err := Start(ctx, Options{
		AssetsDir: assets,
		Log:       logFile,
		Nodes: []NodeSpec{
			{Name: "eu-node", Region: "eu-central-1", Zone: "eu-central-1a", ProviderID: "aws:///eu-central-1a/i-1"},
			{Name: "us-node", Region: "us-east-1", Zone: "us-east-1a", ProviderID: "aws:///us-east-1a/i-2"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = c.Stop()
		}
	})
	t.Logf("cluster started in %s", c.StartupTime)

	// The kubeconfig file is what kubectl and the child processes use.
	fileCfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(fileCfg)
	if err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "where", Namespace: "default"},
		Spec: corev1.PodSpec{
			NodeSelector: map[string]string{corev1.LabelTopologyRegion: "us-east-1"},
			Containers:   []corev1.Container{{Name: "app", Image: "registry.example/app:1"}},
		},
	}
	if _, err := cs.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for {
		got, err := cs.CoreV1().Pods("default").Get(ctx, "where", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Status.Phase == corev1.PodRunning {
			if got.Spec.NodeName != "us-node" {
				t.Fatalf("pod runs on %q, want us-node", got.Spec.NodeName)
			}
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("pod never ran: phase %s, node %q", got.Status.Phase, got.Spec.NodeName)
		case <-time.After(100 * time.Millisecond):
		}
	}

	// A crashed kube-apiserver comes back with the same address and certificates: the same
	// client, with the CA it was given at the start, reads what etcd kept.
	if err := c.CrashAPIServer(); err != nil {
		t.Fatalf("CrashAPIServer: %v", err)
	}
	if got, err := cs.CoreV1().Pods("default").Get(ctx, "where", metav1.GetOptions{}); err != nil || got.Spec.NodeName != "us-node" {
		t.Fatalf("after the crash: pod %v, err %v", got, err)
	}

	pids := map[string]int{}
	for _, ch := range append(c.children, c.watchdog) {
		if ch != nil {
			pids[ch.name] = ch.cmd.Process.Pid
		}
	}
	for _, name := range []string{"kube-controller-manager", "kube-scheduler", "kwok"} {
		if pids[name] == 0 {
			t.Fatalf("%s is not running: children %v", name, pids)
		}
	}
	dir := c.dir
	stopped = true
	if err := c.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	for name, pid := range pids {
		// Stop reaps its children, so signal 0 must find no such process.
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("%s (pid %d) still exists after Stop: %v", name, pid, err)
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("Stop left %s behind: %v", dir, err)
	}
	if err := c.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}
