package controllers_test

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	gomegatypes "github.com/onsi/gomega/types"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
	"github.com/residency-operator/residency-operator/controllers"
)

// polr is what the specs read of a wgpolicyk8s.io/v1alpha2 PolicyReport.
type polr struct {
	metav1.ObjectMeta `json:"metadata"`
	Summary           map[string]int `json:"summary"`
	Results           []struct {
		Source     string                   `json:"source"`
		Policy     string                   `json:"policy"`
		Rule       string                   `json:"rule"`
		Result     string                   `json:"result"`
		Severity   string                   `json:"severity"`
		Message    string                   `json:"message"`
		Resources  []corev1.ObjectReference `json:"resources"`
		Properties map[string]string        `json:"properties"`
	} `json:"results"`
}

var policyReportGVK = schema.GroupVersionKind{Group: "wgpolicyk8s.io", Version: "v1alpha2", Kind: "PolicyReport"}

// The manager of this suite starts without the PolicyReport CRD; the first spec installs it, as
// installing Kyverno after the operator would.
var _ = Describe("PolicyReports", Ordered, func() {
	const ns = "polr"

	getReport := func(g Gomega) *polr {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(policyReportGVK)
		g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: controllers.PolicyReportName}, u)).To(Succeed())
		raw, err := json.Marshal(u.Object)
		g.Expect(err).NotTo(HaveOccurred())
		r := &polr{}
		g.Expect(json.Unmarshal(raw, r)).To(Succeed())
		return r
	}
	resultsOf := func(r *polr) map[string]int {
		byName := map[string]int{}
		for i, res := range r.Results {
			byName[res.Policy+"/"+res.Resources[0].Kind+"/"+res.Resources[0].Name] = i
		}
		return byName
	}
	pod := func(name, node string, labels map[string]string) {
		GinkgoHelper()
		Expect(k8sClient.Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
			Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1"}}}})).To(Succeed())
	}
	store := func(name string, mode v1alpha1.EnforcementMode, app string) {
		GinkgoHelper()
		Expect(k8sClient.Create(ctx, &v1alpha1.PersonalDataStore{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: v1alpha1.PersonalDataStoreSpec{
				DataCategories:       []v1alpha1.DataCategory{v1alpha1.ContactDetails},
				AllowedJurisdictions: []v1alpha1.JurisdictionName{"polr-eu"},
				WorkloadSelector:     metav1.LabelSelector{MatchLabels: map[string]string{"app": app}},
				VolumeSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}},
				Enforcement:          mode,
				EvictionGracePeriod:  &metav1.Duration{Duration: 24 * time.Hour},
			},
		})).To(Succeed())
	}

	BeforeAll(func() {
		Expect(k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
		Expect(k8sClient.Create(ctx, jurisdiction("polr-eu", v1alpha1.JurisdictionSpec{Countries: []v1alpha1.CountryCode{"DE"}}))).To(Succeed())
		Expect(k8sClient.Create(ctx, jurisdiction("polr-us", v1alpha1.JurisdictionSpec{Countries: []v1alpha1.CountryCode{"US"}}))).To(Succeed())
		createReadyNode(testNode("polr-fra", "eu-central-1", "", nil))
		createReadyNode(testNode("polr-iad", "us-east-1", "", nil))
		Eventually(residencyLabels("polr-fra")).Should(HaveKey(v1alpha1.JurisdictionLabel("polr-eu")))
		Eventually(residencyLabels("polr-iad")).Should(HaveKey(v1alpha1.JurisdictionLabel("polr-us")))
	})

	AfterAll(func() {
		for _, name := range []string{"polr-eu", "polr-us"} {
			Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, jurisdiction(name, v1alpha1.JurisdictionSpec{})))).To(Succeed())
		}
		for _, name := range []string{"polr-fra", "polr-iad"} {
			Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}))).To(Succeed())
		}
	})

	It("writes nothing while the CRD is absent and starts, without a restart, once it is installed", func() {
		pod("db-fra", "polr-fra", map[string]string{"app": "db"})
		pod("db-iad", "polr-iad", map[string]string{"app": "db"})
		pod("export", "polr-iad", map[string]string{"app": "db", "job-name": "export"})
		Expect(k8sClient.Create(ctx, &corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Name: "db-data", Namespace: ns, Labels: map[string]string{"app": "db"}},
			Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}},
		})).To(Succeed())
		Expect(k8sClient.Create(ctx, &v1alpha1.ResidencyException{
			ObjectMeta: metav1.ObjectMeta{Name: "court-order", Namespace: ns},
			Spec: v1alpha1.ResidencyExceptionSpec{
				Selector: metav1.LabelSelector{MatchLabels: map[string]string{"job-name": "export"}},
				Stores:   []v1alpha1.ObjectName{"db"}, Reason: v1alpha1.LegalProcess,
				Justification: "Subpoena 118 requires production by US counsel.", ApprovedBy: "dpo@example.com",
				ExpiresAt: metav1.NewTime(testClock.Now().Add(240 * time.Hour)),
			},
		})).To(Succeed())
		// The exception controller writes its status meanwhile: retry on conflicts.
		Eventually(func(g Gomega) {
			ex := &v1alpha1.ResidencyException{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "court-order"}, ex)).To(Succeed())
			ex.Status.Approval = &v1alpha1.ExceptionApproval{Decision: v1alpha1.Approved, User: "dpo@example.com", Generation: ex.Generation}
			g.Expect(k8sClient.Status().Update(ctx, ex)).To(Succeed())
		}).Should(Succeed())
		store("db", v1alpha1.Enforce, "db")
		Eventually(func(g Gomega) {
			s := &v1alpha1.PersonalDataStore{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "db"}, s)).To(Succeed())
			g.Expect(s.Status.GovernedPods).To(BeEquivalentTo(3))
			g.Expect(s.Status.Exemptions).To(HaveLen(1))
		}).Should(Succeed())
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(policyReportGVK)
		err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: controllers.PolicyReportName}, u)
		Expect(meta.IsNoMatchError(err)).To(BeTrue(), "the suite starts without the PolicyReport CRD, got %v", err)

		By("installing the CRD while the manager runs")
		_, err = envtest.InstallCRDs(cfg, envtest.CRDInstallOptions{Paths: []string{filepath.Join("testdata", "reportcrds", "wgpolicyk8s.io_policyreports.yaml")}})
		Expect(err).NotTo(HaveOccurred())

		Eventually(func(g Gomega) {
			r := getReport(g)
			g.Expect(r.Labels).To(HaveKeyWithValue("app.kubernetes.io/managed-by", "residency-operator"))
			g.Expect(r.Results).To(HaveLen(4))
			g.Expect(r.Summary).To(Equal(map[string]int{"pass": 2, "fail": 1, "warn": 0, "error": 0, "skip": 1}))
			byName := resultsOf(r)
			g.Expect(byName).To(HaveKey("db/Pod/db-fra"))
			pass := r.Results[byName["db/Pod/db-fra"]]
			g.Expect(pass.Result).To(Equal("pass"))
			g.Expect(pass.Rule).To(Equal("RES010"))
			g.Expect(pass.Source).To(Equal("residency-operator"))
			g.Expect(pass.Resources[0]).To(And(
				HaveField("Kind", "Pod"), HaveField("Namespace", ns), HaveField("APIVersion", "v1"), HaveField("UID", Not(BeEmpty()))))
			g.Expect(pass.Properties).To(And(HaveKeyWithValue("node", "polr-fra"), HaveKeyWithValue("country", "DE"),
				HaveKeyWithValue("region", "eu-central-1"), HaveKeyWithValue("jurisdictions", inList("polr-eu")), HaveKeyWithValue("enforcement", "Enforce")))
			g.Expect(pass.Properties).NotTo(HaveKey("evictionTime"))

			fail := r.Results[byName["db/Pod/db-iad"]]
			g.Expect(fail.Result).To(Equal("fail"))
			g.Expect(fail.Rule).To(Equal("RES010"))
			g.Expect(fail.Severity).To(Equal("high"))
			g.Expect(fail.Message).To(ContainSubstring("polr-iad"))
			g.Expect(fail.Properties).To(And(HaveKeyWithValue("node", "polr-iad"), HaveKeyWithValue("country", "US"),
				HaveKeyWithValue("jurisdictions", inList("polr-us")), HaveKey("evictionTime")))
			_, err := time.Parse(time.RFC3339, fail.Properties["evictionTime"])
			g.Expect(err).NotTo(HaveOccurred())

			skip := r.Results[byName["db/Pod/export"]]
			g.Expect(skip.Result).To(Equal("skip"))
			g.Expect(skip.Properties).To(HaveKeyWithValue("exception", "court-order"))

			claim := r.Results[byName["db/PersistentVolumeClaim/db-data"]]
			g.Expect(claim.Result).To(Equal("pass"))
			g.Expect(claim.Rule).To(Equal("RES014"))
			g.Expect(claim.Resources[0].Kind).To(Equal("PersistentVolumeClaim"))
			// Failures come first.
			g.Expect(r.Results[0].Result).To(Equal("fail"))
		}).Should(Succeed())
	})

	It("does not rewrite the report when a reconcile changes nothing", func() {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(policyReportGVK)
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: controllers.PolicyReportName}, u)).To(Succeed())
		before := u.GetResourceVersion()
		touchPod(ns, "db-fra")
		touchPod(ns, "db-iad")
		Consistently(func(g Gomega) string {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(u), u)).To(Succeed())
			return u.GetResourceVersion()
		}).WithTimeout(2 * time.Second).Should(Equal(before))
	})

	It("merges a second store of the namespace into the same report", func() {
		store("analytics", v1alpha1.Warn, "analytics")
		pod("an-iad", "polr-iad", map[string]string{"app": "analytics"})
		Eventually(func(g Gomega) {
			r := getReport(g)
			g.Expect(r.Results).To(HaveLen(5))
			g.Expect(r.Summary).To(HaveKeyWithValue("warn", 1))
			warn := r.Results[resultsOf(r)["analytics/Pod/an-iad"]]
			g.Expect(warn.Result).To(Equal("warn"))
			g.Expect(warn.Rule).To(Equal("RES010"))
			g.Expect(warn.Properties).To(HaveKeyWithValue("enforcement", "Warn"))
			g.Expect(warn.Properties).NotTo(HaveKey("evictionTime"), "a Warn store evicts nothing")
		}).Should(Succeed())
		list := &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(policyReportGVK.GroupVersion().WithKind("PolicyReportList"))
		Expect(k8sClient.List(ctx, list, client.InNamespace(ns))).To(Succeed())
		Expect(list.Items).To(HaveLen(1), "one report per namespace")
	})

	It("bounds the report, keeping failures and counting what it leaves out", func() {
		// The suite bounds reports at 6 results; these make 8.
		pod("an-fra-1", "polr-fra", map[string]string{"app": "analytics"})
		pod("an-fra-2", "polr-fra", map[string]string{"app": "analytics"})
		pod("an-fra-3", "polr-fra", map[string]string{"app": "analytics"})
		Eventually(func(g Gomega) {
			r := getReport(g)
			g.Expect(r.Results).To(HaveLen(6))
			g.Expect(r.Annotations).To(HaveKeyWithValue(controllers.OmittedResultsAnnotation, "2"))
			g.Expect(r.Summary).To(Equal(map[string]int{"pass": 5, "fail": 1, "warn": 1, "error": 0, "skip": 1}), "the summary counts every result")
			g.Expect(r.Results[0].Result).To(Equal("fail"))
			g.Expect(r.Results[1].Result).To(Equal("warn"))
		}).Should(Succeed())
	})

	It("removes a report of its own left in a namespace without stores (its store deleted while the operator was down)", func() {
		const stray = "polr-stray"
		Expect(k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: stray}})).To(Succeed())
		ours := func(name string) *unstructured.Unstructured {
			u := &unstructured.Unstructured{}
			u.SetGroupVersionKind(policyReportGVK)
			u.SetNamespace(stray)
			u.SetName(name)
			u.SetLabels(map[string]string{"app.kubernetes.io/managed-by": "residency-operator"})
			return u
		}
		Expect(k8sClient.Create(ctx, ours(controllers.PolicyReportName))).To(Succeed())
		other := ours("kyverno-owned")
		other.SetLabels(map[string]string{"app.kubernetes.io/managed-by": "kyverno"})
		Expect(k8sClient.Create(ctx, other)).To(Succeed())
		Eventually(func(g Gomega) {
			err := k8sClient.Get(ctx, client.ObjectKey{Namespace: stray, Name: controllers.PolicyReportName}, ours(""))
			g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "got %v", err)
		}).Should(Succeed())
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(other), other)).To(Succeed(), "another tool's report stays")
	})

	It("drops a deleted store's results and removes the report with the namespace's last store", func() {
		Expect(k8sClient.Delete(ctx, &v1alpha1.PersonalDataStore{ObjectMeta: metav1.ObjectMeta{Name: "analytics", Namespace: ns}})).To(Succeed())
		Eventually(func(g Gomega) {
			r := getReport(g)
			g.Expect(r.Results).To(HaveLen(4))
			g.Expect(r.Annotations).NotTo(HaveKey(controllers.OmittedResultsAnnotation))
			for _, res := range r.Results {
				g.Expect(res.Policy).To(Equal("db"))
			}
		}).Should(Succeed())
		Expect(k8sClient.Delete(ctx, &v1alpha1.PersonalDataStore{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: ns}})).To(Succeed())
		Eventually(func(g Gomega) {
			u := &unstructured.Unstructured{}
			u.SetGroupVersionKind(policyReportGVK)
			err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: controllers.PolicyReportName}, u)
			g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "got %v", err)
		}).Should(Succeed())
	})
})

// The openreports.io format is written by the same code with another kind: this spec runs a writer
// of its own against the real Report CRD, so that what it writes passes the CRD's schema.
var _ = Describe("openreports.io Reports (--policy-reports=openreports)", Ordered, func() {
	const ns = "openreports"
	reportGVK := schema.GroupVersionKind{Group: "openreports.io", Version: "v1alpha1", Kind: "Report"}

	It("writes a Report with its source, limits, summary and results once the CRD is installed", func() {
		Expect(k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
		store := &v1alpha1.PersonalDataStore{
			ObjectMeta: metav1.ObjectMeta{Name: "crm", Namespace: ns},
			Spec: v1alpha1.PersonalDataStoreSpec{
				DataCategories:       []v1alpha1.DataCategory{v1alpha1.ContactDetails},
				AllowedJurisdictions: []v1alpha1.JurisdictionName{"nowhere"},
				WorkloadSelector:     metav1.LabelSelector{MatchLabels: map[string]string{"app": "crm"}},
				Enforcement:          v1alpha1.Audit,
			},
		}
		Expect(k8sClient.Create(ctx, store)).To(Succeed())
		disco, err := discovery.NewDiscoveryClientForConfig(cfg)
		Expect(err).NotTo(HaveOccurred())
		w := controllers.NewPolicyReports(k8sClient, k8sClient, disco, controllers.OpenReportsFormat, 2, time.Hour)

		w.RecheckNow(ctx) // no CRD yet: nothing is written, nothing fails
		w.ObservePods(ctx, store, map[string]string{"crm-0": "fra", "crm-1": "iad", "crm-2": "fra"}, "crm-1")

		_, err = envtest.InstallCRDs(cfg, envtest.CRDInstallOptions{Paths: []string{filepath.Join("testdata", "reportcrds", "openreports.io_reports.yaml")}})
		Expect(err).NotTo(HaveOccurred())
		w.RecheckNow(ctx)

		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(reportGVK)
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: controllers.PolicyReportName}, u)).To(Succeed())
		Expect(u.Object).To(HaveKeyWithValue("source", "residency-operator"))
		maxResults, _, _ := unstructured.NestedInt64(u.Object, "configuration", "limits", "maxResults")
		Expect(maxResults).To(BeEquivalentTo(2))
		summary, _, _ := unstructured.NestedMap(u.Object, "summary")
		Expect(summary).To(Equal(map[string]any{"pass": int64(2), "fail": int64(1), "warn": int64(0), "error": int64(0), "skip": int64(0)}))
		results, _, _ := unstructured.NestedSlice(u.Object, "results")
		Expect(results).To(HaveLen(2))
		Expect(results[0]).To(And(HaveKeyWithValue("result", "fail"), HaveKeyWithValue("rule", "RES010"), HaveKeyWithValue("policy", "crm")))
		Expect(u.GetAnnotations()).To(HaveKeyWithValue(controllers.OmittedResultsAnnotation, "1"))

		By("removing it with the namespace's last store")
		Expect(k8sClient.Delete(ctx, store)).To(Succeed())
		w.ObservePods(ctx, store, nil) // the deleted store's reconcile: the writer lists no store left
		err = k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: controllers.PolicyReportName}, u)
		Expect(apierrors.IsNotFound(err)).To(BeTrue(), "got %v", err)
	})
})

// inList matches a comma-separated list that names name: other specs' Jurisdictions may cover the
// same countries and label the same nodes while this spec runs.
func inList(name string) gomegatypes.GomegaMatcher {
	return MatchRegexp(`(^|,)` + regexp.QuoteMeta(name) + `(,|$)`)
}
