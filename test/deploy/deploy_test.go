package deploy_test

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/google/go-cmp/cmp"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// fieldOwner is the field manager of the dry-run applies.
const fieldOwner = "residency-deploy-test"

var _ = Describe("the chart's copies of config/ (hack/sync-chart.sh, run by make manifests)", func() {
	DescribeTable("equal their source, file by file",
		func(srcGlobs []string, dest string) {
			var src []string
			for _, g := range srcGlobs {
				matches, err := filepath.Glob(filepath.Join(repoRoot, g))
				Expect(err).NotTo(HaveOccurred())
				Expect(matches).NotTo(BeEmpty(), "nothing matches %s", g)
				src = append(src, matches...)
			}
			dst, err := filepath.Glob(filepath.Join(repoRoot, chartDir, dest, "*.yaml"))
			Expect(err).NotTo(HaveOccurred())
			base := func(paths []string) []string {
				out := make([]string, len(paths))
				for i, p := range paths {
					out[i] = filepath.Base(p)
				}
				sort.Strings(out)
				return out
			}
			Expect(base(dst)).To(Equal(base(src)), "%s/%s holds other files than %v: run hack/sync-chart.sh (make manifests)", chartDir, dest, srcGlobs)
			for _, s := range src {
				want, err := os.ReadFile(s)
				Expect(err).NotTo(HaveOccurred())
				got, err := os.ReadFile(filepath.Join(repoRoot, chartDir, dest, filepath.Base(s)))
				Expect(err).NotTo(HaveOccurred())
				Expect(bytes.Equal(got, want)).To(BeTrue(), "%s/%s/%s differs from %s: run hack/sync-chart.sh (make manifests)",
					chartDir, dest, filepath.Base(s), s)
			}
		},
		Entry("CRDs", []string{"config/crd/bases/*.yaml"}, "crds"),
		Entry("RBAC generated from the markers (role.yaml), leader election, and the roles for people",
			[]string{"config/rbac/role.yaml", "config/rbac/leader_election_role.yaml", "config/rbac/user_roles.yaml", "config/rbac/operator_guard.yaml"}, "files/rbac"),
		Entry("webhook configurations generated from the markers, and their matchConditions",
			[]string{"config/webhook/manifests.yaml", "config/webhook/match_conditions_patch.yaml"}, "files/webhook"),
		Entry("default jurisdictions", []string{"config/samples/dataresidency_v1alpha1_jurisdiction_*.yaml"}, "files/jurisdictions"),
		Entry("ManagedCluster location guard", []string{"config/rbac/managedcluster_location_guard.yaml"}, "files/multicluster"),
	)
})

var _ = Describe("helm lint --strict", func() {
	for _, v := range chartVariants {
		It("passes for "+v.name, func() {
			args := []string{"lint", "--strict", chartDir, "--namespace", v.namespace}
			for _, s := range v.sets {
				args = append(args, "--set", s)
			}
			out, err := run(helmBin, args...)
			Expect(err).NotTo(HaveOccurred(), "%s", out)
		})
	}
})

var _ = Describe("values.schema.json", func() {
	DescribeTable("rejects values the chart does not know",
		func(set, message string) {
			_, err := helmTemplate("residency-operator", systemNamespace, set)
			Expect(err).To(HaveOccurred(), "helm template --set %s succeeded", set)
			Expect(err.Error()).To(ContainSubstring("values don't meet the specifications of the schema"))
			Expect(err.Error()).To(ContainSubstring(message))
		},
		Entry("an unknown top-level key", "bogus=1", "additional properties 'bogus' not allowed"),
		Entry("a typo in a nested key", "certManager.enable=true", "additional properties 'enable' not allowed"),
		Entry("a value outside an enum", "spreadAcrossNodes.whenUnsatisfiable=Sometimes", "whenUnsatisfiable"),
		Entry("a wrong type", "replicaCount=two", "replicaCount"),
	)

	It("is backed by the templates for what a schema cannot say: replicas need leader election", func() {
		_, err := helmTemplate("residency-operator", systemNamespace, "leaderElection.enabled=false")
		Expect(err).To(MatchError(ContainSubstring("leaderElection.enabled=false needs replicaCount=1")))
		_, err = helmTemplate("residency-operator", systemNamespace, "leaderElection.enabled=false", "replicaCount=1")
		Expect(err).NotTo(HaveOccurred())
	})
})

// RBAC: the rules controller-gen generates from the markers (config/rbac/role.yaml) and the
// hand-written leader election Role, expanded into (group, resource, verb) tuples so that the
// comparison ignores the order and grouping of rules.
var _ = Describe("RBAC", func() {
	var expected map[string][]string
	BeforeEach(func() {
		expected = map[string][]string{}
		for _, f := range []string{"role.yaml", "leader_election_role.yaml"} {
			data, err := os.ReadFile(filepath.Join(repoRoot, "config", "rbac", f))
			Expect(err).NotTo(HaveOccurred())
			objs, err := parseObjects(data)
			Expect(err).NotTo(HaveOccurred())
			src := &install{variant: variant{name: f}, objects: objs}
			for key, rules := range src.roles() {
				expected[key] = ruleTuples(rules)
			}
		}
		Expect(expected).To(HaveKey("ClusterRole/manager-role"))
	})

	for _, v := range slices.Concat(chartVariants, kustomizeVariants) {
		It("of "+v.name+" equals config/rbac/role.yaml (generated by controller-gen) and the leader election Role", func() {
			in := render(v)
			got := map[string][]string{}
			for key, rules := range in.roles() {
				kind, name, _ := strings.Cut(key, "/")
				Expect(name).To(HavePrefix(v.prefix), "%s: %s is not named after the release", v.name, key)
				tuples := ruleTuples(rules)
				for i, t := range tuples {
					// The markers name the kustomize webhook configurations; each install names its own.
					for _, c := range []string{"mutating-webhook-configuration", "validating-webhook-configuration"} {
						tuples[i] = strings.Replace(t, "|"+v.prefix+c+"|", "|residency-"+c+"|", 1)
						t = tuples[i]
					}
				}
				slices.Sort(tuples)
				got[kind+"/"+strings.TrimPrefix(name, v.prefix)] = tuples
			}
			Expect(cmp.Diff(expected, got)).To(BeEmpty(),
				"%s: RBAC differs from config/rbac (-generated +installed); the chart copies it with hack/sync-chart.sh", v.name)
		})

		It("of "+v.name+" lets the manager change only its own webhook configurations", func() {
			in := render(v)
			own := map[string]bool{in.mutating().Name: true, in.validating().Name: true}
			writes := 0
			for key, rules := range in.roles() {
				for _, r := range rules {
					if !slices.Contains(r.APIGroups, "admissionregistration.k8s.io") {
						continue
					}
					for _, verb := range r.Verbs {
						if verb == "get" || verb == "list" || verb == "watch" {
							continue
						}
						for _, res := range r.Resources {
							if strings.HasSuffix(res, "webhookconfigurations") {
								Expect(r.ResourceNames).NotTo(BeEmpty(), "%s: %s may %s every %s", v.name, key, verb, res)
								writes++
								for _, n := range r.ResourceNames {
									Expect(own).To(HaveKey(n), "%s: %s may %s %s %s, not its own", v.name, key, verb, res, n)
								}
							}
						}
					}
				}
			}
			Expect(writes).To(BeNumerically(">=", 2), "%s: the manager keeps the CA bundle of both configurations current", v.name)
		})

		It("of "+v.name+" has no wildcard and binds every role to the manager's ServiceAccount only", func() {
			in := render(v)
			for key, rules := range in.roles() {
				for _, r := range rules {
					for _, s := range slices.Concat(r.Verbs, r.APIGroups, r.Resources, r.ResourceNames, r.NonResourceURLs) {
						Expect(s).NotTo(ContainSubstring("*"), "%s: %s has a wildcard rule %+v", v.name, key, r)
					}
				}
			}
			sa := in.deployment().Spec.Template.Spec.ServiceAccountName
			Expect(in.get("", "ServiceAccount", sa)).NotTo(BeNil(), "%s: the manager's ServiceAccount %s is not installed", v.name, sa)
			roles := in.roles()
			bound := map[string]bool{}
			for _, kind := range []string{"ClusterRoleBinding", "RoleBinding"} {
				for _, u := range in.all("rbac.authorization.k8s.io", kind) {
					b := &rbacv1.RoleBinding{}
					convert(u, b)
					ref := b.RoleRef.Kind + "/" + b.RoleRef.Name
					Expect(roles).To(HaveKey(ref), "%s: %s %s binds %s, which is not installed", v.name, kind, b.Name, ref)
					Expect(b.Subjects).To(Equal([]rbacv1.Subject{{Kind: "ServiceAccount", Name: sa, Namespace: v.namespace}}),
						"%s: %s %s", v.name, kind, b.Name)
					if kind == "RoleBinding" {
						Expect(b.RoleRef.Kind).To(Equal("Role"), "%s: RoleBinding %s grants a ClusterRole in one namespace", v.name, b.Name)
					}
					bound[ref] = true
				}
			}
			Expect(bound).To(HaveLen(len(roles)), "%s: every role is bound", v.name)
		})
	}
})

// The roles for people ship in every install, equal to config/rbac/user_roles.yaml: only the
// approver may approve exceptions or write the status their decisions are kept in.
var _ = Describe("User roles", func() {
	for _, v := range slices.Concat(chartVariants, kustomizeVariants) {
		It("of "+v.name+" are config/rbac/user_roles.yaml, only the approver decides on exceptions, and nobody writes plans", func() {
			data, err := os.ReadFile(filepath.Join(repoRoot, "config", "rbac", "user_roles.yaml"))
			Expect(err).NotTo(HaveOccurred())
			objs, err := parseObjects(data)
			Expect(err).NotTo(HaveOccurred())
			want := map[string][]string{}
			for name, role := range (&install{objects: objs}).userRoles() {
				want[name] = ruleTuples(role.Rules)
			}
			Expect(want).To(HaveLen(3))
			got := map[string][]string{}
			for name, role := range render(v).userRoles() {
				Expect(name).To(HavePrefix("residency-"), "%s: %s", v.name, name)
				got[strings.TrimPrefix(name, "residency-")] = ruleTuples(role.Rules)
				aggregated := role.Labels["rbac.authorization.k8s.io/aggregate-to-edit"] == "true" || role.Labels["rbac.authorization.k8s.io/aggregate-to-admin"] == "true"
				for _, r := range ruleTuples(role.Rules) {
					if strings.HasPrefix(r, "dataresidency.io|admissionplans|") && !strings.HasSuffix(r, "|get") && !strings.HasSuffix(r, "|list") && !strings.HasSuffix(r, "|watch") {
						Fail(fmt.Sprintf("%s: %s may write AdmissionPlans, which kube-apiserver places pods from (%s)", v.name, name, r))
					}
					if strings.HasPrefix(r, "dataresidency.io|residencyrecords|") && !strings.HasSuffix(r, "|get") && !strings.HasSuffix(r, "|list") && !strings.HasSuffix(r, "|watch") {
						Fail(fmt.Sprintf("%s: %s may write ResidencyRecords, the history auditors rely on (%s)", v.name, name, r))
					}
					if strings.Contains(r, "|approve") || strings.HasPrefix(r, "dataresidency.io|residencyexceptions/status||update") || strings.HasPrefix(r, "dataresidency.io|residencyexceptions/status||patch") {
						Expect(name).To(HaveSuffix("approver"), "%s: %s may decide on exceptions (%s)", v.name, name, r)
						Expect(aggregated).To(BeFalse(), "%s: %s is aggregated into a default role", v.name, name)
					}
				}
			}
			Expect(cmp.Diff(want, got)).To(BeEmpty(), "%s: user roles differ from config/rbac/user_roles.yaml (-want +got)", v.name)
		})
	}
})

// ruleTuples expands rules into sorted "group|resource|resourceName|verb" strings.
func ruleTuples(rules []rbacv1.PolicyRule) []string {
	set := map[string]bool{}
	orEmpty := func(s []string) []string {
		if len(s) == 0 {
			return []string{""}
		}
		return s
	}
	for _, r := range rules {
		for _, verb := range r.Verbs {
			for _, url := range r.NonResourceURLs {
				set["nonResourceURL|"+url+"|"+verb] = true
			}
			if len(r.Resources) == 0 {
				continue
			}
			for _, g := range orEmpty(r.APIGroups) {
				for _, res := range r.Resources {
					for _, n := range orEmpty(r.ResourceNames) {
						set[g+"|"+res+"|"+n+"|"+verb] = true
					}
				}
			}
		}
	}
	return slices.Sorted(maps.Keys(set))
}

var _ = Describe("server-side dry run against the test API server", func() {
	for _, v := range slices.Concat(chartVariants, kustomizeVariants) {
		It("accepts every object of "+v.name+" (ServiceMonitor, PrometheusRule, cert-manager Certificate and Issuer: checked structurally only, their CRDs are not installed)", func() {
			in := render(v)
			warnings.take()
			var skipped, failed []string
			for _, o := range in.objects {
				ref := fmt.Sprintf("%s %s/%s", o.GetKind(), o.GetNamespace(), o.GetName())
				if absentKinds[o.GroupVersionKind().GroupKind()] {
					skipped = append(skipped, ref)
					continue
				}
				namespaced, err := k8sClient.IsObjectNamespaced(o)
				Expect(err).NotTo(HaveOccurred(), "%s: %s", v.name, ref)
				if namespaced {
					Expect(o.GetNamespace()).To(Equal(v.namespace), "%s: %s is not in the release namespace", v.name, ref)
				} else {
					Expect(o.GetNamespace()).To(BeEmpty(), "%s: %s is cluster-scoped", v.name, ref)
				}
				err = k8sClient.Apply(ctx, client.ApplyConfigurationFromUnstructured(o.DeepCopy()),
					client.FieldOwner(fieldOwner), client.ForceOwnership, client.DryRunAll)
				if err != nil {
					failed = append(failed, fmt.Sprintf("%s: %v", ref, err))
				}
			}
			Expect(failed).To(BeEmpty(), "%s: the API server rejected objects", v.name)
			Expect(warnings.take()).To(BeEmpty(), "%s: the API server warned", v.name)
			if len(skipped) > 0 {
				AddReportEntry("not dry-run (no CRD in the test API server), checked structurally", skipped)
			}
		})

		It("runs the manager's pod under the restricted Pod Security Standard ("+v.name+")", func() {
			tmpl := render(v).deployment().Spec.Template
			pod := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: "pod-security-check", Namespace: v.namespace, Labels: tmpl.Labels},
				Spec:       tmpl.Spec,
			}
			warnings.take()
			Expect(k8sClient.Create(ctx, pod, client.DryRunAll)).To(Succeed(),
				"%s: the namespace enforces pod-security.kubernetes.io/enforce=restricted", v.name)
			Expect(warnings.take()).To(BeEmpty(), "%s", v.name)
		})
	}
})

var _ = Describe("the manager's Deployment", func() {
	for _, v := range slices.Concat(chartVariants, kustomizeVariants) {
		It("is highly available and hardened ("+v.name+")", func() {
			in := render(v)
			d := in.deployment()
			spec := d.Spec.Template.Spec
			pods := labels.Set(d.Spec.Template.Labels)
			Expect(selects(d.Spec.Selector, pods)).To(BeTrue(), "the Deployment's selector selects its pods")
			Expect(d.Spec.Replicas).To(Equal(ptr.To[int32](2)), "two replicas")
			Expect(in.flags()).To(HaveKeyWithValue("leader-elect", "true"))

			By("a PodDisruptionBudget keeps a replica")
			pdb := &policyv1.PodDisruptionBudget{}
			in.one("policy", "PodDisruptionBudget", pdb)
			Expect(selects(pdb.Spec.Selector, pods)).To(BeTrue(), "the PodDisruptionBudget selects the manager's pods")
			Expect(pdb.Spec.MaxUnavailable).To(Equal(ptr.To(intstr.FromInt32(1))))

			By("replicas spread across nodes")
			spread := slices.IndexFunc(spec.TopologySpreadConstraints, func(c corev1.TopologySpreadConstraint) bool {
				return c.TopologyKey == corev1.LabelHostname
			})
			Expect(spread).To(BeNumerically(">=", 0), "a topologySpreadConstraint on %s", corev1.LabelHostname)
			Expect(selects(spec.TopologySpreadConstraints[spread].LabelSelector, pods)).To(BeTrue())
			Expect(spec.TopologySpreadConstraints[spread].MaxSkew).To(BeEquivalentTo(1))
			Expect(spec.Affinity).NotTo(BeNil())
			Expect(spec.Affinity.PodAntiAffinity).NotTo(BeNil())
			soft := spec.Affinity.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution
			Expect(soft).To(ContainElement(Satisfy(func(t corev1.WeightedPodAffinityTerm) bool {
				return t.PodAffinityTerm.TopologyKey == corev1.LabelHostname && selects(t.PodAffinityTerm.LabelSelector, pods)
			})), "a soft pod anti-affinity on %s", corev1.LabelHostname)

			By("the pod security context")
			Expect(spec.SecurityContext).NotTo(BeNil())
			Expect(spec.SecurityContext.RunAsNonRoot).To(Equal(ptr.To(true)))
			Expect(spec.SecurityContext.SeccompProfile).To(Equal(&corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}))
			Expect(spec.HostNetwork || spec.HostPID || spec.HostIPC).To(BeFalse())
			Expect(spec.AutomountServiceAccountToken).To(Equal(ptr.To(true)), "the manager mounts its token explicitly")
			sa := &corev1.ServiceAccount{}
			convert(in.get("", "ServiceAccount", spec.ServiceAccountName), sa)
			Expect(sa.AutomountServiceAccountToken).To(Equal(ptr.To(false)), "the ServiceAccount mounts no token by default")

			By("the container security context")
			for _, c := range slices.Concat(spec.InitContainers, spec.Containers) {
				sc := c.SecurityContext
				Expect(sc).NotTo(BeNil(), "container %s", c.Name)
				Expect(sc.AllowPrivilegeEscalation).To(Equal(ptr.To(false)), "container %s", c.Name)
				Expect(sc.ReadOnlyRootFilesystem).To(Equal(ptr.To(true)), "container %s", c.Name)
				Expect(sc.Privileged).NotTo(Equal(ptr.To(true)), "container %s", c.Name)
				Expect(sc.Capabilities).NotTo(BeNil(), "container %s", c.Name)
				Expect(sc.Capabilities.Drop).To(ConsistOf(corev1.Capability("ALL")), "container %s", c.Name)
				Expect(sc.Capabilities.Add).To(BeEmpty(), "container %s", c.Name)
				Expect(sc.RunAsNonRoot).NotTo(Equal(ptr.To(false)), "container %s", c.Name)
				Expect(sc.RunAsUser).NotTo(Equal(ptr.To[int64](0)), "container %s", c.Name)
			}

			By("resources: requests, and a memory limit")
			res := in.manager().Resources
			Expect(res.Requests).To(HaveKey(corev1.ResourceCPU))
			Expect(res.Requests).To(HaveKey(corev1.ResourceMemory))
			Expect(res.Limits).To(HaveKey(corev1.ResourceMemory))

			By("an emptyDir on /tmp, the one writable folder")
			mount := slices.IndexFunc(in.manager().VolumeMounts, func(m corev1.VolumeMount) bool { return m.MountPath == "/tmp" })
			Expect(mount).To(BeNumerically(">=", 0), "/tmp is mounted")
			Expect(volume(spec, in.manager().VolumeMounts[mount].Name).EmptyDir).NotTo(BeNil(), "/tmp is an emptyDir")

			By("probes")
			Expect(in.manager().LivenessProbe).NotTo(BeNil())
			Expect(in.manager().ReadinessProbe).NotTo(BeNil())
		})

		It("passes the manager the names of the objects installed ("+v.name+")", func() {
			in := render(v)
			flags := in.flags()
			manager := in.manager()
			spec := in.deployment().Spec.Template.Spec
			pods := labels.Set(in.deployment().Spec.Template.Labels)

			By("the namespace")
			Expect(manager.Env).To(ContainElement(corev1.EnvVar{Name: "POD_NAMESPACE",
				ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}}))
			Expect(flags).NotTo(HaveKey("namespace"), "--namespace would override POD_NAMESPACE")

			By("the webhook configurations")
			Expect(flags).To(HaveKeyWithValue("mutating-webhook-configuration", in.mutating().Name))
			Expect(flags).To(HaveKeyWithValue("validating-webhook-configuration", in.validating().Name))

			By("the webhook Service, which selects the pods and reaches the webhook port")
			svc := in.service(flags["webhook-service-name"])
			Expect(selects(&metav1.LabelSelector{MatchLabels: svc.Spec.Selector}, pods)).To(BeTrue())
			Expect(svc.Spec.Ports).To(HaveLen(1))
			Expect(svc.Spec.Ports[0].Port).To(BeEquivalentTo(443))
			Expect(fmt.Sprint(containerPort(manager, svc.Spec.Ports[0].TargetPort))).To(Equal(flags["webhook-port"]))
			for _, ref := range webhookServices(in) {
				Expect(*ref).To(Equal(admissionregistrationv1.ServiceReference{Name: svc.Name, Namespace: v.namespace, Path: ref.Path, Port: ref.Port}))
				Expect(ref.Port).To(Or(BeNil(), Equal(ptr.To[int32](443))))
			}

			By("the metrics Service")
			metricsSvc := in.service(v.prefix + "metrics-service")
			Expect(selects(&metav1.LabelSelector{MatchLabels: metricsSvc.Spec.Selector}, pods)).To(BeTrue())
			Expect(metricsSvc.Spec.Ports).To(HaveLen(1))
			Expect(metricsSvc.Spec.Ports[0].Name).To(Equal("metrics"))
			Expect(":" + fmt.Sprint(containerPort(manager, metricsSvc.Spec.Ports[0].TargetPort))).To(Equal(flags["metrics-bind-address"]))

			By("the webhook certificate: a Secret the kubelet projects into the certificate folder")
			certDir := flags["webhook-cert-dir"]
			Expect(certDir).NotTo(BeEmpty())
			m := slices.IndexFunc(manager.VolumeMounts, func(m corev1.VolumeMount) bool { return m.MountPath == certDir })
			Expect(m).To(BeNumerically(">=", 0), "a volume is mounted at --webhook-cert-dir %s", certDir)
			Expect(manager.VolumeMounts[m].ReadOnly).To(BeTrue())
			certVolume := volume(spec, manager.VolumeMounts[m].Name).Secret
			Expect(certVolume).NotTo(BeNil(), "the certificate folder is a Secret volume")
			if !v.certManager {
				// The rotation (open-policy-agent/cert-controller) updates the Secret through the API and
				// waits for the kubelet to project it; it does not create it nor write files.
				Expect(flags).To(HaveKeyWithValue("cert-management", "self"))
				Expect(flags).To(HaveKeyWithValue("webhook-secret-name", certVolume.SecretName))
				Expect(in.get("", "Secret", certVolume.SecretName)).NotTo(BeNil(),
					"the self-managed rotation needs the Secret %q to exist", certVolume.SecretName)
				Expect(in.all("cert-manager.io", "Certificate")).To(BeEmpty())
				for _, c := range []metav1.Object{in.mutating(), in.validating()} {
					Expect(c.GetAnnotations()).NotTo(HaveKey("cert-manager.io/inject-ca-from"))
				}
				return
			}
			Expect(flags).To(HaveKeyWithValue("cert-management", "external"))
			Expect(in.all("", "Secret")).To(BeEmpty(), "cert-manager creates the Secret")
			certs := in.all("cert-manager.io", "Certificate")
			Expect(certs).To(HaveLen(1))
			cert := certs[0]
			secretName, _, _ := unstructured.NestedString(cert.Object, "spec", "secretName")
			Expect(certVolume.SecretName).To(Equal(secretName), "the Certificate's Secret is mounted")
			dnsNames, _, _ := unstructured.NestedStringSlice(cert.Object, "spec", "dnsNames")
			Expect(dnsNames).To(ContainElements(svc.Name+"."+v.namespace+".svc", svc.Name+"."+v.namespace+".svc.cluster.local"))
			for _, c := range []metav1.Object{in.mutating(), in.validating()} {
				Expect(c.GetAnnotations()).To(HaveKeyWithValue("cert-manager.io/inject-ca-from", v.namespace+"/"+cert.GetName()),
					"%s: cert-manager's CA injector fills %s's CA bundle", v.name, c.GetName())
			}
			issuerKind, _, _ := unstructured.NestedString(cert.Object, "spec", "issuerRef", "kind")
			issuerName, _, _ := unstructured.NestedString(cert.Object, "spec", "issuerRef", "name")
			Expect(issuerKind).To(Equal("Issuer"))
			issuer := in.get("cert-manager.io", "Issuer", issuerName)
			Expect(issuer).NotTo(BeNil(), "the Certificate's Issuer %s is installed", issuerName)
			Expect(issuer.Object["spec"]).To(HaveKey("selfSigned"))
		})
	}
})

// webhookMode says whether a variant runs admission through the webhooks only (admission.mode
// webhook), whose configurations are config/webhook's; the others are config/admission-policies'.
func webhookMode(v variant) bool { return slices.Contains(v.sets, "admission.mode=webhook") }

var _ = Describe("the webhook configurations", func() {
	for _, v := range slices.Concat(chartVariants, kustomizeVariants) {
		reference := "config/admission-policies"
		if webhookMode(v) {
			reference = "config/webhook"
		}
		It("of "+v.name+" are the ones kustomize build "+reference+" makes, for governed namespaces only", func() {
			generated := render(variant{name: "kustomize build " + reference, dir: reference, namespace: "system"})
			in := render(v)
			flags := in.flags()
			if webhookMode(v) {
				Expect(flags).To(HaveKeyWithValue("admission", "webhook"))
			} else {
				Expect(flags).To(HaveKeyWithValue("admission", "policies"))
				// The compiled policies place and check every pod not pinned to a node.
				for _, w := range in.mutating().Webhooks {
					if slices.Contains(w.Rules[0].Resources, "pods") {
						Expect(w.MatchConditions).To(ConsistOf(HaveField("Name", "pinned-to-a-node")), "%s: %s", v.name, w.Name)
					}
				}
			}
			for name, condition := range map[string]string{
				"unplaceable.pods.dataresidency.io":                 "names-a-location",
				"residency.persistentvolumeclaims.dataresidency.io": "creation-or-governance-change",
				"updates.pods.dataresidency.io":                     "labels-change",
				"volumes.pods.dataresidency.io":                     "mounts-a-claim",
			} {
				i := slices.IndexFunc(in.validating().Webhooks, func(w admissionregistrationv1.ValidatingWebhook) bool { return w.Name == name })
				Expect(i).To(BeNumerically(">=", 0), "%s: webhook %s is installed", v.name, name)
				Expect(in.validating().Webhooks[i].MatchConditions).To(ConsistOf(HaveField("Name", condition)), "%s: %s", v.name, name)
			}
			Expect(cmp.Diff(normalizeMutating(generated.mutating().Webhooks), normalizeMutating(in.mutating().Webhooks))).To(BeEmpty(),
				"%s: mutating webhooks differ from %s (-generated +installed)", v.name, reference)
			Expect(cmp.Diff(normalizeValidating(generated.validating().Webhooks), normalizeValidating(in.validating().Webhooks))).To(BeEmpty(),
				"%s: validating webhooks differ from %s (-generated +installed)", v.name, reference)
			Expect(in.mutating().Name).To(Equal(v.prefix + "mutating-webhook-configuration"))
			Expect(in.validating().Name).To(Equal(v.prefix + "validating-webhook-configuration"))

			want := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "dataresidency.io/governed", Operator: metav1.LabelSelectorOpIn, Values: []string{"true"}},
				{Key: corev1.LabelMetadataName, Operator: metav1.LabelSelectorOpNotIn, Values: []string{"kube-system", v.namespace}},
			}}
			check := func(name string, failure *admissionregistrationv1.FailurePolicyType, side *admissionregistrationv1.SideEffectClass,
				timeout *int32, selector *metav1.LabelSelector) {
				// Every webhook fails closed but the placement-conflict one: the pods it refuses
				// could never run, so an outage of the operator must not block them.
				failClosed, wantTimeout, wantSelector := admissionregistrationv1.Fail, int32(3), want
				wantSide := admissionregistrationv1.SideEffectClassNone
				switch name {
				case "unplaceable.pods.dataresidency.io":
					failClosed, wantTimeout = admissionregistrationv1.Ignore, 2
				case storeTrailWebhook:
					// The trail records (an Event: a side effect, skipped on dry runs) and never
					// refuses: it must not stand between a person and a fix while the operator is down.
					failClosed, wantTimeout, wantSelector = admissionregistrationv1.Ignore, 2, nil
					wantSide = admissionregistrationv1.SideEffectClassNoneOnDryRun
				case exceptionWebhook:
					// Exceptions are judged in every namespace: one stored unjudged in a namespace
					// governed later would hold an approval nobody checked.
					wantTimeout, wantSelector = 5, nil
				}
				Expect(failure).To(Equal(ptr.To(failClosed)), "%s: %s", v.name, name)
				Expect(side).To(Equal(ptr.To(wantSide)), "%s: %s", v.name, name)
				Expect(timeout).To(Equal(ptr.To(wantTimeout)), "%s: %s", v.name, name)
				Expect(cmp.Diff(wantSelector, selector)).To(BeEmpty(), "%s: %s's namespaceSelector", v.name, name)
			}
			Expect(in.mutating().Webhooks).NotTo(BeEmpty())
			Expect(in.mutating().Webhooks).To(ContainElement(HaveField("Name", exceptionWebhook)), "%s", v.name)
			for _, w := range in.mutating().Webhooks {
				check(w.Name, w.FailurePolicy, w.SideEffects, w.TimeoutSeconds, w.NamespaceSelector)
				if w.Name != exceptionWebhook {
					Expect(w.ReinvocationPolicy).To(Equal(ptr.To(admissionregistrationv1.IfNeededReinvocationPolicy)), "%s: %s", v.name, w.Name)
				}
			}
			Expect(in.validating().Webhooks).NotTo(BeEmpty())
			for _, w := range in.validating().Webhooks {
				check(w.Name, w.FailurePolicy, w.SideEffects, w.TimeoutSeconds, w.NamespaceSelector)
			}
		})
	}
})

// exceptionWebhook records who requests and who approves ResidencyExceptions; storeTrailWebhook
// records who loosens a PersonalDataStore.
const (
	exceptionWebhook  = "requests.residencyexceptions.dataresidency.io"
	storeTrailWebhook = "writes.personaldatastores.dataresidency.io"
)

// normalizeMutating keeps what the markers generate: not the Service's name and namespace, the
// CA bundle or the namespace selector, which installs set (and the tests check separately).
func normalizeMutating(ws []admissionregistrationv1.MutatingWebhook) []admissionregistrationv1.MutatingWebhook {
	out := make([]admissionregistrationv1.MutatingWebhook, len(ws))
	for i, w := range ws {
		w = *w.DeepCopy()
		normalizeClientConfig(&w.ClientConfig)
		w.NamespaceSelector = nil
		out[i] = w
	}
	return out
}

func normalizeValidating(ws []admissionregistrationv1.ValidatingWebhook) []admissionregistrationv1.ValidatingWebhook {
	out := make([]admissionregistrationv1.ValidatingWebhook, len(ws))
	for i, w := range ws {
		w = *w.DeepCopy()
		normalizeClientConfig(&w.ClientConfig)
		w.NamespaceSelector = nil
		out[i] = w
	}
	return out
}

func normalizeClientConfig(c *admissionregistrationv1.WebhookClientConfig) {
	c.CABundle = nil
	if c.Service != nil {
		c.Service.Name, c.Service.Namespace = "", ""
		if c.Service.Port != nil && *c.Service.Port == 443 {
			c.Service.Port = nil
		}
	}
}

func webhookServices(in *install) []*admissionregistrationv1.ServiceReference {
	var refs []*admissionregistrationv1.ServiceReference
	for _, w := range in.mutating().Webhooks {
		Expect(w.ClientConfig.Service).NotTo(BeNil(), "%s: webhook %s calls a URL", in.name, w.Name)
		refs = append(refs, w.ClientConfig.Service)
	}
	for _, w := range in.validating().Webhooks {
		Expect(w.ClientConfig.Service).NotTo(BeNil(), "%s: webhook %s calls a URL", in.name, w.Name)
		refs = append(refs, w.ClientConfig.Service)
	}
	return refs
}

var _ = Describe("kustomize build config/default", func() {
	It("is equivalent to the chart's defaults", func() {
		chart, kust := render(chartVariants[0]), render(kustomizeVariants[0])

		By("the same kinds of objects (config/default also creates the namespace)")
		kinds := func(in *install) []string {
			var out []string
			for _, o := range in.objects {
				if o.GetKind() != "Namespace" {
					out = append(out, o.GetKind())
				}
			}
			sort.Strings(out)
			return out
		}
		Expect(cmp.Diff(kinds(chart), kinds(kust))).To(BeEmpty(), "(-chart +config/default)")

		By("the same pod, apart from names, labels and the image")
		podSpec := func(in *install) corev1.PodSpec {
			spec := *in.deployment().Spec.Template.Spec.DeepCopy()
			spec.ServiceAccountName = ""
			for i := range spec.Volumes {
				if spec.Volumes[i].Secret != nil {
					spec.Volumes[i].Secret.SecretName = "<name>"
				}
			}
			for i := range spec.TopologySpreadConstraints {
				spec.TopologySpreadConstraints[i].LabelSelector = nil
			}
			for i := range spec.Affinity.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
				spec.Affinity.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution[i].PodAffinityTerm.LabelSelector = nil
			}
			for i := range spec.Containers {
				c := &spec.Containers[i]
				c.Image, c.ImagePullPolicy = "", ""
				for j, a := range c.Args {
					name, _, _ := strings.Cut(a, "=")
					if strings.HasSuffix(name, "-name") || strings.HasSuffix(name, "-webhook-configuration") {
						c.Args[j] = name + "=<name>"
					}
				}
				sort.Strings(c.Args)
			}
			return spec
		}
		Expect(cmp.Diff(podSpec(chart), podSpec(kust))).To(BeEmpty(), "(-chart +config/default)")
		Expect(chart.deployment().Spec.Replicas).To(Equal(kust.deployment().Spec.Replicas))

		By("the same PodDisruptionBudget and Service ports")
		pdb := func(in *install) policyv1.PodDisruptionBudgetSpec {
			p := &policyv1.PodDisruptionBudget{}
			in.one("policy", "PodDisruptionBudget", p)
			p.Spec.Selector = nil
			return p.Spec
		}
		Expect(cmp.Diff(pdb(chart), pdb(kust))).To(BeEmpty())
		for _, svc := range []string{"webhook-service", "metrics-service"} {
			ports := func(in *install) []int32 {
				var out []int32
				for _, p := range in.service(in.prefix + svc).Spec.Ports {
					out = append(out, p.Port)
				}
				return out
			}
			Expect(ports(chart)).To(Equal(ports(kust)), svc)
		}
		// RBAC and webhooks: both equal the generated ones (specs above).
	})

	It("puts its namespace under the restricted Pod Security Standard", func() {
		ns := &corev1.Namespace{}
		render(kustomizeVariants[0]).one("", "Namespace", ns)
		Expect(ns.Name).To(Equal(systemNamespace))
		Expect(ns.Labels).To(HaveKeyWithValue("pod-security.kubernetes.io/enforce", "restricted"))
	})
})

var _ = Describe("the ServiceMonitor", func() {
	check := func(in *install, monitors []*unstructured.Unstructured) {
		Expect(monitors).To(HaveLen(1))
		m := monitors[0]
		Expect(m.GetAPIVersion()).To(Equal("monitoring.coreos.com/v1"))
		Expect(m.GetNamespace()).To(Equal(in.namespace))
		svc := in.service(in.prefix + "metrics-service")
		matchLabels, _, _ := unstructured.NestedStringMap(m.Object, "spec", "selector", "matchLabels")
		Expect(matchLabels).NotTo(BeEmpty())
		Expect(labels.SelectorFromSet(matchLabels).Matches(labels.Set(svc.Labels))).To(BeTrue(), "it selects the metrics Service")
		Expect(labels.SelectorFromSet(matchLabels).Matches(labels.Set(in.service(in.prefix+"webhook-service").Labels))).To(BeFalse(),
			"it does not scrape the webhook Service")
		endpoints, _, _ := unstructured.NestedSlice(m.Object, "spec", "endpoints")
		Expect(endpoints).To(HaveLen(1))
		Expect(endpoints[0]).To(HaveKeyWithValue("port", svc.Spec.Ports[0].Name))
		Expect(endpoints[0]).To(HaveKeyWithValue("path", "/metrics"))
		Expect(endpoints[0]).To(HaveKeyWithValue("scheme", "http"))
		Expect(endpoints[0]).To(HaveKeyWithValue("honorLabels", true),
			"the store metrics' namespace label is the store's, not the scrape target's (alerts and dashboard group by it)")
	}

	It("of the chart selects the metrics Service and its port", func() {
		in := render(chartVariants[2])
		check(in, in.all("monitoring.coreos.com", "ServiceMonitor"))
		Expect(render(chartVariants[0]).all("monitoring.coreos.com", "ServiceMonitor")).To(BeEmpty(), "not by default")
	})

	It("of config/prometheus selects config/default's metrics Service", func() {
		out, err := run(kustBin, "build", "config/prometheus")
		Expect(err).NotTo(HaveOccurred())
		monitors, err := parseObjects(out)
		Expect(err).NotTo(HaveOccurred())
		check(render(kustomizeVariants[0]), monitors)
	})
})

var _ = Describe("the chart's NetworkPolicy", func() {
	It("admits the webhook and metrics ports only and lets the pods reach the API server", func() {
		for _, v := range []variant{chartVariants[3], chartVariants[5]} {
			in := render(v)
			np := &networkingv1.NetworkPolicy{}
			in.one("networking.k8s.io", "NetworkPolicy", np)
			Expect(selects(&np.Spec.PodSelector, labels.Set(in.deployment().Spec.Template.Labels))).To(BeTrue(), v.name)
			Expect(np.Spec.PolicyTypes).To(ConsistOf(networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress), v.name)
			var ingress []int32
			for _, r := range np.Spec.Ingress {
				Expect(r.Ports).NotTo(BeEmpty(), "%s: an ingress rule without ports admits every port", v.name)
				for _, p := range r.Ports {
					Expect(p.Protocol).To(Equal(ptr.To(corev1.ProtocolTCP)))
					ingress = append(ingress, p.Port.IntVal)
				}
			}
			Expect(ingress).To(ConsistOf(int32(9443), int32(8080)), v.name)
			Expect(np.Spec.Egress).To(HaveLen(1), v.name)
			var egress []int32
			for _, p := range np.Spec.Egress[0].Ports {
				egress = append(egress, p.Port.IntVal)
			}
			Expect(egress).To(ConsistOf(int32(443), int32(6443)), v.name)
		}
		in := render(chartVariants[5])
		np := &networkingv1.NetworkPolicy{}
		in.one("networking.k8s.io", "NetworkPolicy", np)
		Expect(np.Spec.Egress[0].To).To(Equal([]networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "10.0.0.1/32"}}}),
			"networkPolicy.apiServer.cidrs narrows egress")
		Expect(render(chartVariants[0]).all("networking.k8s.io", "NetworkPolicy")).To(BeEmpty(), "not by default")
	})
})

var _ = Describe("the chart's default jurisdictions", func() {
	It("are eu (EU-27 plus IS, LI, NO), us and affiliate-sites, only when enabled", func() {
		Expect(render(chartVariants[0]).all("dataresidency.io", "Jurisdiction")).To(BeEmpty(), "not by default")
		in := render(chartVariants[4])
		countries := map[string][]string{}
		for _, j := range in.all("dataresidency.io", "Jurisdiction") {
			c, _, err := unstructured.NestedStringSlice(j.Object, "spec", "countries")
			Expect(err).NotTo(HaveOccurred())
			countries[j.GetName()] = c
			Expect(j.GetAnnotations()).To(HaveKeyWithValue("helm.sh/resource-policy", "keep"))
		}
		Expect(countries).To(HaveLen(3))
		eu27 := []string{"AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT",
			"LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE"}
		Expect(countries["eu"]).To(ConsistOf(slices.Concat(eu27, []string{"IS", "LI", "NO"})))
		Expect(countries["us"]).To(ConsistOf("US"))
		Expect(countries).To(HaveKey("affiliate-sites"))
		sel, _, _ := unstructured.NestedStringMap(in.get("dataresidency.io", "Jurisdiction", "affiliate-sites").Object,
			"spec", "nodeSelector", "matchLabels")
		Expect(sel).NotTo(BeEmpty(), "affiliate-sites shows the node selector for on-prem machines")
	})
})

// selects reports whether a label selector selects a set of labels; a nil or empty selector
// selects nothing here, since every selector in an install must be specific.
func selects(sel *metav1.LabelSelector, set labels.Set) bool {
	if sel == nil || (len(sel.MatchLabels) == 0 && len(sel.MatchExpressions) == 0) {
		return false
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	Expect(err).NotTo(HaveOccurred())
	return s.Matches(set)
}

func volume(spec corev1.PodSpec, name string) corev1.VolumeSource {
	i := slices.IndexFunc(spec.Volumes, func(v corev1.Volume) bool { return v.Name == name })
	ExpectWithOffset(1, i).To(BeNumerically(">=", 0), "no volume %s", name)
	return spec.Volumes[i].VolumeSource
}

// containerPort resolves a Service targetPort (a number or a port name) on a container.
func containerPort(c corev1.Container, target intstr.IntOrString) int32 {
	if target.Type == intstr.Int {
		return target.IntVal
	}
	i := slices.IndexFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.Name == target.StrVal })
	ExpectWithOffset(1, i).To(BeNumerically(">=", 0), "container %s has no port named %s", c.Name, target.StrVal)
	return c.Ports[i].ContainerPort
}
