package controllers_test

import (
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
)

// More violations than status lists (50): each keeps its announced eviction time, none is evicted
// before it, and every one is evicted after it, at the shared eviction rate.
var _ = Describe("Sixty simultaneous violations", Ordered, func() {
	const ns, violators = "sixty", 60

	BeforeAll(func() {
		Expect(k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
		Expect(k8sClient.Create(ctx, jurisdiction("sixty-se", v1alpha1.JurisdictionSpec{Countries: []v1alpha1.CountryCode{"SE"}}))).To(Succeed())
		createReadyNode(testNode("sixty-arn", "eu-north-1", "", nil))     // Stockholm: permitted, takes the replacements
		createReadyNode(testNode("sixty-syd", "ap-southeast-2", "", nil)) // Sydney: outside
		Eventually(residencyLabels("sixty-arn")).Should(HaveKey(v1alpha1.JurisdictionLabel("sixty-se")))
		for i := range violators {
			Expect(k8sClient.Create(ctx, &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("web-%02d", i), Namespace: ns, Labels: map[string]string{"app": "web"}},
				Spec:       corev1.PodSpec{NodeName: "sixty-syd", Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1"}}},
			})).To(Succeed())
		}
	})

	AfterAll(func() {
		Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, jurisdiction("sixty-se", v1alpha1.JurisdictionSpec{})))).To(Succeed())
		for _, name := range []string{"sixty-arn", "sixty-syd"} {
			Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}))).To(Succeed())
		}
	})

	It("keeps every announced eviction time and evicts each one after it, never before", func() {
		Expect(k8sClient.Create(ctx, &v1alpha1.PersonalDataStore{
			ObjectMeta: metav1.ObjectMeta{Name: "sessions", Namespace: ns},
			Spec: v1alpha1.PersonalDataStoreSpec{
				DataCategories:       []v1alpha1.DataCategory{v1alpha1.UsageActivity},
				AllowedJurisdictions: []v1alpha1.JurisdictionName{"sixty-se"},
				WorkloadSelector:     metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
				Enforcement:          v1alpha1.Enforce,
				EvictionGracePeriod:  &metav1.Duration{Duration: time.Hour}, // crossed by stepping the clock
			},
		})).To(Succeed())
		var announced time.Time
		Eventually(func(g Gomega) {
			s := &v1alpha1.PersonalDataStore{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "sessions"}, s)).To(Succeed())
			g.Expect(s.Status.ViolationCount).To(BeEquivalentTo(violators))
			g.Expect(s.Status.Violations).To(HaveLen(50))
			announced = s.Status.Violations[len(s.Status.Violations)-1].EvictionTime.Time
		}).Should(Succeed())
		terminating := func(g Gomega) int {
			var pods corev1.PodList
			g.Expect(k8sClient.List(ctx, &pods, client.InNamespace(ns))).To(Succeed())
			n := 0
			for _, p := range pods.Items {
				if p.DeletionTimestamp != nil {
					n++
				}
			}
			return n
		}

		By("touching every pod (reconciles) before the announced time: none is evicted, and the times stay")
		for i := range violators {
			touchPod(ns, fmt.Sprintf("web-%02d", i))
		}
		Consistently(terminating, "2s").Should(BeZero())
		s := &v1alpha1.PersonalDataStore{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "sessions"}, s)).To(Succeed())
		Expect(s.Status.Violations[len(s.Status.Violations)-1].EvictionTime.Time).To(BeTemporally("==", announced))

		By("passing the announced time: all 60 are evicted, at most 2 a second after a burst of 5")
		testClock.Step(time.Hour + time.Second)
		touchPod(ns, "web-00")
		Eventually(terminating, 90*time.Second, time.Second).Should(Equal(violators))
	})
})
