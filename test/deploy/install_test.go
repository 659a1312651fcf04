package deploy_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

const chartDir = "charts/residency-operator"

// variant is one way to install the operator: the chart with some values, or a kustomize tree.
type variant struct {
	name string
	// chart: helm release name and --set values. kustomize: the folder to build.
	release string
	sets    []string
	dir     string
	// namespace is where the namespaced objects must land.
	namespace string
	// prefix is what every object name starts with: the chart's full name plus "-", or
	// config/default's namePrefix.
	prefix      string
	certManager bool
}

func (v variant) isChart() bool { return v.dir == "" }

// chartVariants: the default values and each option the issue names, plus every option at once
// under another release name and namespace, which catches names and namespaces written into the
// templates instead of derived from the release.
var chartVariants = []variant{
	{name: "the chart with default values", release: "residency-operator", namespace: systemNamespace, prefix: "residency-operator-"},
	{name: "the chart with certManager.enabled", release: "residency-operator", namespace: systemNamespace, prefix: "residency-operator-",
		sets: []string{"certManager.enabled=true"}, certManager: true},
	{name: "the chart with serviceMonitor.enabled", release: "residency-operator", namespace: systemNamespace, prefix: "residency-operator-",
		sets: []string{"serviceMonitor.enabled=true"}},
	{name: "the chart with networkPolicy.enabled", release: "residency-operator", namespace: systemNamespace, prefix: "residency-operator-",
		sets: []string{"networkPolicy.enabled=true"}},
	{name: "the chart with defaultJurisdictions.enabled", release: "residency-operator", namespace: systemNamespace, prefix: "residency-operator-",
		sets: []string{"defaultJurisdictions.enabled=true"}},
	{name: "the chart with every option, release acme in namespace compliance", release: "acme", namespace: otherNamespace, prefix: "acme-residency-operator-",
		sets: []string{"certManager.enabled=true", "serviceMonitor.enabled=true", "networkPolicy.enabled=true", "defaultJurisdictions.enabled=true",
			"networkPolicy.apiServer.cidrs={10.0.0.1/32}", "prometheusRule.enabled=true", "grafanaDashboard.enabled=true",
			"argocd.healthChecks.enabled=true"}, certManager: true},
	{name: "the chart with admission.mode=webhook", release: "residency-operator", namespace: systemNamespace, prefix: "residency-operator-",
		sets: []string{"admission.mode=webhook"}},
}

var kustomizeVariants = []variant{
	{name: "kustomize build config/default", dir: "config/default", namespace: systemNamespace, prefix: "residency-"},
	{name: "kustomize build config/certmanager", dir: "config/certmanager", namespace: systemNamespace, prefix: "residency-", certManager: true},
}

// absentKinds have no CRD in the test API server (prometheus-operator and cert-manager are not
// installed there): their objects are checked structurally, and the server dry-run skips them.
var absentKinds = map[schema.GroupKind]bool{
	{Group: "monitoring.coreos.com", Kind: "ServiceMonitor"}: true,
	{Group: "monitoring.coreos.com", Kind: "PrometheusRule"}: true,
	{Group: "cert-manager.io", Kind: "Certificate"}:          true,
	{Group: "cert-manager.io", Kind: "Issuer"}:               true,
}

// install is what a variant renders.
type install struct {
	variant
	objects []*unstructured.Unstructured
}

var renderCache = map[string]*install{}

// render runs helm template or kustomize build once per variant.
func render(v variant) *install {
	if in, ok := renderCache[v.name]; ok {
		return in
	}
	var out []byte
	var err error
	if v.isChart() {
		out, err = helmTemplate(v.release, v.namespace, v.sets...)
	} else {
		out, err = run(kustBin, "build", v.dir)
	}
	Expect(err).NotTo(HaveOccurred())
	objs, err := parseObjects(out)
	Expect(err).NotTo(HaveOccurred(), "parsing the output of %s", v.name)
	Expect(objs).NotTo(BeEmpty())
	in := &install{variant: v, objects: objs}
	renderCache[v.name] = in
	return in
}

func helmTemplate(release, namespace string, sets ...string) ([]byte, error) {
	args := []string{"template", release, chartDir, "--namespace", namespace, "--include-crds"}
	for _, s := range sets {
		args = append(args, "--set", s)
	}
	return run(helmBin, args...)
}

// run runs a tool in the repository's top folder and returns its standard output; the error
// carries the command and its standard error.
func run(bin string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = repoRoot
	cmd.Env = toolEnv
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%s %s: %w\n%s", filepath.Base(bin), strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// parseObjects splits a multi-document YAML stream into objects, skipping empty documents.
func parseObjects(stream []byte) ([]*unstructured.Unstructured, error) {
	var objs []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(stream), 4096)
	for {
		var obj map[string]any
		if err := dec.Decode(&obj); errors.Is(err, io.EOF) {
			return objs, nil
		} else if err != nil {
			return nil, err
		}
		if len(obj) == 0 {
			continue
		}
		u := &unstructured.Unstructured{Object: obj}
		if u.GetKind() == "" || u.GetAPIVersion() == "" {
			return nil, fmt.Errorf("an object without kind or apiVersion: %v", obj)
		}
		objs = append(objs, u)
	}
}

// all returns the objects of a kind.
func (in *install) all(group, kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range in.objects {
		if gk := o.GroupVersionKind().GroupKind(); gk.Group == group && gk.Kind == kind {
			out = append(out, o)
		}
	}
	return out
}

// get returns the object of a kind with a name, or nil.
func (in *install) get(group, kind, name string) *unstructured.Unstructured {
	for _, o := range in.all(group, kind) {
		if o.GetName() == name {
			return o
		}
	}
	return nil
}

// one expects exactly one object of a kind and converts it into out.
func (in *install) one(group, kind string, out any) {
	objs := in.all(group, kind)
	ExpectWithOffset(1, objs).To(HaveLen(1), "%s: exactly one %s", in.name, kind)
	convert(objs[0], out)
}

func convert(u *unstructured.Unstructured, out any) {
	ExpectWithOffset(1, runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, out)).To(Succeed(),
		"converting %s %s", u.GetKind(), u.GetName())
}

func (in *install) deployment() *appsv1.Deployment {
	d := &appsv1.Deployment{}
	in.one("apps", "Deployment", d)
	return d
}

func (in *install) manager() corev1.Container {
	d := in.deployment()
	i := slices.IndexFunc(d.Spec.Template.Spec.Containers, func(c corev1.Container) bool { return c.Name == "manager" })
	ExpectWithOffset(1, i).To(BeNumerically(">=", 0), "%s: no container named manager", in.name)
	return d.Spec.Template.Spec.Containers[i]
}

// flags returns the manager's command-line flags: "--name=value" and bare "--name" (true).
func (in *install) flags() map[string]string {
	flags := map[string]string{}
	for _, a := range in.manager().Args {
		ExpectWithOffset(1, a).To(HavePrefix("--"), "%s: manager argument %q", in.name, a)
		name, value, found := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if !found {
			value = "true"
		}
		ExpectWithOffset(1, flags).NotTo(HaveKey(name), "%s: --%s given twice", in.name, name)
		flags[name] = value
	}
	return flags
}

func (in *install) service(name string) *corev1.Service {
	u := in.get("", "Service", name)
	ExpectWithOffset(1, u).NotTo(BeNil(), "%s: no Service %s", in.name, name)
	svc := &corev1.Service{}
	convert(u, svc)
	return svc
}

func (in *install) mutating() *admissionregistrationv1.MutatingWebhookConfiguration {
	c := &admissionregistrationv1.MutatingWebhookConfiguration{}
	in.one("admissionregistration.k8s.io", "MutatingWebhookConfiguration", c)
	return c
}

// userRolesLabel marks the ClusterRoles for people (config/rbac/user_roles.yaml), bound to no one.
const userRolesLabel, userRolesComponent = "app.kubernetes.io/component", "user-roles"

// userRoles returns the install's ClusterRoles for people, by name.
func (in *install) userRoles() map[string]*rbacv1.ClusterRole {
	out := map[string]*rbacv1.ClusterRole{}
	for _, u := range in.all("rbac.authorization.k8s.io", "ClusterRole") {
		r := &rbacv1.ClusterRole{}
		convert(u, r)
		if r.Labels[userRolesLabel] == userRolesComponent {
			out[r.Name] = r
		}
	}
	return out
}

func (in *install) validating() *admissionregistrationv1.ValidatingWebhookConfiguration {
	c := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	in.one("admissionregistration.k8s.io", "ValidatingWebhookConfiguration", c)
	return c
}

// roles returns the install's Roles and ClusterRoles for the manager, keyed "Kind/name".
func (in *install) roles() map[string][]rbacv1.PolicyRule {
	out := map[string][]rbacv1.PolicyRule{}
	for _, u := range in.all("rbac.authorization.k8s.io", "ClusterRole") {
		r := &rbacv1.ClusterRole{}
		convert(u, r)
		if r.Labels[userRolesLabel] == userRolesComponent {
			continue
		}
		out["ClusterRole/"+r.Name] = r.Rules
	}
	for _, u := range in.all("rbac.authorization.k8s.io", "Role") {
		r := &rbacv1.Role{}
		convert(u, r)
		out["Role/"+r.Name] = r.Rules
	}
	return out
}
