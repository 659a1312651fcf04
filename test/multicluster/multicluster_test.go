// Package multicluster tests the operator in a multi-cluster hub, end to end, against the real
// Karmada control plane (aggregated apiserver, webhook, controller-manager, scheduler; members as
// API servers joined in push mode) and the real Open Cluster Management placement controller, with
// the operator's manager (controllers and webhooks) running in-process against the hub.
package multicluster

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
	"github.com/residency-operator/residency-operator/controllers"
	"github.com/residency-operator/residency-operator/internal/engine"
	"github.com/residency-operator/residency-operator/internal/localcluster"
	residencywebhook "github.com/residency-operator/residency-operator/internal/webhook"
)

// hub is one Karmada and OCM hub with the operator, shared by the tests of this package.
type hub struct {
	cluster  *localcluster.Cluster
	karmada  *localcluster.Karmada
	ocm      *localcluster.OCMPlacement
	client   client.Client
	kube     kubernetes.Interface
	dyn      dynamic.Interface
	members  map[string]kubernetes.Interface
	stopMgr  context.CancelFunc
	mgrDone  chan struct{}
	logPath  string
	euLabel  string
	usLabel  string
	deadline time.Duration
}

func startHub(t *testing.T) *hub {
	t.Helper()
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set: run the tests through `make test`, which builds the control plane, Karmada and OCM (`make tools`) and points it at them")
	}
	logFile, err := os.CreateTemp("", "residency-multicluster-*.log")
	if err != nil {
		t.Fatal(err)
	}
	logf.SetLogger(zap.New(zap.WriteTo(logFile), zap.UseDevMode(true)))
	h := &hub{logPath: logFile.Name(), euLabel: v1alpha1.JurisdictionLabel("eu"), usLabel: v1alpha1.JurisdictionLabel("us"), deadline: 60 * time.Second}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the hub's log is kept at %s", h.logPath)
		} else {
			_ = os.Remove(h.logPath)
		}
		_ = logFile.Close()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	began := time.Now()
	h.cluster, err = localcluster.Start(ctx, localcluster.Options{
		CRDDir:           filepath.Join("..", "..", "config", "crd", "bases"),
		WebhookConfigDir: filepath.Join("..", "..", "config", "webhook"),
		ControlPlaneOnly: true, AggregationLayer: true, Log: logFile,
	})
	if err != nil {
		t.Fatalf("starting the hub: %v (log %s)", err, h.logPath)
	}
	t.Cleanup(func() { _ = h.cluster.Stop() })
	members := append(localcluster.DefaultKarmadaMembers(),
		localcluster.KarmadaMember{Name: "eu-dublin", Region: "eu-west-1", Provider: "aws", Zones: []string{"eu-west-1a"}})
	h.karmada, err = localcluster.StartKarmada(ctx, localcluster.KarmadaOptions{Hub: h.cluster, Members: members, Log: logFile})
	if err != nil {
		t.Fatalf("starting Karmada: %v (log %s)", err, h.logPath)
	}
	t.Cleanup(func() { _ = h.karmada.Stop() })
	h.ocm, err = localcluster.StartOCMPlacement(ctx, localcluster.OCMOptions{Hub: h.cluster, Log: logFile})
	if err != nil {
		t.Fatalf("starting the OCM placement controller: %v (log %s)", err, h.logPath)
	}
	t.Cleanup(func() { _ = h.ocm.Stop() })

	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	h.client, err = client.New(h.cluster.Config, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	h.kube = kubernetes.NewForConfigOrDie(h.cluster.Config)
	h.dyn = dynamic.NewForConfigOrDie(h.cluster.Config)
	h.members = map[string]kubernetes.Interface{}
	for name, m := range h.karmada.Members {
		h.members[name] = kubernetes.NewForConfigOrDie(m.Config)
	}
	if err := h.client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: controllers.DefaultOptions().OperatorNamespace}}); err != nil {
		t.Fatal(err)
	}
	// As config/default installs it: its namePrefix names the policy residency-managedcluster-location.
	if err := localcluster.ApplyFile(ctx, h.client, filepath.Join("..", "..", "config", "rbac", "managedcluster_location_guard.yaml"),
		func(u *unstructured.Unstructured) { u.SetName("residency-" + u.GetName()) }); err != nil {
		t.Fatal(err)
	}

	mgr, err := ctrl.NewManager(h.cluster.Config, ctrl.Options{
		Scheme: scheme, Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
		WebhookServer: webhook.NewServer(h.cluster.WebhookServerOptions()),
		Controller:    config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		t.Fatal(err)
	}
	opts := controllers.DefaultOptions()
	opts.MultiClusterRecheck = time.Second
	if err := controllers.SetupWithManager(context.Background(), mgr, opts); err != nil {
		t.Fatal(err)
	}
	if err := residencywebhook.Setup(mgr, residencywebhook.DefaultOptions()); err != nil {
		t.Fatal(err)
	}
	mgrCtx, stop := context.WithCancel(context.Background())
	h.stopMgr, h.mgrDone = stop, make(chan struct{})
	go func() {
		defer close(h.mgrDone)
		if err := mgr.Start(mgrCtx); err != nil {
			t.Errorf("manager: %v", err)
		}
	}()
	t.Cleanup(func() { h.stopMgr(); <-h.mgrDone })
	if err := h.cluster.WaitForWebhookServer(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("hub with Karmada (%d members), OCM placement and the operator up in %s; RSS of the processes %d MiB",
		len(members), time.Since(began).Round(time.Millisecond), localcluster.ProcessTreeRSS()>>20)

	for _, j := range []*v1alpha1.Jurisdiction{
		{ObjectMeta: metav1.ObjectMeta{Name: "eu"}, Spec: v1alpha1.JurisdictionSpec{Countries: []v1alpha1.CountryCode{"DE", "FR", "IE", "NL"}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "us"}, Spec: v1alpha1.JurisdictionSpec{Countries: []v1alpha1.CountryCode{"US"}}},
	} {
		if err := h.client.Create(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

// eventually polls check until it returns nil or the hub's deadline passes.
func (h *hub) eventually(t *testing.T, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(h.deadline)
	var err error
	for time.Now().Before(deadline) {
		if err = check(); err == nil {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s: %v (hub log %s)", what, err, h.logPath)
}

func (h *hub) clusterLabels(ctx context.Context, name string) (map[string]string, map[string]string, error) {
	u, err := h.dyn.Resource(localcluster.KarmadaClusterGVR).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, nil, err
	}
	return u.GetLabels(), u.GetAnnotations(), nil
}

// governedNamespace creates a namespace with one store, and waits until the operator labels it
// governed (the webhooks select such namespaces).
func (h *hub) governedNamespace(ctx context.Context, t *testing.T, ns, store string, mode v1alpha1.EnforcementMode, allowed ...v1alpha1.JurisdictionName) {
	t.Helper()
	if err := h.client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	s := &v1alpha1.PersonalDataStore{ObjectMeta: metav1.ObjectMeta{Name: store, Namespace: ns}, Spec: v1alpha1.PersonalDataStoreSpec{
		DataCategories:       []v1alpha1.DataCategory{"ContactDetails"},
		AllowedJurisdictions: allowed,
		WorkloadSelector:     metav1.LabelSelector{MatchLabels: map[string]string{"app": store}},
		Enforcement:          mode,
	}}
	if err := h.client.Create(ctx, s); err != nil {
		t.Fatal(err)
	}
	h.eventually(t, "namespace "+ns+" labelled governed", func() error {
		n, err := h.kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if n.Labels[v1alpha1.GovernedNamespaceLabel] != "true" {
			return fmt.Errorf("labels %v", n.Labels)
		}
		return nil
	})
}

func (h *hub) deployment(ctx context.Context, t *testing.T, ns, name string) {
	t.Helper()
	labels := map[string]string{"app": name}
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: appsv1.DeploymentSpec{
		Replicas: ptr.To[int32](1), Selector: &metav1.LabelSelector{MatchLabels: labels},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1"}}}},
	}}
	if err := h.client.Create(ctx, d); err != nil {
		t.Fatal(err)
	}
}

// propagateEverywhere creates a PropagationPolicy with no cluster affinity: every member cluster.
func (h *hub) propagateEverywhere(ctx context.Context, ns, name, deployment string, extra map[string]any) (*unstructured.Unstructured, error) {
	spec := map[string]any{
		"resourceSelectors": []any{map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment}},
		"placement":         map[string]any{},
	}
	for k, v := range extra {
		spec[k] = v
	}
	pp := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "policy.karmada.io/v1alpha1", "kind": "PropagationPolicy",
		"metadata": map[string]any{"name": name, "namespace": ns}, "spec": spec,
	}}
	return h.dyn.Resource(localcluster.KarmadaPropagationPolicyGVR).Namespace(ns).Create(ctx, pp, metav1.CreateOptions{})
}

// runsOn returns, sorted, the members a Deployment exists on.
func (h *hub) runsOn(ctx context.Context, ns, name string) ([]string, error) {
	var on []string
	for member, cs := range h.members {
		_, err := cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		switch {
		case err == nil:
			on = append(on, member)
		case !apierrors.IsNotFound(err):
			return nil, err
		}
	}
	slices.Sort(on)
	return on, nil
}

func (h *hub) store(ctx context.Context, ns, name string) (*v1alpha1.PersonalDataStore, error) {
	s := &v1alpha1.PersonalDataStore{}
	return s, h.client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, s)
}

// TestKarmadaAndOCMPlacementStayInside runs the scenarios on one hub, in order: each
// builds on the members' labels the previous ones left.
func TestKarmadaAndOCMPlacementStayInside(t *testing.T) {
	h := startHub(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()

	// Member clusters are located from what the hub controls (spec.region) and labelled as nodes.
	h.eventually(t, "Karmada Clusters labelled with their jurisdictions", func() error {
		want := map[string][2]string{"eu-frankfurt": {"DE", h.euLabel}, "eu-dublin": {"IE", h.euLabel}, "us-virginia": {"US", h.usLabel}, "ap-tokyo": {"JP", ""}}
		for name, w := range want {
			l, _, err := h.clusterLabels(ctx, name)
			if err != nil {
				return err
			}
			if l[v1alpha1.CountryLabel] != w[0] || (w[1] != "" && l[w[1]] != "true") || len(engine.LabelledJurisdictions(l)) != map[bool]int{true: 1, false: 0}[w[1] != ""] {
				return fmt.Errorf("%s labels %v", name, l)
			}
		}
		return nil
	})
	j := &v1alpha1.Jurisdiction{}
	h.eventually(t, "Jurisdiction status", func() error {
		if err := h.client.Get(ctx, types.NamespacedName{Name: "eu"}, j); err != nil {
			return err
		}
		if j.Status.ClusterCount != 2 {
			return fmt.Errorf("clusterCount %d", j.Status.ClusterCount)
		}
		return nil
	})

	t.Run("a governed Deployment under a policy that selects every cluster lands only on permitted members", func(t *testing.T) {
		h.governedNamespace(ctx, t, "shop", "customers", "", "eu")
		h.deployment(ctx, t, "shop", "customers")
		pp, err := h.propagateEverywhere(ctx, "shop", "everywhere", "customers", map[string]any{
			"propagateDeps": true, // Karmada requires it with application failover
			"failover":      map[string]any{"application": map[string]any{"decisionConditions": map[string]any{"tolerationSeconds": int64(30)}, "purgeMode": "Never"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		sel, _, _ := unstructured.NestedStringMap(pp.Object, "spec", "placement", "clusterAffinity", "labelSelector", "matchLabels")
		if sel[h.euLabel] != "true" {
			t.Fatalf("the stored policy was not narrowed: %v", pp.Object["spec"])
		}
		h.eventually(t, "customers on the EU members only", func() error {
			on, err := h.runsOn(ctx, "shop", "customers")
			if err != nil {
				return err
			}
			if !slices.Equal(on, []string{"eu-dublin", "eu-frankfurt"}) {
				return fmt.Errorf("on %v", on)
			}
			return nil
		})
		time.Sleep(2 * time.Second) // anything wrong would reach the other members by now
		if on, _ := h.runsOn(ctx, "shop", "customers"); !slices.Equal(on, []string{"eu-dublin", "eu-frankfurt"}) {
			t.Fatalf("customers on %v", on)
		}
		// The hub namespace is not labelled to skip Karmada's namespace propagation: said once.
		h.eventually(t, "the NamespacePropagated Event on the store", func() error {
			events, err := h.kube.EventsV1().Events("shop").List(ctx, metav1.ListOptions{})
			if err != nil {
				return err
			}
			for _, e := range events.Items {
				if e.Reason == controllers.EventNamespacePropagated && e.Regarding.Name == "customers" &&
					strings.Contains(e.Note, "ap-tokyo, us-virginia") && strings.Contains(e.Note, engine.KarmadaSkipPropagationLabel) {
					return nil
				}
			}
			return fmt.Errorf("no NamespacePropagated Event among %d", len(events.Items))
		})
		h.eventually(t, "the store counts its template and reports no violation", func() error {
			s, err := h.store(ctx, "shop", "customers")
			if err != nil {
				return err
			}
			if s.Status.GovernedTemplates != 1 || s.Status.ViolationCount != 0 {
				return fmt.Errorf("governedTemplates %d, violations %v", s.Status.GovernedTemplates, s.Status.Violations)
			}
			return nil
		})
	})

	t.Run("a policy applied before its store (GitOps order) is sent through admission again and narrowed", func(t *testing.T) {
		if err := h.client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "late"}}); err != nil {
			t.Fatal(err)
		}
		h.deployment(ctx, t, "late", "orders")
		if _, err := h.propagateEverywhere(ctx, "late", "everywhere", "orders", nil); err != nil {
			t.Fatal(err)
		}
		h.eventually(t, "orders everywhere while nothing governs it", func() error {
			on, err := h.runsOn(ctx, "late", "orders")
			if err != nil {
				return err
			}
			if len(on) != len(h.members) {
				return fmt.Errorf("on %v", on)
			}
			return nil
		})
		h.governedNamespace(ctx, t, "late", "orders", "", "eu")
		h.eventually(t, "the policy narrowed and orders left the members outside the EU", func() error {
			pp, err := h.dyn.Resource(localcluster.KarmadaPropagationPolicyGVR).Namespace("late").Get(ctx, "everywhere", metav1.GetOptions{})
			if err != nil {
				return err
			}
			sel, _, _ := unstructured.NestedStringMap(pp.Object, "spec", "placement", "clusterAffinity", "labelSelector", "matchLabels")
			if sel[h.euLabel] != "true" || pp.GetAnnotations()[controllers.ReadmittedAnnotation] != "eu" {
				return fmt.Errorf("policy %v, annotations %v", pp.Object["spec"], pp.GetAnnotations())
			}
			on, err := h.runsOn(ctx, "late", "orders")
			if err != nil {
				return err
			}
			if !slices.Equal(on, []string{"eu-dublin", "eu-frankfurt"}) {
				return fmt.Errorf("on %v", on)
			}
			return nil
		})
	})

	t.Run("an ungoverned Deployment still goes everywhere", func(t *testing.T) {
		if err := h.client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "tools"}}); err != nil {
			t.Fatal(err)
		}
		h.deployment(ctx, t, "tools", "dashboard")
		if _, err := h.propagateEverywhere(ctx, "tools", "everywhere", "dashboard", nil); err != nil {
			t.Fatal(err)
		}
		h.eventually(t, "dashboard on every member", func() error {
			on, err := h.runsOn(ctx, "tools", "dashboard")
			if err != nil {
				return err
			}
			if len(on) != len(h.members) {
				return fmt.Errorf("on %v", on)
			}
			return nil
		})
	})

	t.Run("a policy that cannot be narrowed to one jurisdiction is refused with the fix", func(t *testing.T) {
		h.governedNamespace(ctx, t, "web", "sessions", "", "eu", "us")
		_, err := h.propagateEverywhere(ctx, "web", "everywhere", "sessions", nil)
		if err == nil || !apierrors.IsForbidden(err) && !strings.Contains(err.Error(), "denied") {
			t.Fatalf("err = %v, want a denial", err)
		}
		for _, want := range []string{`store "sessions" allows [eu us]`, h.euLabel, h.usLabel, "matchLabels"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("denial %q does not name %q", err, want)
			}
		}
	})

	t.Run("an Audit store reports placements outside; a member relabelled out of the EU yields a violation", func(t *testing.T) {
		h.governedNamespace(ctx, t, "analytics", "events", v1alpha1.Audit, "eu")
		h.deployment(ctx, t, "analytics", "events")
		if _, err := h.propagateEverywhere(ctx, "analytics", "everywhere", "events", nil); err != nil {
			t.Fatal(err)
		}
		violations := func(want map[string]v1alpha1.ViolationReason) error {
			s, err := h.store(ctx, "analytics", "events")
			if err != nil {
				return err
			}
			got := map[string]v1alpha1.ViolationReason{}
			for _, v := range s.Status.Violations {
				got[v.Cluster] = v.Reason
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				b, _ := json.Marshal(s.Status.Violations)
				return fmt.Errorf("violations %s", b)
			}
			return nil
		}
		h.eventually(t, "ClusterNotPermitted for the US and Tokyo members", func() error {
			return violations(map[string]v1alpha1.ViolationReason{"us-virginia": v1alpha1.ClusterNotPermitted, "ap-tokyo": v1alpha1.ClusterNotPermitted})
		})

		// Frankfurt's region is changed in the hub: nodes and clusters do not move, so it is no
		// longer believed, loses its EU label, and what runs there is a violation.
		patch := []byte(`{"spec":{"region":"me-central-1"}}`)
		if _, err := h.dyn.Resource(localcluster.KarmadaClusterGVR).Patch(ctx, "eu-frankfurt", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		h.eventually(t, "eu-frankfurt untrusted and out of the EU", func() error {
			l, a, err := h.clusterLabels(ctx, "eu-frankfurt")
			if err != nil {
				return err
			}
			if l[h.euLabel] != "" || a[engine.LocationProblemAnnotation] != engine.ProblemUntrusted {
				return fmt.Errorf("labels %v annotations %v", l, a)
			}
			return nil
		})
		h.eventually(t, "the Audit store reports eu-frankfurt", func() error {
			return violations(map[string]v1alpha1.ViolationReason{"us-virginia": v1alpha1.ClusterNotPermitted, "ap-tokyo": v1alpha1.ClusterNotPermitted,
				"eu-frankfurt": v1alpha1.ClusterLocationUnknown})
		})
		// The governed Deployment leaves Frankfurt and keeps running in Dublin: with a second
		// permitted member (the guidance in docs/multicluster.md) nothing is deleted outright.
		h.eventually(t, "customers only in Dublin", func() error {
			on, err := h.runsOn(ctx, "shop", "customers")
			if err != nil {
				return err
			}
			if !slices.Equal(on, []string{"eu-dublin"}) {
				return fmt.Errorf("on %v", on)
			}
			return nil
		})
	})

	t.Run("a governed workload left with no permitted member is reported, not dropped silently", func(t *testing.T) {
		patch := []byte(`{"spec":{"region":"me-central-1"}}`)
		if _, err := h.dyn.Resource(localcluster.KarmadaClusterGVR).Patch(ctx, "eu-dublin", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		h.eventually(t, "the store Stalled with NoPermittedCluster", func() error {
			s, err := h.store(ctx, "shop", "customers")
			if err != nil {
				return err
			}
			c := meta.FindStatusCondition(s.Status.Conditions, v1alpha1.StalledCondition)
			if c == nil || c.Status != metav1.ConditionTrue || c.Reason != v1alpha1.ReasonNoPermittedCluster {
				return fmt.Errorf("Stalled %+v", c)
			}
			if !slices.ContainsFunc(s.Status.Violations, func(v v1alpha1.Violation) bool { return v.Reason == v1alpha1.NoPermittedCluster }) {
				return fmt.Errorf("violations %+v", s.Status.Violations)
			}
			return nil
		})
		// A person confirms the move back: the store recovers.
		for _, name := range []string{"eu-frankfurt", "eu-dublin"} {
			region := map[string]string{"eu-frankfurt": "eu-central-1", "eu-dublin": "eu-west-1"}[name]
			patch := []byte(fmt.Sprintf(`{"spec":{"region":%q}}`, region))
			if _, err := h.dyn.Resource(localcluster.KarmadaClusterGVR).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		h.eventually(t, "customers back on the EU members and the store no longer Stalled", func() error {
			on, err := h.runsOn(ctx, "shop", "customers")
			if err != nil {
				return err
			}
			s, err := h.store(ctx, "shop", "customers")
			if err != nil {
				return err
			}
			if len(on) == 0 || meta.IsStatusConditionTrue(s.Status.Conditions, v1alpha1.StalledCondition) {
				return fmt.Errorf("on %v, conditions %+v", on, s.Status.Conditions)
			}
			return nil
		})
	})

	t.Run("an OCM Placement decides only permitted ManagedClusters; a ClusterClaim alone permits nothing", func(t *testing.T) {
		for _, mc := range []localcluster.ManagedCluster{
			{Name: "ocm-frankfurt", Labels: map[string]string{engine.RegionLabel: "eu-central-1", localcluster.OCMClusterSetLabel: "global"}},
			{Name: "ocm-virginia", Labels: map[string]string{engine.RegionLabel: "us-east-1", localcluster.OCMClusterSetLabel: "global"}},
			// Says it is in Frankfurt, through its own ClusterClaim only.
			{Name: "ocm-claims-eu", Labels: map[string]string{localcluster.OCMClusterSetLabel: "global"},
				ClusterClaims: map[string]string{"region.open-cluster-management.io": "eu-central-1", "platform.open-cluster-management.io": "AWS"}},
		} {
			if err := h.ocm.CreateManagedCluster(ctx, mc); err != nil {
				t.Fatal(err)
			}
		}
		h.eventually(t, "ManagedClusters labelled", func() error {
			u, err := h.dyn.Resource(localcluster.OCMManagedClusterGVR).Get(ctx, "ocm-frankfurt", metav1.GetOptions{})
			if err != nil {
				return err
			}
			if u.GetLabels()[h.euLabel] != "true" {
				return fmt.Errorf("ocm-frankfurt labels %v", u.GetLabels())
			}
			claims, err := h.dyn.Resource(localcluster.OCMManagedClusterGVR).Get(ctx, "ocm-claims-eu", metav1.GetOptions{})
			if err != nil {
				return err
			}
			if claims.GetAnnotations()[engine.LocationProblemAnnotation] != engine.ProblemUnknown {
				return fmt.Errorf("ocm-claims-eu annotations %v", claims.GetAnnotations())
			}
			return nil
		})
		if err := h.ocm.BindClusterSet(ctx, "global", "shop"); err != nil {
			t.Fatal(err)
		}
		placement := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "cluster.open-cluster-management.io/v1beta1", "kind": "Placement",
			"metadata": map[string]any{"name": "customers", "namespace": "shop"},
			"spec":     map[string]any{"clusterSets": []any{"global"}},
		}}
		if _, err := h.dyn.Resource(localcluster.OCMPlacementGVR).Namespace("shop").Create(ctx, placement, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		h.eventually(t, "the Placement decides ocm-frankfurt only", func() error {
			names, err := h.ocm.PlacementDecisions(ctx, "shop", "customers")
			if err != nil {
				return err
			}
			if !slices.Equal(names, []string{"ocm-frankfurt"}) {
				return fmt.Errorf("decisions %v", names)
			}
			return nil
		})
	})

	t.Run("a managed cluster's own agent cannot set its location labels in the hub", func(t *testing.T) {
		// OCM's agent may update its own ManagedCluster (OCM's managedcluster ClusterRole).
		role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "ocm-agent-ocm-virginia"}, Rules: []rbacv1.PolicyRule{{
			APIGroups: []string{"cluster.open-cluster-management.io"}, Resources: []string{"managedclusters"},
			ResourceNames: []string{"ocm-virginia"}, Verbs: []string{"get", "list", "update", "patch", "watch"}}}}
		binding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "ocm-agent-ocm-virginia"},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: role.Name},
			Subjects: []rbacv1.Subject{{Kind: "Group", APIGroup: "rbac.authorization.k8s.io", Name: "system:open-cluster-management:ocm-virginia"}}}
		for _, o := range []client.Object{role, binding} {
			if err := h.client.Create(ctx, o); err != nil {
				t.Fatal(err)
			}
		}
		cfg := rest.CopyConfig(h.cluster.Config)
		cfg.Impersonate = rest.ImpersonationConfig{UserName: "system:open-cluster-management:ocm-virginia:agent",
			Groups: []string{"system:open-cluster-management:ocm-virginia", "system:open-cluster-management:managed-clusters", "system:authenticated"}}
		agent := dynamic.NewForConfigOrDie(cfg)
		patch := func(labels string) error {
			_, err := agent.Resource(localcluster.OCMManagedClusterGVR).Patch(ctx, "ocm-virginia", types.MergePatchType,
				[]byte(`{"metadata":{"labels":`+labels+`}}`), metav1.PatchOptions{})
			return err
		}
		// RBAC reaches kube-apiserver's authorizer a moment after it is written: wait until an
		// ordinary label may be set, which the agent may always do.
		h.eventually(t, "the agent's RBAC in force", func() error { return patch(`{"team": "payments"}`) })
		for _, forged := range []string{
			fmt.Sprintf(`{%q: "true"}`, h.euLabel),
			fmt.Sprintf(`{%q: "DE", %q: "person"}`, v1alpha1.CountryLabel, v1alpha1.CountrySourceLabel),
			fmt.Sprintf(`{%q: "eu-central-1"}`, engine.RegionLabel),
		} {
			err := patch(forged)
			if err == nil || !strings.Contains(err.Error(), "may not set or change its own location labels") {
				t.Errorf("the agent set %s: err = %v", forged, err)
			}
		}
		// A bootstrap identity registering a new cluster may not give it a location either.
		bootstrapRole := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "ocm-bootstrap"}, Rules: []rbacv1.PolicyRule{{
			APIGroups: []string{"cluster.open-cluster-management.io"}, Resources: []string{"managedclusters"}, Verbs: []string{"create", "get"}}}}
		bootstrapBinding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "ocm-bootstrap"},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: bootstrapRole.Name},
			Subjects: []rbacv1.Subject{{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: "system:serviceaccount:open-cluster-management:agent-registration-bootstrap"}}}
		for _, o := range []client.Object{bootstrapRole, bootstrapBinding} {
			if err := h.client.Create(ctx, o); err != nil {
				t.Fatal(err)
			}
		}
		bootstrapCfg := rest.CopyConfig(h.cluster.Config)
		bootstrapCfg.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:open-cluster-management:agent-registration-bootstrap",
			Groups: []string{"system:serviceaccounts", "system:serviceaccounts:open-cluster-management", "system:authenticated"}}
		forgedNew := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "cluster.open-cluster-management.io/v1", "kind": "ManagedCluster",
			"metadata": map[string]any{"name": "ocm-new", "labels": map[string]any{engine.RegionLabel: "eu-central-1"}},
			"spec":     map[string]any{"hubAcceptsClient": false},
		}}
		var err error
		h.eventually(t, "the bootstrap identity's RBAC in force", func() error {
			_, err = dynamic.NewForConfigOrDie(bootstrapCfg).Resource(localcluster.OCMManagedClusterGVR).Create(ctx, forgedNew, metav1.CreateOptions{})
			if err != nil && strings.Contains(err.Error(), "cannot create resource") {
				return err
			}
			return nil
		})
		if err == nil || !strings.Contains(err.Error(), "may not set or change its own location labels") {
			t.Errorf("the bootstrap identity created a ManagedCluster with a region: err = %v", err)
		}
		// Its other labels are its own business.
		if err := patch(`{"team": "payments"}`); err != nil {
			t.Fatalf("an ordinary label: %v", err)
		}
		u, err := h.dyn.Resource(localcluster.OCMManagedClusterGVR).Get(ctx, "ocm-virginia", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if u.GetLabels()[h.euLabel] != "" || u.GetLabels()[h.usLabel] != "true" {
			t.Fatalf("labels %v", u.GetLabels())
		}
	})

	t.Run("a Jurisdiction deleted by mistake engages the brake, and the clusters keep their labels", func(t *testing.T) {
		// More EU ManagedClusters, so that the loss is a large share of a large enough fleet.
		// eu-west-1 is a region name several clouds use, and a ManagedCluster carries no provider the
		// hub can trust: on-prem style, a person sets the country of those.
		for name, labels := range map[string]map[string]string{
			"ocm-paris":     {engine.RegionLabel: "eu-west-3"},
			"ocm-amsterdam": {v1alpha1.CountryLabel: "NL"},
			"ocm-dublin":    {v1alpha1.CountryLabel: "IE"},
		} {
			if err := h.ocm.CreateManagedCluster(ctx, localcluster.ManagedCluster{Name: name, Labels: labels}); err != nil {
				t.Fatal(err)
			}
		}
		h.eventually(t, "the new ManagedClusters in the EU", func() error {
			j := &v1alpha1.Jurisdiction{}
			if err := h.client.Get(ctx, types.NamespacedName{Name: "eu"}, j); err != nil {
				return err
			}
			if j.Status.ClusterCount != 6 { // two Karmada Clusters and four ManagedClusters
				return fmt.Errorf("clusterCount %d", j.Status.ClusterCount)
			}
			return nil
		})
		if err := h.client.Delete(ctx, &v1alpha1.Jurisdiction{ObjectMeta: metav1.ObjectMeta{Name: "eu"}}); err != nil {
			t.Fatal(err)
		}
		h.eventually(t, "the brake engaged and the remaining EU clusters holding their label", func() error {
			cm := &corev1.ConfigMap{}
			if err := h.client.Get(ctx, types.NamespacedName{Namespace: controllers.DefaultOptions().OperatorNamespace, Name: controllers.BrakeConfigMap}, cm); err != nil {
				return err
			}
			if !strings.Contains(cm.Data["reason"], "member clusters of Jurisdiction eu") {
				return fmt.Errorf("brake %v", cm.Data)
			}
			held := 0
			for _, gvr := range []schema.GroupVersionResource{localcluster.KarmadaClusterGVR, localcluster.OCMManagedClusterGVR} {
				list, err := h.dyn.Resource(gvr).List(ctx, metav1.ListOptions{})
				if err != nil {
					return err
				}
				for _, c := range list.Items {
					if c.GetAnnotations()[controllers.HeldLabelsAnnotation] == "eu" && c.GetLabels()[h.euLabel] == "true" {
						held++
					}
				}
			}
			if held == 0 {
				return fmt.Errorf("no cluster holds its EU label")
			}
			return nil
		})
		// Where the labels are held, Karmada keeps the governed workload where it was.
		on, err := h.runsOn(ctx, "shop", "customers")
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("after the Jurisdiction's deletion customers runs on %v", on)
	})

	t.Run("with the operator down, governed placement policies fail closed and ungoverned ones are untouched", func(t *testing.T) {
		h.stopMgr()
		<-h.mgrDone
		if _, err := h.propagateEverywhere(ctx, "shop", "while-down", "customers", nil); err == nil {
			t.Fatal("a PropagationPolicy of a governed namespace was admitted unnarrowed while the operator was down")
		} else if !strings.Contains(err.Error(), "selectors.multicluster.dataresidency.io") {
			t.Fatalf("refused, but not by the placement webhook: %v", err)
		}
		if _, err := h.propagateEverywhere(ctx, "tools", "while-down", "dashboard", nil); err != nil {
			t.Fatalf("an ungoverned namespace's policy was blocked by the operator's outage: %v", err)
		}
		// What was placed stays where it was.
		on, err := h.runsOn(ctx, "tools", "dashboard")
		if err != nil || len(on) != len(h.members) {
			t.Fatalf("dashboard on %v (%v)", on, err)
		}
	})
}
