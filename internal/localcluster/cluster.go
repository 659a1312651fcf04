// Package localcluster starts a local, multi-region Kubernetes cluster on one machine: a real
// kube-apiserver and etcd (controller-runtime envtest), the real kube-controller-manager and
// kube-scheduler, and kwok, which simulates the nodes and the pods that run on them. The end-to-end
// tests and `make demo` use it so that the real scheduler proves where governed pods land.
//
// The operator's manager is not part of the cluster: callers run it in-process against
// Cluster.Config, serving webhooks with Cluster.WebhookServerOptions.
//
// The binaries come from Options.AssetsDir, which `make tools` fills (see
// shared/design/K8S-TOOLCHAIN.md). Child processes run in their own process groups and, on Linux,
// die with the process that started them, so a crashed test leaves no scheduler or kwok behind.
package localcluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
)

// DefaultStartTimeout bounds Start when its context has no deadline.
const DefaultStartTimeout = 2 * time.Minute

// childStopTimeout is how long a child process gets to exit after SIGTERM before it is killed.
const childStopTimeout = 10 * time.Second

// Options configure Start.
type Options struct {
	// AssetsDir holds etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok,
	// kustomize and kwok-stages.yaml. Empty means $KUBEBUILDER_ASSETS.
	AssetsDir string

	// CRDDir is the folder of CustomResourceDefinitions to install, such as config/crd/bases.
	// Empty installs none.
	CRDDir string

	// WebhookConfigDir is a kustomize folder, such as config/webhook, whose
	// MutatingWebhookConfigurations and ValidatingWebhookConfigurations are installed pointing at
	// a local webhook server (see WebhookServerOptions). Empty installs none.
	WebhookConfigDir string

	// Nodes are the kwok nodes to create. Start returns once every one of them is Ready and free
	// of the not-ready taint, so pods can be scheduled on it.
	Nodes []NodeSpec

	// NodeAuthorization starts kube-apiserver as production clusters do for kubelets:
	// --authorization-mode=Node,RBAC and the NodeRestriction admission plugin, so that a client
	// with a kubelet's identity (Env.AddUser with system:node:<name> in group system:nodes) may
	// write only what a real kubelet may.
	NodeAuthorization bool

	// ControlPlaneOnly starts etcd and kube-apiserver only: no kube-controller-manager,
	// kube-scheduler or kwok, and Nodes must be empty. For benchmarks of the API path.
	ControlPlaneOnly bool

	// AggregationLayer configures kube-apiserver's front proxy (--requestheader-* and
	// --proxy-client-* flags with a CA of the harness), so that aggregated API servers such as
	// karmada-aggregated-apiserver can authenticate the requests it forwards. StartKarmada needs
	// it on its hub.
	AggregationLayer bool

	// Log receives the output of every process of the cluster, each line prefixed with the
	// process's name, and the harness's own progress lines. Nil discards it. Use a file: the
	// control plane is verbose.
	Log io.Writer
}

// Cluster is a running local cluster. Stop it when done.
type Cluster struct {
	// Config is an admin (system:masters) client configuration.
	Config *rest.Config
	// Kubeconfig is the path of an admin kubeconfig file, for kubectl and the child processes.
	// It is removed by Stop.
	Kubeconfig string
	// Env is the envtest environment that runs etcd and kube-apiserver.
	Env *envtest.Environment
	// Nodes are the names of the nodes Start created.
	Nodes []string
	// StartupTime is how long Start took, from its call until every node was Ready.
	StartupTime time.Duration

	dir              string
	aggregationLayer bool // Options.AggregationLayer
	log              *syncWriter
	children         []*child
	watchdog         *child   // see startWatchdog; nil where there is none
	watchdogPipe     *os.File // its stdin's write end: closing it, or dying, fires the watchdog
	stopOnce         sync.Once
	stopErr          error
}

// Start starts etcd and kube-apiserver with the CRDs and webhook configurations installed, writes
// an admin kubeconfig, starts kube-controller-manager, kube-scheduler and kwok against it, creates
// the nodes and waits until they are Ready. On error, everything already started is stopped.
// ctx bounds the startup only; the cluster runs until Stop.
func Start(ctx context.Context, opts Options) (c *Cluster, err error) {
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
		return nil, errors.New("no binaries: set Options.AssetsDir or KUBEBUILDER_ASSETS (`make tools` builds them and `make test` sets it)")
	}
	if opts.ControlPlaneOnly && len(opts.Nodes) > 0 {
		return nil, errors.New("Options.Nodes needs kwok, kube-scheduler and kube-controller-manager: drop ControlPlaneOnly")
	}
	if err := validateNodes(opts.Nodes); err != nil {
		return nil, err
	}
	required := []string{"etcd", "kube-apiserver"}
	if !opts.ControlPlaneOnly {
		required = append(required, "kube-controller-manager", "kube-scheduler", "kwok", kwokStagesFile)
	}
	if opts.WebhookConfigDir != "" {
		required = append(required, "kustomize")
	}
	for _, name := range required {
		if _, err := os.Stat(filepath.Join(assets, name)); err != nil {
			return nil, fmt.Errorf("%s is missing from %s (run `make tools`): %w", name, assets, err)
		}
	}

	logw := opts.Log
	if logw == nil {
		logw = io.Discard
	}
	c = &Cluster{log: &syncWriter{w: logw}}
	defer func() {
		if err != nil {
			if stopErr := c.Stop(); stopErr != nil {
				err = errors.Join(err, fmt.Errorf("stopping the partly started cluster: %w", stopErr))
			}
			c = nil
		}
	}()
	if c.dir, err = os.MkdirTemp("", "residency-localcluster-"); err != nil {
		return c, fmt.Errorf("creating the cluster's folder: %w", err)
	}

	// A folder of ours rather than envtest's: envtest deletes its own on every stop, and a
	// restarted kube-apiserver must keep the serving certificate its clients trust.
	certDir := filepath.Join(c.dir, "kube-apiserver")
	if err := os.Mkdir(certDir, 0o700); err != nil {
		return c, fmt.Errorf("creating kube-apiserver's folder: %w", err)
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		ControlPlane: envtest.ControlPlane{
			// A minute to serve: on a loaded CI machine, a restart (CrashAPIServer) can take more
			// than envtest's default 20 s.
			APIServer: &envtest.APIServer{Out: c.log.prefixed("kube-apiserver"), Err: c.log.prefixed("kube-apiserver"), CertDir: certDir,
				StartTimeout: time.Minute},
			Etcd: &envtest.Etcd{Out: c.log.prefixed("etcd"), Err: c.log.prefixed("etcd")},
		},
	}
	if opts.NodeAuthorization {
		args := env.ControlPlane.APIServer.Configure()
		args.Set("authorization-mode", "Node,RBAC")
		args.AppendNoDefaults("enable-admission-plugins", "NodeRestriction")
	}
	if opts.AggregationLayer {
		if err := configureFrontProxy(env.ControlPlane.APIServer, filepath.Join(c.dir, "front-proxy")); err != nil {
			return c, err
		}
		c.aggregationLayer = true
	}
	if opts.CRDDir != "" {
		env.CRDDirectoryPaths = []string{opts.CRDDir}
		env.ErrorIfCRDPathMissing = true
	}
	if opts.WebhookConfigDir != "" {
		mutating, validating, err := RenderWebhookConfigurations(ctx, filepath.Join(assets, "kustomize"), opts.WebhookConfigDir)
		if err != nil {
			return c, err
		}
		env.WebhookInstallOptions = envtest.WebhookInstallOptions{MutatingWebhooks: mutating, ValidatingWebhooks: validating}
	}
	// Explicit paths, so that Options.AssetsDir wins over KUBEBUILDER_ASSETS, which envtest would
	// otherwise prefer to BinaryAssetsDirectory.
	env.ControlPlane.APIServer.Path = filepath.Join(assets, "kube-apiserver")
	env.ControlPlane.Etcd.Path = filepath.Join(assets, "etcd")
	c.Env = env
	if c.Config, err = env.Start(); err != nil {
		return c, fmt.Errorf("starting etcd and kube-apiserver: %w", err)
	}
	c.logf("etcd and kube-apiserver ready after %s", time.Since(began).Round(time.Millisecond))
	if err := c.startWatchdog(); err != nil {
		return c, err
	}

	if err := c.writeKubeconfig(); err != nil {
		return c, err
	}
	if opts.ControlPlaneOnly {
		c.StartupTime = time.Since(began)
		return c, nil
	}

	if err := c.startChildren(assets); err != nil {
		return c, err
	}
	cs, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		return c, fmt.Errorf("creating a client: %w", err)
	}
	if err := createNodes(ctx, cs, opts.Nodes); err != nil {
		return c, err
	}
	for _, n := range opts.Nodes {
		c.Nodes = append(c.Nodes, n.Name)
	}
	if err := c.waitNodesReady(ctx, cs, c.Nodes); err != nil {
		return c, err
	}
	c.StartupTime = time.Since(began)
	c.logf("%d nodes Ready after %s", len(c.Nodes), c.StartupTime.Round(time.Millisecond))
	return c, nil
}

// configureFrontProxy gives kube-apiserver a front-proxy client certificate and the CA that
// aggregated API servers trust for the user headers it forwards.
func configureFrontProxy(apiserver *envtest.APIServer, dir string) error {
	ca, err := newCertAuthority("localcluster-front-proxy-ca")
	if err != nil {
		return err
	}
	certFile, keyFile, err := ca.writeCertFiles(dir, "front-proxy-client", true)
	if err != nil {
		return fmt.Errorf("writing the front-proxy client certificate: %w", err)
	}
	caFile := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(caFile, ca.CertPEM, 0o600); err != nil {
		return fmt.Errorf("writing the front-proxy CA: %w", err)
	}
	args := apiserver.Configure()
	args.Set("requestheader-client-ca-file", caFile)
	args.Set("requestheader-allowed-names", "front-proxy-client")
	args.Set("requestheader-username-headers", "X-Remote-User")
	args.Set("requestheader-group-headers", "X-Remote-Group")
	args.Set("requestheader-extra-headers-prefix", "X-Remote-Extra-")
	args.Set("proxy-client-cert-file", certFile)
	args.Set("proxy-client-key-file", keyFile)
	return nil
}

// writeKubeconfig provisions an admin user (group system:masters) and writes its kubeconfig.
func (c *Cluster) writeKubeconfig() error {
	admin, err := c.Env.AddUser(envtest.User{Name: "localcluster-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("provisioning the admin user: %w", err)
	}
	kubeconfig, err := admin.KubeConfig()
	if err != nil {
		return fmt.Errorf("rendering the admin kubeconfig: %w", err)
	}
	c.Kubeconfig = filepath.Join(c.dir, "kubeconfig")
	if err := os.WriteFile(c.Kubeconfig, kubeconfig, 0o600); err != nil {
		return fmt.Errorf("writing the admin kubeconfig: %w", err)
	}
	return nil
}

// startChildren starts kube-controller-manager, kube-scheduler and kwok with the flags
// shared/design/K8S-TOOLCHAIN.md documents.
func (c *Cluster) startChildren(assets string) error {
	for _, p := range childProcesses(assets, c.Kubeconfig) {
		ch, err := startChild(p.name, filepath.Join(assets, p.name), p.args, c.log.prefixed(p.name))
		if err != nil {
			return err
		}
		c.children = append(c.children, ch)
	}
	return nil
}

// childSpec is a child process's binary name and flags.
type childSpec struct {
	name string
	args []string
}

// childProcesses returns the processes Start runs beside the control plane, in start order.
func childProcesses(assets, kubeconfig string) []childSpec {
	kc := "--kubeconfig=" + kubeconfig
	return []childSpec{
		{"kube-controller-manager", []string{kc, "--leader-elect=false", "--secure-port=0",
			"--use-service-account-credentials=false",
			// Controller names end in -controller in v1.37; the token controller needs a signing key
			// and node IPAM a cluster CIDR, neither of which a local cluster has.
			"--controllers=*,-serviceaccount-token-controller,-node-ipam-controller",
			// The defaults (20 QPS) make a 100-replica Deployment take seconds just to create.
			"--kube-api-qps=200", "--kube-api-burst=400", "--concurrent-replicaset-syncs=10"}},
		{"kube-scheduler", []string{kc, "--leader-elect=false", "--secure-port=0",
			"--kube-api-qps=200", "--kube-api-burst=400"}},
		{"kwok", []string{kc, "--manage-all-nodes=true", "--config=" + filepath.Join(assets, kwokStagesFile),
			// Leases keep the node-lifecycle controller from declaring the nodes unreachable.
			"--node-lease-duration-seconds=40",
			// The default /24 runs out of pod IPs after 254 pods.
			"--cidr=10.0.0.0/16"}},
	}
}

// WebhookServerOptions returns where the manager's webhook server must listen, and its serving
// certificate, for the webhook configurations Start installed to reach it.
func (c *Cluster) WebhookServerOptions() webhook.Options {
	w := &c.Env.WebhookInstallOptions
	return webhook.Options{Host: w.LocalServingHost, Port: w.LocalServingPort, CertDir: w.LocalServingCertDir}
}

// WaitForWebhookServer waits until the webhook server answers TLS with the certificate the
// installed webhook configurations trust.
func (c *Cluster) WaitForWebhookServer(ctx context.Context) error {
	w := &c.Env.WebhookInstallOptions
	if w.LocalServingPort == 0 {
		return errors.New("no webhook configurations were installed (Options.WebhookConfigDir is empty)")
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(w.LocalServingCAData) {
		return errors.New("the webhook serving CA is not valid PEM")
	}
	addr := net.JoinHostPort(w.LocalServingHost, strconv.Itoa(w.LocalServingPort))
	dialer := &tls.Dialer{Config: &tls.Config{RootCAs: pool, ServerName: w.LocalServingHost, MinVersion: tls.VersionTLS12}}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		conn, err := dialer.DialContext(ctx, "tcp", addr)
		if err == nil {
			return conn.Close()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("webhook server at %s did not answer: %w (last error: %w)", addr, ctx.Err(), err)
		case <-tick.C:
		}
	}
}

// Stop stops kwok, kube-scheduler and kube-controller-manager, then kube-apiserver and etcd, and
// removes the cluster's files. It is safe to call more than once.
func (c *Cluster) Stop() error {
	if c == nil {
		return nil
	}
	c.stopOnce.Do(func() {
		var errs []error
		if c.watchdog != nil {
			if err := c.watchdog.stop(childStopTimeout); err != nil {
				errs = append(errs, err)
			}
			_ = c.watchdogPipe.Close()
		}
		// Reverse start order: kwok and the scheduler first, so nothing writes while the
		// controller-manager shuts down, and all of them before the apiserver they talk to.
		for i := len(c.children) - 1; i >= 0; i-- {
			if err := c.children[i].stop(childStopTimeout); err != nil {
				errs = append(errs, err)
			}
		}
		if c.Env != nil { // safe after a failed or partial start: it stops what runs
			if err := c.Env.Stop(); err != nil {
				errs = append(errs, fmt.Errorf("stopping kube-apiserver and etcd: %w", err))
			}
		}
		if c.dir != "" {
			if err := os.RemoveAll(c.dir); err != nil {
				errs = append(errs, fmt.Errorf("removing %s: %w", c.dir, err))
			}
		}
		c.stopErr = errors.Join(errs...)
	})
	return c.stopErr
}

func (c *Cluster) logf(format string, args ...any) {
	_, _ = fmt.Fprintf(c.log.prefixed("localcluster"), format+"\n", args...)
}
