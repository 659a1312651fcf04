package webhook_test

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
	"github.com/residency-operator/residency-operator/controllers"
	"github.com/residency-operator/residency-operator/internal/localcluster"
	residencywebhook "github.com/residency-operator/residency-operator/internal/webhook"
)

// The suite installs the webhook configurations exactly as config/webhook ships them (kustomize
// build, namespace selector included) into a real kube-apiserver, and serves the webhooks from the
// operator's real wiring.
var (
	cfg       *rest.Config
	k8sClient client.Client
	cluster   *localcluster.Cluster
	scheme    = runtime.NewScheme()
	ctx       context.Context
	cancel    context.CancelFunc
	warnings  = &warningRecorder{}
)

func TestWebhooks(t *testing.T) {
	RegisterFailHandler(Fail)
	SetDefaultEventuallyTimeout(20 * time.Second)
	SetDefaultEventuallyPollingInterval(100 * time.Millisecond)
	RunSpecs(t, "Webhook Suite")
}

// warningRecorder collects the admission warnings the apiserver returns to the client.
type warningRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warningRecorder) HandleWarningHeader(_ int, _ string, msg string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, msg)
}

func (w *warningRecorder) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.msgs
	w.msgs = nil
	return out
}

var _ = BeforeSuite(func() {
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	Expect(os.Getenv("KUBEBUILDER_ASSETS")).NotTo(BeEmpty(),
		"KUBEBUILDER_ASSETS is not set: run the tests through `make test`, which builds kube-apiserver and etcd and points it at them")
	ctx, cancel = context.WithCancel(context.Background())
	Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	Expect(v1alpha1.AddToScheme(scheme)).To(Succeed())

	// Install exactly what config/webhook ships, rendered by kustomize, through localcluster: its
	// watchdog also stops etcd and kube-apiserver when `go test` kills this process on a timeout.
	var err error
	cluster, err = localcluster.Start(ctx, localcluster.Options{
		CRDDir:           filepath.Join("..", "..", "config", "crd", "bases"),
		WebhookConfigDir: filepath.Join("..", "..", "config", "webhook"),
		ControlPlaneOnly: true,
		// RBAC as in production: exception approval asks it who may approve.
		NodeAuthorization: true,
	})
	Expect(err).NotTo(HaveOccurred())
	cfg = cluster.Config
	Expect(cluster.Env.WebhookInstallOptions.MutatingWebhooks).To(HaveLen(1))
	Expect(cluster.Env.WebhookInstallOptions.ValidatingWebhooks).To(HaveLen(1))

	clientCfg := rest.CopyConfig(cfg)
	clientCfg.WarningHandler = warnings
	k8sClient, err = client.New(clientCfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())

	serverOpts := cluster.WebhookServerOptions()
	serverOpts.TLSOpts = residencywebhook.TLSOptions(true) // as main.go serves them by default
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		WebhookServer:          webhook.NewServer(serverOpts),
	})
	Expect(err).NotTo(HaveOccurred())
	// These specs test the webhooks themselves: admission mode webhook, no compiled policies.
	opts := controllers.DefaultOptions()
	opts.AdmissionPolicies = false
	Expect(controllers.SetupWithManager(ctx, mgr, opts)).To(Succeed())
	Expect(residencywebhook.Setup(mgr, residencywebhook.DefaultOptions())).To(Succeed())
	go func() {
		defer GinkgoRecover()
		Expect(mgr.Start(ctx)).To(Succeed())
	}()

	// Wait until the webhook server answers TLS with the certificate the configurations trust.
	waitCtx, waitCancel := context.WithTimeout(ctx, 30*time.Second)
	defer waitCancel()
	Expect(cluster.WaitForWebhookServer(waitCtx)).To(Succeed())
})

var _ = AfterSuite(func() {
	if cancel != nil {
		cancel()
	}
	if cluster != nil {
		Expect(cluster.Stop()).To(Succeed())
	}
})
