package controllers_test

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
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
	"github.com/residency-operator/residency-operator/controllers"
	"github.com/residency-operator/residency-operator/internal/localcluster"
)

// The suite runs the operator's real wiring (controllers.SetupWithManager) against a real
// kube-apiserver and etcd started by envtest from the binaries `make test` builds.
var (
	cfg       *rest.Config
	k8sClient client.Client
	testEnv   *envtest.Environment
	cluster   *localcluster.Cluster
	scheme    = runtime.NewScheme()
	ctx       context.Context
	cancel    context.CancelFunc
)

func TestControllers(t *testing.T) {
	RegisterFailHandler(Fail)
	SetDefaultEventuallyTimeout(20 * time.Second)
	SetDefaultEventuallyPollingInterval(100 * time.Millisecond)
	RunSpecs(t, "Controllers Suite")
}

var _ = BeforeSuite(func() {
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	Expect(os.Getenv("KUBEBUILDER_ASSETS")).NotTo(BeEmpty(),
		"KUBEBUILDER_ASSETS is not set: run the tests through `make test`, which builds kube-apiserver and etcd and points it at them")
	ctx, cancel = context.WithCancel(context.Background())

	Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	Expect(v1alpha1.AddToScheme(scheme)).To(Succeed())

	// localcluster rather than a bare envtest.Environment: its watchdog stops etcd and
	// kube-apiserver even when `go test` kills this process on a timeout.
	var err error
	cluster, err = localcluster.Start(ctx, localcluster.Options{
		CRDDir:           filepath.Join("..", "config", "crd", "bases"),
		ControlPlaneOnly: true,
		// As production clusters run it: node_kubelet_test.go acts as kubelets.
		NodeAuthorization: true,
	})
	Expect(err).NotTo(HaveOccurred())
	testEnv, cfg = cluster.Env, cluster.Config

	k8sClient, err = client.New(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())

	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
	})
	Expect(err).NotTo(HaveOccurred())
	opts := controllers.DefaultOptions()
	opts.Clock = testClock
	// The specs evict on their own schedule; the brake has its own spec (brake_test.go), on a
	// Brake of its own, so that their violations do not pause each other's evictions.
	opts.BrakeShare = 0
	// policyreport_test.go installs the report CRD while the manager runs, and fills a report
	// past its bound with a handful of pods.
	opts.PolicyReportRecheck = 200 * time.Millisecond
	opts.PolicyReportMaxResults = 6
	Expect(controllers.SetupWithManager(ctx, mgr, opts)).To(Succeed())
	mgrDone = make(chan struct{})
	go func() {
		defer GinkgoRecover()
		defer close(mgrDone)
		Expect(mgr.Start(ctx)).To(Succeed())
	}()
})

// mgrDone closes when the manager has stopped: kube-apiserver stops gracefully only once the
// manager's watches are closed, and waits up to envtest's 20 s for them otherwise.
var mgrDone chan struct{}

var _ = AfterSuite(func() {
	if cancel != nil {
		cancel()
	}
	if mgrDone != nil {
		Eventually(mgrDone).WithTimeout(30 * time.Second).Should(BeClosed())
	}
	if cluster != nil {
		Expect(cluster.Stop()).To(Succeed())
	}
})

// testClock is the operator's clock in this suite: real time moved forward by what specs step it,
// so that grace periods and exception windows are crossed without sleeping while the API
// server's timestamps (creation, since) stay comparable with it.
var testClock = &steppedClock{}

type steppedClock struct {
	clock.RealClock
	mu     sync.Mutex
	offset time.Duration
}

func (c *steppedClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *steppedClock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }

// Step moves the clock forward by d.
func (c *steppedClock) Step(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}
