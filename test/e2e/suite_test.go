// Package e2e tests the operator end to end on a local multi-region cluster: the real
// kube-apiserver, kube-controller-manager and kube-scheduler, with kwok simulating nodes in
// several regions, and the operator's manager (controllers and webhooks) running in-process. The
// real scheduler, not the operator, decides where pods land.
package e2e

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
	"github.com/residency-operator/residency-operator/controllers"
	"github.com/residency-operator/residency-operator/internal/localcluster"
	residencywebhook "github.com/residency-operator/residency-operator/internal/webhook"
)

var (
	cluster   *localcluster.Cluster
	k8sClient client.Client
	// watchClient watches, for specs that must see every change rather than a final state.
	watchClient client.WithWatch
	scheme      = runtime.NewScheme()
	ctx         context.Context
	cancel      context.CancelFunc
	mgrDone     chan struct{}
	logPath     string
)

func TestE2E(t *testing.T) {
	RegisterFailHandler(Fail)
	SetDefaultEventuallyTimeout(60 * time.Second)
	SetDefaultEventuallyPollingInterval(250 * time.Millisecond)
	RunSpecs(t, "End-to-end Suite")
}

var _ = BeforeSuite(func() {
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	Expect(os.Getenv("KUBEBUILDER_ASSETS")).NotTo(BeEmpty(),
		"KUBEBUILDER_ASSETS is not set: run the tests through `make test`, which builds the control plane, kube-scheduler, kube-controller-manager and kwok and points it at them")
	ctx, cancel = context.WithCancel(context.Background())
	Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	Expect(v1alpha1.AddToScheme(scheme)).To(Succeed())

	// The control plane is verbose: its output goes to a file, kept and named when the suite fails.
	logFile, err := os.CreateTemp("", "residency-e2e-*.log")
	Expect(err).NotTo(HaveOccurred())
	logPath = logFile.Name()
	DeferCleanup(logFile.Close)

	startCtx, startCancel := context.WithTimeout(ctx, 60*time.Second)
	defer startCancel()
	cluster, err = localcluster.Start(startCtx, localcluster.Options{
		CRDDir:           filepath.Join("..", "..", "config", "crd", "bases"),
		WebhookConfigDir: filepath.Join("..", "..", "config", "admission-policies"),
		Nodes:            localcluster.MultiRegionNodes(),
		Log:              logFile,
	})
	Expect(err).NotTo(HaveOccurred(), "starting the local cluster; its log is %s", logPath)
	AddReportEntry("cluster startup", cluster.StartupTime.Round(time.Millisecond).String())
	GinkgoWriter.Printf("local cluster with %d nodes Ready in %s (log: %s)\n", len(cluster.Nodes), cluster.StartupTime, logPath)

	k8sClient, err = client.New(cluster.Config, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
	watchClient, err = client.NewWithWatch(cluster.Config, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())

	// The operator's namespace exists wherever it runs: the eviction brake records itself there.
	Expect(k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: controllers.DefaultOptions().OperatorNamespace}})).To(Succeed())

	startManager()
	started = true

	// Specs run in random order, and one applies workloads at once: wait until kube-apiserver has
	// loaded the operator's placement gate (a dry-run pod in an awaiting namespace is gated).
	probeNS := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "gate-probe", Labels: map[string]string{v1alpha1.AwaitPoliciesLabel: "true"}}}
	Expect(k8sClient.Create(ctx, probeNS)).To(Succeed())
	Eventually(func(g Gomega) {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "probe", Namespace: probeNS.Name},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x"}}}}
		g.Expect(k8sClient.Create(ctx, pod, client.DryRunAll)).To(Succeed())
		g.Expect(pod.Spec.SchedulingGates).To(ContainElement(corev1.PodSchedulingGate{Name: v1alpha1.PlacementGate}))
	}).Should(Succeed())
	Expect(k8sClient.Delete(ctx, probeNS)).To(Succeed())
})

// startManager runs the operator (controllers and webhooks, as main.go wires them) until
// stopManager or the end of the suite. Specs that take the operator down start it again.
func startManager() {
	mgr, err := ctrl.NewManager(cluster.Config, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		WebhookServer:          webhook.NewServer(cluster.WebhookServerOptions()),
		Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
	})
	Expect(err).NotTo(HaveOccurred())
	Expect(controllers.SetupWithManager(ctx, mgr)).To(Succeed())
	Expect(residencywebhook.Setup(mgr, residencywebhook.DefaultOptions())).To(Succeed())
	mgrCtx, mgrCancel := context.WithCancel(ctx)
	stopMgr = mgrCancel
	mgrDone = make(chan struct{})
	done := mgrDone
	go func() {
		defer GinkgoRecover()
		defer close(done)
		Expect(mgr.Start(mgrCtx)).To(Succeed())
	}()
	waitCtx, waitCancel := context.WithTimeout(ctx, 30*time.Second)
	defer waitCancel()
	Expect(cluster.WaitForWebhookServer(waitCtx)).To(Succeed())
}

// stopManager stops the operator and waits until its webhook server is gone.
func stopManager() {
	stopMgr()
	Eventually(mgrDone).WithTimeout(30 * time.Second).Should(BeClosed())
}

var stopMgr context.CancelFunc = func() {}

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
	if logPath == "" {
		return
	}
	if !started || suiteFailed {
		GinkgoWriter.Printf("the cluster's log is kept at %s\n", logPath)
		return
	}
	_ = os.Remove(logPath)
})

// started and suiteFailed tell AfterSuite whether to keep the cluster's log.
var started, suiteFailed bool

var _ = ReportAfterEach(func(r SpecReport) {
	if r.Failed() {
		suiteFailed = true
	}
})
