package v1alpha1_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
	"github.com/residency-operator/residency-operator/internal/localcluster"
)

// The API suite checks the CRDs' validation against a real kube-apiserver: what the schema and
// CEL rules accept and reject, and with which message.
var (
	cfg       *rest.Config
	k8sClient client.Client
	testEnv   *envtest.Environment
	cluster   *localcluster.Cluster
	ctx       = context.Background()
)

func TestAPI(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "API Validation Suite")
}

var _ = BeforeSuite(func() {
	Expect(os.Getenv("KUBEBUILDER_ASSETS")).NotTo(BeEmpty(),
		"KUBEBUILDER_ASSETS is not set: run the tests through `make test`, which builds kube-apiserver and etcd and points it at them")
	scheme := runtime.NewScheme()
	Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	Expect(v1alpha1.AddToScheme(scheme)).To(Succeed())
	Expect(apiextensionsv1.AddToScheme(scheme)).To(Succeed())
	// localcluster rather than a bare envtest.Environment: its watchdog stops etcd and
	// kube-apiserver even when `go test` kills this process on a timeout.
	var err error
	cluster, err = localcluster.Start(ctx, localcluster.Options{
		CRDDir:           filepath.Join("..", "..", "config", "crd", "bases"),
		ControlPlaneOnly: true,
	})
	Expect(err).NotTo(HaveOccurred())
	testEnv, cfg = cluster.Env, cluster.Config
	k8sClient, err = client.New(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
})

var _ = AfterSuite(func() {
	if cluster != nil {
		Expect(cluster.Stop()).To(Succeed())
	}
})
