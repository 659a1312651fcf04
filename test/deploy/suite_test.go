// Package deploy_test checks the two ways to install the operator, the Helm chart in
// charts/residency-operator and the kustomize tree in config/, against a real kube-apiserver
// (envtest): every rendered object is applied with server-side apply in dry-run mode, the pod
// template is admitted under the "restricted" Pod Security Standard, the chart's RBAC equals the
// RBAC controller-gen generates from the code's markers, the webhook configurations equal the
// generated ones, and the names the manager's flags carry match the objects installed.
//
// helm and kustomize are the binaries `make test` builds into $KUBEBUILDER_ASSETS.
package deploy_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
)

var (
	testEnv   *envtest.Environment
	k8sClient client.Client
	scheme    = runtime.NewScheme()
	ctx       context.Context
	cancel    context.CancelFunc

	// warnings collects the API server's warnings (Pod Security "warn", deprecations) so a spec can
	// insist there are none.
	warnings = &warningRecorder{}

	// repoRoot is the repository's top folder; helm, kustomize and the file comparisons run there.
	repoRoot string
	helmBin  string
	kustBin  string
	// toolEnv isolates helm's caches and configuration in a temporary folder and points its
	// KUBECONFIG at the test API server.
	toolEnv []string
)

// The namespaces the installs go to. They exist for real, with the "restricted" Pod Security
// Standard enforced, as the acceptance asks: "create the target namespace for real first".
const (
	systemNamespace = "residency-system"
	otherNamespace  = "compliance"
)

func TestDeploy(t *testing.T) {
	RegisterFailHandler(Fail)
	SetDefaultEventuallyTimeout(20 * time.Second)
	SetDefaultEventuallyPollingInterval(100 * time.Millisecond)
	RunSpecs(t, "Deploy Suite")
}

var _ = BeforeSuite(func() {
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	Expect(assets).NotTo(BeEmpty(),
		"KUBEBUILDER_ASSETS is not set: run the tests through `make test`, which builds kube-apiserver, etcd, helm and kustomize and points it at them")
	helmBin = filepath.Join(assets, "helm")
	kustBin = filepath.Join(assets, "kustomize")
	for _, bin := range []string{helmBin, kustBin} {
		_, err := exec.LookPath(bin)
		Expect(err).NotTo(HaveOccurred(), "%s is missing: `make tools` builds it", bin)
	}
	var err error
	repoRoot, err = filepath.Abs(filepath.Join("..", ".."))
	Expect(err).NotTo(HaveOccurred())

	ctx, cancel = context.WithCancel(context.Background())
	Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	Expect(v1alpha1.AddToScheme(scheme)).To(Succeed())

	testEnv = &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(repoRoot, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := testEnv.Start()
	Expect(err).NotTo(HaveOccurred())

	clientCfg := rest.CopyConfig(cfg)
	clientCfg.WarningHandler = warnings
	k8sClient, err = client.New(clientCfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())

	for _, name := range []string{systemNamespace, otherNamespace} {
		Expect(k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
			"pod-security.kubernetes.io/enforce": "restricted",
			"pod-security.kubernetes.io/warn":    "restricted",
		}}})).To(Succeed())
	}

	home, err := os.MkdirTemp("", "residency-deploy-test-*")
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(os.RemoveAll, home)
	kubeconfig := filepath.Join(home, "kubeconfig")
	Expect(os.WriteFile(kubeconfig, testEnv.KubeConfig, 0o600)).To(Succeed())
	toolEnv = append(os.Environ(),
		"KUBECONFIG="+kubeconfig,
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
	)
})

var _ = AfterSuite(func() {
	if cancel != nil {
		cancel()
	}
	if testEnv != nil {
		Expect(testEnv.Stop()).To(Succeed())
	}
})

// warningRecorder is a rest.WarningHandler that keeps the warnings the API server sends.
type warningRecorder struct {
	mu   sync.Mutex
	list []string
}

func (w *warningRecorder) HandleWarningHeader(code int, _ string, text string) {
	if code != 299 || text == "" {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.list = append(w.list, text)
}

// take returns the warnings received since the last call and forgets them.
func (w *warningRecorder) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.list
	w.list = nil
	return out
}
