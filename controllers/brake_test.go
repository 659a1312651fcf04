package controllers_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/residency-operator/residency-operator/controllers"
)

// The eviction brake against a real API server: engaged by a fleet-wide burst of violations,
// recorded in its ConfigMap, kept over a restart, and resumed only by a person.
var _ = Describe("The eviction brake", Ordered, func() {
	const ns = "brake-system"
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	newBrake := func() *controllers.Brake {
		return &controllers.Brake{Share: 0.2, MinPods: 10, Window: 10 * time.Minute, Namespace: ns, Client: k8sClient, Reader: k8sClient}
	}
	times := func(n int, at time.Time) []time.Time {
		out := make([]time.Time, n)
		for i := range out {
			out[i] = at
		}
		return out
	}
	web := types.NamespacedName{Namespace: "shop", Name: "web"}
	db := types.NamespacedName{Namespace: "shop", Name: "db"}

	BeforeAll(func() {
		Expect(k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
	})

	It("stays off for a few violations, or an old share of them", func() {
		b := newBrake()
		Expect(b.Observe(ctx, web, 20, times(9, now), now)).To(Succeed()) // 45%, but fewer than 10
		Expect(b.Observe(ctx, db, 200, times(30, now.Add(-time.Hour)), now)).To(Succeed())
		engaged, _, err := b.Engaged(ctx, now)
		Expect(err).NotTo(HaveOccurred())
		Expect(engaged).To(BeFalse())
	})

	It("forgets a deleted store's violations", func() {
		b := newBrake()
		Expect(b.Observe(ctx, db, 10, times(9, now), now)).To(Succeed())
		b.Forget(db)
		Expect(b.Observe(ctx, web, 40, times(9, now), now)).To(Succeed()) // 18 of 50 if db were counted
		engaged, _, err := b.Engaged(ctx, now)
		Expect(err).NotTo(HaveOccurred())
		Expect(engaged).To(BeFalse())
	})

	It("engages when more than a fifth of the governed pods became violations within the window, and records why", func() {
		b := newBrake()
		Expect(b.Observe(ctx, db, 40, nil, now)).To(Succeed())
		Expect(b.Observe(ctx, web, 60, times(25, now.Add(-time.Minute)), now)).To(Succeed()) // 25 of 100
		engaged, why, err := b.Engaged(ctx, now)
		Expect(err).NotTo(HaveOccurred())
		Expect(engaged).To(BeTrue())
		Expect(why).To(ContainSubstring("25 of 100 governed pods became violations within 10m0s"))
		cm := &corev1.ConfigMap{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: controllers.BrakeConfigMap}, cm)).To(Succeed())
		Expect(cm.Data).To(HaveKeyWithValue("state", "Engaged"))
		Expect(cm.Data["resume"]).To(Equal("kubectl -n brake-system annotate configmap residency-eviction-brake dataresidency.io/resume=true"))

		By("surviving a restart: a new Brake reads the ConfigMap")
		engaged, _, err = newBrake().Engaged(ctx, now.Add(time.Minute))
		Expect(err).NotTo(HaveOccurred())
		Expect(engaged).To(BeTrue())
	})

	It("resumes only when a person says so, and the same violations do not engage it again", func() {
		cm := &corev1.ConfigMap{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: controllers.BrakeConfigMap}, cm)).To(Succeed())
		cm.Annotations = map[string]string{controllers.BrakeResumeAnnotation: "true"}
		Expect(k8sClient.Update(ctx, cm)).To(Succeed())

		b := newBrake()
		later := now.Add(2 * time.Minute)
		engaged, _, err := b.Engaged(ctx, later)
		Expect(err).NotTo(HaveOccurred())
		Expect(engaged).To(BeFalse())
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: controllers.BrakeConfigMap}, cm)).To(Succeed())
		Expect(cm.Data).To(HaveKeyWithValue("state", "Resumed"))
		Expect(cm.Annotations).NotTo(HaveKey(controllers.BrakeResumeAnnotation))

		Expect(b.Observe(ctx, web, 60, times(25, now.Add(-time.Minute)), later.Add(time.Second))).To(Succeed())
		engaged, _, err = b.Engaged(ctx, later.Add(3*time.Second))
		Expect(err).NotTo(HaveOccurred())
		Expect(engaged).To(BeFalse(), "violations seen before the resumption must not engage the brake again")

		By("engaging again for a new burst")
		Expect(b.Observe(ctx, web, 60, times(25, later.Add(10*time.Second)), later.Add(11*time.Second))).To(Succeed())
		engaged, _, err = b.Engaged(ctx, later.Add(12*time.Second))
		Expect(err).NotTo(HaveOccurred())
		Expect(engaged).To(BeTrue())
	})
})

// A Jurisdiction losing a large share of its nodes at once (a bad edit, a label format change)
// engages the brake even where few pods run: their stores' capacity is what moves.
var _ = Describe("The eviction brake on nodes leaving a Jurisdiction", Ordered, func() {
	const ns = "brake-nodes-system"
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	remaining := func(n int) func(string) (int, error) { return func(string) (int, error) { return n, nil } }
	newBrake := func() *controllers.Brake {
		return &controllers.Brake{Share: 0.2, MinPods: 10, MinNodes: 3, Window: 10 * time.Minute, Namespace: ns, Client: k8sClient, Reader: k8sClient}
	}
	BeforeAll(func() {
		Expect(k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
	})

	It("stays off for two nodes, for a share of 20% or less, and for nodes that came back", func() {
		b := newBrake()
		Expect(b.ObserveNodeLabels(ctx, "n1", []string{"eu"}, nil, remaining(3), now)).To(Succeed())
		Expect(b.ObserveNodeLabels(ctx, "n2", []string{"eu"}, nil, remaining(2), now)).To(Succeed())  // 2 of 4, fewer than 3
		Expect(b.ObserveNodeLabels(ctx, "n2", nil, []string{"eu"}, remaining(3), now)).To(Succeed())  // n2 is back
		Expect(b.ObserveNodeLabels(ctx, "n3", []string{"eu"}, nil, remaining(30), now)).To(Succeed()) // 2 of 32
		Expect(b.ObserveNodeLabels(ctx, "n5", []string{"eu"}, nil, remaining(30), now)).To(Succeed()) // 3 of 33: 9%
		Expect(b.ObserveNodeLabels(ctx, "n4", []string{"eu"}, nil, remaining(30), now.Add(20*time.Minute))).To(Succeed())
		engaged, _, err := b.Engaged(ctx, now)
		Expect(err).NotTo(HaveOccurred())
		Expect(engaged).To(BeFalse())
	})

	It("engages when more than a fifth of a Jurisdiction's nodes lost its label within the window", func() {
		b := newBrake()
		for i, n := range []string{"a", "b", "c"} {
			Expect(b.ObserveNodeLabels(ctx, n, []string{"eu"}, nil, remaining(7-i), now)).To(Succeed())
		}
		engaged, why, err := b.Engaged(ctx, now)
		Expect(err).NotTo(HaveOccurred())
		Expect(engaged).To(BeTrue())
		Expect(why).To(Equal("3 of the 8 nodes or member clusters of Jurisdiction eu lost its label within 10m0s (more than 20%)"))
	})
})
