package e2e

import (
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
	"github.com/residency-operator/residency-operator/internal/engine"
	"github.com/residency-operator/residency-operator/internal/localcluster"
)

// The demo's story on the real scheduler, controller-manager and kwok, on nodes of its own in
// private-cloud regions (so the other specs' exact node expectations stay true): pods that ran
// before their store, a node relabelled out of its jurisdiction, the announced violation, the
// eviction and the compliant replacement, a volume bound in the wrong region; and the failure
// paths: stores that disagree, and the webhook down.
var _ = Describe("The residency story: audit, eviction and failure paths", Ordered, func() {
	const storyNS = "story"
	storyNodes := []localcluster.NodeSpec{
		vouched("story-eu-a", "story-eu-1"),
		vouched("story-eu-b", "story-eu-1"),
		vouched("story-us-a", "story-us-1"),
		vouched("story-ap-a", "story-ap-1"),
	}
	storyJurisdictions := map[string][]string{"story-eu": {"story-eu-1"}, "story-us": {"story-us-1"}, "story-ap": {"story-ap-1"}}

	storeStatus := func(g Gomega, name string) v1alpha1.PersonalDataStoreStatus {
		s := &v1alpha1.PersonalDataStore{}
		g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: storyNS, Name: name}, s)).To(Succeed())
		return s.Status
	}
	newStore := func(name, app string, grace time.Duration, jurisdictions ...v1alpha1.JurisdictionName) {
		Expect(k8sClient.Create(ctx, &v1alpha1.PersonalDataStore{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: storyNS},
			Spec: v1alpha1.PersonalDataStoreSpec{
				DataCategories:       []v1alpha1.DataCategory{v1alpha1.UsageActivity},
				AllowedJurisdictions: jurisdictions,
				WorkloadSelector:     metav1.LabelSelector{MatchLabels: map[string]string{"app": app}},
				VolumeSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}},
				EvictionGracePeriod:  &metav1.Duration{Duration: grace},
			},
		})).To(Succeed())
	}
	storyDeployment := func(name string, replicas int32, labels map[string]string) *appsv1.Deployment {
		d := deployment(name, replicas, labels)
		d.Namespace = storyNS
		return d
	}
	// runningOn returns the nodes of the app's Running pods, failing until count of them run.
	runningOn := func(g Gomega, app string, count int) []string {
		var pods corev1.PodList
		g.Expect(k8sClient.List(ctx, &pods, client.InNamespace(storyNS), client.MatchingLabels{"app": app})).To(Succeed())
		var nodes []string
		for _, p := range pods.Items {
			if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
				nodes = append(nodes, p.Spec.NodeName)
			}
		}
		g.Expect(nodes).To(HaveLen(count))
		return nodes
	}
	permitted := func(g Gomega, node string, jurisdictions ...string) bool {
		n := &corev1.Node{}
		g.Expect(k8sClient.Get(ctx, client.ObjectKey{Name: node}, n)).To(Succeed())
		group := engine.Group{Store: "story", Jurisdictions: jurisdictions}
		terms, err := engine.Requirement{Groups: []engine.Group{group}}.Terms(nil)
		g.Expect(err).NotTo(HaveOccurred())
		return engine.NodePermitted(n, terms)
	}

	BeforeAll(func() {
		for name, regions := range storyJurisdictions {
			Expect(k8sClient.Create(ctx, &v1alpha1.Jurisdiction{ObjectMeta: metav1.ObjectMeta{Name: name},
				Spec: v1alpha1.JurisdictionSpec{Regions: regions}})).To(Succeed())
		}
		Expect(cluster.AddNodes(ctx, storyNodes)).To(Succeed())
		Eventually(func(g Gomega) {
			for _, n := range storyNodes {
				node := &corev1.Node{}
				g.Expect(k8sClient.Get(ctx, client.ObjectKey{Name: n.Name}, node)).To(Succeed())
				want := []string{}
				for j, regions := range storyJurisdictions {
					if regions[0] == n.Region {
						want = append(want, j)
					}
				}
				g.Expect(jurisdictionsOf(node)).To(ConsistOf(want), "node %s", n.Name)
			}
		}).Should(Succeed())
		Expect(k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: storyNS}})).To(Succeed())
	})

	// The other specs expect exactly the harness's nodes and jurisdictions.
	AfterAll(func() {
		for name := range storyJurisdictions {
			Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, &v1alpha1.Jurisdiction{ObjectMeta: metav1.ObjectMeta{Name: name}}))).To(Succeed())
		}
		for _, n := range storyNodes {
			Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n.Name}}))).To(Succeed())
		}
	})

	It("reports pods that ran before their store, then evicts them into permitted places", func() {
		By("running an ungoverned Deployment that spreads over every story node")
		Expect(k8sClient.Create(ctx, storyDeployment("legacy", 8, map[string]string{"app": "legacy"}))).To(Succeed())
		var before []string
		Eventually(func(g Gomega) { before = runningOn(g, "legacy", 8) }).Should(Succeed())
		Expect(before).To(ContainElement(Or(Equal("story-ap-a"), Equal("story-us-a"))), "some pods outside story-eu to start with")

		By("declaring an EU-only store for it, with a 3 s grace period")
		newStore("legacy", "legacy", 3*time.Second, "story-eu")
		Eventually(func(g Gomega) {
			st := storeStatus(g, "legacy")
			g.Expect(st.ViolationCount).To(BeNumerically(">", 0))
			g.Expect(st.Violations[0].EvictionTime).NotTo(BeNil())
		}).Should(Succeed())

		By("evicting them after the grace period; the replacements land in story-eu")
		Eventually(func(g Gomega) {
			g.Expect(storeStatus(g, "legacy").ViolationCount).To(BeZero())
			for _, node := range runningOn(g, "legacy", 8) {
				g.Expect(permitted(g, node, "story-eu")).To(BeTrue(), "pod on %s", node)
			}
		}).Should(Succeed())
	})

	It("announces, evicts and replaces the pods of a node relabelled out of the jurisdiction", func() {
		newStore("web", "web", 3*time.Second, "story-eu", "story-us")
		waitStoreSeen := func(g Gomega) {
			probe := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: "probe-", Namespace: storyNS, Labels: map[string]string{"app": "web"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/probe:1"}}}}
			g.Expect(k8sClient.Create(ctx, probe, client.DryRunAll)).To(Succeed())
			g.Expect(probe.Annotations).To(HaveKeyWithValue(v1alpha1.StoresAnnotation, "web"))
		}
		Eventually(waitStoreSeen).Should(Succeed())
		d := storyDeployment("web", 4, map[string]string{"app": "web"})
		// Prefer story-eu-b, so the node about to be relabelled runs web pods.
		d.Spec.Template.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{{
			Weight: 100, Preference: corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{
				{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{"story-eu-b"}}}},
		}}}}
		Expect(k8sClient.Create(ctx, d)).To(Succeed())
		Eventually(func(g Gomega) {
			nodes := runningOn(g, "web", 4)
			g.Expect(nodes).To(ContainElement("story-eu-b"))
			for _, n := range nodes {
				g.Expect(permitted(g, n, "story-eu", "story-us")).To(BeTrue())
			}
			st := storeStatus(g, "web")
			g.Expect(meta.IsStatusConditionTrue(st.Conditions, v1alpha1.CompliantCondition)).To(BeTrue())
		}).Should(Succeed())

		By("a person moving story-eu-b to story-ap-1: its region label and the confirmed region")
		node := &corev1.Node{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Name: "story-eu-b"}, node)).To(Succeed())
		patch := client.MergeFrom(node.DeepCopy())
		node.Labels[corev1.LabelTopologyRegion] = "story-ap-1"
		node.Labels[v1alpha1.ConfirmedRegionLabel] = "story-ap-1"
		Expect(k8sClient.Patch(ctx, node, patch)).To(Succeed())

		By("announcing the violation in status and in an Event on the pod, with the eviction time")
		var victim string
		Eventually(func(g Gomega) {
			st := storeStatus(g, "web")
			g.Expect(st.Violations).NotTo(BeEmpty())
			v := st.Violations[0]
			g.Expect(v.Node).To(Equal("story-eu-b"))
			g.Expect(v.Reason).To(Equal(v1alpha1.NodeNotPermitted))
			g.Expect(v.Location.Region).To(Equal("story-ap-1"))
			g.Expect(v.EvictionTime).NotTo(BeNil())
			victim = v.Object.Name
		}).Should(Succeed())
		Eventually(func(g Gomega) []string { return eventReasonsFor(g, storyNS, "Pod", victim) }).Should(ContainElement("ResidencyViolation"))

		By("evicting after the grace period, the replacement landing on a permitted node")
		Eventually(func(g Gomega) []string { return eventReasonsFor(g, storyNS, "Pod", victim) }).Should(ContainElement("Evicted"))
		Eventually(func(g Gomega) {
			for _, n := range runningOn(g, "web", 4) {
				g.Expect(n).NotTo(Equal("story-eu-b"))
				g.Expect(permitted(g, n, "story-eu", "story-us")).To(BeTrue())
			}
			st := storeStatus(g, "web")
			g.Expect(st.ViolationCount).To(BeZero())
			g.Expect(meta.IsStatusConditionTrue(st.Conditions, v1alpha1.CompliantCondition)).To(BeTrue())
		}).Should(Succeed())
	})

	It("reports a volume the controller-manager bound in the wrong region", func() {
		newStore("archive", "archive", time.Minute, "story-eu")
		Eventually(func(g Gomega) {
			g.Expect(storeStatus(g, "archive").Conditions).NotTo(BeEmpty())
		}).Should(Succeed())
		size := resource.MustParse("1Gi")
		Expect(k8sClient.Create(ctx, &corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Name: "archive-data", Namespace: storyNS, Labels: map[string]string{"app": "archive"}},
			Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				StorageClassName: ptr.To(""), Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: size}}},
		})).To(Succeed())
		Expect(k8sClient.Create(ctx, &corev1.PersistentVolume{
			ObjectMeta: metav1.ObjectMeta{Name: "archive-us", Labels: map[string]string{corev1.LabelTopologyRegion: "story-us-1"}},
			Spec: corev1.PersistentVolumeSpec{Capacity: corev1.ResourceList{corev1.ResourceStorage: size},
				AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}, StorageClassName: "",
				ClaimRef:               &corev1.ObjectReference{Namespace: storyNS, Name: "archive-data"},
				PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/srv/archive"}}},
		})).To(Succeed())
		Eventually(func(g Gomega) {
			st := storeStatus(g, "archive")
			g.Expect(st.GovernedVolumes).To(BeEquivalentTo(1))
			g.Expect(st.Violations).To(HaveLen(1))
			g.Expect(st.Violations[0].Reason).To(Equal(v1alpha1.VolumeNotPermitted))
			g.Expect(st.Violations[0].Volume).To(Equal("archive-us"))
			g.Expect(st.Violations[0].EvictionTime).To(BeNil(), "volumes are reported, never touched")
		}).Should(Succeed())
	})

	It("denies the pods of a Deployment whose stores permit no common node", func() {
		newStore("eu-only", "conflicted", time.Minute, "story-eu")
		newStore("us-only", "conflicted", time.Minute, "story-us")
		Eventually(func(g Gomega) {
			probe := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: "probe-", Namespace: storyNS, Labels: map[string]string{"app": "conflicted"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/probe:1"}}}}
			g.Expect(k8sClient.Create(ctx, probe, client.DryRunAll)).To(MatchError(ContainSubstring("us-only")))
		}).Should(Succeed())
		Expect(k8sClient.Create(ctx, storyDeployment("conflicted", 2, map[string]string{"app": "conflicted"}))).To(Succeed())
		Eventually(func(g Gomega) {
			var events corev1.EventList
			g.Expect(k8sClient.List(ctx, &events, client.InNamespace(storyNS))).To(Succeed())
			found := false
			for _, e := range events.Items {
				if e.Reason == "FailedCreate" && strings.Contains(e.Message, "permit no common node") {
					found = true
				}
			}
			g.Expect(found).To(BeTrue(), "the ReplicaSet reports the denial")
		}).Should(Succeed())
		Consistently(func(g Gomega) {
			var pods corev1.PodList
			g.Expect(k8sClient.List(ctx, &pods, client.InNamespace(storyNS), client.MatchingLabels{"app": "conflicted"})).To(Succeed())
			g.Expect(pods.Items).To(BeEmpty())
		}, "2s").Should(Succeed())
	})

	It("places governed pods while the operator is down, fails closed only where a webhook must look, and never blocks kube-system", func() {
		newStore("while-down", "down", time.Hour, "story-eu")
		pod := func(namespace, app string) *corev1.Pod {
			return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: "while-down-", Namespace: namespace, Labels: map[string]string{"app": app}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1"}}}}
		}
		By("waiting until kube-apiserver places the store's pods with the compiled policies")
		Eventually(func(g Gomega) {
			probe := pod(storyNS, "down")
			g.Expect(k8sClient.Create(ctx, probe, client.DryRunAll)).To(Succeed())
			g.Expect(probe.Annotations).To(HaveKeyWithValue(v1alpha1.StoresAnnotation, "while-down"))
		}).Should(Succeed())

		stopManager()
		DeferCleanup(startManager)
		By("creating 100 governed pods with the operator stopped: none fails, all run in the EU")
		for range 100 {
			Expect(k8sClient.Create(ctx, pod(storyNS, "down"))).To(Succeed())
		}
		Eventually(func(g Gomega) {
			for _, node := range runningOn(g, "down", 100) {
				g.Expect(permitted(g, node, "story-eu")).To(BeTrue(), "pod on %s", node)
			}
		}, 60*time.Second).Should(Succeed())

		By("failing closed for a pod pinned to a node, whose location only the webhook can check")
		pinned := pod(storyNS, "down")
		pinned.Spec.NodeName = "story-us-a"
		err := k8sClient.Create(ctx, pinned)
		Expect(err).To(HaveOccurred(), "a pinned governed pod must not be admitted unchecked")
		Expect(apierrors.IsInternalError(err) || strings.Contains(err.Error(), "failed calling webhook")).To(BeTrue(), "%v", err)

		By("failing closed for a pod that mounts a claim, whose store only the webhook can look up")
		withClaim := pod(storyNS, "down")
		withClaim.Spec.Volumes = []corev1.Volume{{Name: "data",
			VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data-0"}}}}
		err = k8sClient.Create(ctx, withClaim)
		Expect(err).To(HaveOccurred(), "a pod that may mount governed data must not be admitted unchecked")
		Expect(err.Error()).To(ContainSubstring("volumes.pods.dataresidency.io"))

		By("never blocking kube-system or an ungoverned namespace")
		Expect(k8sClient.Create(ctx, pod("kube-system", "web"))).To(Succeed())
		ungoverned := "story-ungoverned"
		Expect(k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ungoverned}})).To(Succeed())
		Expect(k8sClient.Create(ctx, pod(ungoverned, "web"))).To(Succeed())
	})
})

// eventReasonsFor returns the reasons of the Events (core/v1 view) regarding an object.
func eventReasonsFor(g Gomega, namespace, kind, name string) []string {
	var events corev1.EventList
	g.Expect(k8sClient.List(ctx, &events, client.InNamespace(namespace))).To(Succeed())
	var out []string
	for _, e := range events.Items {
		if e.InvolvedObject.Kind == kind && e.InvolvedObject.Name == name {
			out = append(out, e.Reason)
		}
	}
	return out
}

// vouched is a node without a providerID whose region a person vouched for (the restricted
// confirmed-region label), as the operator's default trust needs.
func vouched(name, region string) localcluster.NodeSpec {
	return localcluster.NodeSpec{Name: name, Region: region, Labels: map[string]string{v1alpha1.ConfirmedRegionLabel: region}}
}
