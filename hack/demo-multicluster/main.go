// Command demo-multicluster is `make demo-multicluster`: a Karmada hub (the real
// karmada-aggregated-apiserver, webhook, controller-manager and scheduler) with three member API
// servers in Frankfurt, Virginia and Tokyo joined in push mode, the operator running in the hub,
// and config/samples/multicluster/karmada.yaml: a governed app whose PropagationPolicy selects every
// cluster. It shows the members located and labelled, the policy narrowed, where the app landed
// (and where an ungoverned one did), then a member relabelled out of the EU and what follows.
// KEEP=1 keeps everything running afterwards.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
	"github.com/residency-operator/residency-operator/controllers"
	"github.com/residency-operator/residency-operator/internal/localcluster"
	residencywebhook "github.com/residency-operator/residency-operator/internal/webhook"
)

const (
	ns    = "customers"
	store = "customer-accounts"
	app   = "accounts-api"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "\nVERDICT: FAILED — %v\n", err)
		os.Exit(1)
	}
}

func step(format string, args ...any) { fmt.Printf("\n==> "+format+"\n", args...) }

func run() error {
	began := time.Now()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctrl.SetLogger(logr.Discard())
	logPath := filepath.Join(os.TempDir(), "residency-demo-multicluster.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer func() { _ = logFile.Close() }()

	step("Starting a Karmada hub with members in Frankfurt (eu-central-1), Virginia (us-east-1) and Tokyo (ap-northeast-1) (logs: %s)", logPath)
	startCtx, cancelStart := context.WithTimeout(ctx, 3*time.Minute)
	defer cancelStart()
	hub, err := localcluster.Start(startCtx, localcluster.Options{
		CRDDir: filepath.Join("config", "crd", "bases"), WebhookConfigDir: filepath.Join("config", "webhook"),
		ControlPlaneOnly: true, AggregationLayer: true, Log: logFile,
	})
	if err != nil {
		return fmt.Errorf("starting the hub: %w", err)
	}
	defer func() { _ = hub.Stop() }()
	members := []localcluster.KarmadaMember{
		{Name: "eu-frankfurt", Region: "eu-central-1", Provider: "aws", Zones: []string{"eu-central-1a"}},
		{Name: "us-virginia", Region: "us-east-1", Provider: "aws", Zones: []string{"us-east-1a"}},
		{Name: "ap-tokyo", Region: "ap-northeast-1", Provider: "aws", Zones: []string{"ap-northeast-1a"}},
	}
	k, err := localcluster.StartKarmada(startCtx, localcluster.KarmadaOptions{Hub: hub, Members: members, Log: logFile})
	if err != nil {
		return fmt.Errorf("starting Karmada: %w", err)
	}
	defer func() { _ = k.Stop() }()
	fmt.Printf("  Karmada and %d members Ready in %s\n", len(k.Members), k.StartupTime.Round(100*time.Millisecond))

	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return err
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return err
	}
	c, err := client.New(hub.Config, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: controllers.DefaultOptions().OperatorNamespace}}); err != nil {
		return err
	}

	step("Starting the operator in the hub (controllers and webhooks, as main.go wires them)")
	mgr, err := ctrl.NewManager(hub.Config, ctrl.Options{
		Scheme: scheme, Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
		WebhookServer: webhook.NewServer(hub.WebhookServerOptions()),
		Controller:    config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		return err
	}
	opts := controllers.DefaultOptions()
	opts.MultiClusterRecheck = time.Second
	if err := controllers.SetupWithManager(ctx, mgr, opts); err != nil {
		return err
	}
	if err := residencywebhook.Setup(mgr, residencywebhook.DefaultOptions()); err != nil {
		return err
	}
	mgrCtx, stopMgr := context.WithCancel(ctx)
	mgrDone := make(chan error, 1)
	go func() { mgrDone <- mgr.Start(mgrCtx) }()
	defer func() {
		stopMgr()
		if err := <-mgrDone; err != nil {
			fmt.Fprintf(os.Stderr, "the operator stopped with: %v\n", err)
		}
	}()
	if err := hub.WaitForWebhookServer(startCtx); err != nil {
		return err
	}
	kubectl := kubectlRunner(hub.Kubeconfig)

	step("Applying the EU and US Jurisdictions: the operator labels each member cluster from its spec.region")
	for _, f := range []string{"dataresidency_v1alpha1_jurisdiction_eu.yaml", "dataresidency_v1alpha1_jurisdiction_us.yaml"} {
		if err := applyFile(ctx, c, filepath.Join("config", "samples", f)); err != nil {
			return err
		}
	}
	euLabel := v1alpha1.JurisdictionLabel("eu")
	if err := waitFor(ctx, "the members labelled", func() (bool, error) {
		l, err := clusterLabels(ctx, k, "eu-frankfurt")
		return l[euLabel] == "true", err
	}); err != nil {
		return err
	}
	fmt.Println(kubectl("get", "clusters.cluster.karmada.io", "-L", v1alpha1.CountryLabel, "-L", euLabel, "-L", v1alpha1.JurisdictionLabel("us")))

	step("Applying config/samples/multicluster/karmada.yaml: store %s allows [eu]; its PropagationPolicy selects every cluster", store)
	if err := applyFile(ctx, c, filepath.Join("config", "samples", "multicluster", "karmada.yaml")); err != nil {
		return err
	}
	fmt.Println(kubectl("get", "propagationpolicy", "-n", ns, "accounts", "-o", "jsonpath={.spec.placement.clusterAffinity}{\"\\n\"}"))

	step("An ungoverned app in namespace tools, propagated everywhere, for comparison")
	if err := ungovernedApp(ctx, c, k); err != nil {
		return err
	}

	memberClients := map[string]kubernetes.Interface{}
	for name, m := range k.Members {
		memberClients[name] = kubernetes.NewForConfigOrDie(m.Config)
	}
	where := func(namespace, name string) []string {
		var on []string
		for member, cs := range memberClients {
			if _, err := cs.AppsV1().Deployments(namespace).Get(ctx, name, metav1.GetOptions{}); err == nil {
				on = append(on, member)
			}
		}
		slices.Sort(on)
		return on
	}
	if err := waitFor(ctx, "the apps propagated", func() (bool, error) {
		return slices.Equal(where(ns, app), []string{"eu-frankfurt"}) && len(where("tools", "dashboard")) == 3, nil
	}); err != nil {
		return err
	}
	time.Sleep(2 * time.Second) // anything wrong would have reached the other members by now
	step("Where Karmada put them")
	fmt.Printf("  %-22s %s\n  %-22s %s\n", "customers/"+app+":", strings.Join(where(ns, app), ", "), "tools/dashboard:", strings.Join(where("tools", "dashboard"), ", "))
	if got := where(ns, app); !slices.Equal(got, []string{"eu-frankfurt"}) {
		return fmt.Errorf("the governed app is on %v, want eu-frankfurt only", got)
	}

	step("Frankfurt's Cluster is edited to claim region me-central-1 (UAE): clusters do not move, so the operator no longer believes where it is")
	if _, err := k.Dynamic().Resource(localcluster.KarmadaClusterGVR).Patch(ctx, "eu-frankfurt", types.MergePatchType,
		[]byte(`{"spec":{"region":"me-central-1"}}`), metav1.PatchOptions{}); err != nil {
		return err
	}
	if err := waitFor(ctx, "the store Stalled", func() (bool, error) {
		s := &v1alpha1.PersonalDataStore{}
		if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: store}, s); err != nil {
			return false, err
		}
		cond := meta.FindStatusCondition(s.Status.Conditions, v1alpha1.StalledCondition)
		return cond != nil && cond.Reason == v1alpha1.ReasonNoPermittedCluster, nil
	}); err != nil {
		return err
	}
	fmt.Println(kubectl("get", "clusters.cluster.karmada.io", "eu-frankfurt", "-o", "jsonpath={.metadata.annotations.dataresidency\\.io/location-detail}{\"\\n\"}"))
	step("What follows: Karmada finds no permitted member; the store says so (Stalled) instead of the app vanishing silently")
	fmt.Println(kubectl("get", "personaldatastore", "-n", ns, store, "-o", "jsonpath={range .status.conditions[?(@.type==\"Stalled\")]}{.reason}: {.message}{\"\\n\"}{end}{range .status.violations[*]}{.reason} {.object.kind}/{.object.name}: {.message}{\"\\n\"}{end}"))
	fmt.Printf("  customers/%s now on: [%s] (with a second EU member, Karmada would have moved it there: docs/multicluster.md)\n", app, strings.Join(where(ns, app), ", "))

	step("A person confirms Frankfurt is where it was: the app comes back")
	if _, err := k.Dynamic().Resource(localcluster.KarmadaClusterGVR).Patch(ctx, "eu-frankfurt", types.MergePatchType,
		[]byte(`{"spec":{"region":"eu-central-1"}}`), metav1.PatchOptions{}); err != nil {
		return err
	}
	if err := waitFor(ctx, "the app back in Frankfurt", func() (bool, error) {
		return slices.Equal(where(ns, app), []string{"eu-frankfurt"}), nil
	}); err != nil {
		return err
	}
	fmt.Printf("  customers/%s on: [%s]\n", app, strings.Join(where(ns, app), ", "))

	fmt.Printf("\nVERDICT: OK — the governed app ran only on the EU member while the ungoverned one went everywhere; the member relabelled out of the EU left the app with no permitted cluster, which the store reported (demo took %s)\n",
		time.Since(began).Round(time.Second))
	if os.Getenv("KEEP") == "1" {
		fmt.Printf("\nKEEP=1: the hub keeps running; kubectl --kubeconfig %s get clusters.cluster.karmada.io. Ctrl-C stops it.\n", hub.Kubeconfig)
		<-ctx.Done()
	}
	return nil
}

func clusterLabels(ctx context.Context, k *localcluster.Karmada, name string) (map[string]string, error) {
	u, err := k.Dynamic().Resource(localcluster.KarmadaClusterGVR).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	return u.GetLabels(), nil
}

func ungovernedApp(ctx context.Context, c client.Client, k *localcluster.Karmada) error {
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "tools"}}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	labels := map[string]string{"app": "dashboard"}
	if err := c.Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "dashboard", Namespace: "tools"}, Spec: appsv1.DeploymentSpec{
		Replicas: ptr.To[int32](1), Selector: &metav1.LabelSelector{MatchLabels: labels},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "dashboard", Image: "registry.example/dashboard:2"}}}},
	}}); err != nil {
		return err
	}
	pp := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "policy.karmada.io/v1alpha1", "kind": "PropagationPolicy",
		"metadata": map[string]any{"name": "everywhere", "namespace": "tools"},
		"spec":     map[string]any{"resourceSelectors": []any{map[string]any{"apiVersion": "apps/v1", "kind": "Deployment"}}, "placement": map[string]any{}},
	}}
	_, err := k.Dynamic().Resource(localcluster.KarmadaPropagationPolicyGVR).Namespace("tools").Create(ctx, pp, metav1.CreateOptions{})
	return err
}

func applyFile(ctx context.Context, c client.Client, path string) error {
	return localcluster.ApplyFile(ctx, c, path, nil)
}

func waitFor(ctx context.Context, what string, done func() (bool, error)) error {
	return localcluster.WaitFor(ctx, what, 90*time.Second, done)
}

func kubectlRunner(kubeconfig string) func(args ...string) string {
	run := localcluster.KubectlRunner(kubeconfig)
	return func(args ...string) string {
		lines := strings.Split(strings.TrimRight(run(args...), "\n"), "\n")
		for i := range lines {
			lines[i] = "  " + lines[i]
		}
		return strings.Join(lines, "\n")
	}
}
