//go:build linux

package chaos

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
	"github.com/residency-operator/residency-operator/internal/localcluster"
)

const (
	operatorNamespace = "residency-system"
	euRegion          = "chaos-eu-1"
	usRegion          = "chaos-us-1"
)

// The nodes: three in the permitted region, whose regions the relabeller moves out and back, and
// two outside it.
var (
	euNodes    = []string{"chaos-eu-a", "chaos-eu-b", "chaos-eu-c"}
	chaosNodes = []localcluster.NodeSpec{
		vouched("chaos-eu-a", euRegion), vouched("chaos-eu-b", euRegion), vouched("chaos-eu-c", euRegion),
		vouched("chaos-us-a", usRegion), vouched("chaos-us-b", usRegion),
	}
)

var (
	ctx       context.Context
	cancel    context.CancelFunc
	cluster   *localcluster.Cluster
	k8sClient client.Client
	clientset kubernetes.Interface
	scheme    = runtime.NewScheme()
	logFile   *os.File
	operator  *replicaSet
)

func TestChaos(t *testing.T) {
	RegisterFailHandler(Fail)
	SetDefaultEventuallyTimeout(60 * time.Second)
	SetDefaultEventuallyPollingInterval(200 * time.Millisecond)
	RunSpecs(t, "Chaos Suite")
}

var _ = BeforeSuite(func() {
	suiteFailed = true // until the suite is up
	Expect(os.Getenv("KUBEBUILDER_ASSETS")).NotTo(BeEmpty(), "run the tests through `make test`, which builds the control plane and points KUBEBUILDER_ASSETS at it")
	ctx, cancel = context.WithCancel(context.Background())
	Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	Expect(v1alpha1.AddToScheme(scheme)).To(Succeed())

	By("building the manager binary, as the image ships it")
	bin := filepath.Join(GinkgoT().TempDir(), "manager")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = filepath.Join("..", "..")
	out, err := build.CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), "go build: %s", out)

	var ferr error
	logFile, ferr = os.CreateTemp("", "residency-chaos-*.log")
	Expect(ferr).NotTo(HaveOccurred())
	startCtx, startCancel := context.WithTimeout(ctx, 90*time.Second)
	defer startCancel()
	// No webhook configurations: in the default policies mode kube-apiserver places the pods
	// itself, and the webhooks judge only pods pinned to a node, which this load does not create.
	cluster, err = localcluster.Start(startCtx, localcluster.Options{
		CRDDir: filepath.Join("..", "..", "config", "crd", "bases"),
		Nodes:  chaosNodes,
		Log:    logFile,
	})
	Expect(err).NotTo(HaveOccurred(), "starting the local cluster; its log is %s", logFile.Name())
	k8sClient, err = client.New(cluster.Config, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
	clientset, err = kubernetes.NewForConfig(cluster.Config)
	Expect(err).NotTo(HaveOccurred())

	Expect(k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: operatorNamespace}})).To(Succeed())
	for name, region := range map[string]string{"chaos-eu": euRegion, "chaos-us": usRegion} {
		Expect(k8sClient.Create(ctx, &v1alpha1.Jurisdiction{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: v1alpha1.JurisdictionSpec{Regions: []string{region}}})).To(Succeed())
	}

	By("starting two replicas of the manager with leader election")
	operator = newReplicaSet(bin, cluster.Kubeconfig, logFile, 2)
	Expect(operator.startAll()).To(Succeed())
	Eventually(operator.leader).WithTimeout(60 * time.Second).ShouldNot(BeEmpty())
	Eventually(func(g Gomega) {
		for _, name := range euNodes {
			n := &corev1.Node{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Name: name}, n)).To(Succeed())
			g.Expect(n.Labels).To(HaveKeyWithValue(v1alpha1.JurisdictionLabel("chaos-eu"), "true"))
		}
	}).Should(Succeed())
	suiteFailed = false
})

var _ = AfterSuite(func() {
	if operator != nil {
		operator.stopAll()
	}
	if cancel != nil {
		cancel()
	}
	if cluster != nil {
		Expect(cluster.Stop()).To(Succeed())
	}
	if logFile != nil {
		_ = logFile.Close()
		if suiteFailed {
			GinkgoWriter.Printf("the cluster's and the operator's log is kept at %s\n", logFile.Name())
		} else {
			_ = os.Remove(logFile.Name())
		}
	}
})

var suiteFailed bool

var _ = ReportAfterEach(func(r SpecReport) {
	if r.Failed() {
		suiteFailed = true
	}
})

// vouched is a node without a providerID whose region a person vouched for (the restricted
// confirmed-region label), as the operator's default trust needs.
func vouched(name, region string) localcluster.NodeSpec {
	return localcluster.NodeSpec{Name: name, Region: region, Labels: map[string]string{v1alpha1.ConfirmedRegionLabel: region}}
}
