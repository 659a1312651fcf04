package e2e

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
	"github.com/residency-operator/residency-operator/internal/engine"
)

const (
	replicas = 100
	ns       = "shop"
)

// euCountries are the EU-27 and the EEA's Iceland, Liechtenstein and Norway, as the shipped sample.
var euCountries = []v1alpha1.CountryCode{"AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU",
	"IE", "IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE", "IS", "LI", "NO"}

// wantJurisdictions is where each node of localcluster.MultiRegionNodes belongs, worked out by hand
// from its region (or, on-prem, its country label) rather than by the engine under test.
var wantJurisdictions = map[string][]string{
	"aws-eu-central-1a":   {"eu"},              // Frankfurt, DE
	"aws-eu-central-1b":   {"eu"},              // Frankfurt, DE
	"gce-europe-west1-b":  {"eu"},              // St. Ghislain, BE
	"azure-westeurope-1":  {"eu"},              // Netherlands
	"aws-us-east-1a":      {"us"},              // N. Virginia
	"gce-us-central1-a":   {"us"},              // Iowa
	"gce-asia-south1-a":   {"affiliate-sites"}, // Mumbai, IN
	"zurich-rack-7":       {"affiliate-sites"}, // on-prem, country label CH
	"aws-ap-northeast-1a": nil,                 // Tokyo, JP: in no jurisdiction
}

func jurisdictionsOf(n *corev1.Node) []string { return engine.LabelledJurisdictions(n.Labels) }

func deployment(name string, count int32, labels map[string]string) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(count),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "app", Image: "registry.example/" + name + ":1",
					Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
						corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi")}},
				}}},
			},
		},
	}
}

// placement is where the Running pods of one app landed.
type placement struct {
	pods     []corev1.Pod
	byNode   map[string]int
	byRegion map[string]int
}

func (p placement) String() string {
	keys := slices.Sorted(maps.Keys(p.byRegion))
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%d", k, p.byRegion[k]))
	}
	return strings.Join(parts, " ")
}

// runningPlacement lists the app's pods and, once all count of them are Running on a node, says
// where.
func runningPlacement(g Gomega, app string, count int, nodes map[string]*corev1.Node) placement {
	var pods corev1.PodList
	g.Expect(k8sClient.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels{"app": app})).To(Succeed())
	p := placement{byNode: map[string]int{}, byRegion: map[string]int{}}
	for _, pod := range pods.Items {
		if pod.Status.Phase != corev1.PodRunning || pod.Spec.NodeName == "" || pod.DeletionTimestamp != nil {
			continue
		}
		p.pods = append(p.pods, pod)
		p.byNode[pod.Spec.NodeName]++
		region := nodes[pod.Spec.NodeName].Labels[corev1.LabelTopologyRegion]
		if region == "" {
			region = "on-prem:" + pod.Spec.NodeName
		}
		p.byRegion[region]++
	}
	g.Expect(p.pods).To(HaveLen(count), "Running pods of %s (%d in the namespace)", app, len(pods.Items))
	return p
}

// waitWebhookSees waits until a dry-run pod labelled app=app is placed by store: the manager's
// cache, which the webhooks read, has the store.
func waitWebhookSees(app, store string) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		probe := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "probe-", Namespace: ns, Labels: map[string]string{"app": app}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/probe:1"}}},
		}
		g.Expect(k8sClient.Create(ctx, probe, client.DryRunAll)).To(Succeed())
		g.Expect(probe.Annotations).To(HaveKeyWithValue(v1alpha1.StoresAnnotation, store))
	}).Should(Succeed())
}

// requireRegions gives a Deployment's pods their own required node affinity.
func requireRegions(d *appsv1.Deployment, regions ...string) *appsv1.Deployment {
	d.Spec.Template.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
			MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelTopologyRegion, Operator: corev1.NodeSelectorOpIn, Values: regions}},
		}}},
	}}
	return d
}

var _ = Describe("Placement by the real kube-scheduler on kwok nodes in several regions", Ordered, func() {
	var (
		nodes       map[string]*corev1.Node
		specs       map[string]*v1alpha1.JurisdictionSpec
		customerDB  *v1alpha1.PersonalDataStore
		analytics   *v1alpha1.PersonalDataStore
		where       = map[string]placement{}
		governedApp = map[string]*v1alpha1.PersonalDataStore{}
	)

	store := func(name, app string, jurisdictions ...v1alpha1.JurisdictionName) *v1alpha1.PersonalDataStore {
		return &v1alpha1.PersonalDataStore{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: v1alpha1.PersonalDataStoreSpec{
				DataCategories:       []v1alpha1.DataCategory{v1alpha1.Credentials, v1alpha1.ContactDetails},
				AllowedJurisdictions: jurisdictions,
				WorkloadSelector:     metav1.LabelSelector{MatchLabels: map[string]string{"app": app}},
				Enforcement:          v1alpha1.Enforce,
			},
		}
	}

	BeforeAll(func() {
		By("declaring the jurisdictions eu, us and affiliate-sites")
		specs = map[string]*v1alpha1.JurisdictionSpec{
			"eu":              {DisplayName: "European Union and EEA", Countries: euCountries},
			"us":              {DisplayName: "United States", Countries: []v1alpha1.CountryCode{"US"}},
			"affiliate-sites": {DisplayName: "Affiliate facilities", Countries: []v1alpha1.CountryCode{"CH", "IN"}},
		}
		for name, spec := range specs {
			Expect(k8sClient.Create(ctx, &v1alpha1.Jurisdiction{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: *spec})).To(Succeed())
		}

		By("waiting until the operator has labelled every node with its jurisdictions")
		Eventually(func(g Gomega) {
			var list corev1.NodeList
			g.Expect(k8sClient.List(ctx, &list)).To(Succeed())
			got := map[string][]string{}
			nodes = map[string]*corev1.Node{}
			for i := range list.Items {
				n := &list.Items[i]
				nodes[n.Name] = n
				got[n.Name] = jurisdictionsOf(n)
			}
			g.Expect(got).To(Equal(wantJurisdictions))
		}).Should(Succeed())

		By("declaring an EU-only store and an EU-or-US store, both Enforce")
		Expect(k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
		customerDB = store("customer-db", "customer-db", "eu")
		analytics = store("analytics", "analytics", "eu", "us")
		Expect(k8sClient.Create(ctx, customerDB)).To(Succeed())
		Expect(k8sClient.Create(ctx, analytics)).To(Succeed())
		governedApp["customer-db"], governedApp["analytics"] = customerDB, analytics
		Eventually(func(g Gomega) {
			got := &corev1.Namespace{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Name: ns}, got)).To(Succeed())
			g.Expect(got.Labels).To(HaveKeyWithValue(v1alpha1.GovernedNamespaceLabel, "true"))
		}).Should(Succeed())
		// The webhooks must see both stores before 200 governed pods are created.
		for app, s := range governedApp {
			waitWebhookSees(app, s.Name)
		}

		By(fmt.Sprintf("creating three Deployments of %d replicas: two governed, one not", replicas))
		for _, app := range []string{"customer-db", "analytics", "storefront"} {
			Expect(k8sClient.Create(ctx, deployment(app, replicas, map[string]string{"app": app}))).To(Succeed())
		}

		By("waiting until kube-scheduler has bound every pod and kwok runs it")
		Eventually(func(g Gomega) {
			for _, app := range []string{"customer-db", "analytics", "storefront"} {
				where[app] = runningPlacement(g, app, replicas, nodes)
			}
		}).Should(Succeed())
		for app, p := range where {
			AddReportEntry(app+" pods by region", p.String())
			GinkgoWriter.Printf("%s: %s\n", app, p)
		}
	})

	// permittedTerms is the store's permitted set as the engine computes it from the declared
	// jurisdictions: the same definition the webhook and the audit use.
	permittedTerms := func(s *v1alpha1.PersonalDataStore) []corev1.NodeSelectorTerm {
		terms, err := engine.RequirementFor(s).Terms(specs)
		Expect(err).NotTo(HaveOccurred())
		Expect(terms).NotTo(BeEmpty())
		return terms
	}

	It("runs all 100 pods of the EU-only store on EU nodes and 0 on any other", func() {
		p := where["customer-db"]
		terms := permittedTerms(customerDB)
		var outside []string
		for _, pod := range p.pods {
			n := nodes[pod.Spec.NodeName]
			Expect(pod.Annotations).To(HaveKeyWithValue(v1alpha1.StoresAnnotation, "customer-db"), "pod %s", pod.Name)
			if !engine.NodePermitted(n, terms) || !slices.Equal(wantJurisdictions[n.Name], []string{"eu"}) {
				outside = append(outside, pod.Name+"@"+n.Name)
			}
		}
		Expect(outside).To(BeEmpty(), "governed pods on non-permitted nodes")
		Expect(p.byRegion).To(HaveLen(3), "the scheduler spreads them over the EU regions: %s", p)
		for region := range p.byRegion {
			Expect(region).To(BeElementOf("eu-central-1", "europe-west1", "westeurope"))
		}
	})

	It("runs all 100 pods of the EU-or-US store on EU or US nodes only, using both", func() {
		p := where["analytics"]
		terms := permittedTerms(analytics)
		used := map[string]bool{}
		var outside []string
		for _, pod := range p.pods {
			n := nodes[pod.Spec.NodeName]
			want := wantJurisdictions[n.Name]
			if !engine.NodePermitted(n, terms) || len(want) != 1 || (want[0] != "eu" && want[0] != "us") {
				outside = append(outside, pod.Name+"@"+n.Name)
				continue
			}
			used[want[0]] = true
		}
		Expect(outside).To(BeEmpty(), "governed pods on non-permitted nodes")
		Expect(used).To(Equal(map[string]bool{"eu": true, "us": true}), "placement: %s", p)
	})

	It("lets the ungoverned Deployment spread freely, outside the EU too", func() {
		p := where["storefront"]
		for _, pod := range p.pods {
			Expect(pod.Annotations).NotTo(HaveKey(v1alpha1.StoresAnnotation), "pod %s", pod.Name)
			Expect(pod.Spec.Affinity).To(BeNil(), "pod %s", pod.Name)
		}
		nonEU := 0
		for node, count := range p.byNode {
			if !slices.Contains(wantJurisdictions[node], "eu") {
				nonEU += count
			}
		}
		Expect(len(p.byRegion)).To(BeNumerically(">=", 3), "regions: %s", p)
		Expect(nonEU).To(BeNumerically(">", 0), "no pod outside the EU: %s", p)
	})

	It("is confirmed by the audit, and each governed pod carries evidence of where it ran", func() {
		for _, s := range []*v1alpha1.PersonalDataStore{customerDB, analytics} {
			Eventually(func(g Gomega) {
				got := &v1alpha1.PersonalDataStore{}
				g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s), got)).To(Succeed())
				g.Expect(got.Status.GovernedPods).To(BeEquivalentTo(replicas))
				g.Expect(got.Status.ViolationCount).To(BeZero())
				g.Expect(got.Status.Conditions).To(ContainElement(And(
					HaveField("Type", v1alpha1.CompliantCondition), HaveField("Status", metav1.ConditionTrue))))
			}).Should(Succeed(), "status of store %s", s.Name)
		}
		for app := range governedApp {
			Eventually(func(g Gomega) {
				var pods corev1.PodList
				g.Expect(k8sClient.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels{"app": app})).To(Succeed())
				for _, pod := range pods.Items {
					n := nodes[pod.Spec.NodeName]
					g.Expect(n).NotTo(BeNil(), "pod %s is not bound", pod.Name)
					g.Expect(pod.Annotations).To(HaveKeyWithValue(v1alpha1.ObservedRegionAnnotation, n.Labels[corev1.LabelTopologyRegion]), "pod %s", pod.Name)
					g.Expect(pod.Annotations).To(HaveKeyWithValue(v1alpha1.ObservedJurisdictionsAnnotation, strings.Join(wantJurisdictions[n.Name], ",")), "pod %s", pod.Name)
				}
			}).Should(Succeed(), "evidence on the %s pods", app)
		}
	})

	Context("with the pods' own required node affinity", func() {
		BeforeAll(func() {
			sessions := store("sessions", "sessions", "eu")
			sessions.Spec.WorkloadSelector = metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "app", Operator: metav1.LabelSelectorOpIn, Values: []string{"sessions", "sessions-us"}}}}
			Expect(k8sClient.Create(ctx, sessions)).To(Succeed())
			waitWebhookSees("sessions", "sessions")
			waitWebhookSees("sessions-us", "sessions")
		})

		It("ANDs it with the permitted set: asking for us-east-1 or eu-central-1 lands in eu-central-1 only", func() {
			Expect(k8sClient.Create(ctx, requireRegions(deployment("sessions", 10, map[string]string{"app": "sessions"}),
				"us-east-1", "eu-central-1"))).To(Succeed())
			var p placement
			Eventually(func(g Gomega) { p = runningPlacement(g, "sessions", 10, nodes) }).Should(Succeed())
			Expect(p.byRegion).To(Equal(map[string]int{"eu-central-1": 10}))
		})

		It("refuses pods that ask only for a non-permitted region, which no node could take, and says why", func() {
			Expect(k8sClient.Create(ctx, requireRegions(deployment("sessions-us", 5, map[string]string{"app": "sessions-us"}),
				"us-east-1"))).To(Succeed())
			// Without the refusal they would sit Pending with the scheduler's generic "didn't
			// match Pod's node affinity/selector"; the ReplicaSet's Event says what to fix.
			Eventually(func(g Gomega) {
				var events corev1.EventList
				g.Expect(k8sClient.List(ctx, &events, client.InNamespace(ns))).To(Succeed())
				g.Expect(events.Items).To(ContainElement(And(HaveField("Reason", "FailedCreate"),
					HaveField("Message", And(ContainSubstring("(region us-east-1, country US"), ContainSubstring("would stay Pending forever"))))))
			}).Should(Succeed())
			var pods corev1.PodList
			Expect(k8sClient.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels{"app": "sessions-us"})).To(Succeed())
			Expect(pods.Items).To(BeEmpty())
		})
	})
})
