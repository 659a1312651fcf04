package controllers_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
)

var _ = Describe("Processors and egress", Ordered, func() {
	const ns = "sharing"

	processor := func(name string, jurisdictions []v1alpha1.JurisdictionName, categories []v1alpha1.DataCategory, cidr string, port int32) *v1alpha1.DataProcessor {
		return &v1alpha1.DataProcessor{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: v1alpha1.DataProcessorSpec{
				Role: v1alpha1.ServiceProvider, Jurisdictions: jurisdictions, Purposes: []string{"mail delivery"},
				DataCategories: categories,
				Endpoints:      []v1alpha1.Endpoint{{CIDR: cidr, Ports: []v1alpha1.EndpointPort{{Port: port}}}},
			},
		}
	}
	getStore := func(g Gomega, name string) *v1alpha1.PersonalDataStore {
		s := &v1alpha1.PersonalDataStore{}
		g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, s)).To(Succeed())
		return s
	}
	findings := func(s *v1alpha1.PersonalDataStore) map[string]v1alpha1.ProcessorFindingReason {
		out := map[string]v1alpha1.ProcessorFindingReason{}
		for _, f := range s.Status.ProcessorFindings {
			out[f.Processor] = f.Reason
		}
		return out
	}
	policy := func(g Gomega, name string) *networkingv1.NetworkPolicy {
		np := &networkingv1.NetworkPolicy{}
		g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, np)).To(Succeed())
		return np
	}
	tcp, udp := corev1.ProtocolTCP, corev1.ProtocolUDP
	port := func(p int32) *intstr.IntOrString { v := intstr.FromInt32(p); return &v }
	// DNS only to the cluster DNS pods, and only the store's own pods as peers: not every pod of
	// the namespace (ungoverned ones may run anywhere).
	dnsAndNamespace := []networkingv1.NetworkPolicyEgressRule{
		{To: []networkingv1.NetworkPolicyPeer{{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: "kube-system"}},
			PodSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"k8s-app": "kube-dns"}},
		}}, Ports: []networkingv1.NetworkPolicyPort{{Protocol: &udp, Port: port(53)}, {Protocol: &tcp, Port: port(53)}}},
		{To: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "newsletter"}}}}},
	}
	mailRule := networkingv1.NetworkPolicyEgressRule{
		To:    []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "192.0.2.0/24"}}},
		Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: port(587)}},
	}
	supportRule := networkingv1.NetworkPolicyEgressRule{
		To:    []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "198.51.100.0/24"}}},
		Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: port(443)}},
	}

	BeforeAll(func() {
		Expect(k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
		Expect(client.IgnoreAlreadyExists(k8sClient.Create(ctx, jurisdiction("share-eu", v1alpha1.JurisdictionSpec{Countries: []v1alpha1.CountryCode{"DE"}})))).To(Succeed())
		Expect(client.IgnoreAlreadyExists(k8sClient.Create(ctx, jurisdiction("share-us", v1alpha1.JurisdictionSpec{Countries: []v1alpha1.CountryCode{"US"}})))).To(Succeed())
		contact := []v1alpha1.DataCategory{v1alpha1.ContactDetails, v1alpha1.EmailEngagement}
		for _, p := range []*v1alpha1.DataProcessor{
			processor("mailer", []v1alpha1.JurisdictionName{"share-eu"}, contact, "192.0.2.0/24", 587),
			processor("support-desk", []v1alpha1.JurisdictionName{"share-eu", "share-us"}, contact, "198.51.100.0/24", 443),
			processor("us-crm", []v1alpha1.JurisdictionName{"share-us"}, contact, "203.0.113.0/24", 443),
			processor("analytics", []v1alpha1.JurisdictionName{"share-eu"}, []v1alpha1.DataCategory{v1alpha1.UsageActivity}, "203.0.113.128/25", 443),
		} {
			Expect(k8sClient.Create(ctx, p)).To(Succeed())
		}
		Expect(k8sClient.Create(ctx, &v1alpha1.PersonalDataStore{
			ObjectMeta: metav1.ObjectMeta{Name: "newsletter", Namespace: ns},
			Spec: v1alpha1.PersonalDataStoreSpec{
				DataCategories:       []v1alpha1.DataCategory{v1alpha1.ContactDetails},
				AllowedJurisdictions: []v1alpha1.JurisdictionName{"share-eu"},
				WorkloadSelector:     metav1.LabelSelector{MatchLabels: map[string]string{"app": "newsletter"}},
				Processors:           []v1alpha1.ObjectName{"mailer", "support-desk", "us-crm", "analytics", "ghost"},
				Egress:               v1alpha1.EgressRestrict,
			},
		})).To(Succeed())
	})

	AfterAll(func() {
		for _, name := range []string{"share-eu", "share-us"} {
			Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, jurisdiction(name, v1alpha1.JurisdictionSpec{})))).To(Succeed())
		}
	})

	It("reports missing, out-of-jurisdiction and over-sharing processors, and is not Compliant", func() {
		Eventually(func(g Gomega) {
			s := getStore(g, "newsletter")
			g.Expect(findings(s)).To(Equal(map[string]v1alpha1.ProcessorFindingReason{
				"ghost": v1alpha1.ProcessorNotFound, "us-crm": v1alpha1.JurisdictionNotPermitted, "analytics": v1alpha1.CategoriesNotCovered}))
			cond := meta.FindStatusCondition(s.Status.Conditions, v1alpha1.CompliantCondition)
			g.Expect(cond).NotTo(BeNil())
			g.Expect(cond.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(cond.Reason).To(Equal(v1alpha1.ReasonProcessorFindings))
		}).Should(Succeed())
		Eventually(eventReasons("PersonalDataStore", "newsletter")).Should(ContainElements("JurisdictionNotPermitted", "CategoriesNotCovered", "ProcessorNotFound"))
	})

	It("owns a NetworkPolicy that allows exactly DNS, the namespace and permitted processors", func() {
		Eventually(func(g Gomega) {
			np := policy(g, "residency-newsletter")
			g.Expect(np.Spec.PodSelector).To(Equal(metav1.LabelSelector{MatchLabels: map[string]string{"app": "newsletter"}}))
			g.Expect(np.Spec.PolicyTypes).To(Equal([]networkingv1.PolicyType{networkingv1.PolicyTypeEgress}))
			g.Expect(np.Spec.Ingress).To(BeEmpty())
			g.Expect(np.Spec.Egress).To(Equal(append(append([]networkingv1.NetworkPolicyEgressRule{}, dnsAndNamespace...), mailRule, supportRule)))
			owner := metav1.GetControllerOf(np)
			g.Expect(owner).NotTo(BeNil())
			g.Expect(owner.Kind).To(Equal("PersonalDataStore"))
			g.Expect(owner.Name).To(Equal("newsletter"))
			g.Expect(owner.BlockOwnerDeletion).To(Equal(ptr.To(true)), "garbage collection removes it with the store")
			s := getStore(g, "newsletter")
			g.Expect(meta.IsStatusConditionTrue(s.Status.Conditions, v1alpha1.EgressRestrictedCondition)).To(BeTrue())
		}).Should(Succeed())
		Eventually(func(g Gomega) {
			p := &v1alpha1.DataProcessor{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Name: "mailer"}, p)).To(Succeed())
			g.Expect(p.Status.Stores).To(Equal([]v1alpha1.NamespacedReference{{Namespace: ns, Name: "newsletter"}}))
			g.Expect(meta.IsStatusConditionTrue(p.Status.Conditions, v1alpha1.ReadyCondition)).To(BeTrue())
		}).Should(Succeed())
	})

	It("drops a processor moved out of the permitted jurisdictions from the policy and reports it", func() {
		p := &v1alpha1.DataProcessor{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Name: "mailer"}, p)).To(Succeed())
		patch := client.MergeFrom(p.DeepCopy())
		p.Spec.Jurisdictions = []v1alpha1.JurisdictionName{"share-us"}
		Expect(k8sClient.Patch(ctx, p, patch)).To(Succeed())
		Eventually(func(g Gomega) {
			np := policy(g, "residency-newsletter")
			g.Expect(np.Spec.Egress).To(Equal(append(append([]networkingv1.NetworkPolicyEgressRule{}, dnsAndNamespace...), supportRule)))
			g.Expect(findings(getStore(g, "newsletter"))).To(HaveKeyWithValue("mailer", v1alpha1.JurisdictionNotPermitted))
		}).Should(Succeed())
	})

	It("restores its policy when someone edits it", func() {
		np := &networkingv1.NetworkPolicy{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "residency-newsletter"}, np)).To(Succeed())
		patch := client.MergeFrom(np.DeepCopy())
		np.Spec.Egress = nil
		Expect(k8sClient.Patch(ctx, np, patch)).To(Succeed())
		Eventually(func(g Gomega) []networkingv1.NetworkPolicyEgressRule {
			return policy(g, "residency-newsletter").Spec.Egress
		}).Should(HaveLen(3))
	})

	It("says egress is not restricted, naming the policy, while another NetworkPolicy widens it", func() {
		Expect(k8sClient.Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "newsletter-0", Namespace: ns, Labels: map[string]string{"app": "newsletter"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1"}}}})).To(Succeed())
		restricted := func(g Gomega) *metav1.Condition {
			cond := meta.FindStatusCondition(getStore(g, "newsletter").Status.Conditions, v1alpha1.EgressRestrictedCondition)
			g.Expect(cond).NotTo(BeNil())
			return cond
		}
		By("a deny-all egress policy, or one allowing only what ours allows, widens nothing")
		denyAll := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "deny-all-egress", Namespace: ns},
			Spec: networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress}}}
		Expect(k8sClient.Create(ctx, denyAll)).To(Succeed())
		dnsOnly := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "dns-only", Namespace: ns},
			Spec: networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
				Egress: dnsAndNamespace[:1]}}
		Expect(k8sClient.Create(ctx, dnsOnly)).To(Succeed())
		Consistently(func(g Gomega) { g.Expect(restricted(g).Status).To(Equal(metav1.ConditionTrue)) }).WithTimeout(2 * time.Second).Should(Succeed())

		allowAll := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "allow-all-egress", Namespace: ns},
			Spec: networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
				Egress: []networkingv1.NetworkPolicyEgressRule{{}}}}
		Expect(k8sClient.Create(ctx, allowAll)).To(Succeed())
		Eventually(func(g Gomega) {
			cond := restricted(g)
			g.Expect(cond.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(cond.Reason).To(Equal(v1alpha1.ReasonEgressWidened))
			g.Expect(cond.Message).To(And(ContainSubstring("NetworkPolicy allow-all-egress"), ContainSubstring("newsletter-0")))
		}).Should(Succeed())
		Eventually(eventReasons("PersonalDataStore", "newsletter")).Should(ContainElement(v1alpha1.ReasonEgressWidened))

		By("excluding the governed pods restores it")
		patch := client.MergeFrom(allowAll.DeepCopy())
		allowAll.Spec.PodSelector = metav1.LabelSelector{MatchLabels: map[string]string{"app": "frontend"}}
		Expect(k8sClient.Patch(ctx, allowAll, patch)).To(Succeed())
		Eventually(func(g Gomega) { g.Expect(restricted(g).Status).To(Equal(metav1.ConditionTrue)) }).Should(Succeed())
		Expect(k8sClient.Delete(ctx, allowAll)).To(Succeed())
		Expect(k8sClient.Delete(ctx, denyAll)).To(Succeed())
		Expect(k8sClient.Delete(ctx, dnsOnly)).To(Succeed())
	})

	It("removes its policy when egress returns to Unrestricted", func() {
		s := &v1alpha1.PersonalDataStore{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "newsletter"}, s)).To(Succeed())
		patch := client.MergeFrom(s.DeepCopy())
		s.Spec.Egress = v1alpha1.EgressUnrestricted
		Expect(k8sClient.Patch(ctx, s, patch)).To(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "residency-newsletter"}, &networkingv1.NetworkPolicy{}))
		}).Should(BeTrue())
	})

	It("leaves a user's same-named NetworkPolicy alone and reports the conflict", func() {
		users := &networkingv1.NetworkPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: "residency-billing", Namespace: ns},
			Spec: networkingv1.NetworkPolicySpec{PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"team": "billing"}},
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}},
		}
		Expect(k8sClient.Create(ctx, users)).To(Succeed())
		Expect(k8sClient.Create(ctx, &v1alpha1.PersonalDataStore{
			ObjectMeta: metav1.ObjectMeta{Name: "billing", Namespace: ns},
			Spec: v1alpha1.PersonalDataStoreSpec{
				DataCategories: []v1alpha1.DataCategory{v1alpha1.Transactions}, AllowedJurisdictions: []v1alpha1.JurisdictionName{"share-eu"},
				WorkloadSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "billing"}}, Egress: v1alpha1.EgressRestrict,
			},
		})).To(Succeed())
		Eventually(func(g Gomega) {
			cond := meta.FindStatusCondition(getStore(g, "billing").Status.Conditions, v1alpha1.EgressRestrictedCondition)
			g.Expect(cond).NotTo(BeNil())
			g.Expect(cond.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(cond.Reason).To(Equal(v1alpha1.ReasonNetworkPolicyConflict))
			g.Expect(cond.Message).To(ContainSubstring("residency-billing"))
		}).Should(Succeed())
		Eventually(eventReasons("PersonalDataStore", "billing")).Should(ContainElement(v1alpha1.ReasonNetworkPolicyConflict))
		got := policy(Default, "residency-billing")
		Expect(got.Spec).To(Equal(users.Spec))
		Expect(got.OwnerReferences).To(BeEmpty())

		By("taking over once the user's policy is gone")
		Expect(k8sClient.Delete(ctx, got)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(metav1.GetControllerOf(policy(g, "residency-billing"))).NotTo(BeNil())
		}).Should(Succeed())
	})
})
