// Command demo is `make demo`: a local control plane (etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler) with kwok nodes in EU, US and Asian regions and an on-prem affiliate site, the
// operator with its webhooks, and a realistic shop application. It shows where every governed pod
// landed, then relabels a node out of the EU and shows the announced violation, the eviction and
// the compliant replacement. KEEP=1 keeps the cluster running afterwards.
package main

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/go-logr/logr"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
	"github.com/residency-operator/residency-operator/controllers"
	"github.com/residency-operator/residency-operator/internal/admissionpolicy"
	"github.com/residency-operator/residency-operator/internal/engine"
	"github.com/residency-operator/residency-operator/internal/localcluster"
	residencywebhook "github.com/residency-operator/residency-operator/internal/webhook"
)

const (
	ns          = "shop"
	relabelTo   = "japaneast" // Azure Tokyo: outside both the EU and the US
	gracePeriod = 5 * time.Second
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "\nVERDICT: FAILED — %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	began := time.Now()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctrl.SetLogger(logr.Discard())

	logPath := filepath.Join(os.TempDir(), "residency-demo.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer func() { _ = logFile.Close() }()

	step("Starting a local control plane with kwok nodes in 7 cloud regions and an on-prem site (logs: %s)", logPath)
	cluster, err := localcluster.Start(ctx, localcluster.Options{
		CRDDir:           filepath.Join("config", "crd", "bases"),
		WebhookConfigDir: filepath.Join("config", "admission-policies"),
		Nodes:            localcluster.MultiRegionNodes(),
		Log:              logFile,
	})
	if err != nil {
		return fmt.Errorf("starting the local cluster: %w", err)
	}
	defer func() { _ = cluster.Stop() }()
	fmt.Printf("  %d nodes Ready in %s\n", len(cluster.Nodes), cluster.StartupTime.Round(100*time.Millisecond))

	// Kyverno or Policy Reporter installs the PolicyReport CRD in a real cluster; the operator
	// writes reports once it is there (also when it comes later, within a minute).
	if _, err := envtest.InstallCRDs(cluster.Config, envtest.CRDInstallOptions{Paths: []string{policyReportCRD}}); err != nil {
		return fmt.Errorf("installing the PolicyReport CRD: %w", err)
	}

	step("Starting residency-operator (controllers, compiled admission policies, webhooks for pinned pods and claims)")
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = v1alpha1.AddToScheme(scheme)
	mgr, err := ctrl.NewManager(cluster.Config, ctrl.Options{
		Scheme: scheme, Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
		WebhookServer: webhook.NewServer(cluster.WebhookServerOptions()),
	})
	if err != nil {
		return err
	}
	opts := controllers.DefaultOptions()
	// A demo of seconds: the stores' history is written every second instead of every 5 minutes.
	opts.History.Flush, opts.History.MaxGap = time.Second, 10*time.Second
	if err := controllers.SetupWithManager(ctx, mgr, opts); err != nil {
		return err
	}
	if err := residencywebhook.Setup(mgr, residencywebhook.DefaultOptions()); err != nil {
		return err
	}
	mgrCtx, stopManager := context.WithCancel(ctx)
	defer stopManager()
	go func() { _ = mgr.Start(mgrCtx) }()
	if err := cluster.WaitForWebhookServer(ctx); err != nil {
		return err
	}
	c, err := client.New(cluster.Config, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	kubectl := kubectlRunner(cluster.Kubeconfig)

	step("Applying the default jurisdictions, a mail-delivery processor and the record of processing (config/samples)")
	for _, f := range []string{"dataresidency_v1alpha1_jurisdiction_eu.yaml", "dataresidency_v1alpha1_jurisdiction_us.yaml",
		"dataresidency_v1alpha1_jurisdiction_affiliate-sites.yaml", "dataresidency_v1alpha1_dataprocessor.yaml",
		"dataresidency_v1alpha1_recordofprocessing.yaml"} {
		if err := applyFile(ctx, c, filepath.Join("config", "samples", f)); err != nil {
			return err
		}
	}
	if err := waitFor(ctx, "nodes labelled with their jurisdictions", func() (bool, error) {
		var nodes corev1.NodeList
		if err := c.List(ctx, &nodes, client.HasLabels{v1alpha1.CountryLabel}); err != nil {
			return false, err
		}
		return len(nodes.Items) == len(cluster.Nodes), nil
	}); err != nil {
		return err
	}
	fmt.Println(kubectl("get", "nodes", "-L", "topology.kubernetes.io/region", "-L", v1alpha1.CountryLabel,
		"-L", v1alpha1.JurisdictionLabel("eu"), "-L", v1alpha1.JurisdictionLabel("us"), "-L", v1alpha1.JurisdictionLabel("affiliate-sites")))

	step("Applying the shop as a GitOps tool does: its Namespace (labelled to await its policies), the application, and the stores last")
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns,
		Labels: map[string]string{v1alpha1.AwaitPoliciesLabel: "true"}}}); err != nil {
		return err
	}
	if err := waitFor(ctx, "the placement gate policy", func() (bool, error) {
		var gate admissionregistrationv1.MutatingAdmissionPolicyBinding
		err := c.Get(ctx, client.ObjectKey{Name: admissionpolicy.GateName}, &gate)
		return err == nil && time.Since(gate.CreationTimestamp.Time) > 2*time.Second, client.IgnoreNotFound(err)
	}); err != nil {
		return err
	}
	for _, obj := range application() {
		if err := c.Create(ctx, obj); err != nil {
			return fmt.Errorf("creating %T: %w", obj, err)
		}
	}
	if err := waitFor(ctx, "the application's pods", func() (bool, error) {
		var pods corev1.PodList
		err := c.List(ctx, &pods, client.InNamespace(ns))
		return len(pods.Items) >= 9, err // the StatefulSet creates its second pod once the first runs
	}); err != nil {
		return err
	}
	fmt.Println("  before the stores exist, the pods wait at the placement gate instead of being scheduled unplaced:")
	fmt.Println(indent(kubectl("get", "pods", "-n", ns, "-o", "custom-columns=POD:.metadata.name,GATES:.spec.schedulingGates[*].name,NODE:.spec.nodeName")))
	for _, st := range stores() {
		if err := c.Create(ctx, st); err != nil {
			return err
		}
	}
	fmt.Println("  the stores (customer-db: EU only; web-sessions: EU or US) are compiled into the namespace's AdmissionPlan, which the cluster's residency admission policies read inside kube-apiserver:")
	if err := waitFor(ctx, "the shop's policies in force", func() (bool, error) {
		var n corev1.Namespace
		if err := c.Get(ctx, client.ObjectKey{Name: ns}, &n); err != nil {
			return false, err
		}
		return n.Labels[v1alpha1.PoliciesCompiledLabel] == "true", nil
	}); err != nil {
		return err
	}
	fmt.Println(indent(kubectl("get", "mutatingadmissionpolicies,validatingadmissionpolicies", "-l", admissionpolicy.ManagedByLabel+"="+admissionpolicy.ManagedBy)))
	fmt.Println(indent(kubectl("get", "admissionplans", "-n", ns, "-o",
		"custom-columns=NAMESPACE:.metadata.namespace,PLAN:.metadata.name,STORES:.spec.selections[*].stores[*]")))
	if err := waitRunning(ctx, c, 10); err != nil {
		return err
	}
	if err := printPlacement(ctx, c); err != nil {
		return err
	}
	if err := waitCompliant(ctx, c); err != nil {
		return err
	}
	fmt.Println(kubectl("get", "pds", "-A"))

	step("A person relabels a node: its region is now %s (Japan), outside the EU and the US", relabelTo)
	target, evicted, err := pickRelabelTarget(ctx, c)
	if err != nil {
		return err
	}
	var node corev1.Node
	if err := c.Get(ctx, client.ObjectKey{Name: target}, &node); err != nil {
		return err
	}
	// A person moving a node confirms it with the restricted label too; the region label alone
	// (what a compromised kubelet could write) would make the node Untrusted instead.
	patch := client.MergeFrom(node.DeepCopy())
	node.Labels[corev1.LabelTopologyRegion] = relabelTo
	node.Labels[corev1.LabelTopologyZone] = relabelTo + "-1"
	node.Labels[v1alpha1.ConfirmedRegionLabel] = relabelTo
	if err := c.Patch(ctx, &node, patch); err != nil {
		return err
	}
	relabelled := time.Now()
	fmt.Printf("  kubectl label node %s topology.kubernetes.io/region=%s %s=%s --overwrite   (it runs %s)\n",
		target, relabelTo, v1alpha1.ConfirmedRegionLabel, relabelTo, strings.Join(evicted, ", "))

	var announced v1alpha1.Violation
	if err := waitFor(ctx, "the violation to be announced", func() (bool, error) {
		var s v1alpha1.PersonalDataStore
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "web-sessions"}, &s); err != nil {
			return false, err
		}
		for _, v := range s.Status.Violations {
			if v.Node == target && v.EvictionTime != nil {
				announced = v
				return true, nil
			}
		}
		return false, nil
	}); err != nil {
		return err
	}
	fmt.Printf("  after %s, status.violations of web-sessions says:\n    %s %s: %s (%s)\n    eviction announced for %s (grace period %s)\n",
		time.Since(relabelled).Round(time.Millisecond), announced.Object.Kind, announced.Object.Name, announced.Message,
		announced.Reason, announced.EvictionTime.UTC().Format(time.TimeOnly), gracePeriod)
	fmt.Println(kubectl("get", "pds", "-n", ns))

	step("Waiting for the grace period, the eviction, and the replacement")
	if err := waitFor(ctx, "the violating pods to be evicted and replaced on permitted nodes", func() (bool, error) {
		var s v1alpha1.PersonalDataStore
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "web-sessions"}, &s); err != nil {
			return false, err
		}
		running, err := runningGoverned(ctx, c)
		return err == nil && s.Status.ViolationCount == 0 && running == 10, err
	}); err != nil {
		return err
	}
	fmt.Println(kubectl("get", "events", "-n", ns, "--field-selector", "reason=Evicted", "--sort-by", ".eventTime", "-o",
		"custom-columns=TIME:.eventTime,KIND:.involvedObject.kind,OBJECT:.involvedObject.name,MESSAGE:.message"))
	if err := printPlacement(ctx, c); err != nil {
		return err
	}
	fmt.Println(kubectl("get", "pds", "-A"))

	if err := exceptionStep(ctx, cluster.Config, scheme, kubectl); err != nil {
		return err
	}

	step("The residency history: one ResidencyRecord per store and UTC day, each with the hash of the one before (docs/history.md)")
	if err := waitFor(ctx, "the eviction to reach the web-sessions store's history", func() (bool, error) {
		var records v1alpha1.ResidencyRecordList
		if err := c.List(ctx, &records, client.InNamespace(ns)); err != nil {
			return false, err
		}
		for _, r := range records.Items {
			if r.Spec.Store.Name == "web-sessions" && len(r.Spec.Evictions) > 0 {
				return true, nil
			}
		}
		return false, nil
	}); err != nil {
		return err
	}
	fmt.Println(kubectl("get", "residencyrecords", "-n", ns, "-o",
		"custom-columns=RECORD:.metadata.name,STORE:.spec.store.name,SEQ:.spec.sequence,COUNTRIES:.spec.locations[*].country,VIOLATIONS:.spec.violations[*].object.name,EVICTED:.spec.evictions[*].pod.name,HASH:.spec.hash"))

	step("The auditor's report: record of processing and evidence per store, its hash chain verified (docs/reporting.md)")
	reportPath := filepath.Join(os.TempDir(), "residency-demo-report.html")
	plugin := filepath.Join("bin", "kubectl-residency") // `make demo` builds it
	for _, args := range [][]string{
		{"report", "-n", ns, "--verify", "--from", began.UTC().Format("2006-01-02"), "-o", "html", "--output-file", reportPath},
		{"report", "-n", ns, "--verify", "--from", began.UTC().Format("2006-01-02"), "-o", "csv"},
	} {
		cmd := exec.CommandContext(ctx, plugin, append([]string{"--kubeconfig", cluster.Kubeconfig}, args...)...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return fmt.Errorf("kubectl residency %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
		}
		if args[len(args)-1] == "csv" {
			printWhere(string(out))
		}
	}
	fmt.Printf("  kubectl residency report -n %s --verify -o html: chain verified, written to %s\n", ns, reportPath)
	if err := policyReportStep(ctx, c, kubectl); err != nil {
		return err
	}

	outside, total, err := outsidePermitted(ctx, c)
	if err != nil {
		return err
	}
	if outside > 0 {
		return fmt.Errorf("%d of %d governed pods run outside their permitted jurisdictions", outside, total)
	}
	fmt.Printf("\nVERDICT: OK — %d governed pods, 0 outside their permitted jurisdictions; the relabelled node's pods were announced, evicted after %s and replaced in permitted places (demo took %s)\n",
		total, gracePeriod, time.Since(began).Round(time.Second))

	if os.Getenv("KEEP") == "1" {
		fmt.Printf("\nThe cluster keeps running. In another terminal:\n  export KUBECONFIG=%s\n  %s get pds -A\nPress Ctrl-C to stop it.\n",
			cluster.Kubeconfig, filepath.Join(os.Getenv("KUBEBUILDER_ASSETS"), "kubectl"))
		<-ctx.Done()
	}
	return nil
}

// policyReportCRD is a faithful copy of the wgpolicyk8s.io/v1alpha2 PolicyReport CRD, which the
// operator does not ship.
var policyReportCRD = filepath.Join("controllers", "testdata", "reportcrds", "wgpolicyk8s.io_policyreports.yaml")

// policyReportStep shows the shop's PolicyReport, as Policy Reporter would read it.
func policyReportStep(ctx context.Context, c client.Client, kubectl func(...string) string) error {
	step("The PolicyReport the operator keeps for the namespace (one result per governed pod and claim, rule = the CLI's RES ID)")
	if err := waitFor(ctx, "the shop's PolicyReport", func() (bool, error) {
		report := &unstructured.Unstructured{}
		report.SetAPIVersion("wgpolicyk8s.io/v1alpha2")
		report.SetKind("PolicyReport")
		err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: controllers.PolicyReportName}, report)
		if err != nil {
			return false, client.IgnoreNotFound(err)
		}
		results, _, _ := unstructured.NestedSlice(report.Object, "results")
		return len(results) > 0, nil
	}); err != nil {
		return err
	}
	fmt.Println(kubectl("get", "policyreports", "-A"))
	fmt.Println("    RESULT\tPOLICY\tRULE\tOBJECT\tNODE/VOLUME\tCOUNTRY\tEXCEPTION")
	fmt.Println(indent(kubectl("get", "policyreport", controllers.PolicyReportName, "-n", ns, "-o",
		`jsonpath={range .results[*]}{.result}{"\t"}{.policy}{"\t"}{.rule}{"\t"}{.resources[0].kind}/{.resources[0].name}{"\t"}{.properties.node}{.properties.volume}{"\t"}{.properties.country}{"\t"}{.properties.exception}{"\n"}{end}`)))
	return nil
}

func step(format string, args ...any) { fmt.Printf("\n==> "+format+"\n", args...) }

// exceptionStep shows an exception as a request: recorded with who asked, refused to its own
// requester, Active once someone else approves it.
func exceptionStep(ctx context.Context, cfg *rest.Config, scheme *runtime.Scheme, kubectl func(...string) string) error {
	step("A ResidencyException is a request: alice asks for one, cannot approve it herself, and the DPO approves it")
	as := func(user string) (client.Client, error) {
		c := rest.CopyConfig(cfg)
		// Both are cluster admins here: the webhook, not RBAC, refuses alice's own approval.
		c.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: []string{"system:masters", "system:authenticated"}}
		return client.New(c, client.Options{Scheme: scheme})
	}
	alice, err := as("alice@example.com")
	if err != nil {
		return err
	}
	dpo, err := as("dpo@example.com")
	if err != nil {
		return err
	}
	ex := &v1alpha1.ResidencyException{ObjectMeta: metav1.ObjectMeta{Name: "legal-hold-2026-117", Namespace: ns},
		Spec: v1alpha1.ResidencyExceptionSpec{
			Selector: metav1.LabelSelector{MatchLabels: map[string]string{"job-name": "legal-hold-export"}},
			Stores:   []v1alpha1.ObjectName{"customer-db"}, Reason: v1alpha1.LegalProcess,
			Justification: "Subpoena 2026-117 requires production of one customer's records by US counsel.",
			ApprovedBy:    "ciso@example.com", // a note: it approves nothing
			ExpiresAt:     metav1.NewTime(time.Now().Add(14 * 24 * time.Hour).Truncate(time.Second)),
		}}
	if err := alice.Create(ctx, ex); err != nil {
		return err
	}
	fmt.Printf("  alice applied it (approvedBy: ciso@example.com); the webhook recorded requester %s; it exempts nothing yet\n", ex.Spec.Requester.Username)
	decide := func(c client.Client) error {
		return c.Status().Patch(ctx, ex, client.RawPatch(types.MergePatchType, []byte(`{"status":{"approval":{"decision":"Approved"}}}`)))
	}
	err = decide(alice)
	if err == nil {
		return errors.New("alice approved her own exception")
	}
	fmt.Printf("  kubectl residency approve exception/%s -n %s   (as alice)\n    refused: %s\n", ex.Name, ns, err)
	if err := decide(dpo); err != nil {
		return fmt.Errorf("the DPO's approval: %w", err)
	}
	fmt.Printf("  kubectl residency approve exception/%s -n %s   (as dpo@example.com)\n    approved by %s at generation %d\n", ex.Name, ns, ex.Status.Approval.User, ex.Status.Approval.Generation)
	if err := waitFor(ctx, "the exception to be Active", func() (bool, error) {
		var got v1alpha1.ResidencyException
		if err := dpo.Get(ctx, client.ObjectKeyFromObject(ex), &got); err != nil {
			return false, err
		}
		return meta.IsStatusConditionTrue(got.Status.Conditions, v1alpha1.ActiveCondition), nil
	}); err != nil {
		return err
	}
	fmt.Println(kubectl("get", "rex", "-n", ns, "-o", "wide"))
	return nil
}

func stores() []*v1alpha1.PersonalDataStore {
	return []*v1alpha1.PersonalDataStore{
		{
			ObjectMeta: metav1.ObjectMeta{Name: "customer-db", Namespace: ns},
			Spec: v1alpha1.PersonalDataStoreSpec{
				Description:          "Customer accounts: sign-in credentials and contact details",
				Purposes:             []string{"customer account management", "order confirmations by email"},
				DataSubjects:         []string{"customers"},
				ErasureTimeLimit:     "24 months after the account is closed",
				DataCategories:       []v1alpha1.DataCategory{v1alpha1.Credentials, v1alpha1.SecurityQuestions, v1alpha1.ContactDetails},
				AllowedJurisdictions: []v1alpha1.JurisdictionName{"eu"},
				WorkloadSelector:     metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": "customer-db"}},
				VolumeSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": "customer-db"}},
				Enforcement:          v1alpha1.Enforce,
				EvictionGracePeriod:  &metav1.Duration{Duration: gracePeriod},
				Processors:           []v1alpha1.ObjectName{"mail-delivery"},
			},
		},
		{
			ObjectMeta: metav1.ObjectMeta{Name: "web-sessions", Namespace: ns},
			Spec: v1alpha1.PersonalDataStoreSpec{
				Description:      "Web tier: pages viewed and links clicked",
				Purposes:         []string{"service improvement", "fraud prevention"},
				DataSubjects:     []string{"customers", "website visitors"},
				ErasureTimeLimit: "13 months after collection",
				// Its pods may run in US regions: the basis the report judges that by.
				Transfer:             &v1alpha1.TransferBasis{Mechanism: v1alpha1.MechanismAdequacyDecision, AdequacyDecision: "us-dpf"},
				DataCategories:       []v1alpha1.DataCategory{v1alpha1.UsageActivity},
				AllowedJurisdictions: []v1alpha1.JurisdictionName{"eu", "us"},
				WorkloadSelector:     metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": "web"}},
				Enforcement:          v1alpha1.Enforce,
				EvictionGracePeriod:  &metav1.Duration{Duration: gracePeriod},
			},
		},
	}
}

// application is the shop: a database StatefulSet on local volumes of two EU nodes (as a
// local-storage provisioner would offer them), and a web Deployment.
func application() []client.Object {
	wffc := storagev1.VolumeBindingWaitForFirstConsumer
	objs := []client.Object{&storagev1.StorageClass{
		ObjectMeta:        metav1.ObjectMeta{Name: "local-ssd"},
		Provisioner:       "kubernetes.io/no-provisioner",
		VolumeBindingMode: &wffc,
	}}
	for _, node := range []string{"aws-eu-central-1a", "aws-eu-central-1b", "gce-europe-west1-b"} {
		objs = append(objs, &corev1.PersistentVolume{
			ObjectMeta: metav1.ObjectMeta{Name: "local-" + node},
			Spec: corev1.PersistentVolumeSpec{
				Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")},
				AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				StorageClassName:              "local-ssd",
				PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
				PersistentVolumeSource:        corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: "/mnt/disks/ssd0"}},
				NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
					MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{node}}},
				}}}},
			},
		})
	}
	dbLabels := map[string]string{"app.kubernetes.io/name": "customer-db"}
	webLabels := map[string]string{"app.kubernetes.io/name": "web"}
	container := func(name string) []corev1.Container {
		return []corev1.Container{{Name: name, Image: "registry.example/shop/" + name + ":1.4.2"}}
	}
	objs = append(objs,
		&appsv1.StatefulSet{
			ObjectMeta: metav1.ObjectMeta{Name: "customer-db", Namespace: ns},
			Spec: appsv1.StatefulSetSpec{
				Replicas: ptr.To[int32](2), ServiceName: "customer-db",
				Selector: &metav1.LabelSelector{MatchLabels: dbLabels},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: dbLabels}, Spec: corev1.PodSpec{
					Containers: []corev1.Container{{Name: "postgres", Image: "registry.example/postgres:17",
						VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/var/lib/postgresql"}}}},
				}},
				VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
					ObjectMeta: metav1.ObjectMeta{Name: "data", Labels: dbLabels},
					Spec: corev1.PersistentVolumeClaimSpec{
						AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}, StorageClassName: ptr.To("local-ssd"),
						Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")}},
					},
				}},
			},
		},
		&appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To[int32](8),
				Selector: &metav1.LabelSelector{MatchLabels: webLabels},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: webLabels}, Spec: corev1.PodSpec{Containers: container("web")}},
			},
		},
	)
	return objs
}

func runningGoverned(ctx context.Context, c client.Client) (int, error) {
	var pods corev1.PodList
	if err := c.List(ctx, &pods, client.InNamespace(ns)); err != nil {
		return 0, err
	}
	n := 0
	for _, p := range pods.Items {
		if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp.IsZero() {
			n++
		}
	}
	return n, nil
}

func waitRunning(ctx context.Context, c client.Client, want int) error {
	return waitFor(ctx, fmt.Sprintf("%d pods Running", want), func() (bool, error) {
		n, err := runningGoverned(ctx, c)
		return n == want, err
	})
}

func waitCompliant(ctx context.Context, c client.Client) error {
	return waitFor(ctx, "both stores Compliant", func() (bool, error) {
		var list v1alpha1.PersonalDataStoreList
		if err := c.List(ctx, &list, client.InNamespace(ns)); err != nil {
			return false, err
		}
		for _, s := range list.Items {
			if s.Status.ObservedGeneration != s.Generation || s.Status.ViolationCount != 0 || s.Status.GovernedPods == 0 {
				return false, nil
			}
		}
		return len(list.Items) == 2, nil
	})
}

// printPlacement shows where every governed pod landed.
func printPlacement(ctx context.Context, c client.Client) error {
	var pods corev1.PodList
	if err := c.List(ctx, &pods, client.InNamespace(ns)); err != nil {
		return err
	}
	slices.SortFunc(pods.Items, func(a, b corev1.Pod) int { return strings.Compare(a.Name, b.Name) })
	w := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(w, "  POD\tSTORES\tNODE\tREGION\tCOUNTRY\tJURISDICTIONS\tALLOWED")
	for _, p := range pods.Items {
		if !p.DeletionTimestamp.IsZero() || p.Spec.NodeName == "" {
			continue
		}
		var node corev1.Node
		if err := c.Get(ctx, client.ObjectKey{Name: p.Spec.NodeName}, &node); err != nil {
			return err
		}
		fmt.Fprintf(w, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.Name, p.Annotations[v1alpha1.StoresAnnotation], node.Name,
			node.Labels[corev1.LabelTopologyRegion], node.Labels[v1alpha1.CountryLabel], strings.Join(engine.LabelledJurisdictions(node.Labels), ","),
			p.Annotations[v1alpha1.AllowedJurisdictionsAnnotation])
	}
	return w.Flush()
}

// pickRelabelTarget chooses an EU node that runs web pods and no database pod (the database's
// data is on local volumes there, which would make its story a different one).
func pickRelabelTarget(ctx context.Context, c client.Client) (string, []string, error) {
	var pods corev1.PodList
	if err := c.List(ctx, &pods, client.InNamespace(ns)); err != nil {
		return "", nil, err
	}
	web, db := map[string][]string{}, map[string]bool{}
	for _, p := range pods.Items {
		if p.Labels["app.kubernetes.io/name"] == "customer-db" {
			db[p.Spec.NodeName] = true
		} else {
			web[p.Spec.NodeName] = append(web[p.Spec.NodeName], p.Name)
		}
	}
	// The Azure node's providerID encodes no region, so a person can move it (a region in the
	// providerID cannot change); prefer it.
	for _, node := range []string{"azure-westeurope-1", "gce-europe-west1-b", "aws-eu-central-1b", "aws-eu-central-1a"} {
		if len(web[node]) > 0 && !db[node] {
			return node, web[node], nil
		}
	}
	return "", nil, errors.New("no EU node runs web pods without database pods")
}

// outsidePermitted counts governed pods on nodes outside their permitted jurisdictions, by the
// annotation the webhook wrote and the labels the node carries now.
func outsidePermitted(ctx context.Context, c client.Client) (outside, total int, err error) {
	var pods corev1.PodList
	if err := c.List(ctx, &pods, client.InNamespace(ns)); err != nil {
		return 0, 0, err
	}
	for _, p := range pods.Items {
		req, governed := engine.RequirementFromAnnotations(p.Annotations)
		if !governed || !p.DeletionTimestamp.IsZero() {
			continue
		}
		total++
		var node corev1.Node
		if err := c.Get(ctx, client.ObjectKey{Name: p.Spec.NodeName}, &node); err != nil {
			return 0, 0, err
		}
		// No Jurisdiction specs: nothing pruned, the plain "a node in one of each store's".
		terms, err := req.Terms(nil)
		if err != nil {
			return 0, 0, fmt.Errorf("pod %s: %w", p.Name, err)
		}
		if !engine.NodePermitted(&node, terms) {
			outside++
		}
	}
	return outside, total, nil
}

func applyFile(ctx context.Context, c client.Client, path string) error {
	return localcluster.ApplyFile(ctx, c, path, nil)
}

func waitFor(ctx context.Context, what string, done func() (bool, error)) error {
	return localcluster.WaitFor(ctx, what, 90*time.Second, done)
}

func kubectlRunner(kubeconfig string) func(args ...string) string {
	run := localcluster.KubectlRunner(kubeconfig)
	return func(args ...string) string { return indent(run(args...)) }
}

func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i := range lines {
		lines[i] = "  " + lines[i]
	}
	return strings.Join(lines, "\n")
}

// printWhere prints, from the report's CSV, the pod-hours each store spent per country and
// whether its chain verified: what an auditor reads first.
func printWhere(csvText string) {
	rows, err := csv.NewReader(strings.NewReader(csvText)).ReadAll()
	if err != nil {
		fmt.Printf("  (reading the report's CSV: %v)\n", err)
		return
	}
	fmt.Printf("  %-14s %-8s %-10s %s\n", "STORE", "COUNTRY", "POD-HOURS", "IN EEA")
	inEEA := map[string]string{}
	for _, r := range rows {
		if len(r) == 6 && r[0] == "location" && r[4] == "inEEA" {
			inEEA[r[2]+"/"+r[3]] = r[5]
		}
	}
	for _, r := range rows {
		if len(r) != 6 {
			continue
		}
		switch {
		case r[0] == "location" && r[4] == "podHours":
			fmt.Printf("  %-14s %-8s %-10s %s\n", r[2], r[3], r[5], inEEA[r[2]+"/"+r[3]])
		case r[0] == "verification" && r[4] == "verified":
			fmt.Printf("  chain of %s verified: %s\n", r[2], r[5])
		}
	}
}
