// Command manager runs residency-operator: it labels nodes with their jurisdictions, keeps the
// governed-namespace labels, and serves the admission webhooks, metrics and health probes.
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/open-policy-agent/cert-controller/pkg/rotator"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
	"github.com/residency-operator/residency-operator/controllers"
	residencywebhook "github.com/residency-operator/residency-operator/internal/webhook"
)

var scheme = runtime.NewScheme()

// The self-managed certificate: cert-controller keeps a CA and serving certificate in a Secret of
// the operator's namespace and injects the CA into the webhook configurations.
// +kubebuilder:rbac:groups="",namespace=system,resources=secrets,verbs=get;list;watch;create;update;patch
// It may change only its own two configurations (their default names; the chart writes its own):
// an operator that can rewrite any webhook configuration can switch off any cluster's admission.
// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=mutatingwebhookconfigurations;validatingwebhookconfigurations,verbs=get;list;watch
// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=mutatingwebhookconfigurations,verbs=update;patch,resourceNames=residency-mutating-webhook-configuration
// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=validatingwebhookconfigurations,verbs=update;patch,resourceNames=residency-validating-webhook-configuration

// --metrics-secure authenticates and authorizes scrapers through the API server.
// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(v1alpha1.AddToScheme(scheme))
}

func main() {
	var (
		metricsAddr, probeAddr, certDir string
		webhookPort                     int
		leaderElect, secureMetrics      bool
		enableHTTP2, webhookHTTP2       bool
		enableWebhooks                  bool
		certManagement                  string
		namespace, serviceName          string
		secretName                      string
		mutatingName, validatingName    string
		admissionMode                   string
		webhookOpts                     = residencywebhook.DefaultOptions()
	)
	// Leader election is on by default in a cluster (two replicas must not both evict) and off
	// when the manager runs outside one, as in `make run` against a local control plane.
	_, inCluster := os.LookupEnv("KUBERNETES_SERVICE_HOST")
	flag.StringVar(&metricsAddr, "metrics-bind-address", ":8080", "Address the metrics endpoint binds to; 0 disables it.")
	flag.BoolVar(&secureMetrics, "metrics-secure", false, "Serve metrics over HTTPS with authentication and authorization.")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "Address the health and readiness probes bind to.")
	flag.BoolVar(&leaderElect, "leader-elect", inCluster, "Elect a leader so only one replica acts; default true in a cluster.")
	// The client-go defaults; a test of failover shortens them.
	leaseDuration, renewDeadline, retryPeriod := 15*time.Second, 10*time.Second, 2*time.Second
	flag.DurationVar(&leaseDuration, "leader-elect-lease-duration", leaseDuration, "How long a lost leader's lease blocks the other replicas before one takes over.")
	flag.DurationVar(&renewDeadline, "leader-elect-renew-deadline", renewDeadline, "How long the leader keeps trying to renew its lease before it stops acting.")
	flag.DurationVar(&retryPeriod, "leader-elect-retry-period", retryPeriod, "How often the replicas try to acquire or renew the lease.")
	flag.IntVar(&webhookPort, "webhook-port", 9443, "Port the admission webhook server listens on.")
	flag.DurationVar(&webhookOpts.MaxExceptionDuration, "max-exception-duration", webhookOpts.MaxExceptionDuration,
		"The longest window a ResidencyException may have, from its start (or its creation) to its expiry; longer ones are refused at creation and at approval.")
	flag.StringVar(&certDir, "webhook-cert-dir", "", "Folder with the webhook server's tls.crt and tls.key; empty uses controller-runtime's default.")
	flag.BoolVar(&enableHTTP2, "enable-http2", false, "Enable HTTP/2 for the metrics server (off by default: CVE-2023-44487, CVE-2023-39325).")
	flag.BoolVar(&webhookHTTP2, "webhook-http2", true, "Serve the webhooks over HTTP/2 as well as HTTP/1.1. The API server then multiplexes its webhook calls over one connection; over HTTP/1.1 it opens a new TLS connection for every concurrent call beyond its idle pool of 25, a handshake on both sides when hundreds of governed pods are created at once.")
	flag.BoolVar(&enableWebhooks, "enable-webhooks", true, "Serve the pod and PersistentVolumeClaim admission webhooks.")
	flag.StringVar(&certManagement, "cert-management", "self",
		"Who provides the webhook serving certificate: self (a rotating, self-signed CA kept in a Secret, injected into the webhook configurations) or external (cert-manager, or files you mount into --webhook-cert-dir).")
	flag.StringVar(&namespace, "namespace", envOr("POD_NAMESPACE", "residency-system"), "The operator's namespace, where the certificate Secret lives.")
	flag.StringVar(&serviceName, "webhook-service-name", "residency-webhook-service", "The webhook Service's name, for the certificate's DNS names.")
	flag.StringVar(&secretName, "webhook-secret-name", "residency-webhook-server-cert", "The Secret that holds the self-managed webhook certificate.")
	flag.StringVar(&mutatingName, "mutating-webhook-configuration", "residency-mutating-webhook-configuration", "The MutatingWebhookConfiguration whose CA bundle the self-managed certificate keeps current.")
	flag.StringVar(&validatingName, "validating-webhook-configuration", "residency-validating-webhook-configuration", "The ValidatingWebhookConfiguration whose CA bundle the self-managed certificate keeps current.")
	controllerOpts := controllers.DefaultOptions()
	flag.Float64Var(&controllerOpts.EvictionsPerSecond, "evictions-per-second", controllerOpts.EvictionsPerSecond,
		"Evictions of violating pods per second, across all stores (PodDisruptionBudgets apply as well).")
	flag.IntVar(&controllerOpts.EvictionBurst, "eviction-burst", controllerOpts.EvictionBurst, "Evictions allowed in a burst above the steady rate.")
	flag.Float64Var(&controllerOpts.BrakeShare, "eviction-brake-share", controllerOpts.BrakeShare,
		"Pause every eviction when more than this share of the governed pods became violations, or of a Jurisdiction's nodes lost its label, within --eviction-brake-window (a wrong Jurisdiction edit, a node label change); a person resumes them. 0 disables the brake.")
	flag.IntVar(&controllerOpts.BrakeMinPods, "eviction-brake-min-pods", controllerOpts.BrakeMinPods, "The least number of new violations that can engage the eviction brake.")
	flag.StringVar(&controllerOpts.DNS.Namespace, "dns-namespace", controllerOpts.DNS.Namespace,
		"The namespace of the cluster DNS pods, the only DNS servers governed pods may query when their store restricts egress.")
	flag.Func("dns-pod-selector", "The labels of the cluster DNS pods (a label selector such as k8s-app=kube-dns; default k8s-app=kube-dns).",
		func(s string) error {
			sel, err := metav1.ParseToLabelSelector(s)
			if err != nil {
				return err
			}
			controllerOpts.DNS.PodSelector = *sel
			return nil
		})
	flag.BoolVar(&controllerOpts.Trust.RegistrationTopology, "trust-registration-topology", false,
		"Believe the topology.kubernetes.io/region label of nodes whose spec.providerID does not say where they are (Azure, DigitalOcean, Hetzner, IBM, on-prem), "+
			"although their kubelet may set it. Off: such a node is in no jurisdiction until a person labels it "+v1alpha1.ConfirmedRegionLabel+"=<region>. "+
			"Either way, the region first seen is pinned and a later change makes the node Untrusted until a person confirms it.")
	flag.IntVar(&controllerOpts.BrakeMinNodes, "eviction-brake-min-nodes", controllerOpts.BrakeMinNodes, "The least number of nodes losing a Jurisdiction's label that can engage the eviction brake.")
	flag.Func("policy-reports", "Which policy reports to write for each governed namespace: policyreport (wgpolicyk8s.io/v1alpha2 PolicyReport, read by Policy Reporter and Kyverno's tools), openreports (openreports.io/v1alpha1 Report) or off. The CRD is not shipped: until it is installed the operator logs one line and looks again every minute.",
		func(s string) error {
			f, err := controllers.ParseReportFormat(s)
			controllerOpts.PolicyReports = f
			return err
		})
	flag.IntVar(&controllerOpts.PolicyReportMaxResults, "policy-report-max-results", controllerOpts.PolicyReportMaxResults,
		"The most results a namespace's report lists, failures first; the summary counts all and the annotation "+controllers.OmittedResultsAnnotation+" says how many were left out.")
	flag.BoolVar(&controllerOpts.MultiCluster, "multicluster", controllerOpts.MultiCluster,
		"In a Karmada or Open Cluster Management hub: label member clusters with their jurisdictions and audit where governed templates were placed (see docs/multicluster.md). The APIs are looked for every minute, so either may be installed after the operator.")
	flag.DurationVar(&controllerOpts.BrakeWindow, "eviction-brake-window", controllerOpts.BrakeWindow, "How recent a violation must be to count towards the eviction brake.")
	flag.DurationVar(&controllerOpts.History.Period, "history-period", controllerOpts.History.Period,
		"Length of one ResidencyRecord of a store's history (periods align to UTC; whole days start at midnight UTC); 0 writes no history.")
	flag.DurationVar(&controllerOpts.History.Flush, "history-flush-interval", controllerOpts.History.Flush,
		"How often a store's open ResidencyRecord is written, and how often its pods are sampled: what a crash of the operator can lose.")
	flag.IntVar(&controllerOpts.History.Retention, "history-retention", controllerOpts.History.Retention,
		"How many periods of history are kept per store (records of deleted stores too); 0 keeps them all.")
	flag.StringVar(&admissionMode, "admission", AdmissionPolicies,
		"How governed pods are placed and checked at creation: "+AdmissionPolicies+" (compiled MutatingAdmissionPolicies and ValidatingAdmissionPolicies that kube-apiserver evaluates itself, Kubernetes 1.36 or later; the webhooks then only judge pods pinned with spec.nodeName and claims), "+
			AdmissionWebhook+" (the webhooks only, for older clusters), or "+AdmissionBoth+". The webhook configurations must match: the chart's admission.mode sets both.")
	flag.Func("excluded-namespaces", "Comma-separated namespaces never given admission policies nor the placement gate, besides kube-system and --namespace; keep it equal to the webhooks' excluded namespaces.",
		func(v string) error {
			for _, ns := range strings.Split(v, ",") {
				if ns = strings.TrimSpace(ns); ns != "" {
					controllerOpts.ExcludedNamespaces = append(controllerOpts.ExcludedNamespaces, ns)
				}
			}
			return nil
		})
	zapOpts := zap.Options{Development: false}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	if *printVersion {
		writeVersion(os.Stdout)
		return
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	setupLog := ctrl.Log.WithName("setup")
	switch admissionMode {
	case AdmissionPolicies, AdmissionBoth:
		controllerOpts.AdmissionPolicies = true
	case AdmissionWebhook:
		controllerOpts.AdmissionPolicies = false
	default:
		setupLog.Error(nil, "invalid --admission", "value", admissionMode, "allowed", []string{AdmissionPolicies, AdmissionWebhook, AdmissionBoth})
		os.Exit(2)
	}
	controllerOpts.OperatorNamespace = namespace

	mgr, err := ctrl.NewManager(ctrl.GetConfigOrDie(), ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsOptions(metricsAddr, secureMetrics, residencywebhook.TLSOptions(enableHTTP2)),
		HealthProbeBindAddress: probeAddr,
		LeaderElection:         leaderElect,
		LeaderElectionID:       "residency-operator.dataresidency.io",
		// Outside a pod there is no namespace file to default from.
		LeaderElectionNamespace: namespace,
		LeaseDuration:           &leaseDuration,
		RenewDeadline:           &renewDeadline,
		RetryPeriod:             &retryPeriod,
		// A replica stopped on purpose (a rollout) hands the lease over at once; main returns
		// right after the manager stops, so no work outlives the lease.
		LeaderElectionReleaseOnCancel: true,
		// The operator reads Secrets only for its own certificate: cache them in its namespace only.
		// Pods and nodes are cached cluster-wide; managed fields are most of their bytes and
		// nothing here reads them.
		Cache: cache.Options{DefaultTransform: cache.TransformStripManagedFields(), ByObject: map[client.Object]cache.ByObject{
			&corev1.Secret{}: {Namespaces: map[string]cache.Config{namespace: {}}},
		}},
		WebhookServer: webhook.NewServer(webhook.Options{Port: webhookPort, CertDir: certDirOrDefault(certDir), TLSOpts: residencywebhook.TLSOptions(webhookHTTP2)}),
	})
	if err != nil {
		setupLog.Error(err, "unable to create manager")
		os.Exit(1)
	}

	ctx := ctrl.SetupSignalHandler()
	if err := controllers.SetupWithManager(ctx, mgr, controllerOpts); err != nil {
		setupLog.Error(err, "unable to set up controllers")
		os.Exit(1)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		setupLog.Error(err, "unable to set up health check")
		os.Exit(1)
	}
	// Webhooks are registered only once their certificate exists: the webhook server cannot
	// start without one, and readiness waits for it so no traffic reaches a replica too early.
	webhooksReady := make(chan struct{})
	if enableWebhooks {
		certsReady := make(chan struct{})
		switch certManagement {
		case "self":
			if err := rotator.AddRotator(mgr, &rotator.CertRotator{
				SecretKey: types.NamespacedName{Namespace: namespace, Name: secretName},
				// Not mgr.GetWebhookServer(): that registers the server, which would start (and
				// fail) before the certificate exists.
				CertDir:        certDirOrDefault(certDir),
				CAName:         "residency-operator-ca",
				CAOrganization: "residency-operator",
				DNSName:        fmt.Sprintf("%s.%s.svc", serviceName, namespace),
				ExtraDNSNames:  []string{fmt.Sprintf("%s.%s.svc.cluster.local", serviceName, namespace)},
				IsReady:        certsReady,
				Webhooks: []rotator.WebhookInfo{
					{Name: mutatingName, Type: rotator.Mutating},
					{Name: validatingName, Type: rotator.Validating},
				},
				// Every replica serves webhooks, so every replica keeps its certificate files current.
				RequireLeaderElection: false,
			}); err != nil {
				setupLog.Error(err, "unable to set up certificate rotation")
				os.Exit(1)
			}
		case "external":
			close(certsReady)
		default:
			setupLog.Error(fmt.Errorf("unknown value %q", certManagement), "--cert-management must be self or external")
			os.Exit(1)
		}
		go func() {
			<-certsReady
			if err := residencywebhook.Setup(mgr, webhookOpts); err != nil {
				setupLog.Error(err, "unable to set up webhooks")
				os.Exit(1)
			}
			close(webhooksReady)
		}()
	} else {
		close(webhooksReady)
	}
	if err := mgr.AddReadyzCheck("webhooks", func(req *http.Request) error {
		select {
		case <-webhooksReady:
			if !enableWebhooks {
				return nil
			}
			return mgr.GetWebhookServer().StartedChecker()(req)
		default:
			return fmt.Errorf("webhook certificate not ready yet")
		}
	}); err != nil {
		setupLog.Error(err, "unable to set up webhook ready check")
		os.Exit(1)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		setupLog.Error(err, "unable to set up ready check")
		os.Exit(1)
	}

	setupLog.Info("starting manager", "leaderElection", leaderElect)
	if err := mgr.Start(ctx); err != nil {
		setupLog.Error(err, "manager stopped with an error")
		os.Exit(1)
	}
}

// metricsOptions serves metrics over plain HTTP, or, with --metrics-secure, over HTTPS and only to
// clients the API server authenticates and authorizes (a TokenReview and a SubjectAccessReview for
// GET /metrics).
func metricsOptions(addr string, secure bool, tlsOpts []func(*tls.Config)) metricsserver.Options {
	opts := metricsserver.Options{BindAddress: addr, SecureServing: secure, TLSOpts: tlsOpts}
	if secure {
		opts.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	return opts
}

func envOr(key, fallback string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return fallback
}

// certDirOrDefault is controller-runtime's default folder when none is given; set explicitly so
// the rotator writes where the server reads.
func certDirOrDefault(dir string) string {
	if dir != "" {
		return dir
	}
	return filepath.Join(os.TempDir(), "k8s-webhook-server", "serving-certs")
}

// Admission modes (--admission).
const (
	AdmissionPolicies = "policies"
	AdmissionWebhook  = "webhook"
	AdmissionBoth     = "both"
)
