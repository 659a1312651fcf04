package controllers_test

import (
	"fmt"
	"maps"
	"slices"
	"sync"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
	"github.com/residency-operator/residency-operator/internal/engine"
)

// A kubelet acting with its own node's credentials, against kube-apiserver with the Node
// authorizer and NodeRestriction (the suite starts it as production clusters run): whatever the
// API server lets it write to its own Node, the node joins no jurisdiction it was not in, and every
// write that changes where the node claims to be makes it Untrusted, with an Event.
var _ = Describe("A kubelet's writes to its own Node", Ordered, func() {
	const azureID = "azure:///subscriptions/1/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/kubelet-azure"
	subjects := []*corev1.Node{
		// AWS: spec.providerID says where the node is.
		testNode("kubelet-aws", "eu-west-3", "aws:///eu-west-3a/i-0k1", map[string]string{corev1.LabelTopologyZone: "eu-west-3a"}),
		// Azure: it does not; a person vouched for the region (testNode adds the restricted label).
		testNode("kubelet-azure", "francecentral", azureID, nil),
		// On-prem: a person set the country.
		testNode("kubelet-onprem", "", "", map[string]string{v1alpha1.CountryLabel: "LI"}),
	}
	// Where each write tries to take the node: regions of a Jurisdiction the nodes are not in.
	target := map[string]string{"kubelet-aws": "eu-south-1", "kubelet-azure": "swedencentral", "kubelet-onprem": "eu-south-1"}

	var (
		kubelets  = map[string]client.Client{}
		baseline  = map[string][]string{} // jurisdiction labels once the operator labelled the node
		originals = map[string]*corev1.Node{}
		mu        sync.Mutex
		joined    []string // every node version seen in a jurisdiction outside its baseline
		nodeWatch watch.Interface
	)

	BeforeAll(func() {
		for _, j := range []*v1alpha1.Jurisdiction{
			jurisdiction("kubelet-home", v1alpha1.JurisdictionSpec{Regions: []string{"eu-west-3", "francecentral"}, Countries: []v1alpha1.CountryCode{"LI"}}),
			jurisdiction("kubelet-target", v1alpha1.JurisdictionSpec{Regions: []string{"eu-south-1", "swedencentral"}}),
		} {
			Expect(k8sClient.Create(ctx, j)).To(Succeed())
			DeferCleanup(func() { Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, j))).To(Succeed()) })
		}
		for _, n := range subjects {
			Expect(k8sClient.Create(ctx, n.DeepCopy())).To(Succeed())
			DeferCleanup(func() { Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, n))).To(Succeed()) })
		}
		for _, n := range subjects {
			Eventually(func(g Gomega) {
				node := &corev1.Node{}
				g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(n), node)).To(Succeed())
				g.Expect(engine.LabelledJurisdictions(node.Labels)).To(ContainElement("kubelet-home"), "node %s", n.Name)
				g.Expect(node.Annotations).NotTo(HaveKey(engine.LocationProblemAnnotation))
				baseline[n.Name] = engine.LabelledJurisdictions(node.Labels)
				originals[n.Name] = node
			}).Should(Succeed())

			user, err := cluster.Env.AddUser(envtest.User{Name: "system:node:" + n.Name, Groups: []string{"system:nodes"}}, nil)
			Expect(err).NotTo(HaveOccurred())
			kubelets[n.Name], err = client.New(user.Config(), client.Options{Scheme: scheme})
			Expect(err).NotTo(HaveOccurred())
		}

		// Checked on every version of the nodes, not by a last look.
		watcher, err := client.NewWithWatch(cfg, client.Options{Scheme: scheme})
		Expect(err).NotTo(HaveOccurred())
		var list corev1.NodeList
		Expect(k8sClient.List(ctx, &list)).To(Succeed())
		nodeWatch, err = watcher.Watch(ctx, &corev1.NodeList{}, &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: list.ResourceVersion}})
		Expect(err).NotTo(HaveOccurred())
		go func() {
			for e := range nodeWatch.ResultChan() {
				node, ok := e.Object.(*corev1.Node)
				if !ok || baseline[node.Name] == nil {
					continue
				}
				for _, j := range engine.LabelledJurisdictions(node.Labels) {
					if !slices.Contains(baseline[node.Name], j) {
						mu.Lock()
						joined = append(joined, fmt.Sprintf("%s joined %s at resourceVersion %s", node.Name, j, node.ResourceVersion))
						mu.Unlock()
					}
				}
			}
		}()
	})

	AfterAll(func() {
		if nodeWatch != nil {
			nodeWatch.Stop()
		}
	})

	noneJoined := func() {
		GinkgoHelper()
		mu.Lock()
		defer mu.Unlock()
		Expect(joined).To(BeEmpty())
	}

	// restore undoes the kubelet's write as a person would, and waits until the node is back.
	restore := func(name string) {
		GinkgoHelper()
		Eventually(func(g Gomega) {
			node := &corev1.Node{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Name: name}, node)).To(Succeed())
			node.Labels = maps.Clone(originals[name].Labels)
			node.Annotations = maps.Clone(originals[name].Annotations)
			g.Expect(k8sClient.Update(ctx, node)).To(Succeed())
		}).Should(Succeed())
		Eventually(func(g Gomega) {
			node := &corev1.Node{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Name: name}, node)).To(Succeed())
			g.Expect(node.Annotations).NotTo(HaveKey(engine.LocationProblemAnnotation))
			g.Expect(engine.LabelledJurisdictions(node.Labels)).To(ConsistOf(baseline[name]))
		}).Should(Succeed())
	}

	// write patches the node as its kubelet, and then checks what the operator made of it.
	write := func(name string, movesIt bool, edit func(n *corev1.Node)) {
		GinkgoHelper()
		node := &corev1.Node{}
		Expect(kubelets[name].Get(ctx, client.ObjectKey{Name: name}, node)).To(Succeed(), "a kubelet reads its own Node")
		patch := client.MergeFrom(node.DeepCopy())
		edit(node)
		Expect(kubelets[name].Patch(ctx, node, patch)).To(Succeed(), "NodeRestriction lets the kubelet make this write")
		if movesIt {
			Eventually(func(g Gomega) {
				n := &corev1.Node{}
				g.Expect(k8sClient.Get(ctx, client.ObjectKey{Name: name}, n)).To(Succeed())
				g.Expect(n.Annotations).To(HaveKeyWithValue(engine.LocationProblemAnnotation, engine.ProblemUntrusted))
				g.Expect(engine.LabelledJurisdictions(n.Labels)).To(BeEmpty())
			}).Should(Succeed(), "node %s", name)
			Eventually(eventMessages("Node", name, "LocationUntrusted")).Should(ContainElement(ContainSubstring(target[name])))
		} else {
			Consistently(func(g Gomega) []string {
				n := &corev1.Node{}
				g.Expect(k8sClient.Get(ctx, client.ObjectKey{Name: name}, n)).To(Succeed())
				return engine.LabelledJurisdictions(n.Labels)
			}, "1s").Should(ConsistOf(baseline[name]), "node %s", name)
		}
		noneJoined()
		restore(name)
	}

	for _, name := range []string{"kubelet-aws", "kubelet-azure", "kubelet-onprem"} {
		It(name+": claiming another region makes it Untrusted, never a member there", func() {
			write(name, true, func(n *corev1.Node) { n.Labels[corev1.LabelTopologyRegion] = target[name] })
		})

		It(name+": the legacy country-source annotation changes nothing", func() {
			write(name, false, func(n *corev1.Node) {
				if n.Annotations == nil {
					n.Annotations = map[string]string{}
				}
				n.Annotations[v1alpha1.LegacyCountrySourceAnnotation] = "catalog"
			})
		})

		It(name+": it may not write a restricted label, delete its Node, or change its providerID", func() {
			for key, value := range map[string]string{
				v1alpha1.CountryLabel:                                         "IT",
				v1alpha1.CountrySourceLabel:                                   "forged",
				v1alpha1.ConfirmedRegionLabel:                                 target[name],
				v1alpha1.JurisdictionLabel("kubelet-target"):                  "true",
				"site.dataresidency.node-restriction.kubernetes.io/affiliate": "true",
			} {
				node := &corev1.Node{}
				Expect(kubelets[name].Get(ctx, client.ObjectKey{Name: name}, node)).To(Succeed())
				patch := client.MergeFrom(node.DeepCopy())
				node.Labels[key] = value
				err := kubelets[name].Patch(ctx, node, patch)
				Expect(apierrors.IsForbidden(err)).To(BeTrue(), "%s=%s: want Forbidden, got %v", key, value, err)
			}
			for _, key := range []string{v1alpha1.CountryLabel, v1alpha1.JurisdictionLabel("kubelet-home")} {
				node := &corev1.Node{}
				Expect(kubelets[name].Get(ctx, client.ObjectKey{Name: name}, node)).To(Succeed())
				patch := client.MergeFrom(node.DeepCopy())
				delete(node.Labels, key)
				err := kubelets[name].Patch(ctx, node, patch)
				Expect(apierrors.IsForbidden(err)).To(BeTrue(), "removing %s: want Forbidden, got %v", key, err)
			}
			node := &corev1.Node{}
			Expect(kubelets[name].Get(ctx, client.ObjectKey{Name: name}, node)).To(Succeed())
			err := kubelets[name].Delete(ctx, node)
			Expect(apierrors.IsForbidden(err)).To(BeTrue(), "deleting its own Node (and re-creating it elsewhere): want Forbidden, got %v", err)
			if node.Spec.ProviderID != "" { // set once, it is immutable; from empty, see the last spec
				patch := client.MergeFrom(node.DeepCopy())
				node.Spec.ProviderID = "aws:///eu-south-1a/i-0k9"
				err = kubelets[name].Patch(ctx, node, patch)
				Expect(apierrors.IsForbidden(err) || apierrors.IsInvalid(err)).To(BeTrue(), "changing spec.providerID: got %v", err)
			}
			other := testNode(name+"-twin", target[name], "aws:///eu-south-1a/i-0k8", nil)
			err = kubelets[name].Create(ctx, other)
			Expect(apierrors.IsForbidden(err)).To(BeTrue(), "registering another Node: got %v", err)
			noneJoined()
		})
	}

	It("kubelet-aws: a zone of another region contradicts its providerID", func() {
		write("kubelet-aws", true, func(n *corev1.Node) { n.Labels[corev1.LabelTopologyZone] = target["kubelet-aws"] + "a" })
	})

	It("kubelet-onprem: a zone in another country contradicts the person's country", func() {
		write("kubelet-onprem", true, func(n *corev1.Node) { n.Labels[corev1.LabelTopologyZone] = target["kubelet-onprem"] + "a" })
	})

	It("kubelet-aws and kubelet-azure: removing their topology labels leaves them where they were", func() {
		for _, name := range []string{"kubelet-aws", "kubelet-azure"} {
			write(name, false, func(n *corev1.Node) {
				delete(n.Labels, corev1.LabelTopologyRegion)
				delete(n.Labels, corev1.LabelTopologyZone)
			})
		}
	})

	It("kubelet-azure: a region the catalog does not know keeps it Untrusted, not trusted on its old country", func() {
		name := "kubelet-azure"
		node := &corev1.Node{}
		Expect(kubelets[name].Get(ctx, client.ObjectKey{Name: name}, node)).To(Succeed())
		patch := client.MergeFrom(node.DeepCopy())
		node.Labels[corev1.LabelTopologyRegion] = "nowhere-1"
		Expect(kubelets[name].Patch(ctx, node, patch)).To(Succeed())
		untrusted := func(g Gomega) {
			n := &corev1.Node{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Name: name}, n)).To(Succeed())
			g.Expect(n.Annotations).To(HaveKeyWithValue(engine.LocationProblemAnnotation, engine.ProblemUntrusted))
			g.Expect(n.Labels).NotTo(HaveKey(v1alpha1.CountryLabel), "the country the operator derived goes with the trust")
			g.Expect(engine.LabelledJurisdictions(n.Labels)).To(BeEmpty())
		}
		Eventually(untrusted).Should(Succeed())
		Consistently(untrusted, "2s").Should(Succeed())
		noneJoined()
		restore(name)
	})

	It("kubelet-azure: removing the Untrusted annotation does not hide it", func() {
		name := "kubelet-azure"
		asKubelet := func(edit func(n *corev1.Node)) {
			node := &corev1.Node{}
			Expect(kubelets[name].Get(ctx, client.ObjectKey{Name: name}, node)).To(Succeed())
			patch := client.MergeFrom(node.DeepCopy())
			edit(node)
			Expect(kubelets[name].Patch(ctx, node, patch)).To(Succeed())
		}
		untrusted := func(g Gomega) {
			n := &corev1.Node{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Name: name}, n)).To(Succeed())
			g.Expect(n.Annotations).To(HaveKeyWithValue(engine.LocationProblemAnnotation, engine.ProblemUntrusted))
		}
		asKubelet(func(n *corev1.Node) { n.Labels[corev1.LabelTopologyRegion] = target[name] })
		Eventually(untrusted).Should(Succeed())
		asKubelet(func(n *corev1.Node) {
			delete(n.Annotations, engine.LocationProblemAnnotation)
			delete(n.Annotations, engine.LocationDetailAnnotation)
		})
		Eventually(untrusted).Should(Succeed())
		noneJoined()
		restore(name)
	})

	// Last: spec.providerID cannot be unset or changed once set, so this cannot be undone.
	It("kubelet-onprem: setting its empty providerID to another region makes it Untrusted", func() {
		name := "kubelet-onprem"
		node := &corev1.Node{}
		Expect(kubelets[name].Get(ctx, client.ObjectKey{Name: name}, node)).To(Succeed())
		patch := client.MergeFrom(node.DeepCopy())
		node.Spec.ProviderID = "aws:///eu-south-1a/i-0k9"
		node.Labels[corev1.LabelTopologyRegion] = "eu-south-1"
		if node.Annotations == nil {
			node.Annotations = map[string]string{}
		}
		// What made a person's country look derived before the restricted source label.
		node.Annotations[v1alpha1.LegacyCountrySourceAnnotation] = "catalog"
		Expect(kubelets[name].Patch(ctx, node, patch)).To(Succeed(), "the API server lets a kubelet set an empty providerID")
		Eventually(func(g Gomega) {
			n := &corev1.Node{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Name: name}, n)).To(Succeed())
			g.Expect(n.Annotations).To(HaveKeyWithValue(engine.LocationProblemAnnotation, engine.ProblemUntrusted))
			g.Expect(engine.LabelledJurisdictions(n.Labels)).To(BeEmpty())
		}).Should(Succeed())
		Eventually(eventMessages("Node", name, "LocationUntrusted")).Should(ContainElement(ContainSubstring("a person set the node's country to LI")))
		noneJoined()
	})
})
