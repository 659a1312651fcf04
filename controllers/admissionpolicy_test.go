package controllers_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
	"github.com/residency-operator/residency-operator/internal/admissionpolicy"
)

// These specs run the API server's own admission: the policies the operator compiles, with no
// webhook. The suite has no scheduler, so "placed" means the stored required node affinity.
var _ = Describe("Compiled admission policies", Ordered, func() {
	const ns = "compiled"

	required := func(pod *corev1.Pod) []corev1.NodeSelectorTerm {
		if a := pod.Spec.Affinity; a != nil && a.NodeAffinity != nil && a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil {
			return a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
		}
		return nil
	}
	euTerm := corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{{
		Key: v1alpha1.JurisdictionLabel("compiled-eu"), Operator: corev1.NodeSelectorOpIn, Values: []string{"true"}}}}
	newPod := func(name string, labels map[string]string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x"}}}}
	}
	getPod := func(g Gomega, name string) *corev1.Pod {
		pod := &corev1.Pod{}
		g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, pod)).To(Succeed())
		return pod
	}
	gated := func(pod *corev1.Pod) bool {
		for _, g := range pod.Spec.SchedulingGates {
			if g.Name == v1alpha1.PlacementGate {
				return true
			}
		}
		return false
	}

	BeforeAll(func() {
		// A country no node of this suite is in: other specs count every node's jurisdictions.
		Expect(client.IgnoreAlreadyExists(k8sClient.Create(ctx, jurisdiction("compiled-eu",
			v1alpha1.JurisdictionSpec{Countries: []v1alpha1.CountryCode{"IS"}})))).To(Succeed())
		// Declared in the same manifests as the workloads: the namespace will hold stores.
		Expect(k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns,
			Labels: map[string]string{v1alpha1.AwaitPoliciesLabel: "true"}}})).To(Succeed())
	})

	It("holds the pods a GitOps tool creates before their store, and places them once it is compiled", func() {
		By("waiting for the operator's placement gate policy to be in force")
		Eventually(func(g Gomega) {
			probe := newPod("probe", map[string]string{"app": "db"})
			g.Expect(k8sClient.Create(ctx, probe, client.DryRunAll)).To(Succeed())
			g.Expect(gated(probe)).To(BeTrue())
		}).Should(Succeed())

		By("creating workloads first, as kustomize, Helm and Argo CD order them")
		Expect(k8sClient.Create(ctx, newPod("db-0", map[string]string{"app": "db"}))).To(Succeed())
		Expect(k8sClient.Create(ctx, newPod("web-0", map[string]string{"app": "web"}))).To(Succeed())
		Expect(gated(getPod(Default, "db-0"))).To(BeTrue(), "a pod created before its store is compiled must not be schedulable")
		Expect(required(getPod(Default, "db-0"))).To(BeEmpty())

		By("creating the store last")
		store := &v1alpha1.PersonalDataStore{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: ns},
			Spec: v1alpha1.PersonalDataStoreSpec{
				WorkloadSelector:     metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}},
				AllowedJurisdictions: []v1alpha1.JurisdictionName{"compiled-eu"},
				DataCategories:       []v1alpha1.DataCategory{v1alpha1.ContactDetails},
			}}
		Expect(k8sClient.Create(ctx, store)).To(Succeed())

		By("releasing the gated pods through the compiled policies")
		Eventually(func(g Gomega) {
			pod := getPod(g, "db-0")
			g.Expect(gated(pod)).To(BeFalse())
			g.Expect(required(pod)).To(Equal([]corev1.NodeSelectorTerm{euTerm}))
			g.Expect(pod.Annotations).To(HaveKeyWithValue(v1alpha1.StoresAnnotation, "db"))
			g.Expect(pod.Annotations).To(HaveKeyWithValue(v1alpha1.AllowedJurisdictionsAnnotation, "compiled-eu"))
			web := getPod(g, "web-0")
			g.Expect(gated(web)).To(BeFalse(), "an ungoverned pod is released as it is")
			g.Expect(required(web)).To(BeEmpty())
		}).Should(Succeed())
		nsObj := &corev1.Namespace{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Name: ns}, nsObj)).To(Succeed())
		Expect(nsObj.Labels).To(HaveKeyWithValue(v1alpha1.PoliciesCompiledLabel, "true"))

		By("placing pods created from now on at creation, ungated")
		db1 := newPod("db-1", map[string]string{"app": "db"})
		Expect(k8sClient.Create(ctx, db1)).To(Succeed())
		Expect(gated(db1)).To(BeFalse())
		Expect(required(db1)).To(Equal([]corev1.NodeSelectorTerm{euTerm}))
	})

	It("denies what the store forbids with the engine's message, inside the API server", func() {
		Expect(k8sClient.Create(ctx, &v1alpha1.PersonalDataStore{ObjectMeta: metav1.ObjectMeta{Name: "us-only", Namespace: ns},
			Spec: v1alpha1.PersonalDataStoreSpec{
				WorkloadSelector:     metav1.LabelSelector{MatchLabels: map[string]string{"tier": "analytics"}},
				AllowedJurisdictions: []v1alpha1.JurisdictionName{"compiled-us"},
				DataCategories:       []v1alpha1.DataCategory{v1alpha1.ContactDetails},
			}})).To(Succeed())
		Expect(client.IgnoreAlreadyExists(k8sClient.Create(ctx, jurisdiction("compiled-us",
			v1alpha1.JurisdictionSpec{Countries: []v1alpha1.CountryCode{"NZ"}})))).To(Succeed())
		Eventually(func(g Gomega) {
			err := k8sClient.Create(ctx, newPod("both", map[string]string{"app": "db", "tier": "analytics"}), client.DryRunAll)
			g.Expect(apierrors.IsForbidden(err)).To(BeTrue(), "%v", err)
			g.Expect(err.Error()).To(ContainSubstring(`governed by stores that permit no common node: store "db" allows [compiled-eu]; store "us-only" allows [compiled-us]`))
		}).Should(Succeed())
	})

	It("binds the warn policy only to namespaces whose stores warn", func() {
		labels := func(g Gomega) map[string]string {
			nsObj := &corev1.Namespace{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Name: ns}, nsObj)).To(Succeed())
			return nsObj.Labels
		}
		Expect(labels(Default)).To(HaveKey(v1alpha1.PoliciesCompiledLabel))
		Expect(labels(Default)).NotTo(HaveKey(v1alpha1.PoliciesWarnLabel), "Enforce stores only: nothing to warn about")
		binding := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Name: admissionpolicy.WarnName}, binding)).To(Succeed())
		Expect(binding.Spec.MatchResources.NamespaceSelector.MatchExpressions).To(ContainElement(metav1.LabelSelectorRequirement{
			Key: v1alpha1.PoliciesWarnLabel, Operator: metav1.LabelSelectorOpExists}))

		warn := &v1alpha1.PersonalDataStore{ObjectMeta: metav1.ObjectMeta{Name: "batch-warn", Namespace: ns},
			Spec: v1alpha1.PersonalDataStoreSpec{
				WorkloadSelector:     metav1.LabelSelector{MatchLabels: map[string]string{"tier": "batch"}},
				AllowedJurisdictions: []v1alpha1.JurisdictionName{"compiled-eu"},
				DataCategories:       []v1alpha1.DataCategory{v1alpha1.UsageActivity},
				Enforcement:          v1alpha1.Warn,
			}}
		Expect(k8sClient.Create(ctx, warn)).To(Succeed())
		Eventually(labels).Should(HaveKeyWithValue(v1alpha1.PoliciesWarnLabel, "true"))
		Expect(k8sClient.Delete(ctx, warn)).To(Succeed())
		Eventually(labels).ShouldNot(HaveKey(v1alpha1.PoliciesWarnLabel))
		Expect(labels(Default)).To(HaveKey(v1alpha1.PoliciesCompiledLabel))
	})

	It("removes the per-namespace policies of earlier releases, and no policy it did not write", func() {
		allow := admissionregistrationv1.ValidatingAdmissionPolicySpec{
			MatchConstraints: &admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionregistrationv1.RuleWithOperations{
					Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
					Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"configmaps"}},
				},
			}}},
			Validations: []admissionregistrationv1.Validation{{Expression: "true"}},
		}
		managedBy := map[string]string{admissionpolicy.ManagedByLabel: admissionpolicy.ManagedBy}
		legacy := &admissionregistrationv1.ValidatingAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: "residency-deny." + ns,
			Labels: map[string]string{admissionpolicy.ManagedByLabel: admissionpolicy.ManagedBy, "dataresidency.io/compiled-for": ns}}, Spec: allow}
		someoneElses := &admissionregistrationv1.ValidatingAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: "team-policy", Labels: managedBy}, Spec: allow}
		Expect(k8sClient.Create(ctx, someoneElses)).To(Succeed())
		DeferCleanup(func() { Expect(k8sClient.Delete(ctx, someoneElses)).To(Succeed()) })
		Expect(k8sClient.Create(ctx, legacy)).To(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(legacy), &admissionregistrationv1.ValidatingAdmissionPolicy{}))
		}).Should(BeTrue(), "an earlier release's policy is swept")
		Consistently(func() error {
			return k8sClient.Get(ctx, client.ObjectKeyFromObject(someoneElses), &admissionregistrationv1.ValidatingAdmissionPolicy{})
		}, 2*time.Second).Should(Succeed(), "a policy that only carries the managed-by label stays")
	})

	It("keeps its compiled objects: a deleted one comes back, and the plan goes with the last store", func() {
		Expect(k8sClient.Delete(ctx, &admissionregistrationv1.MutatingAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: admissionpolicy.PlacementName}})).To(Succeed())
		Eventually(func() error {
			return k8sClient.Get(ctx, client.ObjectKey{Name: admissionpolicy.PlacementName}, &admissionregistrationv1.MutatingAdmissionPolicy{})
		}).Should(Succeed())
		plan := &v1alpha1.AdmissionPlan{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: v1alpha1.AdmissionPlanName}, plan)).To(Succeed())
		Expect(plan.Annotations).To(HaveKey("dataresidency.io/written-at"), "a new leader reads when the plan was written")
		edited := plan.DeepCopy()
		edited.Spec.Plans = nil
		Expect(k8sClient.Update(ctx, edited)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: v1alpha1.AdmissionPlanName}, edited)).To(Succeed())
			g.Expect(edited.Spec).To(Equal(plan.Spec), "an edited plan is compiled again")
		}).Should(Succeed())

		for _, s := range []string{"db", "us-only"} {
			Expect(k8sClient.Delete(ctx, &v1alpha1.PersonalDataStore{ObjectMeta: metav1.ObjectMeta{Name: s, Namespace: ns}})).To(Succeed())
		}
		Eventually(func(g Gomega) {
			err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: v1alpha1.AdmissionPlanName}, &v1alpha1.AdmissionPlan{})
			g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "%v", err)
			nsObj := &corev1.Namespace{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Name: ns}, nsObj)).To(Succeed())
			g.Expect(nsObj.Labels).NotTo(HaveKey(v1alpha1.PoliciesCompiledLabel))
			g.Expect(nsObj.Labels).NotTo(HaveKey(v1alpha1.PoliciesWarnLabel))
		}, 10*time.Second).Should(Succeed())
		// The cluster-wide policies stay for the other namespaces.
		Expect(k8sClient.Get(ctx, client.ObjectKey{Name: admissionpolicy.DenyName}, &admissionregistrationv1.ValidatingAdmissionPolicy{})).To(Succeed())
	})
})
