package controllers_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

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
			createReadyNode(testNode(name, region, "", nil))
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
		for _, name := range []string{"audit-fra", "audit-par", "audit-iad", "audit-lyon"} {
			Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}))).To(Succeed())
		}
	})

	It("reports pods that ran before their store, announces and then evicts them", func() {
		placedPod("db-fra", "audit-fra", map[string]string{"app": "db"})
		iad := placedPod("db-iad", "audit-iad", map[string]string{"app": "db"})
		// An hour of grace: only the test clock's step, never the time the test takes, ends it.
		newStore("customer-db", v1alpha1.Enforce, time.Hour, "db", "audit-eu")

		Eventually(func(g Gomega) {
			st := storeStatus("customer-db")(g)
			g.Expect(st.GovernedPods).To(BeEquivalentTo(2))
			g.Expect(st.ViolationCount).To(BeEquivalentTo(1))
			g.Expect(st.Violations).To(HaveLen(1))
			v := st.Violations[0]
			g.Expect(v.Object).To(Equal(v1alpha1.ObjectReference{Kind: "Pod", Name: "db-iad", UID: iad.UID}))
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
		node.Labels[corev1.LabelTopologyRegion] = "us-west-2" // a person moves it, and confirms
		node.Labels[v1alpha1.ConfirmedRegionLabel] = "us-west-2"
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

	It("counts governed pods that mount hostPath volumes, and names them in an Event, without calling them violations", func() {
		spool := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "spool-fra", Namespace: ns, Labels: map[string]string{"app": "spool"}},
			Spec: corev1.PodSpec{NodeName: "audit-fra", Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1"}},
				Volumes: []corev1.Volume{{Name: "spool", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/spool/app"}}}}}}
		Expect(k8sClient.Create(ctx, spool)).To(Succeed())
		placedPod("spool-fra-2", "audit-fra", map[string]string{"app": "spool"})
		newStore("spool", v1alpha1.Enforce, time.Hour, "spool", "audit-eu")
		Eventually(func(g Gomega) {
			st := storeStatus("spool")(g)
			g.Expect(st.GovernedPods).To(BeEquivalentTo(2))
			g.Expect(st.HostPathPods).To(BeEquivalentTo(1))
			g.Expect(st.ViolationCount).To(BeZero())
			g.Expect(meta.IsStatusConditionTrue(st.Conditions, v1alpha1.CompliantCondition)).To(BeTrue())
		}).Should(Succeed())
		Eventually(eventMessages("PersonalDataStore", "spool", "HostPathData")).Should(ContainElement(
			ContainSubstring("pod spool-fra: it mounts hostPath spool (/var/spool/app)")))
	})

	It("audits a pod that mounts a governed claim, whatever its labels", func() {
		newStore("ledger", v1alpha1.Audit, time.Hour, "ledger", "audit-eu")
		Expect(k8sClient.Create(ctx, &corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Name: "ledger-data", Namespace: ns, Labels: map[string]string{"app": "ledger"}},
			Spec: corev1.PersistentVolumeClaimSpec{
				AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}, StorageClassName: new(string),
				Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
			},
		})).To(Succeed())
		// A kubectl debug --copy-to copy: the volumes kept, the labels dropped, on a US node.
		copied := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "ledger-copy", Namespace: ns, Labels: map[string]string{"debug": "true"}},
			Spec: corev1.PodSpec{NodeName: "audit-iad", Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1"}},
				Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "ledger-data"}}}}}}
		Expect(k8sClient.Create(ctx, copied)).To(Succeed())
		Eventually(func(g Gomega) {
			st := storeStatus("ledger")(g)
			g.Expect(st.GovernedPods).To(BeEquivalentTo(1))
			g.Expect(st.Violations).To(ContainElement(And(
				HaveField("Object.Name", "ledger-copy"), HaveField("Reason", v1alpha1.NodeNotPermitted), HaveField("Node", "audit-iad"))))
		}).Should(Succeed())
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
		By("exempting nothing until it is approved")
		Consistently(func(g Gomega) {
			g.Expect(storeStatus("reports")(g).Exemptions).To(BeEmpty())
		}).WithTimeout(2 * time.Second).Should(Succeed())
		approveException(ns, "court-order")
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

	It("reports a pending pod whose own nodeSelector allows only places outside, and never evicts it", func() {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "stuck", Namespace: ns, Labels: map[string]string{"app": "stuck"}},
			Spec: corev1.PodSpec{NodeSelector: map[string]string{corev1.LabelTopologyRegion: "us-east-1"},
				Affinity: &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
					NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{
						{Key: v1alpha1.JurisdictionLabel("audit-eu"), Operator: corev1.NodeSelectorOpIn, Values: []string{"true"}}}}}}}},
				Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1"}}}}
		Expect(k8sClient.Create(ctx, p)).To(Succeed())
		newStore("stuck", v1alpha1.Enforce, 0, "stuck", "audit-eu")
		Eventually(func(g Gomega) {
			st := storeStatus("stuck")(g)
			g.Expect(st.ViolationCount).To(BeEquivalentTo(1))
			v := st.Violations[0]
			g.Expect(v.Reason).To(Equal(v1alpha1.PlacementConflict))
			g.Expect(v.Message).To(ContainSubstring("region us-east-1"))
			g.Expect(v.Message).To(ContainSubstring("it stays Pending"))
			g.Expect(v.EvictionTime).To(BeNil(), "evicting it would not help")
			g.Expect(meta.IsStatusConditionTrue(st.Conditions, v1alpha1.CompliantCondition)).To(BeFalse())
		}).Should(Succeed())
		Consistently(func(g Gomega) {
			got := &corev1.Pod{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "stuck"}, got)).To(Succeed())
			g.Expect(got.DeletionTimestamp).To(BeNil())
		}, "2s").Should(Succeed())
	})

	// A Terminating Jurisdiction has its label taken off the nodes while the object still exists;
	// counted as present, its pods would become violations with eviction clocks (and feed the
	// eviction brake) for what is a deletion in progress.
	It("counts a Jurisdiction being deleted as missing: its pods are reported, never scheduled for eviction", func() {
		const hold = "test.dataresidency.io/hold"
		createReadyNode(testNode("audit-lyon", "eu-west-3", "", nil))
		Expect(k8sClient.Create(ctx, jurisdiction("audit-leaving", v1alpha1.JurisdictionSpec{Countries: []v1alpha1.CountryCode{"FR"}}))).To(Succeed())
		Eventually(residencyLabels("audit-lyon")).Should(HaveKey(v1alpha1.JurisdictionLabel("audit-leaving")))
		placedPod("leaving-pod", "audit-lyon", map[string]string{"app": "leaving"})
		newStore("leaving", v1alpha1.Enforce, 0, "leaving", "audit-leaving")
		Eventually(func(g Gomega) {
			g.Expect(meta.IsStatusConditionTrue(storeStatus("leaving")(g).Conditions, v1alpha1.CompliantCondition)).To(BeTrue())
		}).Should(Succeed())

		By("deleting the Jurisdiction while a finalizer of someone else's keeps it Terminating")
		j := &v1alpha1.Jurisdiction{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Name: "audit-leaving"}, j)).To(Succeed())
		j.Finalizers = append(j.Finalizers, hold)
		Expect(k8sClient.Update(ctx, j)).To(Succeed())
		Expect(k8sClient.Delete(ctx, j)).To(Succeed())
		Eventually(residencyLabels("audit-lyon")).ShouldNot(HaveKey(v1alpha1.JurisdictionLabel("audit-leaving")))
		Eventually(func(g Gomega) {
			st := storeStatus("leaving")(g)
			cond := meta.FindStatusCondition(st.Conditions, v1alpha1.ReadyCondition)
			g.Expect(cond).NotTo(BeNil())
			g.Expect(cond.Reason).To(Equal(v1alpha1.ReasonJurisdictionNotFound))
			g.Expect(cond.Message).To(ContainSubstring("audit-leaving not found or being deleted"))
			g.Expect(st.ViolationCount).To(BeEquivalentTo(1))
			g.Expect(st.Violations[0].EvictionTime).To(BeNil())
		}).Should(Succeed())
		Consistently(func(g Gomega) {
			p := &corev1.Pod{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "leaving-pod"}, p)).To(Succeed())
			g.Expect(p.DeletionTimestamp).To(BeNil())
		}, "2s").Should(Succeed())

		Expect(k8sClient.Get(ctx, client.ObjectKey{Name: "audit-leaving"}, j)).To(Succeed())
		j.Finalizers = slices.DeleteFunc(j.Finalizers, func(f string) bool { return f == hold })
		Expect(k8sClient.Update(ctx, j)).To(Succeed())
	})
})

// A selector that does not compile would govern nothing in silence. The CRD's rules reject it;
// one stored before those rules is Ready=False, reason InvalidSelector, and never Compliant=True,
// which TestResolveInvalidSelector checks (such an object cannot be created through the API).
var _ = Describe("A store whose selector does not compile", func() {
	It("is rejected by the API server with a message naming the field", func() {
		const ns = "bad-selector"
		Expect(k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
		store := &v1alpha1.PersonalDataStore{
			ObjectMeta: metav1.ObjectMeta{Name: "typo", Namespace: ns},
			Spec: v1alpha1.PersonalDataStoreSpec{
				DataCategories:       []v1alpha1.DataCategory{v1alpha1.ContactDetails},
				AllowedJurisdictions: []v1alpha1.JurisdictionName{"eu"},
				// "in" is not an operator (In is): labels.Parse rejects it, and so does the schema.
				WorkloadSelector: metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: "in", Values: []string{"db"}}}},
			},
		}
		err := k8sClient.Create(ctx, store)
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "want an Invalid error, got %v", err)
		Expect(err.Error()).To(And(ContainSubstring("spec.workloadSelector"), ContainSubstring("operator must be In, NotIn, Exists or DoesNotExist")))
	})
})

// Eviction only helps when the evicted pod's replacement has somewhere to go. A bad edit of a
// Jurisdiction (its countries set to Malta, where no node is) turns every pod of a store into a
// violation at once: evicting them would take the application down and place nothing.
var _ = Describe("Evictions that would not help", Ordered, func() {
	const ns = "held"
	storeKey := client.ObjectKey{Namespace: ns, Name: "orders"}
	store := func(g Gomega) *v1alpha1.PersonalDataStore {
		s := &v1alpha1.PersonalDataStore{}
		g.Expect(k8sClient.Get(ctx, storeKey, s)).To(Succeed())
		return s
	}
	terminating := func(name string) func(g Gomega) bool {
		return func(g Gomega) bool {
			p := &corev1.Pod{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, p)).To(Succeed())
			return p.DeletionTimestamp != nil
		}
	}
	setCountries := func(countries ...v1alpha1.CountryCode) {
		GinkgoHelper()
		j := &v1alpha1.Jurisdiction{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Name: "held-eu"}, j)).To(Succeed())
		patch := client.MergeFrom(j.DeepCopy())
		j.Spec.Countries = countries
		Expect(k8sClient.Patch(ctx, j, patch)).To(Succeed())
	}

	BeforeAll(func() {
		Expect(k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
		Expect(k8sClient.Create(ctx, jurisdiction("held-eu", v1alpha1.JurisdictionSpec{Countries: []v1alpha1.CountryCode{"DE"}}))).To(Succeed())
		Expect(k8sClient.Create(ctx, jurisdiction("held-us", v1alpha1.JurisdictionSpec{Countries: []v1alpha1.CountryCode{"US"}}))).To(Succeed())
		createReadyNode(testNode("held-fra", "eu-central-1", "", nil))
		createReadyNode(testNode("held-iad", "us-east-1", "", nil))
		Eventually(residencyLabels("held-fra")).Should(HaveKey(v1alpha1.JurisdictionLabel("held-eu")))
		Eventually(residencyLabels("held-iad")).Should(HaveKey(v1alpha1.JurisdictionLabel("held-us")))
		for name, node := range map[string]string{"orders-fra": "held-fra", "orders-iad": "held-iad"} {
			Expect(k8sClient.Create(ctx, &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": "orders"}},
				Spec:       corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1"}}},
			})).To(Succeed())
		}
	})

	AfterAll(func() {
		for _, name := range []string{"held-eu", "held-us"} {
			Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, jurisdiction(name, v1alpha1.JurisdictionSpec{})))).To(Succeed())
		}
		for _, name := range []string{"held-fra", "held-iad"} {
			Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}))).To(Succeed())
		}
	})

	It("holds every eviction after a bad Jurisdiction edit, says so, and evicts once the edit is reverted", func() {
		// An hour of grace, crossed by stepping the test clock.
		Expect(k8sClient.Create(ctx, &v1alpha1.PersonalDataStore{
			ObjectMeta: metav1.ObjectMeta{Name: "orders", Namespace: ns},
			Spec: v1alpha1.PersonalDataStoreSpec{
				DataCategories:       []v1alpha1.DataCategory{v1alpha1.ContactDetails},
				AllowedJurisdictions: []v1alpha1.JurisdictionName{"held-eu"},
				WorkloadSelector:     metav1.LabelSelector{MatchLabels: map[string]string{"app": "orders"}},
				Enforcement:          v1alpha1.Enforce,
				EvictionGracePeriod:  &metav1.Duration{Duration: time.Hour},
			},
		})).To(Succeed())
		Eventually(func(g Gomega) {
			st := store(g).Status
			g.Expect(st.ViolationCount).To(BeEquivalentTo(1))
			g.Expect(st.Violations[0].Object.Name).To(Equal("orders-iad"))
		}).Should(Succeed())

		By("editing held-eu to Malta, where no node is")
		setCountries("MT")
		Eventually(residencyLabels("held-fra")).ShouldNot(HaveKey(v1alpha1.JurisdictionLabel("held-eu")))
		Eventually(func(g Gomega) {
			g.Expect(store(g).Status.ViolationCount).To(BeEquivalentTo(2), "the pod in Frankfurt is outside held-eu now")
		}).Should(Succeed())

		By("passing both pods' eviction time")
		testClock.Step(time.Hour + time.Second)
		touchPod(ns, "orders-iad")
		touchPod(ns, "orders-fra")
		Eventually(func(g Gomega) {
			st := store(g).Status
			g.Expect(st.EvictionsHeld).To(BeEquivalentTo(2))
			held := meta.FindStatusCondition(st.Conditions, v1alpha1.EvictionHeldCondition)
			g.Expect(held).NotTo(BeNil())
			g.Expect(held.Status).To(Equal(metav1.ConditionTrue))
			g.Expect(held.Reason).To(Equal(v1alpha1.ReasonNoPermittedCapacity))
			g.Expect(held.Message).To(And(ContainSubstring("orders-fra"), ContainSubstring("orders-iad"), ContainSubstring("no node is in held-eu")))
			compliant := meta.FindStatusCondition(st.Conditions, v1alpha1.CompliantCondition)
			g.Expect(compliant).NotTo(BeNil())
			g.Expect(compliant.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(compliant.Message).To(ContainSubstring("eviction of 2 pods held"))
		}).Should(Succeed())
		Consistently(func(g Gomega) {
			g.Expect(terminating("orders-iad")(g)).To(BeFalse(), "no node can take it: evicting it would not help")
			g.Expect(terminating("orders-fra")(g)).To(BeFalse(), "no node can take it: evicting it would not help")
		}, "2s").Should(Succeed())
		Expect(eventReasons("PersonalDataStore", "orders")(Default)).NotTo(ContainElement("Evicted"))
		Eventually(eventReasons("Pod", "orders-iad")).Should(ContainElement("EvictionHeld"))
		Eventually(eventReasons("Pod", "orders-fra")).Should(ContainElement("EvictionHeld"))
		Eventually(eventReasons("PersonalDataStore", "orders")).Should(ContainElement("EvictionHeld"))
		Expect(gaugeValue("residency_evictions_held", map[string]string{"namespace": ns, "store": "orders"})).To(BeEquivalentTo(2))

		By("showing it in kubectl get pds")
		Expect(kubectl("get", "pds", "-n", ns, "orders")).To(MatchRegexp(`HELD[\s\S]*orders\s.*\s2\s+False`))

		By("evicting the pod outside once the edit is reverted, and only that one")
		setCountries("DE")
		Eventually(terminating("orders-iad")).Should(BeTrue())
		Eventually(eventReasons("PersonalDataStore", "orders")).Should(ContainElement("Evicted"))
		Expect(terminating("orders-fra")(Default)).To(BeFalse())
		Eventually(func(g Gomega) {
			st := store(g).Status
			g.Expect(st.EvictionsHeld).To(BeZero())
			g.Expect(meta.FindStatusCondition(st.Conditions, v1alpha1.EvictionHeldCondition)).To(BeNil())
		}).Should(Succeed())
		Expect(gaugeValue("residency_evictions_held", map[string]string{"namespace": ns, "store": "orders"})).To(BeZero())
	})
})

// createReadyNode creates a node and makes it Ready as a kubelet and the node lifecycle controller
// would: a Ready condition, and without the not-ready taint the API server puts on new nodes.
// Evictions wait for a Ready, untainted node to take the replacement.
func createReadyNode(node *corev1.Node) {
	GinkgoHelper()
	Expect(k8sClient.Create(ctx, node)).To(Succeed())
	// The node controller labels the node meanwhile: retry on conflicts.
	Eventually(func(g Gomega) {
		n := &corev1.Node{}
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(node), n)).To(Succeed())
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
			LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}}
		g.Expect(k8sClient.Status().Update(ctx, n)).To(Succeed())
	}).Should(Succeed())
	Eventually(func(g Gomega) {
		n := &corev1.Node{}
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(node), n)).To(Succeed())
		n.Spec.Taints = nil
		g.Expect(k8sClient.Update(ctx, n)).To(Succeed())
	}).Should(Succeed())
}

// gaugeValue reads a gauge of the operator's metrics registry; 0 when the series does not exist.
func gaugeValue(name string, labels map[string]string) float64 {
	GinkgoHelper()
	families, err := metrics.Registry.Gather()
	Expect(err).NotTo(HaveOccurred())
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if want, ok := labels[l.GetName()]; ok && want != l.GetValue() {
					continue series
				}
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

// kubectl runs kubectl against the test API server and returns its output.
func kubectl(args ...string) string {
	GinkgoHelper()
	user, err := testEnv.AddUser(envtest.User{Name: "viewer", Groups: []string{"system:masters"}}, nil)
	Expect(err).NotTo(HaveOccurred())
	kubeconfig, err := user.KubeConfig()
	Expect(err).NotTo(HaveOccurred())
	path := filepath.Join(GinkgoT().TempDir(), "kubeconfig")
	Expect(os.WriteFile(path, kubeconfig, 0o600)).To(Succeed())
	out, err := exec.Command(filepath.Join(os.Getenv("KUBEBUILDER_ASSETS"), "kubectl"), append([]string{"--kubeconfig", path}, args...)...).CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), string(out))
	GinkgoWriter.Println(string(out))
	return string(out)
}

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

// eventMessages returns the messages of the Events with reason about an object.
func eventMessages(kind, name, reason string) func(g Gomega) []string {
	return func(g Gomega) []string {
		var list eventsv1.EventList
		g.Expect(k8sClient.List(ctx, &list)).To(Succeed())
		var out []string
		for _, e := range list.Items {
			if e.Regarding.Kind == kind && e.Regarding.Name == name && e.Reason == reason {
				out = append(out, e.Note)
			}
		}
		return out
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

// approveException records an approval of the exception's current spec, as the operator's webhook
// (not running in this suite) would after checking the approver.
func approveException(namespace, name string) {
	GinkgoHelper()
	ex := &v1alpha1.ResidencyException{}
	Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, ex)).To(Succeed())
	ex.Status.Approval = &v1alpha1.ExceptionApproval{Decision: v1alpha1.Approved, User: "dpo@example.com", Generation: ex.Generation}
	Expect(k8sClient.Status().Update(ctx, ex)).To(Succeed())
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
