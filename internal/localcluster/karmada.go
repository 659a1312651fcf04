package localcluster

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// The Karmada binaries StartKarmada runs, from KarmadaOptions.AssetsDir, and the folder of
// Karmada's CRDs there (`make tools` builds and copies both; see hack/tools/build.sh).
const (
	karmadaAggregatedAPIServer = "karmada-aggregated-apiserver"
	karmadaWebhook             = "karmada-webhook"
	karmadaControllerManager   = "karmada-controller-manager"
	karmadaScheduler           = "karmada-scheduler"
	karmadaCRDDir              = "multicluster-crds/karmada"
)

// KarmadaClusterNamespace is where StartKarmada keeps the members' credentials on the hub, as
// `karmadactl join` does.
const KarmadaClusterNamespace = "karmada-cluster"

// GVRs of the Karmada kinds tests use most, for dynamic clients (the operator's module does not
// depend on Karmada's Go types).
var (
	KarmadaClusterGVR            = schema.GroupVersionResource{Group: "cluster.karmada.io", Version: "v1alpha1", Resource: "clusters"}
	KarmadaPropagationPolicyGVR  = schema.GroupVersionResource{Group: "policy.karmada.io", Version: "v1alpha1", Resource: "propagationpolicies"}
	KarmadaClusterPropagationGVR = schema.GroupVersionResource{Group: "policy.karmada.io", Version: "v1alpha1", Resource: "clusterpropagationpolicies"}
	KarmadaResourceBindingGVR    = schema.GroupVersionResource{Group: "work.karmada.io", Version: "v1alpha2", Resource: "resourcebindings"}
	KarmadaWorkGVR               = schema.GroupVersionResource{Group: "work.karmada.io", Version: "v1alpha1", Resource: "works"}
	apiServiceGVR                = schema.GroupVersionResource{Group: "apiregistration.k8s.io", Version: "v1", Resource: "apiservices"}
)

// karmadaWebhookConfiguration is the webhook configuration Karmada ships, with placeholders for
// the CA and the service URL.
//
//go:embed karmada-webhook-configuration.yaml
var karmadaWebhookConfiguration []byte

// KarmadaMember is a member cluster to join to Karmada.
type KarmadaMember struct {
	// Name is the Cluster object's name, such as "eu-frankfurt".
	Name string
	// Region, Provider and Zones go to the Cluster's spec.region, spec.provider and spec.zones,
	// which PropagationPolicies' clusterAffinity and spreadConstraints can select on.
	Region   string
	Provider string
	Zones    []string
	// Labels go on the Cluster object, for clusterAffinity.labelSelector.
	Labels map[string]string
}

// DefaultKarmadaMembers are three AWS regions on three continents.
func DefaultKarmadaMembers() []KarmadaMember {
	return []KarmadaMember{
		{Name: "eu-frankfurt", Region: "eu-central-1", Provider: "aws", Zones: []string{"eu-central-1a"},
			Labels: map[string]string{"residency.example/jurisdiction": "eu"}},
		{Name: "us-virginia", Region: "us-east-1", Provider: "aws", Zones: []string{"us-east-1a"},
			Labels: map[string]string{"residency.example/jurisdiction": "us"}},
		{Name: "ap-tokyo", Region: "ap-northeast-1", Provider: "aws", Zones: []string{"ap-northeast-1a"},
			Labels: map[string]string{"residency.example/jurisdiction": "jp"}},
	}
}

// KarmadaOptions configure StartKarmada.
type KarmadaOptions struct {
	// AssetsDir holds the Karmada binaries and multicluster-crds/karmada beside etcd and
	// kube-apiserver. Empty means $KUBEBUILDER_ASSETS.
	AssetsDir string
	// Log receives the output of every process, prefixed with its name (the members' with the
	// member's name too). Nil discards it.
	Log io.Writer
	// Hub is the Karmada control plane's kube-apiserver ("karmada-apiserver"): a running
	// Cluster started with Options.AggregationLayer, typically ControlPlaneOnly, with the
	// operator's CRDs and webhooks. StartKarmada installs Karmada's CRDs on it; Stop leaves it
	// running. Nil starts a ControlPlaneOnly hub that Stop stops.
	Hub *Cluster
	// Members are the clusters to start (ControlPlaneOnly) and join in Push mode.
	Members []KarmadaMember
	// ClusterStatusUpdateFrequency is how often karmada-controller-manager refreshes each
	// Cluster's status (Ready, API enablements). Zero means 5 s (Karmada's default is 10 s).
	ClusterStatusUpdateFrequency time.Duration
}

// Karmada is a running Karmada control plane with its members. Stop it when done.
type Karmada struct {
	// Hub is the karmada-apiserver; Hub.Config and Hub.Kubeconfig are admin credentials.
	Hub *Cluster
	// Members are the member clusters by name: read what Karmada propagated with their Config.
	Members map[string]*Cluster
	// StartupTime is how long StartKarmada took, until every Cluster was Ready.
	StartupTime time.Duration

	assets    string
	dir       string
	ownHub    bool
	log       *syncWriter
	children  []*child
	hubClient kubernetes.Interface
	dynamic   dynamic.Interface
	mu        sync.Mutex // guards Members and children after start
	stopOnce  sync.Once
	stopErr   error
}

// StartKarmada starts Karmada's control plane on the hub (CRDs, karmada-aggregated-apiserver,
// karmada-webhook, karmada-controller-manager, karmada-scheduler), starts the members and joins
// them in Push mode, and returns once every Cluster is Ready. On error, everything it started is
// stopped. ctx bounds the startup only.
func StartKarmada(ctx context.Context, opts KarmadaOptions) (k *Karmada, err error) {
	began := time.Now()
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultStartTimeout)
		defer cancel()
	}
	assets := opts.AssetsDir
	if assets == "" {
		assets = os.Getenv("KUBEBUILDER_ASSETS")
	}
	if assets == "" {
		return nil, errors.New("no binaries: set KarmadaOptions.AssetsDir or KUBEBUILDER_ASSETS (`make tools` builds them)")
	}
	for _, name := range []string{"etcd", "kube-apiserver", karmadaAggregatedAPIServer, karmadaWebhook,
		karmadaControllerManager, karmadaScheduler, karmadaCRDDir} {
		if _, err := os.Stat(filepath.Join(assets, name)); err != nil {
			return nil, fmt.Errorf("%s is missing from %s (run `make tools`): %w", name, assets, err)
		}
	}
	if opts.Hub != nil && !opts.Hub.aggregationLayer {
		return nil, errors.New("KarmadaOptions.Hub must be started with Options.AggregationLayer, for karmada-aggregated-apiserver")
	}
	seen := map[string]bool{}
	for _, m := range opts.Members {
		if m.Name == "" || seen[m.Name] {
			return nil, fmt.Errorf("member names must be set and distinct (%q)", m.Name)
		}
		seen[m.Name] = true
	}
	logw := opts.Log
	if logw == nil {
		logw = io.Discard
	}
	k = &Karmada{assets: assets, log: &syncWriter{w: logw}, Members: map[string]*Cluster{}, Hub: opts.Hub}
	defer func() {
		if err != nil {
			if stopErr := k.Stop(); stopErr != nil {
				err = errors.Join(err, fmt.Errorf("stopping the partly started Karmada: %w", stopErr))
			}
			k = nil
		}
	}()
	if k.dir, err = os.MkdirTemp("", "residency-karmada-"); err != nil {
		return k, fmt.Errorf("creating Karmada's folder: %w", err)
	}

	// The members' apiservers start while the hub's side comes up: on two CPUs most of a start is
	// waiting.
	type started struct {
		name string
		c    *Cluster
		err  error
	}
	results := make(chan started, len(opts.Members))
	for _, m := range opts.Members {
		go func() {
			c, err := Start(ctx, Options{AssetsDir: assets, ControlPlaneOnly: true, Log: k.log.prefixed(m.Name)})
			results <- started{m.Name, c, err}
		}()
	}
	var memberErrs []error
	collectMembers := func() error {
		for range opts.Members {
			r := <-results
			if r.err != nil {
				memberErrs = append(memberErrs, fmt.Errorf("starting member %s: %w", r.name, r.err))
				continue
			}
			k.mu.Lock()
			k.Members[r.name] = r.c
			k.mu.Unlock()
		}
		return errors.Join(memberErrs...)
	}
	collected := false
	defer func() {
		if !collected { // an early return: wait for the members, so Stop stops them
			_ = collectMembers()
		}
	}()

	if k.Hub == nil {
		k.ownHub = true
		if k.Hub, err = Start(ctx, Options{AssetsDir: assets, ControlPlaneOnly: true, AggregationLayer: true,
			Log: k.log.prefixed("hub")}); err != nil {
			return k, fmt.Errorf("starting the hub: %w", err)
		}
	}
	if k.hubClient, err = kubernetes.NewForConfig(k.Hub.Config); err != nil {
		return k, err
	}
	if k.dynamic, err = dynamic.NewForConfig(k.Hub.Config); err != nil {
		return k, err
	}
	if _, err := envtest.InstallCRDs(k.Hub.Config, envtest.CRDInstallOptions{
		Paths: []string{filepath.Join(assets, karmadaCRDDir)}, ErrorIfPathMissing: true}); err != nil {
		return k, fmt.Errorf("installing Karmada's CRDs: %w", err)
	}
	for _, ns := range []string{"karmada-system", KarmadaClusterNamespace} {
		if err := createNamespace(ctx, k.hubClient, ns); err != nil {
			return k, err
		}
	}
	ca, err := newCertAuthority("localcluster-karmada-ca")
	if err != nil {
		return k, err
	}
	if err := k.startAggregatedAPIServer(ctx, ca); err != nil {
		return k, err
	}
	webhookPort, err := k.startWebhook(ctx, ca)
	if err != nil {
		return k, err
	}
	if err := k.installWebhookConfigurations(ctx, ca, webhookPort); err != nil {
		return k, err
	}
	if err := waitForTLS(ctx, "karmada-webhook", net.JoinHostPort("127.0.0.1", strconv.Itoa(webhookPort)), ca.CertPEM); err != nil {
		return k, err
	}
	if err := k.waitForClusterAPI(ctx); err != nil {
		return k, err
	}
	k.logf("karmada-aggregated-apiserver and karmada-webhook serving after %s", time.Since(began).Round(time.Millisecond))

	freq := opts.ClusterStatusUpdateFrequency
	if freq == 0 {
		freq = 5 * time.Second
	}
	kc := "--kubeconfig=" + k.Hub.Kubeconfig
	if err := k.start(karmadaControllerManager, kc, "--leader-elect=false",
		"--metrics-bind-address=0", "--health-probe-bind-address=0",
		"--cluster-status-update-frequency="+freq.String(),
		"--kube-api-qps=200", "--kube-api-burst=400", "--cluster-api-qps=200", "--cluster-api-burst=400"); err != nil {
		return k, err
	}
	if err := k.start(karmadaScheduler, kc, "--leader-elect=false",
		"--metrics-bind-address=0", "--health-probe-bind-address=0",
		"--kube-api-qps=200", "--kube-api-burst=400"); err != nil {
		return k, err
	}

	collected = true
	if err := collectMembers(); err != nil {
		return k, err
	}
	k.logf("%d members started after %s", len(opts.Members), time.Since(began).Round(time.Millisecond))
	for _, m := range opts.Members {
		if err := k.join(ctx, m, k.Members[m.Name]); err != nil {
			return k, err
		}
	}
	for _, m := range opts.Members {
		if err := k.WaitClusterReady(ctx, m.Name); err != nil {
			return k, err
		}
	}
	k.StartupTime = time.Since(began)
	k.logf("Karmada with %d members Ready after %s; processes' RSS %d MiB", len(opts.Members),
		k.StartupTime.Round(time.Millisecond), ProcessTreeRSS()>>20)
	return k, nil
}

// start starts a Karmada binary from the assets folder.
func (k *Karmada) start(name string, args ...string) error {
	ch, err := startChild(name, filepath.Join(k.assets, name), args, k.log.prefixed(name))
	if err != nil {
		return err
	}
	k.mu.Lock()
	k.children = append(k.children, ch)
	k.mu.Unlock()
	return nil
}

// startAggregatedAPIServer runs karmada-aggregated-apiserver on the hub's etcd (its own prefix)
// and registers it as the v1alpha1.cluster.karmada.io APIService. kube-apiserver reaches it
// through an ExternalName Service for localhost, and checks its certificate for the service's
// DNS name.
func (k *Karmada) startAggregatedAPIServer(ctx context.Context, ca *certAuthority) error {
	const svcName, svcNamespace = "karmada-aggregated-apiserver", "karmada-system"
	certFile, keyFile, err := ca.writeCertFiles(filepath.Join(k.dir, karmadaAggregatedAPIServer), svcName, false,
		svcName+"."+svcNamespace+".svc", svcName+"."+svcNamespace+".svc.cluster.local")
	if err != nil {
		return err
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	kc := k.Hub.Kubeconfig
	if err := k.start(karmadaAggregatedAPIServer, "--kubeconfig="+kc, "--authentication-kubeconfig="+kc,
		"--authorization-kubeconfig="+kc,
		"--etcd-servers="+k.Hub.Env.ControlPlane.Etcd.URL.String(), "--etcd-prefix=/karmada-aggregated-apiserver",
		"--tls-cert-file="+certFile, "--tls-private-key-file="+keyFile,
		"--bind-address=127.0.0.1", "--secure-port="+strconv.Itoa(port),
		"--kube-api-qps=200", "--kube-api-burst=400"); err != nil {
		return err
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: svcName, Namespace: svcNamespace},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "localhost"},
	}
	if _, err := k.hubClient.CoreV1().Services(svcNamespace).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating the aggregated apiserver's Service: %w", err)
	}
	apiService := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiregistration.k8s.io/v1",
		"kind":       "APIService",
		"metadata":   map[string]any{"name": "v1alpha1.cluster.karmada.io"},
		"spec": map[string]any{
			"caBundle":             base64.StdEncoding.EncodeToString(ca.CertPEM),
			"group":                "cluster.karmada.io",
			"groupPriorityMinimum": int64(2000),
			"service":              map[string]any{"name": svcName, "namespace": svcNamespace, "port": int64(port)},
			"version":              "v1alpha1",
			"versionPriority":      int64(10),
		},
	}}
	if _, err := k.dynamic.Resource(apiServiceGVR).Create(ctx, apiService, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("registering the cluster.karmada.io APIService: %w", err)
	}
	return nil
}

// waitForClusterAPI waits until the hub serves cluster.karmada.io/v1alpha1 Clusters.
func (k *Karmada) waitForClusterAPI(ctx context.Context) error {
	return poll(ctx, 100*time.Millisecond, func() (bool, error) {
		if err := k.childrenExited(); err != nil {
			return false, err
		}
		_, err := k.dynamic.Resource(KarmadaClusterGVR).List(ctx, metav1.ListOptions{Limit: 1})
		return err == nil, err
	}, "cluster.karmada.io/v1alpha1 to be served")
}

// startWebhook runs karmada-webhook on a free port with a serving certificate for 127.0.0.1.
func (k *Karmada) startWebhook(_ context.Context, ca *certAuthority) (int, error) {
	certDir := filepath.Join(k.dir, karmadaWebhook)
	if _, _, err := ca.writeCertFiles(certDir, karmadaWebhook, false); err != nil {
		return 0, err
	}
	port, err := freePort()
	if err != nil {
		return 0, err
	}
	return port, k.start(karmadaWebhook, "--kubeconfig="+k.Hub.Kubeconfig,
		"--bind-address=127.0.0.1", "--secure-port="+strconv.Itoa(port), "--cert-dir="+certDir,
		"--metrics-bind-address=0", "--health-probe-bind-address=0",
		"--kube-api-qps=200", "--kube-api-burst=400")
}

// installWebhookConfigurations installs the webhook configurations Karmada ships, pointed at the
// local karmada-webhook.
func (k *Karmada) installWebhookConfigurations(ctx context.Context, ca *certAuthority, port int) error {
	manifest := bytes.ReplaceAll(karmadaWebhookConfiguration, []byte("{{caBundle}}"),
		[]byte(base64.StdEncoding.EncodeToString(ca.CertPEM)))
	manifest = bytes.ReplaceAll(manifest, []byte("https://karmada-webhook.karmada-system.svc:443/"),
		[]byte("https://127.0.0.1:"+strconv.Itoa(port)+"/"))
	mutating, validating, err := parseWebhookConfigurations(manifest)
	if err != nil {
		return fmt.Errorf("reading Karmada's webhook configuration: %w", err)
	}
	for _, m := range mutating {
		if _, err := k.hubClient.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(ctx, m, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("installing mutatingwebhookconfigurations %s: %w", m.Name, err)
		}
	}
	for _, v := range validating {
		if _, err := k.hubClient.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, v, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("installing validatingwebhookconfigurations %s: %w", v.Name, err)
		}
	}
	return nil
}

// AddMember starts a ControlPlaneOnly cluster and joins it in Push mode, returning once its
// Cluster is Ready.
func (k *Karmada) AddMember(ctx context.Context, m KarmadaMember) (*Cluster, error) {
	k.mu.Lock()
	_, dup := k.Members[m.Name]
	k.mu.Unlock()
	if m.Name == "" || dup {
		return nil, fmt.Errorf("member name %q is empty or taken", m.Name)
	}
	c, err := Start(ctx, Options{AssetsDir: k.assets, ControlPlaneOnly: true, Log: k.log.prefixed(m.Name)})
	if err != nil {
		return nil, fmt.Errorf("starting member %s: %w", m.Name, err)
	}
	k.mu.Lock()
	k.Members[m.Name] = c
	k.mu.Unlock()
	if err := k.join(ctx, m, c); err != nil {
		return c, err
	}
	return c, k.WaitClusterReady(ctx, m.Name)
}

// join does what `karmadactl join --cluster-kubeconfig` does in Push mode: a service account
// with cluster-admin on the member, its token and the member's CA in a Secret on the hub, and
// a Cluster object that names them.
func (k *Karmada) join(ctx context.Context, m KarmadaMember, member *Cluster) error {
	token, err := memberToken(ctx, member, "karmada-"+m.Name)
	if err != nil {
		return fmt.Errorf("joining %s: %w", m.Name, err)
	}
	// karmadactl creates a second, impersonator account for the unified-auth proxy; the same
	// cluster-admin token serves both here.
	for _, name := range []string{m.Name, m.Name + "-impersonator"} {
		secret := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: KarmadaClusterNamespace},
			Data:       map[string][]byte{"token": []byte(token), "caBundle": member.Config.CAData},
		}
		if _, err := k.hubClient.CoreV1().Secrets(KarmadaClusterNamespace).Create(ctx, secret, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("joining %s: creating Secret %s: %w", m.Name, name, err)
		}
	}
	labels := map[string]any{}
	for key, v := range m.Labels {
		labels[key] = v
	}
	spec := map[string]any{
		"syncMode":              "Push",
		"apiEndpoint":           member.Config.Host,
		"secretRef":             map[string]any{"namespace": KarmadaClusterNamespace, "name": m.Name},
		"impersonatorSecretRef": map[string]any{"namespace": KarmadaClusterNamespace, "name": m.Name + "-impersonator"},
	}
	if m.Region != "" {
		spec["region"] = m.Region
	}
	if m.Provider != "" {
		spec["provider"] = m.Provider
	}
	if len(m.Zones) > 0 {
		zones := make([]any, len(m.Zones))
		for i, z := range m.Zones {
			zones[i] = z
		}
		spec["zones"] = zones
	}
	cluster := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "cluster.karmada.io/v1alpha1",
		"kind":       "Cluster",
		"metadata":   map[string]any{"name": m.Name, "labels": labels},
		"spec":       spec,
	}}
	if _, err := k.dynamic.Resource(KarmadaClusterGVR).Create(ctx, cluster, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("joining %s: creating the Cluster: %w", m.Name, err)
	}
	return nil
}

// memberToken creates a cluster-admin service account on the member and returns a token for it
// (TokenRequest: a control-plane-only cluster runs no token controller to fill legacy token
// Secrets).
func memberToken(ctx context.Context, member *Cluster, account string) (string, error) {
	cs, err := kubernetes.NewForConfig(member.Config)
	if err != nil {
		return "", err
	}
	if err := createNamespace(ctx, cs, KarmadaClusterNamespace); err != nil {
		return "", err
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: account, Namespace: KarmadaClusterNamespace}}
	if _, err := cs.CoreV1().ServiceAccounts(KarmadaClusterNamespace).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return "", fmt.Errorf("creating ServiceAccount %s: %w", account, err)
	}
	crb := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: account},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "cluster-admin"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: account, Namespace: KarmadaClusterNamespace}},
	}
	if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return "", fmt.Errorf("creating ClusterRoleBinding %s: %w", account, err)
	}
	tr, err := cs.CoreV1().ServiceAccounts(KarmadaClusterNamespace).CreateToken(ctx, account, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](7 * 24 * 3600)},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("requesting a token for %s: %w", account, err)
	}
	return tr.Status.Token, nil
}

// WaitClusterReady waits until karmada-controller-manager's cluster-status controller reports
// the Cluster Ready (it probes the member's /readyz with the joined credentials).
func (k *Karmada) WaitClusterReady(ctx context.Context, name string) error {
	return poll(ctx, 100*time.Millisecond, func() (bool, error) {
		if err := k.childrenExited(); err != nil {
			return false, err
		}
		u, err := k.dynamic.Resource(KarmadaClusterGVR).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return conditionTrue(u, "Ready"), nil
	}, "Cluster "+name+" to be Ready")
}

// LabelCluster merge-patches a Cluster's labels: an empty value removes the label. karmada-scheduler
// reschedules the bindings whose policies select by label (measured: the workload reached a
// newly matching member, or left one that no longer matched, within 0.4 s; when no cluster
// matches any more, the binding's spec.clusters empties, its Scheduled condition turns False
// with reason NoClusterFit, and the workload is deleted from every member).
func (k *Karmada) LabelCluster(ctx context.Context, name string, labels map[string]string) error {
	patch := map[string]any{}
	for key, v := range labels {
		if v == "" {
			patch[key] = nil
		} else {
			patch[key] = v
		}
	}
	body, err := json.Marshal(map[string]any{"metadata": map[string]any{"labels": patch}})
	if err != nil {
		return err
	}
	if _, err := k.dynamic.Resource(KarmadaClusterGVR).Patch(ctx, name, types.MergePatchType, body, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("labelling Cluster %s: %w", name, err)
	}
	return nil
}

// Dynamic returns a dynamic client of the hub, for Karmada's kinds.
func (k *Karmada) Dynamic() dynamic.Interface { return k.dynamic }

// Stop stops Karmada's processes, the members and, if StartKarmada started it, the hub. It is
// safe to call more than once. A hub the caller started keeps Karmada's CRDs and webhook
// configurations, whose webhooks (failurePolicy Fail) no longer answer.
func (k *Karmada) Stop() error {
	if k == nil {
		return nil
	}
	k.stopOnce.Do(func() {
		var errs []error
		k.mu.Lock()
		children := k.children
		members := k.Members
		k.mu.Unlock()
		for i := len(children) - 1; i >= 0; i-- {
			if err := children[i].stop(childStopTimeout); err != nil {
				errs = append(errs, err)
			}
		}
		var wg sync.WaitGroup
		var emu sync.Mutex
		for name, c := range members {
			wg.Go(func() {
				if err := c.Stop(); err != nil {
					emu.Lock()
					errs = append(errs, fmt.Errorf("stopping member %s: %w", name, err))
					emu.Unlock()
				}
			})
		}
		wg.Wait()
		if k.ownHub {
			if err := k.Hub.Stop(); err != nil {
				errs = append(errs, fmt.Errorf("stopping the hub: %w", err))
			}
		}
		if k.dir != "" {
			if err := os.RemoveAll(k.dir); err != nil {
				errs = append(errs, err)
			}
		}
		k.stopErr = errors.Join(errs...)
	})
	return k.stopErr
}

func (k *Karmada) childrenExited() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	return childrenExited(k.children)
}

func (k *Karmada) logf(format string, args ...any) {
	_, _ = fmt.Fprintf(k.log.prefixed("karmada"), format+"\n", args...)
}

// conditionTrue reports whether an object's status.conditions has type cond with status True.
func conditionTrue(u *unstructured.Unstructured, cond string) bool {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, ok := c.(map[string]any)
		if ok && m["type"] == cond && m["status"] == "True" {
			return true
		}
	}
	return false
}

func createNamespace(ctx context.Context, cs kubernetes.Interface, name string) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating namespace %s: %w", name, err)
	}
	return nil
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// poll calls check every interval until it returns true or ctx ends; the last error goes into
// the timeout error.
func poll(ctx context.Context, interval time.Duration, check func() (bool, error), what string) error {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	var last error
	for {
		ok, err := check()
		if ok {
			return nil
		}
		if err != nil {
			var stop stopPolling
			if errors.As(err, &stop) {
				return stop.error
			}
			last = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w (last error: %w)", what, ctx.Err(), last)
		case <-tick.C:
		}
	}
}

// stopPolling makes poll return its error at once (a process exited) instead of retrying.
type stopPolling struct{ error }

// childrenExited returns a stopPolling error when one of children has exited.
func childrenExited(children []*child) error {
	for _, ch := range children {
		if err := ch.exited(); err != nil {
			return stopPolling{err}
		}
	}
	return nil
}

// waitForTLS waits until addr answers TLS with a certificate caPEM signed.
func waitForTLS(ctx context.Context, name, addr string, caPEM []byte) error {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return fmt.Errorf("%s: the CA is not valid PEM", name)
	}
	host, _, _ := net.SplitHostPort(addr)
	tlsCfg := &tls.Config{RootCAs: pool, ServerName: host, MinVersion: tls.VersionTLS12}
	return poll(ctx, 50*time.Millisecond, func() (bool, error) {
		d := &net.Dialer{Timeout: time.Second}
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return false, err
		}
		defer func() { _ = conn.Close() }()
		tc := tls.Client(conn, tlsCfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return false, err
		}
		return true, nil
	}, name+" at "+addr)
}
