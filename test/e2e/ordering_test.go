package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
	"github.com/residency-operator/residency-operator/internal/engine"
)

// orderingManifests are third-party-shaped manifests (several Deployments, a StatefulSet with a
// volume claim template, a CronJob) plus their stores, in the order kustomize, Helm and Argo CD
// apply them: the Namespace first, built-in kinds next, custom resources last. The Namespace
// declares that it awaits its policies, in the same manifests.
const orderingManifests = `apiVersion: v1
kind: Namespace
metadata:
  name: boutique
  labels:
    dataresidency.io/await-policies: "true"
%[1]s
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: boutique}
spec:
  serviceName: db
  replicas: 2
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: db, image: registry.example/redis:7}]}
  volumeClaimTemplates:
  - metadata: {name: data, labels: {app: db}}
    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: report, namespace: boutique}
spec:
  schedule: "*/5 * * * *"
  jobTemplate:
    spec:
      template:
        metadata: {labels: {app: checkout}}
        spec: {restartPolicy: Never, containers: [{name: report, image: registry.example/report:1}]}
---
apiVersion: dataresidency.io/v1alpha1
kind: PersonalDataStore
metadata: {name: carts, namespace: boutique}
spec:
  dataCategories: [UsageActivity]
  allowedJurisdictions: [order-eu]
  workloadSelector: {matchLabels: {app: cart}}
---
apiVersion: dataresidency.io/v1alpha1
kind: PersonalDataStore
metadata: {name: orders, namespace: boutique}
spec:
  dataCategories: [ContactDetails]
  allowedJurisdictions: [order-eu, order-us]
  workloadSelector: {matchLabels: {app: checkout}}
---
apiVersion: dataresidency.io/v1alpha1
kind: PersonalDataStore
metadata: {name: sessions, namespace: boutique}
spec:
  dataCategories: [Credentials]
  allowedJurisdictions: [order-eu]
  workloadSelector: {matchExpressions: [{key: app, operator: In, values: [db, frontend]}]}
`

const orderingDeployment = `---
apiVersion: apps/v1
kind: Deployment
metadata: {name: %[1]s, namespace: boutique}
spec:
  replicas: 6
  selector: {matchLabels: {app: %[1]s}}
  template:
    metadata: {labels: {app: %[1]s}}
    spec:
      containers:
      - name: app
        image: registry.example/%[1]s:1
        resources: {requests: {cpu: 10m, memory: 16Mi}}`

// permittedFor is each governed app's permitted jurisdictions, worked out by hand from the stores.
var permittedFor = map[string][]string{"cart": {"order-eu"}, "checkout": {"order-eu", "order-us"}, "db": {"order-eu"}, "frontend": {"order-eu"}}

var _ = Describe("GitOps ordering: workloads applied before their stores", Ordered, func() {
	BeforeAll(func() {
		for name, countries := range map[string][]v1alpha1.CountryCode{"order-eu": euCountries, "order-us": {"US"}} {
			Expect(k8sClient.Create(ctx, &v1alpha1.Jurisdiction{ObjectMeta: metav1.ObjectMeta{Name: name},
				Spec: v1alpha1.JurisdictionSpec{Countries: countries}})).To(Succeed())
		}
		Eventually(func(g Gomega) {
			node := &corev1.Node{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Name: "aws-eu-central-1a"}, node)).To(Succeed())
			g.Expect(jurisdictionsOf(node)).To(ContainElement("order-eu"))
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Name: "aws-us-east-1a"}, node)).To(Succeed())
			g.Expect(jurisdictionsOf(node)).To(ContainElement("order-us"))
		}).Should(Succeed())
	})
	// The other specs expect exactly the harness's jurisdictions on the nodes.
	// The stores go first, as a person would take them down: Jurisdictions going first would turn
	// the namespace's pods into violations.
	AfterAll(func() {
		Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "boutique"}}))).To(Succeed())
		Eventually(func(g Gomega) {
			var stores v1alpha1.PersonalDataStoreList
			g.Expect(k8sClient.List(ctx, &stores, client.InNamespace("boutique"))).To(Succeed())
			g.Expect(stores.Items).To(BeEmpty())
		}).Should(Succeed())
		for _, name := range []string{"order-eu", "order-us"} {
			Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, &v1alpha1.Jurisdiction{ObjectMeta: metav1.ObjectMeta{Name: name}}))).To(Succeed())
		}
	})

	It("binds no governed pod outside, watched on every binding, whatever the apply order", func() {
		By("watching every pod of the namespace from before the apply to the end")
		watcher, err := watchClient.Watch(ctx, &corev1.PodList{}, client.InNamespace("boutique"))
		Expect(err).NotTo(HaveOccurred())
		var (
			mu       sync.Mutex
			bindings = map[string]string{} // pod -> node
			outside  []string
		)
		nodeCache := map[string]*corev1.Node{}
		watched := make(chan struct{})
		go func() {
			defer GinkgoRecover()
			defer close(watched)
			for ev := range watcher.ResultChan() {
				pod, ok := ev.Object.(*corev1.Pod)
				if !ok || ev.Type == watch.Deleted || pod.Spec.NodeName == "" {
					continue
				}
				mu.Lock()
				if _, seen := bindings[pod.Name]; !seen {
					bindings[pod.Name] = pod.Spec.NodeName
					if allowed, governed := permittedFor[pod.Labels["app"]]; governed {
						node, cached := nodeCache[pod.Spec.NodeName]
						if !cached {
							node = &corev1.Node{}
							Expect(k8sClient.Get(ctx, client.ObjectKey{Name: pod.Spec.NodeName}, node)).To(Succeed())
							nodeCache[pod.Spec.NodeName] = node
						}
						terms, err := engine.Requirement{Groups: []engine.Group{{Store: "e2e", Jurisdictions: allowed}}}.Terms(nil)
						Expect(err).NotTo(HaveOccurred())
						if !engine.NodePermitted(node, terms) {
							outside = append(outside, fmt.Sprintf("%s (app %s) on %s", pod.Name, pod.Labels["app"], pod.Spec.NodeName))
						}
					}
				}
				mu.Unlock()
			}
		}()
		DeferCleanup(func() { watcher.Stop(); <-watched })

		By("applying everything in one kubectl apply, workloads first and stores last")
		var deployments []string
		for _, app := range []string{"frontend", "cart", "checkout", "catalog"} { // catalog is ungoverned
			deployments = append(deployments, fmt.Sprintf(orderingDeployment, app))
		}
		file := filepath.Join(GinkgoT().TempDir(), "boutique.yaml")
		Expect(os.WriteFile(file, []byte(fmt.Sprintf(orderingManifests, strings.Join(deployments, "\n"))), 0o600)).To(Succeed())
		kubectl := filepath.Join(os.Getenv("KUBEBUILDER_ASSETS"), "kubectl")
		out, err := exec.Command(kubectl, "--kubeconfig", cluster.Kubeconfig, "apply", "-f", file).CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), "%s", out)

		By("waiting until every Deployment's pods run")
		Eventually(func(g Gomega) {
			var pods corev1.PodList
			g.Expect(k8sClient.List(ctx, &pods, client.InNamespace("boutique"))).To(Succeed())
			running := map[string]int{}
			for _, p := range pods.Items {
				if p.Status.Phase == corev1.PodRunning {
					running[p.Labels["app"]]++
				}
			}
			for _, app := range []string{"frontend", "cart", "checkout", "catalog"} {
				g.Expect(running[app]).To(Equal(6), "running pods of %s", app)
			}
		}, 90*time.Second).Should(Succeed())

		// The list above can be ahead of the watch: wait until the watch has seen every binding.
		Eventually(func() int {
			mu.Lock()
			defer mu.Unlock()
			return len(bindings)
		}).Should(BeNumerically(">=", 24))
		mu.Lock()
		defer mu.Unlock()
		AddReportEntry("pods bound during the ordering test", len(bindings))
		Expect(outside).To(BeEmpty(), "governed pods bound outside their permitted jurisdictions")
	})
})
