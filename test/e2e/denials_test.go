package e2e

import (
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
	"github.com/residency-operator/residency-operator/internal/engine"
)

// The denial cases of docs/placement.md, through the API server as installed in policies mode
// (config/admission-policies): the compiled policies deny pods, the webhooks what needs a lookup.
var _ = Describe("Denials in policies mode", Ordered, func() {
	const denyNS = "denials"
	store := func(name string, selector metav1.LabelSelector, jurisdictions ...v1alpha1.JurisdictionName) *v1alpha1.PersonalDataStore {
		return &v1alpha1.PersonalDataStore{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: denyNS},
			Spec: v1alpha1.PersonalDataStoreSpec{DataCategories: []v1alpha1.DataCategory{v1alpha1.ContactDetails},
				AllowedJurisdictions: jurisdictions, WorkloadSelector: selector, VolumeSelector: &selector}}
	}
	pod := func(labels map[string]string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: "denied-", Namespace: denyNS, Labels: labels},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1"}}}}
	}
	claim := func(class string, volume string) *corev1.PersistentVolumeClaim {
		return &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{GenerateName: "denied-", Namespace: denyNS, Labels: map[string]string{"app": "eu"}},
			Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				StorageClassName: ptr.To(class), VolumeName: volume,
				Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}}}
	}
	denied := func(obj client.Object, message string) {
		GinkgoHelper()
		Eventually(func(g Gomega) {
			err := k8sClient.Create(ctx, obj.DeepCopyObject().(client.Object), client.DryRunAll)
			g.Expect(apierrors.IsForbidden(err) || apierrors.IsInvalid(err)).To(BeTrue(), "want a denial, got %v", err)
			g.Expect(err.Error()).To(ContainSubstring(message))
		}).Should(Succeed())
	}

	BeforeAll(func() {
		for name, countries := range map[string][]v1alpha1.CountryCode{"deny-eu": euCountries, "deny-us": {"US"}} {
			Expect(k8sClient.Create(ctx, &v1alpha1.Jurisdiction{ObjectMeta: metav1.ObjectMeta{Name: name},
				Spec: v1alpha1.JurisdictionSpec{Countries: countries}})).To(Succeed())
		}
		Expect(k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: denyNS}})).To(Succeed())
		for _, s := range []*v1alpha1.PersonalDataStore{
			store("eu-only", metav1.LabelSelector{MatchLabels: map[string]string{"app": "eu"}}, "deny-eu"),
			store("us-only", metav1.LabelSelector{MatchLabels: map[string]string{"tier": "us"}}, "deny-us"),
			store("eu-or-us", metav1.LabelSelector{MatchLabels: map[string]string{"app": "wide"}}, "deny-eu", "deny-us"),
		} {
			Expect(k8sClient.Create(ctx, s)).To(Succeed())
		}
		Expect(k8sClient.Create(ctx, &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "deny-immediate"},
			Provisioner: "ebs.csi.aws.com", VolumeBindingMode: ptr.To(storagev1.VolumeBindingImmediate)})).To(Succeed())
		Expect(k8sClient.Create(ctx, &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "deny-virginia"},
			Provisioner: "ebs.csi.aws.com", VolumeBindingMode: ptr.To(storagev1.VolumeBindingImmediate),
			AllowedTopologies: []corev1.TopologySelectorTerm{{MatchLabelExpressions: []corev1.TopologySelectorLabelRequirement{
				{Key: corev1.LabelTopologyRegion, Values: []string{"us-east-1"}}}}}})).To(Succeed())
		Expect(k8sClient.Create(ctx, &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "deny-pv-virginia",
			Labels: map[string]string{corev1.LabelTopologyRegion: "us-east-1"}},
			Spec: corev1.PersistentVolumeSpec{Capacity: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
				AccessModes:            []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				PersistentVolumeSource: corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{Driver: "ebs.csi.aws.com", VolumeHandle: "vol-1"}}}})).To(Succeed())
	})
	AfterAll(func() {
		for _, name := range []string{"deny-eu", "deny-us"} {
			Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, &v1alpha1.Jurisdiction{ObjectMeta: metav1.ObjectMeta{Name: name}}))).To(Succeed())
		}
		Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "deny-pv-virginia"}}))).To(Succeed())
		for _, name := range []string{"deny-immediate", "deny-virginia"} {
			Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: name}}))).To(Succeed())
		}
	})

	It("denies, in kube-apiserver, a pod whose stores permit no common node", func() {
		denied(pod(map[string]string{"app": "eu", "tier": "us"}),
			`the pod is governed by stores that permit no common node: store "eu-only" allows [deny-eu]; store "us-only" allows [deny-us]`)
	})

	It("denies, in kube-apiserver, a pod whose own terms ANDed with the permitted ones need more than 32", func() {
		wide := pod(map[string]string{"app": "wide"})
		var terms []corev1.NodeSelectorTerm
		for i := range 17 { // 17 own terms x 2 permitted terms (deny-eu or deny-us) = 34
			terms = append(terms, corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{
				{Key: "rack", Operator: corev1.NodeSelectorOpIn, Values: []string{fmt.Sprintf("r%d", i)}}}})
		}
		wide.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: terms}}}
		denied(wide, engine.ProductTooLarge(17, 2, 34).Message)
	})

	It("denies, through the webhook, a pod pinned outside or to a node that does not exist", func() {
		outside := pod(map[string]string{"app": "eu"})
		outside.Spec.NodeName = "aws-us-east-1a"
		denied(outside, "is outside the permitted jurisdictions")
		ghost := pod(map[string]string{"app": "eu"})
		ghost.Spec.NodeName = "ghost"
		denied(ghost, `node "ghost" does not exist`)
	})

	It("denies, through the webhook, claims whose volume could be or is outside", func() {
		denied(claim("deny-immediate", ""), `StorageClass "deny-immediate" binds Immediate without allowedTopologies`)
		denied(claim("deny-virginia", ""), "allowedTopologies include")
		denied(claim("deny-immediate", "deny-pv-virginia"), `spec.volumeName: Forbidden: PersistentVolume "deny-pv-virginia" is stored at (region us-east-1`)
	})

	It("denies, through the fail-open webhook, a pod whose own nodeSelector allows no permitted place; admits it while the operator is down", func() {
		virginia := pod(map[string]string{"app": "eu"})
		virginia.Spec.NodeSelector = map[string]string{corev1.LabelTopologyRegion: "us-east-1"}
		denied(virginia, `the pod's own nodeSelector and required node affinity allow only (region us-east-1, country US`)
		denied(virginia, "so it would stay Pending forever")
		inside := pod(map[string]string{"app": "eu"})
		inside.Spec.NodeSelector = map[string]string{corev1.LabelTopologyRegion: "eu-central-1"}
		Expect(k8sClient.Create(ctx, inside, client.DryRunAll)).To(Succeed())

		// A governed claim, for the outage below: the claim webhook fails closed.
		Expect(k8sClient.Create(ctx, &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "deny-wait"},
			Provisioner: "ebs.csi.aws.com", VolumeBindingMode: ptr.To(storagev1.VolumeBindingWaitForFirstConsumer)})).To(Succeed())
		DeferCleanup(func() {
			_ = k8sClient.Delete(ctx, &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "deny-wait"}})
		})
		data := claim("deny-wait", "")
		Eventually(func() error { return k8sClient.Create(ctx, data) }).Should(Succeed())

		// Such a pod breaches nothing (the compiled policy still places it, so no node takes it):
		// an operator outage must not turn the check into a blocked namespace.
		stopManager()
		DeferCleanup(startManager)
		created := virginia.DeepCopy()
		Eventually(func() error { return k8sClient.Create(ctx, created.DeepCopy(), client.DryRunAll) }, 20*time.Second).Should(Succeed())
		Expect(k8sClient.Create(ctx, created)).To(Succeed())
		Expect(created.Annotations).To(HaveKeyWithValue(v1alpha1.StoresAnnotation, "eu-only"), "placed by the compiled policy, operator down")
		Expect(k8sClient.Delete(ctx, created)).To(Succeed())

		By("claim updates that cannot change governance (the binder's, a finalizer's) never wait on the operator; one that can is refused")
		// Retried on conflicts: kube-controller-manager writes the claim too (its finalizer).
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(data), data)).To(Succeed())
			data.Annotations = map[string]string{"pv.kubernetes.io/bind-completed": "yes"}
			g.Expect(k8sClient.Update(ctx, data)).To(Succeed())
		}).Should(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(data), data)).To(Succeed())
			data.Labels["tier"] = "gold"
			g.Expect(k8sClient.Update(ctx, data)).To(MatchError(ContainSubstring("residency.persistentvolumeclaims.dataresidency.io")),
				"a relabel could change governance: the fail-closed webhook must be asked")
		}).Should(Succeed())
	})

	It("admits and places a pod the stores agree on, so the denials are not a broken namespace", func() {
		ok := pod(map[string]string{"app": "eu"})
		Eventually(func(g Gomega) {
			probe := ok.DeepCopy()
			g.Expect(k8sClient.Create(ctx, probe, client.DryRunAll)).To(Succeed())
			g.Expect(probe.Annotations).To(HaveKeyWithValue(v1alpha1.StoresAnnotation, "eu-only"))
		}, 20*time.Second).Should(Succeed())
	})
})
