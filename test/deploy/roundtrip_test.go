package deploy_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
)

// A real helm install, upgrade and uninstall against the test API server. In between, the
// manager binary runs with the installed Deployment's flags and as the installed ServiceAccount
// (a user named system:serviceaccount:NS:NAME, so the chart's RBAC bindings apply to it): the
// self-managed certificate rotation must find the Secret and the webhook configurations the chart
// named in the flags, the webhook server must become ready, and the controllers must do their work
// without a single "forbidden". No kubelet runs, so no pod starts; the binary stands in for one.
var _ = Describe("helm install, the manager as installed, helm upgrade and uninstall", Ordered, func() {
	const release, namespace = "roundtrip", "roundtrip"
	const fullname = "roundtrip-residency-operator"
	secretKey := client.ObjectKey{Namespace: namespace, Name: fullname + "-webhook-server-cert"}
	mutatingKey := client.ObjectKey{Name: fullname + "-mutating-webhook-configuration"}
	validatingKey := client.ObjectKey{Name: fullname + "-validating-webhook-configuration"}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "frankfurt-1", Labels: map[string]string{corev1.LabelTopologyRegion: "eu-central-1"}},
		Spec: corev1.NodeSpec{ProviderID: "aws:///eu-central-1a/i-0f1"}}

	AfterAll(func() {
		_, _ = run(helmBin, "uninstall", release, "--namespace", namespace, "--ignore-not-found")
		Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, node))).To(Succeed())
		// The stopped manager cannot remove its finalizer any more.
		for _, name := range []string{"eu", "us", "affiliate-sites"} {
			j := &v1alpha1.Jurisdiction{}
			if err := k8sClient.Get(ctx, client.ObjectKey{Name: name}, j); err != nil {
				Expect(client.IgnoreNotFound(err)).To(Succeed())
				continue
			}
			j.Finalizers = nil
			Expect(k8sClient.Update(ctx, j)).To(Succeed())
			Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, j))).To(Succeed())
		}
	})

	It("installs and prints what was installed and how to check it", func() {
		out, err := run(helmBin, "install", release, chartDir, "--namespace", namespace, "--create-namespace",
			"--set", "defaultJurisdictions.enabled=true")
		Expect(err).NotTo(HaveOccurred())
		notes := string(out)
		for _, s := range []string{"kubectl get jur", "kubectl get pds -A", "kubectl -n roundtrip get pods",
			"Deployment roundtrip-residency-operator: 2 replica(s)", "self-managed by the operator"} {
			Expect(notes).To(ContainSubstring(s))
		}
		Expect(k8sClient.Get(ctx, secretKey, &corev1.Secret{})).To(Succeed())
	})

	It("runs the manager with the installed flags and RBAC: certificate, webhooks, controllers", func(sctx SpecContext) {
		dir := GinkgoT().TempDir()
		// RESIDENCY_MANAGER_BIN runs a manager binary built elsewhere instead of building one.
		bin := os.Getenv("RESIDENCY_MANAGER_BIN")
		if bin == "" {
			bin = filepath.Join(dir, "manager")
			build := exec.CommandContext(sctx, "go", "build", "-o", bin, ".")
			build.Dir = repoRoot
			out, err := build.CombinedOutput()
			Expect(err).NotTo(HaveOccurred(), "go build: %s", out)
		}

		d := &appsv1.Deployment{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: namespace, Name: fullname}, d)).To(Succeed())
		sa := d.Spec.Template.Spec.ServiceAccountName
		user, err := testEnv.AddUser(envtest.User{
			Name:   "system:serviceaccount:" + namespace + ":" + sa,
			Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated"},
		}, nil)
		Expect(err).NotTo(HaveOccurred())
		kubeconfig, err := user.KubeConfig()
		Expect(err).NotTo(HaveOccurred())
		Expect(os.WriteFile(filepath.Join(dir, "kubeconfig"), kubeconfig, 0o600)).To(Succeed())

		// The installed flags, except addresses and folders, which are the pod's own; and no leader
		// election: outside a pod, controller-runtime cannot tell the Lease's namespace.
		healthPort, webhookPort := freePort(), freePort()
		Expect(os.Mkdir(filepath.Join(dir, "certs"), 0o700)).To(Succeed())
		var args []string
		for _, a := range d.Spec.Template.Spec.Containers[0].Args {
			name, _, _ := strings.Cut(a, "=")
			switch name {
			case "--health-probe-bind-address":
				a = fmt.Sprintf("%s=127.0.0.1:%d", name, healthPort)
			case "--metrics-bind-address":
				a = name + "=0"
			case "--webhook-port":
				a = fmt.Sprintf("%s=%d", name, webhookPort)
			case "--webhook-cert-dir":
				a = name + "=" + filepath.Join(dir, "certs")
			case "--leader-elect":
				a = name + "=false"
			}
			args = append(args, a)
		}
		logPath := filepath.Join(dir, "manager.log")
		logFile, err := os.Create(logPath)
		Expect(err).NotTo(HaveOccurred())
		logs := func() string {
			data, err := os.ReadFile(logPath)
			Expect(err).NotTo(HaveOccurred())
			return string(data)
		}
		manager := exec.Command(bin, args...)
		manager.Env = append(os.Environ(), "KUBECONFIG="+filepath.Join(dir, "kubeconfig"), "POD_NAMESPACE="+namespace)
		manager.Stdout, manager.Stderr = logFile, logFile
		Expect(manager.Start()).To(Succeed())
		exited := make(chan struct{})
		go func() {
			_ = manager.Wait()
			close(exited)
		}()
		DeferCleanup(func() {
			_ = manager.Process.Signal(syscall.SIGTERM)
			<-exited
			_ = logFile.Close()
			if CurrentSpecReport().Failed() {
				GinkgoWriter.Printf("manager log:\n%s\n", logs())
			}
		})
		running := func() {
			select {
			case <-exited:
				StopTrying(fmt.Sprintf("the manager exited (%s); its log is below", manager.ProcessState)).Now()
			default:
			}
		}

		// The kubelet's part: project the Secret the Deployment mounts into the certificate folder.
		certVolume := ""
		for _, v := range d.Spec.Template.Spec.Volumes {
			if v.Secret != nil {
				certVolume = v.Secret.SecretName
			}
		}
		Expect(certVolume).To(Equal(secretKey.Name))
		projectSecret(sctx, secretKey, filepath.Join(dir, "certs"))

		By("the rotation fills the chart's Secret and injects the CA into the chart's webhook configurations")
		Eventually(func(g Gomega) {
			running()
			secret := &corev1.Secret{}
			g.Expect(k8sClient.Get(ctx, secretKey, secret)).To(Succeed())
			g.Expect(secret.Data).To(HaveKey("tls.crt"))
			g.Expect(secret.Data).To(HaveKey("ca.crt"))
			mwc := &admissionregistrationv1.MutatingWebhookConfiguration{}
			g.Expect(k8sClient.Get(ctx, mutatingKey, mwc)).To(Succeed())
			for _, w := range mwc.Webhooks {
				g.Expect(w.ClientConfig.CABundle).To(Equal(secret.Data["ca.crt"]), "webhook %s", w.Name)
			}
			vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{}
			g.Expect(k8sClient.Get(ctx, validatingKey, vwc)).To(Succeed())
			for _, w := range vwc.Webhooks {
				g.Expect(w.ClientConfig.CABundle).To(Equal(secret.Data["ca.crt"]), "webhook %s", w.Name)
			}
		}).WithTimeout(60 * time.Second).Should(Succeed())

		By("the webhook server serves and the manager is ready")
		probe := &http.Client{Timeout: 2 * time.Second}
		Eventually(func(g Gomega) {
			running()
			resp, err := probe.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", healthPort))
			g.Expect(err).NotTo(HaveOccurred())
			defer func() { _ = resp.Body.Close() }()
			g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
		}).WithTimeout(60 * time.Second).Should(Succeed())

		By("the controllers label a node in Frankfurt with the chart's eu jurisdiction")
		Expect(k8sClient.Create(ctx, node)).To(Succeed())
		Eventually(func(g Gomega) {
			running()
			n := &corev1.Node{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(node), n)).To(Succeed())
			g.Expect(n.Labels).To(HaveKeyWithValue(v1alpha1.JurisdictionLabelPrefix+"eu", v1alpha1.JurisdictionLabelValue))
			g.Expect(n.Labels).To(HaveKeyWithValue(v1alpha1.CountryLabel, "DE"))
		}).WithTimeout(60 * time.Second).Should(Succeed())
		Expect(exited).NotTo(BeClosed(), "the manager is still running")
		Expect(logs()).NotTo(ContainSubstring("forbidden"), "the chart's RBAC lets the manager do its work")
	})

	It("limits the manager's ServiceAccount to its own keys: no image swap, no foreign node or namespace label", func() {
		d := &appsv1.Deployment{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: namespace, Name: fullname}, d)).To(Succeed())
		saCfg := rest.CopyConfig(testEnv.Config)
		saCfg.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + namespace + ":" + d.Spec.Template.Spec.ServiceAccountName,
			Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated"}}
		asManager, err := client.New(saCfg, client.Options{Scheme: scheme})
		Expect(err).NotTo(HaveOccurred())

		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "guarded"}}
		Expect(k8sClient.Create(ctx, ns)).To(Succeed())
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: ns.Name},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1"}}}}
		Expect(k8sClient.Create(ctx, pod)).To(Succeed())
		DeferCleanup(func() { Expect(k8sClient.Delete(ctx, ns)).To(Succeed()) })

		patch := func(obj client.Object, body string) error {
			return asManager.Patch(ctx, obj, client.RawPatch(types.StrategicMergePatchType, []byte(body)))
		}
		denied := func(err error, message string) {
			GinkgoHelper()
			Expect(apierrors.IsForbidden(err) || apierrors.IsInvalid(err)).To(BeTrue(), "want a denial, got %v", err)
			Expect(err.Error()).To(ContainSubstring(message))
		}
		By("a pod's image")
		Eventually(func(g Gomega) {
			err := patch(pod.DeepCopy(), `{"spec":{"containers":[{"name":"app","image":"registry.example/miner:1"}]}}`)
			g.Expect(err).To(HaveOccurred(), "the policy is in force")
			g.Expect(err.Error()).To(ContainSubstring("residency-operator may change a pod's spec only to release its own placement gate"))
		}).WithTimeout(30 * time.Second).Should(Succeed())
		By("a node's label that is not the operator's, and its spec")
		denied(patch(node.DeepCopy(), `{"metadata":{"labels":{"node-role.kubernetes.io/control-plane":""}}}`), "residency-operator may change only its own labels")
		denied(patch(node.DeepCopy(), `{"spec":{"unschedulable":true}}`), "may not change a node's or namespace's spec")
		By("a namespace's Pod Security label")
		denied(patch(ns.DeepCopy(), `{"metadata":{"labels":{"pod-security.kubernetes.io/enforce":"privileged"}}}`), "residency-operator may change only its own labels")

		By("releasing its own placement gate, and placing the pod it held, passes; another gate is not its to remove")
		gated := func(name, gate string) *corev1.Pod {
			p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns.Name},
				Spec: corev1.PodSpec{SchedulingGates: []corev1.PodSchedulingGate{{Name: gate}},
					Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1"}}}}
			Expect(k8sClient.Create(ctx, p)).To(Succeed())
			return p
		}
		release := `[{"op":"replace","path":"/spec/schedulingGates","value":[]},` +
			`{"op":"add","path":"/spec/affinity","value":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"jurisdiction.dataresidency.node-restriction.kubernetes.io/eu","operator":"In","values":["true"]}]}]}}}}]`
		Expect(asManager.Patch(ctx, gated("held", v1alpha1.PlacementGate), client.RawPatch(types.JSONPatchType, []byte(release)))).To(Succeed())
		denied(asManager.Patch(ctx, gated("held-by-another", "example.com/quota"), client.RawPatch(types.JSONPatchType, []byte(release))),
			"may change a pod's spec only to release its own placement gate")

		By("its own keys pass")
		Expect(patch(pod.DeepCopy(), `{"metadata":{"annotations":{"dataresidency.io/observed-region":"eu-central-1"}}}`)).To(Succeed())
		Expect(patch(node.DeepCopy(), `{"metadata":{"labels":{"jurisdiction.dataresidency.node-restriction.kubernetes.io/guard-test":"true"}}}`)).To(Succeed())
		Expect(patch(ns.DeepCopy(), `{"metadata":{"labels":{"dataresidency.io/governed":"true"}}}`)).To(Succeed())
		By("nobody else writes the operator's evidence annotations")
		denied(k8sClient.Patch(ctx, pod.DeepCopy(), client.RawPatch(types.StrategicMergePatchType,
			[]byte(`{"metadata":{"annotations":{"dataresidency.io/observed-region":"us-east-1"}}}`))), "only residency-operator writes the dataresidency.io/observed-* annotations")
		forged := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "forged", Namespace: ns.Name,
			Annotations: map[string]string{v1alpha1.ObservedRegionAnnotation: "eu-central-1", v1alpha1.ObservedAtAnnotation: "2026-01-01T00:00:00Z"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1"}}}}
		denied(k8sClient.Create(ctx, forged), "only residency-operator writes the dataresidency.io/observed-* annotations")

		By("people are not otherwise limited by it")
		Expect(k8sClient.Patch(ctx, node.DeepCopy(), client.RawPatch(types.StrategicMergePatchType,
			[]byte(`{"metadata":{"labels":{"jurisdiction.dataresidency.node-restriction.kubernetes.io/guard-test":null,"team":"payments"}}}`)))).To(Succeed())
	})

	It("upgrades without touching the certificate and CA bundle the operator wrote", func() {
		before := &corev1.Secret{}
		Expect(k8sClient.Get(ctx, secretKey, before)).To(Succeed())
		Expect(before.Data).To(HaveKey("ca.crt"))

		_, err := run(helmBin, "upgrade", release, chartDir, "--namespace", namespace, "--reuse-values", "--set", "replicaCount=3")
		Expect(err).NotTo(HaveOccurred())

		after := &corev1.Secret{}
		Expect(k8sClient.Get(ctx, secretKey, after)).To(Succeed())
		Expect(after.Data).To(Equal(before.Data))
		mwc := &admissionregistrationv1.MutatingWebhookConfiguration{}
		Expect(k8sClient.Get(ctx, mutatingKey, mwc)).To(Succeed())
		for _, w := range mwc.Webhooks {
			Expect(w.ClientConfig.CABundle).To(Equal(before.Data["ca.crt"]), "webhook %s", w.Name)
		}
		vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{}
		Expect(k8sClient.Get(ctx, validatingKey, vwc)).To(Succeed())
		for _, w := range vwc.Webhooks {
			Expect(w.ClientConfig.CABundle).To(Equal(before.Data["ca.crt"]), "webhook %s", w.Name)
		}
		d := &appsv1.Deployment{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: namespace, Name: fullname}, d)).To(Succeed())
		Expect(d.Spec.Replicas).To(Equal(ptr.To[int32](3)))
	})

	It("uninstalls everything but the Jurisdictions", func() {
		_, err := run(helmBin, "uninstall", release, "--namespace", namespace)
		Expect(err).NotTo(HaveOccurred())
		Expect(k8sClient.Get(ctx, client.ObjectKey{Name: fullname + "-manager-role"}, &rbacv1.ClusterRole{})).
			To(Satisfy(apierrors.IsNotFound))
		Expect(k8sClient.Get(ctx, mutatingKey, &admissionregistrationv1.MutatingWebhookConfiguration{})).To(Satisfy(apierrors.IsNotFound))
		Expect(k8sClient.Get(ctx, secretKey, &corev1.Secret{})).To(Satisfy(apierrors.IsNotFound))
		j := &unstructured.Unstructured{}
		j.SetAPIVersion("dataresidency.io/v1alpha1")
		j.SetKind("Jurisdiction")
		Expect(k8sClient.Get(ctx, client.ObjectKey{Name: "eu"}, j)).To(Succeed(), "helm.sh/resource-policy: keep")
	})
})

// projectSecret does what the kubelet does for a Secret volume: it keeps the files in dir equal to
// the Secret's data (written atomically), until ctx ends.
func projectSecret(ctx context.Context, key client.ObjectKey, dir string) {
	go func() {
		defer GinkgoRecover()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			secret := &corev1.Secret{}
			if err := k8sClient.Get(ctx, key, secret); err != nil {
				continue
			}
			for name, data := range secret.Data {
				path := filepath.Join(dir, name)
				if current, err := os.ReadFile(path); err == nil && bytes.Equal(current, data) {
					continue
				}
				tmp := path + ".tmp"
				if err := os.WriteFile(tmp, data, 0o600); err == nil {
					_ = os.Rename(tmp, path)
				}
			}
		}
	}()
}

// freePort returns a TCP port nothing listens on right now.
func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}
