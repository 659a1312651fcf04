package e2e

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
)

// kubectl residency against the live cluster: status, explain and check --cluster, through the
// real plugin binary and an ordinary kubeconfig.
var _ = Describe("kubectl residency against a live cluster", Ordered, func() {
	const cliNS = "cli"
	var plugin string

	cli := func(args ...string) (string, int) {
		cmd := exec.Command(plugin, append([]string{"--kubeconfig", cluster.Kubeconfig}, args...)...)
		out, err := cmd.CombinedOutput()
		code := 0
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			code = exitErr.ExitCode()
		} else if err != nil {
			Fail(fmt.Sprintf("running kubectl-residency: %v", err))
		}
		return string(out), code
	}

	BeforeAll(func() {
		plugin = filepath.Join(GinkgoT().TempDir(), "kubectl-residency")
		build := exec.Command("go", "build", "-o", plugin, "github.com/residency-operator/residency-operator/cmd/kubectl-residency")
		build.Stderr = GinkgoWriter
		Expect(build.Run()).To(Succeed())

		Expect(k8sClient.Create(ctx, &v1alpha1.Jurisdiction{ObjectMeta: metav1.ObjectMeta{Name: "cli-eu"},
			Spec: v1alpha1.JurisdictionSpec{Regions: []string{"eu-central-1"}}})).To(Succeed())
		DeferCleanup(func() {
			Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, &v1alpha1.Jurisdiction{ObjectMeta: metav1.ObjectMeta{Name: "cli-eu"}}))).To(Succeed())
		})
		Expect(k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: cliNS}})).To(Succeed())
		Expect(k8sClient.Create(ctx, &v1alpha1.PersonalDataStore{
			ObjectMeta: metav1.ObjectMeta{Name: "cli-db", Namespace: cliNS},
			Spec: v1alpha1.PersonalDataStoreSpec{
				DataCategories: []v1alpha1.DataCategory{v1alpha1.Credentials}, AllowedJurisdictions: []v1alpha1.JurisdictionName{"cli-eu"},
				WorkloadSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "cli-db"}},
			},
		})).To(Succeed())
		Eventually(func(g Gomega) {
			probe := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: "probe-", Namespace: cliNS, Labels: map[string]string{"app": "cli-db"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/probe:1"}}}}
			g.Expect(k8sClient.Create(ctx, probe, client.DryRunAll)).To(Succeed())
			g.Expect(probe.Annotations).To(HaveKeyWithValue(v1alpha1.StoresAnnotation, "cli-db"))
		}).Should(Succeed())
		d := deployment("cli-db", 1, map[string]string{"app": "cli-db"})
		d.Namespace = cliNS
		Expect(k8sClient.Create(ctx, d)).To(Succeed())
		Eventually(func(g Gomega) {
			s := &v1alpha1.PersonalDataStore{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: cliNS, Name: "cli-db"}, s)).To(Succeed())
			g.Expect(s.Status.GovernedPods).To(BeEquivalentTo(1))
			g.Expect(meta.IsStatusConditionTrue(s.Status.Conditions, v1alpha1.CompliantCondition)).To(BeTrue())
		}).Should(Succeed())
	})

	It("status lists the store and its compliance", func() {
		out, code := cli("status", "-n", cliNS)
		Expect(code).To(Equal(0), out)
		Expect(out).To(MatchRegexp(`cli\s+cli-db\s+cli-eu\s+Enforce\s+1\s+0\s+0\s+True`))
	})

	It("explain says why the pod may run where it runs", func() {
		var pods corev1.PodList
		Expect(k8sClient.List(ctx, &pods, client.InNamespace(cliNS), client.MatchingLabels{"app": "cli-db"})).To(Succeed())
		Expect(pods.Items).To(HaveLen(1))
		out, code := cli("explain", "pod/"+pods.Items[0].Name, "-n", cliNS)
		Expect(code).To(Equal(0), out)
		Expect(out).To(ContainSubstring("cli-db  Enforce  allows [cli-eu]"))
		Expect(out).To(ContainSubstring("region eu-central-1"))
		Expect(out).To(ContainSubstring("Verdict:    Permitted"))
	})

	It("check --cluster fails a manifest that contradicts the live store", func() {
		manifest := filepath.Join(GinkgoT().TempDir(), "deploy.yaml")
		Expect(os.WriteFile(manifest, []byte(`apiVersion: apps/v1
kind: Deployment
metadata: {name: cli-db-us, namespace: cli}
spec:
  selector: {matchLabels: {app: cli-db}}
  template:
    metadata: {labels: {app: cli-db}}
    spec:
      nodeSelector: {topology.kubernetes.io/region: us-east-1}
      containers: [{name: db, image: registry.example/db:1}]
`), 0o600)).To(Succeed())
		out, code := cli("check", "--cluster", "-f", manifest)
		Expect(code).To(Equal(1), out)
		Expect(out).To(ContainSubstring("deploy.yaml:1"))
		Expect(out).To(ContainSubstring("cli-db"))
	})

	It("approve records an approver's decision, and refuses the requester's own", func() {
		ex := &v1alpha1.ResidencyException{ObjectMeta: metav1.ObjectMeta{Name: "cli-hold", Namespace: cliNS},
			Spec: v1alpha1.ResidencyExceptionSpec{
				Selector: metav1.LabelSelector{MatchLabels: map[string]string{"job-name": "export"}},
				Stores:   []v1alpha1.ObjectName{"cli-db"}, Reason: v1alpha1.LegalProcess,
				Justification: "Subpoena 117 requires production by US counsel.", ExpiresAt: metav1.NewTime(time.Now().Add(24 * time.Hour)),
			}}
		// Alice asks; even as a cluster admin she cannot approve her own request.
		aliceCfg := rest.CopyConfig(cluster.Config)
		aliceCfg.Impersonate = rest.ImpersonationConfig{UserName: "alice", Groups: []string{"system:masters", "system:authenticated"}}
		alice, err := client.New(aliceCfg, client.Options{Scheme: k8sClient.Scheme()})
		Expect(err).NotTo(HaveOccurred())
		Expect(alice.Create(ctx, ex)).To(Succeed())
		Expect(ex.Spec.Requester).NotTo(BeNil(), "the webhook records who asked")
		Expect(ex.Spec.Requester.Username).To(Equal("alice"))

		out, code := cli("approve", "exception/cli-hold", "-n", cliNS, "--as", "alice", "--as-group", "system:masters")
		Expect(code).To(Equal(1), out)
		Expect(out).To(ContainSubstring("alice requested it and cannot decide on it"))

		Expect(k8sClient.Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "approver", Namespace: cliNS},
			Rules: []rbacv1.PolicyRule{
				{APIGroups: []string{v1alpha1.GroupVersion.Group}, Resources: []string{"residencyexceptions"}, Verbs: []string{"get", "approve"}},
				{APIGroups: []string{v1alpha1.GroupVersion.Group}, Resources: []string{"residencyexceptions/status"}, Verbs: []string{"patch"}},
			}})).To(Succeed())
		Expect(k8sClient.Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "dpo-approver", Namespace: cliNS},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "approver"},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "dpo@example.com"}}})).To(Succeed())
		out, code = cli("approve", "exception/cli-hold", "-n", cliNS, "--as", "dpo@example.com", "-m", "checked LEGAL-117")
		Expect(code).To(Equal(0), out)
		Expect(out).To(ContainSubstring("exception/cli-hold approved by dpo@example.com (generation 1)"))
		Eventually(func(g Gomega) {
			got := &v1alpha1.ResidencyException{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(ex), got)).To(Succeed())
			g.Expect(got.Status.Approval).NotTo(BeNil())
			g.Expect(got.Status.Approval.Message).To(Equal("checked LEGAL-117"))
			g.Expect(meta.IsStatusConditionTrue(got.Status.Conditions, v1alpha1.ActiveCondition)).To(BeTrue())
		}).Should(Succeed())
	})
})
