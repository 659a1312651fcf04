// Package agreement holds one test: the webhook, `kubectl residency check` and the audit, fed the
// same objects on a real API server, reach the same verdict with the same words. It lives under
// cmd/kubectl-residency so that it may import the CLI's internal check package.
package agreement

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
	"github.com/residency-operator/residency-operator/cmd/kubectl-residency/internal/check"
	"github.com/residency-operator/residency-operator/controllers"
	"github.com/residency-operator/residency-operator/internal/engine"
	"github.com/residency-operator/residency-operator/internal/localcluster"
	"github.com/residency-operator/residency-operator/internal/manifest"
	"github.com/residency-operator/residency-operator/internal/webhook"
)

var (
	ctx       context.Context
	cancel    context.CancelFunc
	cluster   *localcluster.Cluster
	k8sClient client.Client
	scheme    = runtime.NewScheme()
)

func TestAgreement(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Webhook, CLI and audit agreement")
}

var _ = BeforeSuite(func() {
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	ctx, cancel = context.WithCancel(context.Background())
	Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	Expect(v1alpha1.AddToScheme(scheme)).To(Succeed())
	var err error
	cluster, err = localcluster.Start(ctx, localcluster.Options{
		CRDDir:           filepath.Join("..", "..", "..", "..", "config", "crd", "bases"),
		ControlPlaneOnly: true,
	})
	Expect(err).NotTo(HaveOccurred())
	k8sClient, err = client.New(cluster.Config, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
	mgr, err := ctrl.NewManager(cluster.Config, ctrl.Options{Scheme: scheme, Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0"})
	Expect(err).NotTo(HaveOccurred())
	// No admission in this suite: the fixtures are created as they would exist, and the webhook
	// handlers are called directly below.
	opts := controllers.DefaultOptions()
	opts.AdmissionPolicies = false
	Expect(controllers.SetupWithManager(ctx, mgr, opts)).To(Succeed())
	go func() {
		defer GinkgoRecover()
		Expect(mgr.Start(ctx)).To(Succeed())
	}()
})

var _ = AfterSuite(func() {
	if cancel != nil {
		cancel()
	}
	if cluster != nil {
		Expect(cluster.Stop()).To(Succeed())
	}
})

// fixture is one object, and the engine reason all three callers must give it ("" for none).
type fixture struct {
	obj  client.Object
	want engine.Reason
}

var _ = Describe("The webhook, the CLI and the audit", func() {
	const ns = "agree"
	app := map[string]string{"app": "db"}
	pod := func(name, node string, extra map[string]string) *corev1.Pod {
		l := map[string]string{"app": "db"}
		for k, v := range extra {
			l[k] = v
		}
		return &corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: l},
			Spec:       corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1"}}}}
	}
	claim := func(name, volume string) *corev1.PersistentVolumeClaim {
		empty := ""
		return &corev1.PersistentVolumeClaim{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "PersistentVolumeClaim"},
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: app},
			Spec: corev1.PersistentVolumeClaimSpec{VolumeName: volume, StorageClassName: &empty,
				AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resourceOneGi}}}}
	}

	It("agree on every fixture: same verdict, same message", func() {
		// The policy: one Enforce store keeping pods and claims labelled app=db in the EU, and an
		// exception for one job.
		Expect(k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
		for _, j := range []*v1alpha1.Jurisdiction{
			{ObjectMeta: metav1.ObjectMeta{Name: "agree-eu"}, Spec: v1alpha1.JurisdictionSpec{Countries: []v1alpha1.CountryCode{"DE"}}},
			{ObjectMeta: metav1.ObjectMeta{Name: "agree-us"}, Spec: v1alpha1.JurisdictionSpec{Countries: []v1alpha1.CountryCode{"US"}}},
		} {
			Expect(k8sClient.Create(ctx, j)).To(Succeed())
		}
		for name, region := range map[string]string{"agree-fra": "eu-central-1", "agree-iad": "us-east-1", "agree-lost": "mars-north-1"} {
			Expect(k8sClient.Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name,
				Labels: map[string]string{corev1.LabelTopologyRegion: region, v1alpha1.ConfirmedRegionLabel: region, corev1.LabelHostname: name}}})).To(Succeed())
		}
		store := &v1alpha1.PersonalDataStore{ObjectMeta: metav1.ObjectMeta{Name: "customer-db", Namespace: ns},
			Spec: v1alpha1.PersonalDataStoreSpec{
				DataCategories:       []v1alpha1.DataCategory{v1alpha1.Credentials},
				AllowedJurisdictions: []v1alpha1.JurisdictionName{"agree-eu"},
				WorkloadSelector:     metav1.LabelSelector{MatchLabels: app},
				VolumeSelector:       &metav1.LabelSelector{MatchLabels: app},
			}}
		Expect(k8sClient.Create(ctx, store)).To(Succeed())
		courtOrder := &v1alpha1.ResidencyException{ObjectMeta: metav1.ObjectMeta{Name: "court-order", Namespace: ns},
			Spec: v1alpha1.ResidencyExceptionSpec{
				Selector: metav1.LabelSelector{MatchLabels: map[string]string{"job-name": "legal-export"}},
				Stores:   []v1alpha1.ObjectName{"customer-db"}, Reason: v1alpha1.LegalProcess,
				Justification: "Subpoena 117 requires production by US counsel.", ApprovedBy: "dpo@example.com",
				ExpiresAt: metav1.NewTime(time.Now().Add(time.Hour)),
			}}
		Expect(k8sClient.Create(ctx, courtOrder)).To(Succeed())
		// Approved by someone else, as the operator's webhook (not in this suite) would record it.
		// A merge patch: the exception controller may already have written its conditions.
		approved := courtOrder.DeepCopy()
		approved.Status.Approval = &v1alpha1.ExceptionApproval{Decision: v1alpha1.Approved, User: "dpo@example.com", Generation: courtOrder.Generation}
		Expect(k8sClient.Status().Patch(ctx, approved, client.MergeFrom(courtOrder))).To(Succeed())
		for name, region := range map[string]string{"pv-us": "us-east-1", "pv-nowhere": ""} {
			pv := &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{}},
				Spec: corev1.PersistentVolumeSpec{Capacity: corev1.ResourceList{corev1.ResourceStorage: resourceOneGi},
					AccessModes:            []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					PersistentVolumeSource: corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{Driver: "disk.example", VolumeHandle: name}}}}
			if region != "" {
				pv.Labels[corev1.LabelTopologyRegion] = region
			}
			Expect(k8sClient.Create(ctx, pv)).To(Succeed())
		}
		Eventually(func(g Gomega) {
			n := &corev1.Node{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Name: "agree-fra"}, n)).To(Succeed())
			g.Expect(n.Labels).To(HaveKey(v1alpha1.JurisdictionLabel("agree-eu")))
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Name: "agree-lost"}, n)).To(Succeed())
			g.Expect(n.Annotations).To(HaveKey(engine.LocationProblemAnnotation))
		}).Should(Succeed())

		fixtures := []fixture{
			{pod("on-permitted-node", "agree-fra", nil), ""},
			{pod("on-us-node", "agree-iad", nil), engine.NodeNotPermitted},
			{pod("on-missing-node", "ghost", nil), engine.NodeNotFound},
			{pod("on-unlocated-node", "agree-lost", nil), engine.NodeLocationUnknown},
			{pod("exempt-on-us-node", "agree-iad", map[string]string{"job-name": "legal-export"}), ""},
			{claim("on-us-volume", "pv-us"), engine.VolumeNotPermitted},
			{claim("on-unlocated-volume", "pv-nowhere"), engine.VolumeLocationUnknown},
		}
		for _, f := range fixtures {
			Expect(k8sClient.Create(ctx, f.obj.DeepCopyObject().(client.Object))).To(Succeed(), f.obj.GetName())
		}

		By("reading the audit's verdicts from the store's status")
		audit := map[string]v1alpha1.Violation{}
		Eventually(func(g Gomega) {
			s := &v1alpha1.PersonalDataStore{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(store), s)).To(Succeed())
			g.Expect(s.Status.GovernedPods).To(BeEquivalentTo(5))
			g.Expect(s.Status.GovernedVolumes).To(BeEquivalentTo(2))
			g.Expect(s.Status.Exemptions).To(HaveLen(1))
			clear(audit)
			for _, v := range s.Status.Violations {
				// How a running pod was admitted is the audit's alone to judge: the fixtures are
				// created as they would exist, without admission, so they also lack the placement.
				if v.Reason == v1alpha1.PlacementMissing {
					continue
				}
				audit[v.Object.Name] = v
			}
			g.Expect(audit).To(HaveLen(5))
		}).WithTimeout(20 * time.Second).Should(Succeed()) // the manager's first audit; other suites share the CPUs

		By("asking the CLI, against the live cluster, as `kubectl residency check --cluster` does")

		placement := &webhook.PodPlacement{Reader: k8sClient, Now: time.Now}
		residency := &webhook.PodResidency{Reader: k8sClient, Now: time.Now}
		claims := &webhook.PVCResidency{Reader: k8sClient, Now: time.Now}
		for _, f := range fixtures {
			name := f.obj.GetName()
			By(name)
			// The webhook, as the API server calls it: placement first, then the validator.
			var denial error
			switch o := f.obj.(type) {
			case *corev1.Pod:
				facts := engine.FactsOf(o.Labels, &o.Spec)
				_, err := placement.Place(ctx, ns, name, &facts)
				Expect(err).NotTo(HaveOccurred())
				_, denial = residency.Validate(ctx, ns, name, &facts)
			case *corev1.PersistentVolumeClaim:
				_, denial = claims.ValidateCreate(ctx, o)
			}
			set := manifest.NewSet(manifest.Options{})
			set.AddTyped(f.obj, manifest.Source{File: name + ".yaml", Line: 1})
			opts, err := check.ClusterOptions(ctx, k8sClient, check.Options{Now: time.Now()}, func(what string, err error) {
				Fail(fmt.Sprintf("getting %s: %v", what, err))
			})
			Expect(err).NotTo(HaveOccurred())
			res := check.Run(set, opts)
			violation, reported := audit[name]

			if f.want == "" {
				Expect(denial).NotTo(HaveOccurred(), "webhook")
				Expect(res.Findings).To(BeEmpty(), "CLI")
				Expect(reported).To(BeFalse(), "audit")
				continue
			}
			// The audit's message is the engine's, as is; the webhook and the CLI show it after
			// the field it is about.
			message := violation.Message
			Expect(reported).To(BeTrue(), "audit")
			Expect(message).NotTo(BeEmpty())
			Expect(denial).To(HaveOccurred(), "webhook")
			Expect(denial.Error()).To(ContainSubstring(": " + message))
			Expect(res.Findings).To(HaveLen(1), "CLI")
			Expect(res.Findings[0].Severity).To(Equal(check.Error))
			Expect(res.Findings[0].Message).To(HaveSuffix(": " + message))
			Expect(strings.Count(denial.Error(), message)).To(Equal(1))
		}
	})
})

var resourceOneGi = resource.MustParse("1Gi")
