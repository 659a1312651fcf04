package controllers_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
)

// The audit specs place pods by setting spec.nodeName directly (this suite runs no scheduler and
// no webhooks): exactly the pods that existed before their store, or whose node moved.
var _ = Describe("PersonalDataStore audit", Ordered, func() {
	const ns = "audit"

	storeStatus := func(name string) func(g Gomega) v1alpha1.PersonalDataStoreStatus {
		return func(g Gomega) v1alpha1.PersonalDataStoreStatus {
			s := &v1alpha1.PersonalDataStore{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, s)).To(Succeed())
			return s.Status
		}
	}
	placedPod := func(name, node string, labels map[string]string) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
			Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1"}}}}
		Expect(k8sClient.Create(ctx, p)).To(Succeed())
		return p
	}
	newStore := func(name string, mode v1alpha1.EnforcementMode, grace time.Duration, app string, jurisdictions ...v1alpha1.JurisdictionName) {
		s := &v1alpha1.PersonalDataStore{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: v1alpha1.PersonalDataStoreSpec{
				DataCategories:       []v1alpha1.DataCategory{v1alpha1.Credentials, v1alpha1.ContactDetails},
				AllowedJurisdictions: jurisdictions,
				WorkloadSelector:     metav1.LabelSelector{MatchLabels: map[string]string{"app": app}},
				VolumeSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}},
				Enforcement:          mode,
				EvictionGracePeriod:  &metav1.Duration{Duration: grace},
			},
		}
		Expect(k8sClient.Create(ctx, s)).To(Succeed())
	}

	BeforeAll(func() {
		Expect(k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
		for _, j := range []*v1alpha1.Jurisdiction{
			jurisdiction("audit-eu", v1alpha1.JurisdictionSpec{Countries: []v1alpha1.CountryCode{"DE", "FR"}}),
			jurisdiction("audit-us", v1alpha1.JurisdictionSpec{Countries: []v1alpha1.CountryCode{"US"}}),
		} {
			Expect(k8sClient.Create(ctx, j)).To(Succeed())
		}
		for name, region := range map[string]string{"audit-fra": "eu-central-1", "audit-par": "eu-west-3", "audit-iad": "us-east-1"} {
			Expect(k8sClient.Create(ctx, testNode(name, region, "", nil))).To(Succeed())
		}
		Eventually(residencyLabels("audit-fra")).Should(HaveKey(v1alpha1.JurisdictionLabel("audit-eu")))
		Eventually(residencyLabels("audit-par")).Should(HaveKey(v1alpha1.JurisdictionLabel("audit-eu")))
		Eventually(residencyLabels("audit-iad")).Should(HaveKey(v1alpha1.JurisdictionLabel("audit-us")))
	})

	// Other specs expect exact node labels: take this container's jurisdictions away again.
	AfterAll(func() {
		for _, name := range []string{"audit-eu", "audit-us"} {
			Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, jurisdiction(name, v1alpha1.JurisdictionSpec{})))).To(Succeed())
		}
		for _, name := range []string{"audit-fra", "audit-par", "audit-iad"} {
			Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}))).To(Succeed())
		}
	})

	It("reports pods that ran before their store, announces and then evicts them", func() {
		placedPod("db-fra", "audit-fra", map[string]string{"app": "db"})
		placedPod("db-iad", "audit-iad", map[string]string{"app": "db"})
		// An hour of grace: only the test clock's step, never the time the test takes, ends it.
		newStore("customer-db", v1alpha1.Enforce, time.Hour, "db", "audit-eu")

		Eventually(func(g Gomega) {
			st := storeStatus("customer-db")(g)
			g.Expect(st.GovernedPods).To(BeEquivalentTo(2))
			g.Expect(st.ViolationCount).To(BeEquivalentTo(1))
			g.Expect(st.Violations).To(HaveLen(1))
			v := st.Violations[0]
			g.Expect(v.Object).To(Equal(v1alpha1.ObjectReference{Kind: "Pod", Name: "db-iad"}))
			g.Expect(v.Node).To(Equal("audit-iad"))
			g.Expect(v.Reason).To(Equal(v1alpha1.NodeNotPermitted))
			g.Expect(v.Location.Country).To(Equal("US"))
			g.Expect(v.Location.Region).To(Equal("us-east-1"))
			g.Expect(v.EvictionTime).NotTo(BeNil())
			g.Expect(v.EvictionTime.Sub(v.Since.Time)).To(Equal(time.Hour))
			g.Expect(meta.IsStatusConditionFalse(st.Conditions, v1alpha1.CompliantCondition)).To(BeTrue())
			g.Expect(meta.IsStatusConditionTrue(st.Conditions, v1alpha1.ReadyCondition)).To(BeTrue())
		}).Should(Succeed())
		Eventually(eventReasons("PersonalDataStore", "customer-db")).Should(ContainElement("ViolationDetected"))
		Eventually(eventReasons("Pod", "db-iad")).Should(ContainElement("ResidencyViolation"))

		By("not evicting it before the announced time")
		Consistently(func(g Gomega) {
			p := &corev1.Pod{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "db-iad"}, p)).To(Succeed())
			g.Expect(p.DeletionTimestamp).To(BeNil())
		}, "1s").Should(Succeed())
		Expect(eventReasons("PersonalDataStore", "customer-db")(Default)).NotTo(ContainElement("Evicted"))

		By("evicting it once the grace period has passed (envtest has no kubelet, so it stays terminating)")
		testClock.Step(time.Hour + time.Second)
		touchPod(ns, "db-iad") // brings the store back now rather than at its real-time requeue
		Eventually(func(g Gomega) {
			p := &corev1.Pod{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "db-iad"}, p)).To(Succeed())
			g.Expect(p.DeletionTimestamp).NotTo(BeNil(), "the violating pod must be evicted, and it stays terminating")
		}).Should(Succeed())
		fra := &corev1.Pod{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "db-fra"}, fra)).To(Succeed())
		Expect(fra.DeletionTimestamp).To(BeNil(), "the compliant pod must not be evicted")
		Eventually(eventReasons("PersonalDataStore", "customer-db")).Should(ContainElement("Evicted"))
		Eventually(func(g Gomega) {
			st := storeStatus("customer-db")(g)
			g.Expect(st.ViolationCount).To(BeZero())
			g.Expect(st.Violations).To(BeEmpty(), "a resolved violation must leave the list")
			g.Expect(meta.IsStatusConditionTrue(st.Conditions, v1alpha1.CompliantCondition)).To(BeTrue())
		}).Should(Succeed())

		By("stamping where the compliant pod ran as evidence")
		Eventually(func(g Gomega) map[string]string {
			p := &corev1.Pod{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "db-fra"}, p)).To(Succeed())
			return p.Annotations
		}).Should(And(
			HaveKeyWithValue(v1alpha1.ObservedRegionAnnotation, "eu-central-1"),
			HaveKeyWithValue(v1alpha1.ObservedCountryAnnotation, "DE"),
			HaveKeyWithValue(v1alpha1.ObservedJurisdictionsAnnotation, ContainSubstring("audit-eu")),
			HaveKey(v1alpha1.ObservedAtAnnotation)))
	})

	It("works with kubectl wait --for=condition=Compliant", func() {
		user, err := testEnv.AddUser(envtest.User{Name: "waiter", Groups: []string{"system:masters"}}, nil)
		Expect(err).NotTo(HaveOccurred())
		kubeconfig, err := user.KubeConfig()
		Expect(err).NotTo(HaveOccurred())
		path := filepath.Join(GinkgoT().TempDir(), "kubeconfig")
		Expect(os.WriteFile(path, kubeconfig, 0o600)).To(Succeed())
		out, err := exec.Command(filepath.Join(os.Getenv("KUBEBUILDER_ASSETS"), "kubectl"), "--kubeconfig", path,
			"wait", "--for=condition=Compliant", "-n", ns, "pds/customer-db", "--timeout=20s").CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), string(out))
		Expect(string(out)).To(ContainSubstring("condition met"))
	})

	It("finds a pod whose node is relabelled out of the jurisdiction", func() {
		placedPod("web-par", "audit-par", map[string]string{"app": "web"})
		newStore("web", v1alpha1.Warn, time.Minute, "web", "audit-eu")
		Eventually(func(g Gomega) {
			st := storeStatus("web")(g)
			g.Expect(st.GovernedPods).To(BeEquivalentTo(1))
			g.Expect(meta.IsStatusConditionTrue(st.Conditions, v1alpha1.CompliantCondition)).To(BeTrue())
		}).Should(Succeed())

		node := &corev1.Node{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Name: "audit-par"}, node)).To(Succeed())
		patch := client.MergeFrom(node.DeepCopy())
		node.Labels[corev1.LabelTopologyRegion] = "us-west-2"
		Expect(k8sClient.Patch(ctx, node, patch)).To(Succeed())
		Eventually(func(g Gomega) {
			st := storeStatus("web")(g)
			g.Expect(st.Violations).To(HaveLen(1))
			g.Expect(st.Violations[0].Object.Name).To(Equal("web-par"))
			g.Expect(st.Violations[0].Location.Region).To(Equal("us-west-2"))
			g.Expect(st.Violations[0].EvictionTime).To(BeNil(), "Warn mode never evicts")
		}).Should(Succeed())
		Eventually(eventReasons("Pod", "web-par")).Should(ContainElement("ResidencyViolation"))
		Consistently(func(g Gomega) {
			p := &corev1.Pod{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "web-par"}, p)).To(Succeed())
			g.Expect(p.DeletionTimestamp).To(BeNil())
		}, "2s").Should(Succeed())
	})

	It("reports a bound volume in the wrong region, and one of unknown location", func() {
		pv := func(name, region string) *corev1.PersistentVolume {
			v := &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PersistentVolumeSpec{
				Capacity:               corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
				AccessModes:            []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/data/" + name}},
			}}
			if region != "" {
				v.Labels = map[string]string{corev1.LabelTopologyRegion: region}
			}
			return v
		}
		Expect(k8sClient.Create(ctx, pv("audit-pv-us", "us-east-1"))).To(Succeed())
		Expect(k8sClient.Create(ctx, pv("audit-pv-unknown", ""))).To(Succeed())
		Expect(k8sClient.Create(ctx, pv("audit-pv-eu", "eu-central-1"))).To(Succeed())
		for claim, volume := range map[string]string{"db-us": "audit-pv-us", "db-unknown": "audit-pv-unknown", "db-eu": "audit-pv-eu"} {
			Expect(k8sClient.Create(ctx, &corev1.PersistentVolumeClaim{
				ObjectMeta: metav1.ObjectMeta{Name: claim, Namespace: ns, Labels: map[string]string{"app": "db"}},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}, VolumeName: volume, StorageClassName: new(string),
					Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
				},
			})).To(Succeed())
		}
		Eventually(func(g Gomega) {
			st := storeStatus("customer-db")(g)
			g.Expect(st.GovernedVolumes).To(BeEquivalentTo(3))
			reasons := map[string]v1alpha1.ViolationReason{}
			for _, v := range st.Violations {
				reasons[v.Object.Name] = v.Reason
				g.Expect(v.EvictionTime).To(BeNil(), "volumes are reported, never evicted")
			}
			g.Expect(reasons).To(Equal(map[string]v1alpha1.ViolationReason{
				"db-us": v1alpha1.VolumeNotPermitted, "db-unknown": v1alpha1.VolumeLocationUnknown}))
		}).Should(Succeed())
	})

	It("exempts objects while an exception is active and reports them again when it expires", func() {
		placedPod("legal-export", "audit-iad", map[string]string{"app": "report", "job-name": "legal-export"})
		newStore("reports", v1alpha1.Audit, time.Minute, "report", "audit-eu")
		Expect(k8sClient.Create(ctx, &v1alpha1.ResidencyException{
			ObjectMeta: metav1.ObjectMeta{Name: "court-order", Namespace: ns},
			Spec: v1alpha1.ResidencyExceptionSpec{
				Selector: metav1.LabelSelector{MatchLabels: map[string]string{"job-name": "legal-export"}},
				Stores:   []v1alpha1.ObjectName{"reports"}, Reason: v1alpha1.LegalProcess,
				Justification: "Subpoena 117 requires production by US counsel.", ApprovedBy: "dpo@example.com",
				ExpiresAt: metav1.NewTime(testClock.Now().Add(time.Hour)),
			},
		})).To(Succeed())
		Eventually(func(g Gomega) {
			st := storeStatus("reports")(g)
			g.Expect(st.ViolationCount).To(BeZero())
			g.Expect(st.Exemptions).To(HaveLen(1))
			g.Expect(st.Exemptions[0].Exception).To(Equal("court-order"))
			g.Expect(st.Exemptions[0].Object.Name).To(Equal("legal-export"))
			ex := &v1alpha1.ResidencyException{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "court-order"}, ex)).To(Succeed())
			g.Expect(meta.IsStatusConditionTrue(ex.Status.Conditions, v1alpha1.ActiveCondition)).To(BeTrue())
			g.Expect(ex.Status.ExemptedObjects).To(BeEquivalentTo(1))
		}).Should(Succeed())
		Eventually(eventReasons("ResidencyException", "court-order")).Should(ContainElement("ExceptionActive"))

		By("expiring when the clock passes expiresAt")
		testClock.Step(time.Hour + time.Second)
		touchPod(ns, "legal-export")
		touchException(ns, "court-order")
		Eventually(func(g Gomega) {
			st := storeStatus("reports")(g)
			g.Expect(st.Exemptions).To(BeEmpty())
			g.Expect(st.Violations).To(HaveLen(1))
			g.Expect(st.Violations[0].Object.Name).To(Equal("legal-export"))
			ex := &v1alpha1.ResidencyException{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "court-order"}, ex)).To(Succeed())
			cond := meta.FindStatusCondition(ex.Status.Conditions, v1alpha1.ActiveCondition)
			g.Expect(cond).NotTo(BeNil())
			g.Expect(cond.Reason).To(Equal(v1alpha1.ReasonExpired))
		}).Should(Succeed())
		Eventually(eventReasons("ResidencyException", "court-order")).Should(ContainElement("ExceptionExpired"))
	})

	It("is not Ready, and evicts nothing, while a jurisdiction it names does not exist", func() {
		placedPod("orphan", "audit-iad", map[string]string{"app": "orphan"})
		newStore("typo", v1alpha1.Enforce, 0, "orphan", "audit-eu", "audit-moon")
		Eventually(func(g Gomega) {
			st := storeStatus("typo")(g)
			cond := meta.FindStatusCondition(st.Conditions, v1alpha1.ReadyCondition)
			g.Expect(cond).NotTo(BeNil())
			g.Expect(cond.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(cond.Reason).To(Equal(v1alpha1.ReasonJurisdictionNotFound))
			g.Expect(cond.Message).To(ContainSubstring("audit-moon"))
			g.Expect(meta.IsStatusConditionTrue(st.Conditions, v1alpha1.StalledCondition)).To(BeTrue(), "a person must fix it: kstatus Failed")
			g.Expect(st.ObservedGeneration).To(BeEquivalentTo(1))
			g.Expect(st.ViolationCount).To(BeEquivalentTo(1))
			g.Expect(st.Violations[0].EvictionTime).To(BeNil())
		}).Should(Succeed())
		Consistently(func(g Gomega) {
			p := &corev1.Pod{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "orphan"}, p)).To(Succeed())
			g.Expect(p.DeletionTimestamp).To(BeNil())
		}, "2s").Should(Succeed())
	})
})

var _ = Describe("A store whose selector does not compile", func() {
	It("is Stalled and never Compliant, rather than governing nothing in silence", func() {
		const ns = "bad-selector"
		Expect(k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
		store := &v1alpha1.PersonalDataStore{
			ObjectMeta: metav1.ObjectMeta{Name: "typo", Namespace: ns},
			Spec: v1alpha1.PersonalDataStoreSpec{
				DataCategories:       []v1alpha1.DataCategory{v1alpha1.ContactDetails},
				AllowedJurisdictions: []v1alpha1.JurisdictionName{"eu"},
				// "in" is not an operator (In is): labels.Parse rejects it, the schema may not.
				WorkloadSelector: metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: "in", Values: []string{"db"}}}},
			},
		}
		if err := k8sClient.Create(ctx, store); err != nil {
			Skip("the API server rejects the selector already: " + err.Error())
		}
		Eventually(func(g Gomega) {
			s := &v1alpha1.PersonalDataStore{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(store), s)).To(Succeed())
			ready := meta.FindStatusCondition(s.Status.Conditions, v1alpha1.ReadyCondition)
			g.Expect(ready).NotTo(BeNil())
			g.Expect(ready.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(ready.Reason).To(Equal(v1alpha1.ReasonInvalidSelector))
			g.Expect(ready.Message).To(ContainSubstring("spec.workloadSelector"))
			g.Expect(meta.IsStatusConditionTrue(s.Status.Conditions, v1alpha1.StalledCondition)).To(BeTrue())
			g.Expect(meta.IsStatusConditionTrue(s.Status.Conditions, v1alpha1.CompliantCondition)).To(BeFalse())
		}).Should(Succeed())
	})
})

// eventReasons returns the reasons of the Events regarding an object.
func eventReasons(kind, name string) func(g Gomega) []string {
	return func(g Gomega) []string {
		var list eventsv1.EventList
		g.Expect(k8sClient.List(ctx, &list)).To(Succeed())
		var reasons []string
		for _, e := range list.Items {
			if e.Regarding.Kind == kind && e.Regarding.Name == name {
				reasons = append(reasons, e.Reason)
			}
		}
		return reasons
	}
}

// touchPod changes a label of a pod, which brings the stores selecting it back at once: after the
// test clock is stepped, a reconcile must not wait for its real-time requeue.
func touchPod(namespace, name string) {
	GinkgoHelper()
	p := &corev1.Pod{}
	Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, p)).To(Succeed())
	patch := client.MergeFrom(p.DeepCopy())
	p.Labels["test.dataresidency.io/touched"] = strconv.FormatInt(time.Now().UnixNano(), 10)
	Expect(k8sClient.Patch(ctx, p, patch)).To(Succeed())
}

// touchException changes an exception's spec without changing its meaning, so that its
// controller looks at it again at once.
func touchException(namespace, name string) {
	GinkgoHelper()
	ex := &v1alpha1.ResidencyException{}
	Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, ex)).To(Succeed())
	patch := client.MergeFrom(ex.DeepCopy())
	ex.Spec.Justification += "."
	Expect(k8sClient.Patch(ctx, ex, patch)).To(Succeed())
}
