package controllers_test

import (
	"strconv"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
	"github.com/residency-operator/residency-operator/internal/catalog"
)

var euCountries = []v1alpha1.CountryCode{"AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE",
	"IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE", "IS", "LI", "NO"}

const affiliateSiteLabel = "site.dataresidency.node-restriction.kubernetes.io/affiliate"

func jurisdiction(name string, spec v1alpha1.JurisdictionSpec) *v1alpha1.Jurisdiction {
	return &v1alpha1.Jurisdiction{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec}
}

// testNode builds a node; region and providerID may be empty; extra labels are added as given. A
// region that no providerID vouches for is vouched for by a person (the restricted
// confirmed-region label), as the default trust needs; unvouchedNode builds one without.
func testNode(name, region, providerID string, extra map[string]string) *corev1.Node {
	n := unvouchedNode(name, region, providerID, extra)
	if _, _, _, located := catalog.LocationFromProviderID(providerID); region != "" && !located {
		n.Labels[v1alpha1.ConfirmedRegionLabel] = region
	}
	return n
}

// unvouchedNode is testNode without a person's word for the region.
func unvouchedNode(name, region, providerID string, extra map[string]string) *corev1.Node {
	labels := map[string]string{"kubernetes.io/hostname": name}
	if region != "" {
		labels[corev1.LabelTopologyRegion] = region
	}
	for k, v := range extra {
		labels[k] = v
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec:       corev1.NodeSpec{ProviderID: providerID},
	}
}

// residencyLabels returns the labels the operator owns on a node: jurisdiction labels and the
// country label.
func residencyLabels(name string) func(g Gomega) map[string]string {
	return func(g Gomega) map[string]string {
		node := &corev1.Node{}
		g.Expect(k8sClient.Get(ctx, client.ObjectKey{Name: name}, node)).To(Succeed())
		out := map[string]string{}
		for k, v := range node.Labels {
			if strings.HasPrefix(k, v1alpha1.JurisdictionLabelPrefix) || k == v1alpha1.CountryLabel {
				out[k] = v
			}
		}
		return out
	}
}

// expect builds the expected operator-owned labels: a country ("" for none) and jurisdictions.
func expect(country string, jurisdictions ...string) map[string]string {
	out := map[string]string{}
	if country != "" {
		out[v1alpha1.CountryLabel] = country
	}
	for _, j := range jurisdictions {
		out[v1alpha1.JurisdictionLabel(j)] = "true"
	}
	return out
}

var _ = Describe("Node location labels", Ordered, func() {
	nodes := []*corev1.Node{
		testNode("aws-frankfurt", "eu-central-1", "aws:///eu-central-1a/i-0a1", nil),
		testNode("gcp-belgium", "europe-west1", "gce://shop-prod/europe-west1-b/gcp-belgium", nil),
		testNode("azure-netherlands", "westeurope", "azure:///subscriptions/1/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1", nil),
		testNode("hetzner-falkenstein", "fsn1", "", nil),
		testNode("aws-virginia", "us-east-1", "aws:///us-east-1a/i-0b2", nil),
		testNode("gcp-iowa", "us-central1", "gce://shop-prod/us-central1-c/gcp-iowa", nil),
		testNode("azure-eastus", "eastus", "", nil),
		testNode("do-sanfrancisco", "sfo3", "digitalocean://4242", nil),
		testNode("tokyo-vm", "ap-northeast-1", "", nil),
		testNode("gcp-mumbai", "asia-south1", "gce://shop-prod/asia-south1-a/gcp-mumbai", nil),
		testNode("gcp-tokyo", "asia-northeast1", "", nil),
		testNode("onprem-zurich", "", "", map[string]string{v1alpha1.CountryLabel: "CH"}),
		testNode("onprem-selected", "", "", map[string]string{affiliateSiteLabel: "true"}),
		testNode("liar", "eu-central-1", "aws:///us-east-1b/i-0c3", nil),
		// Azure's providerID does not say where the node is, and no person vouched for the region
		// its kubelet-settable label claims: in no jurisdiction by default.
		unvouchedNode("azure-unvouched", "westeurope", "azure:///subscriptions/1/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm9", nil),
		testNode("nowhere", "mars-north-1", "", nil),
	}
	want := map[string]map[string]string{
		"aws-frankfurt":       expect("DE", "eu"),
		"gcp-belgium":         expect("BE", "eu"),
		"azure-netherlands":   expect("NL", "eu"),
		"hetzner-falkenstein": expect("DE", "eu"),
		"aws-virginia":        expect("US", "us"),
		"gcp-iowa":            expect("US", "us"),
		"azure-eastus":        expect("US", "us"),
		"do-sanfrancisco":     expect("US", "us"),
		"tokyo-vm":            expect("JP"),
		"gcp-mumbai":          expect("IN", "affiliate-sites"),
		"gcp-tokyo":           expect("JP"),
		"onprem-zurich":       expect("CH", "affiliate-sites"),
		"onprem-selected":     expect("", "affiliate-sites"),
		"liar":                expect(""),
		"azure-unvouched":     expect(""),
		"nowhere":             expect(""),
	}

	BeforeAll(func() {
		for _, j := range []*v1alpha1.Jurisdiction{
			jurisdiction("eu", v1alpha1.JurisdictionSpec{DisplayName: "EU and EEA", Countries: euCountries}),
			jurisdiction("us", v1alpha1.JurisdictionSpec{Countries: []v1alpha1.CountryCode{"US"}}),
			jurisdiction("affiliate-sites", v1alpha1.JurisdictionSpec{
				Countries:    []v1alpha1.CountryCode{"CH", "IN"},
				NodeSelector: &metav1.LabelSelector{MatchLabels: map[string]string{affiliateSiteLabel: "true"}},
			}),
			jurisdiction("lab", v1alpha1.JurisdictionSpec{
				NodeSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"example.com/site": "lab"}},
			}),
		} {
			Expect(k8sClient.Create(ctx, j)).To(Succeed())
		}
		for _, n := range nodes {
			Expect(k8sClient.Create(ctx, n)).To(Succeed())
		}
	})

	It("labels every node with exactly its jurisdictions and country", func() {
		for _, n := range nodes {
			Eventually(residencyLabels(n.Name)).Should(Equal(want[n.Name]), "node %s", n.Name)
		}
	})

	It("never labels a node whose region label contradicts its providerID, or that nothing vouches for, and reports both", func() {
		Consistently(residencyLabels("liar"), "1s").Should(BeEmpty())
		Expect(residencyLabels("azure-unvouched")(Default)).To(BeEmpty())
		Eventually(func(g Gomega) {
			jur := &v1alpha1.Jurisdiction{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Name: "eu"}, jur)).To(Succeed())
			g.Expect(jur.Status.UntrustedNodeCount).To(BeEquivalentTo(2))
			g.Expect(jur.Status.UntrustedNodes).To(HaveLen(2))
			g.Expect(jur.Status.UntrustedNodes[0].Name).To(Equal("azure-unvouched"))
			g.Expect(jur.Status.UntrustedNodes[0].Reason).To(ContainSubstring("kubectl label node azure-unvouched " + v1alpha1.ConfirmedRegionLabel + "=westeurope"))
			g.Expect(jur.Status.UntrustedNodes[1].Name).To(Equal("liar"))
			g.Expect(jur.Status.UntrustedNodes[1].Reason).To(ContainSubstring("us-east-1"))
		}).Should(Succeed())
		Eventually(nodeEventReasons("liar")).Should(ContainElement("LocationUntrusted"))
		Eventually(nodeEventReasons("azure-unvouched")).Should(ContainElement("LocationUntrusted"))
		Eventually(nodeEventReasons("nowhere")).Should(ContainElement("LocationUnknown"))
	})

	It("pins the region first seen in a restricted label, and the country's source too", func() {
		Eventually(func(g Gomega) {
			node := &corev1.Node{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Name: "aws-frankfurt"}, node)).To(Succeed())
			g.Expect(node.Labels).To(HaveKeyWithValue(v1alpha1.ConfirmedRegionLabel, "eu-central-1"))
			g.Expect(node.Labels).To(HaveKeyWithValue(v1alpha1.CountrySourceLabel, "catalog"))
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Name: "onprem-zurich"}, node)).To(Succeed())
			g.Expect(node.Labels).To(HaveKeyWithValue(v1alpha1.CountrySourceLabel, "person"), "a person's country: nothing written later can make it look derived")
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Name: "liar"}, node)).To(Succeed())
			g.Expect(node.Labels).NotTo(HaveKey(v1alpha1.ConfirmedRegionLabel), "an untrusted region is never pinned")
		}).Should(Succeed())
	})

	It("writes Jurisdiction status: node count, countries, regions and conditions", func() {
		Eventually(func(g Gomega) {
			jur := &v1alpha1.Jurisdiction{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Name: "eu"}, jur)).To(Succeed())
			g.Expect(jur.Status.NodeCount).To(BeEquivalentTo(4))
			g.Expect(jur.Status.Countries).To(Equal([]string{"BE", "DE", "NL"}))
			g.Expect(jur.Status.Regions).To(Equal([]string{"eu-central-1", "europe-west1", "fsn1", "westeurope"}))
			g.Expect(jur.Finalizers).To(ContainElement(v1alpha1.JurisdictionFinalizer))
			g.Expect(meta.IsStatusConditionTrue(jur.Status.Conditions, v1alpha1.ReadyCondition)).To(BeTrue())
			g.Expect(meta.IsStatusConditionTrue(jur.Status.Conditions, v1alpha1.SelectorTrustedCondition)).To(BeTrue())
		}).Should(Succeed())
	})

	It("warns about a nodeSelector that kubelets could satisfy themselves", func() {
		Eventually(func(g Gomega) {
			jur := &v1alpha1.Jurisdiction{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Name: "lab"}, jur)).To(Succeed())
			cond := meta.FindStatusCondition(jur.Status.Conditions, v1alpha1.SelectorTrustedCondition)
			g.Expect(cond).NotTo(BeNil())
			g.Expect(cond.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(cond.Message).To(ContainSubstring("example.com/site"))
			g.Expect(cond.Message).To(ContainSubstring("node-restriction.kubernetes.io/"))
		}).Should(Succeed())
	})

	It("distrusts a node whose region label changes, naming both regions, until a person confirms the move", func() {
		node := &corev1.Node{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Name: "tokyo-vm"}, node)).To(Succeed())
		patch := client.MergeFrom(node.DeepCopy())
		node.Labels[corev1.LabelTopologyRegion] = "europe-north1"
		Expect(k8sClient.Patch(ctx, node, patch)).To(Succeed())
		Eventually(residencyLabels("tokyo-vm")).Should(BeEmpty())
		Consistently(residencyLabels("tokyo-vm"), "500ms").Should(BeEmpty(), "not moved into the eu")
		Eventually(eventMessages("Node", "tokyo-vm", "LocationUntrusted")).Should(ContainElement(And(
			ContainSubstring(`claims region "europe-north1"`), ContainSubstring(`region "ap-northeast-1"`))))

		By("a person confirms the move with the restricted label")
		Expect(k8sClient.Get(ctx, client.ObjectKey{Name: "tokyo-vm"}, node)).To(Succeed())
		patch = client.MergeFrom(node.DeepCopy())
		node.Labels[v1alpha1.ConfirmedRegionLabel] = "europe-north1"
		Expect(k8sClient.Patch(ctx, node, patch)).To(Succeed())
		Eventually(residencyLabels("tokyo-vm")).Should(Equal(expect("FI", "eu")))
	})

	It("moves the labels when a Jurisdiction's countries change", func() {
		jur := &v1alpha1.Jurisdiction{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Name: "affiliate-sites"}, jur)).To(Succeed())
		patch := client.MergeFrom(jur.DeepCopy())
		jur.Spec.Countries = []v1alpha1.CountryCode{"CH", "JP"}
		Expect(k8sClient.Patch(ctx, jur, patch)).To(Succeed())
		Eventually(residencyLabels("gcp-mumbai")).Should(Equal(expect("IN")))
		Eventually(residencyLabels("gcp-tokyo")).Should(Equal(expect("JP", "affiliate-sites")))
		Eventually(residencyLabels("onprem-selected")).Should(Equal(expect("", "affiliate-sites")))
	})

	It("keeps a person-set country label and follows changes to it", func() {
		node := &corev1.Node{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Name: "onprem-zurich"}, node)).To(Succeed())
		patch := client.MergeFrom(node.DeepCopy())
		node.Labels[v1alpha1.CountryLabel] = "DE"
		Expect(k8sClient.Patch(ctx, node, patch)).To(Succeed())
		Eventually(residencyLabels("onprem-zurich")).Should(Equal(expect("DE", "eu")))
	})

	It("removes a deleted Jurisdiction's labels before it goes", func() {
		usNodes := []string{"aws-virginia", "gcp-iowa", "azure-eastus", "do-sanfrancisco"}
		for _, name := range usNodes {
			Eventually(residencyLabels(name)).Should(HaveKey(v1alpha1.JurisdictionLabel("us")), "node %s", name)
		}
		// Watch from now on: etcd orders every write, so the resourceVersion of each label removal
		// must come before the one at which the Jurisdiction is finally gone.
		watcher, err := client.NewWithWatch(cfg, client.Options{Scheme: scheme})
		Expect(err).NotTo(HaveOccurred())
		var nodes corev1.NodeList
		Expect(k8sClient.List(ctx, &nodes)).To(Succeed())
		nodeWatch, err := watcher.Watch(ctx, &corev1.NodeList{}, &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: nodes.ResourceVersion}})
		Expect(err).NotTo(HaveOccurred())
		defer nodeWatch.Stop()
		var jurs v1alpha1.JurisdictionList
		Expect(k8sClient.List(ctx, &jurs)).To(Succeed())
		jurWatch, err := watcher.Watch(ctx, &v1alpha1.JurisdictionList{}, &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: jurs.ResourceVersion}})
		Expect(err).NotTo(HaveOccurred())
		defer jurWatch.Stop()

		labelled := map[string]bool{}
		for _, n := range nodes.Items {
			if _, ok := n.Labels[v1alpha1.JurisdictionLabel("us")]; ok {
				labelled[n.Name] = true
			}
		}
		Expect(labelled).To(HaveLen(len(usNodes)))

		Expect(k8sClient.Delete(ctx, jurisdiction("us", v1alpha1.JurisdictionSpec{}))).To(Succeed())
		var goneAt uint64
		Eventually(jurWatch.ResultChan()).Should(Receive(Satisfy(func(e watch.Event) bool {
			if e.Type != watch.Deleted || e.Object.(*v1alpha1.Jurisdiction).Name != "us" {
				return false
			}
			goneAt = resourceVersion(e.Object.(client.Object))
			return true
		})))
		removedAt := map[string]uint64{}
		Eventually(func() map[string]uint64 {
			for {
				select {
				case e := <-nodeWatch.ResultChan():
					node, ok := e.Object.(*corev1.Node)
					if ok && labelled[node.Name] && removedAt[node.Name] == 0 {
						if _, still := node.Labels[v1alpha1.JurisdictionLabel("us")]; !still {
							removedAt[node.Name] = resourceVersion(node)
						}
					}
				default:
					return removedAt
				}
			}
		}).Should(HaveLen(len(labelled)))
		for name, at := range removedAt {
			Expect(at).To(BeNumerically("<", goneAt), "node %s lost the label after the Jurisdiction was gone", name)
		}
		for _, name := range usNodes {
			Eventually(residencyLabels(name)).Should(Equal(expect("US")), "node %s", name)
		}
	})
})

// resourceVersion reads an object's resourceVersion as the etcd revision it is.
func resourceVersion(obj client.Object) uint64 {
	GinkgoHelper()
	rv, err := strconv.ParseUint(obj.GetResourceVersion(), 10, 64)
	Expect(err).NotTo(HaveOccurred())
	return rv
}

func nodeEventReasons(node string) func(g Gomega) []string { return eventReasons("Node", node) }

var _ = Describe("Governed namespaces", func() {
	It("labels a namespace while it holds a PersonalDataStore", func() {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}
		Expect(k8sClient.Create(ctx, ns)).To(Succeed())
		store := &v1alpha1.PersonalDataStore{
			ObjectMeta: metav1.ObjectMeta{Name: "customers", Namespace: "shop"},
			Spec: v1alpha1.PersonalDataStoreSpec{
				DataCategories:       []v1alpha1.DataCategory{v1alpha1.ContactDetails},
				AllowedJurisdictions: []v1alpha1.JurisdictionName{"eu"},
				WorkloadSelector:     metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}},
			},
		}
		Expect(k8sClient.Create(ctx, store)).To(Succeed())
		governed := func(g Gomega) string {
			got := &corev1.Namespace{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Name: "shop"}, got)).To(Succeed())
			return got.Labels[v1alpha1.GovernedNamespaceLabel]
		}
		Eventually(governed).Should(Equal("true"))

		By("putting the label back when someone removes it")
		got := &corev1.Namespace{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Name: "shop"}, got)).To(Succeed())
		patch := client.MergeFrom(got.DeepCopy())
		delete(got.Labels, v1alpha1.GovernedNamespaceLabel)
		Expect(k8sClient.Patch(ctx, got, patch)).To(Succeed())
		Eventually(governed).Should(Equal("true"))

		By("removing it when the last store goes")
		Expect(k8sClient.Delete(ctx, store)).To(Succeed())
		Eventually(governed).Should(BeEmpty())
	})
})
