// Package image_test checks the manager image that `make image` builds without a Docker daemon
// (hack/tools/release): its OCI layout, its config (nonroot user, entrypoint, labels), that it
// holds no shell, that a rebuild gives the same digest, and that the manager binary taken out of
// the image starts against a real kube-apiserver and becomes ready, with the webhooks and their
// self-managed certificate as in the default install, and with working controllers.
//
// The test builds a single-architecture image (the host's) with the same program and flags as
// `make image`, into a cache under ~/.cache/residency-operator/image-test keyed by the Go sources,
// so only a change to the code pays for the cross-compile.
package image_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
)

const (
	// What the test stamps; `make image` stamps git describe and the commit.
	testVersion = "image-test"
	// A fixed SOURCE_DATE_EPOCH: 2026-01-01T00:00:00Z.
	testEpoch = 1767225600
	testRef   = "residency-operator:image-test"
	source    = "https://github.com/residency-operator/residency-operator"
)

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// inputKey hashes what the image is built from: every Go source outside tests, go.mod and go.sum
// of the operator and of the release tool, the LICENSE, and the Go toolchain.
func inputKey(t *testing.T, root string) string {
	t.Helper()
	out, err := exec.Command("git", "-C", root, "ls-files", "-co", "--exclude-standard").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	var names []string
	for _, name := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		base := filepath.Base(name)
		if (strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go")) || base == "go.mod" || base == "go.sum" || name == "LICENSE" {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n", runtime.Version(), runtime.GOARCH)
	for _, name := range names {
		data, err := os.ReadFile(filepath.Join(root, name))
		if os.IsNotExist(err) {
			continue // deleted but not yet staged
		}
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		fmt.Fprintf(h, "%s %x\n", name, sum)
	}
	return hex.EncodeToString(h.Sum(nil))[:40]
}

// buildImage runs the release tool's image command as `make image` does, for the host platform.
func buildImage(t *testing.T, root, out, commit string) string {
	t.Helper()
	cmd := exec.Command("go", "-C", filepath.Join(root, "hack", "tools", "release"), "run", ".", "image",
		"--root", root, "--out", out, "--platforms", "linux/"+runtime.GOARCH,
		"--version", testVersion, "--commit", commit, "--source-date-epoch", fmt.Sprint(testEpoch), "--ref", testRef)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("building the image: %v\n%s%s", err, stdout, stderr.String())
	}
	digest, err := os.ReadFile(filepath.Join(out, "digest"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(digest))
}

// cachedImage returns the folder of an image built from the current inputs, building it when the
// cache has none. Entries are touched when used; those unused for a day are removed. Several
// clones or worktrees on one machine share the cache, so an entry another run may be reading is
// never removed at once.
func cachedImage(t *testing.T, root, key string) string {
	t.Helper()
	base := os.Getenv("XDG_CACHE_HOME")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			t.Fatal(err)
		}
		base = filepath.Join(home, ".cache")
	}
	cache := filepath.Join(base, "residency-operator", "image-test")
	dir := filepath.Join(cache, key)
	defer pruneCache(cache)
	if _, err := os.Stat(filepath.Join(dir, "digest")); err == nil {
		now := time.Now()
		_ = os.Chtimes(dir, now, now)
		t.Logf("image from the cache: %s", dir)
		return dir
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		t.Fatal(err)
	}
	tmp, err := os.MkdirTemp(cache, ".build-")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = os.RemoveAll(tmp) }()
	start := time.Now()
	buildImage(t, root, tmp, key)
	t.Logf("built the image in %s", time.Since(start).Round(100*time.Millisecond))
	if err := os.Rename(tmp, dir); err != nil {
		if _, statErr := os.Stat(filepath.Join(dir, "digest")); statErr == nil {
			return dir // another run built the same inputs meanwhile
		}
		t.Fatal(err)
	}
	return dir
}

// pruneCache removes cache entries (and abandoned builds) not used for a day.
func pruneCache(cache string) {
	entries, _ := os.ReadDir(cache)
	for _, e := range entries {
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > 24*time.Hour {
			_ = os.RemoveAll(filepath.Join(cache, e.Name()))
		}
	}
}

func TestImage(t *testing.T) {
	root := repoRoot(t)
	key := inputKey(t, root)
	dir := cachedImage(t, root, key)
	layout := ociLayout{dir: filepath.Join(dir, "oci")}
	wantDigest, err := os.ReadFile(filepath.Join(dir, "digest"))
	if err != nil {
		t.Fatal(err)
	}

	top, err := layout.top()
	if err != nil {
		t.Fatalf("reading the OCI layout: %v", err)
	}
	if len(top.Manifests) != 1 {
		t.Fatalf("index.json lists %d entries, want the one image index", len(top.Manifests))
	}
	idxDesc := top.Manifests[0]
	if idxDesc.MediaType != "application/vnd.oci.image.index.v1+json" {
		t.Errorf("index.json points at a %s, want an OCI image index", idxDesc.MediaType)
	}
	if idxDesc.Digest != strings.TrimSpace(string(wantDigest)) {
		t.Errorf("index.json points at %s, the build reported %s", idxDesc.Digest, wantDigest)
	}
	if got := idxDesc.Annotations["org.opencontainers.image.ref.name"]; got != testRef {
		t.Errorf("ref.name = %q, want %q", got, testRef)
	}
	var idx index
	if err := layout.json(idxDesc, &idx); err != nil {
		t.Fatal(err)
	}
	var imgDesc *descriptor
	for i, m := range idx.Manifests {
		if m.Platform != nil && m.Platform.OS == "linux" && m.Platform.Architecture == runtime.GOARCH {
			imgDesc = &idx.Manifests[i]
		}
	}
	if imgDesc == nil {
		t.Fatalf("the index has no linux/%s image: %+v", runtime.GOARCH, idx.Manifests)
	}
	var m manifest
	if err := layout.json(*imgDesc, &m); err != nil {
		t.Fatal(err)
	}
	if m.MediaType != "application/vnd.oci.image.manifest.v1+json" || m.Config.MediaType != "application/vnd.oci.image.config.v1+json" {
		t.Errorf("media types %s / %s, want OCI manifest and config", m.MediaType, m.Config.MediaType)
	}

	t.Run("config: nonroot user, the manager as entrypoint, OCI labels", func(t *testing.T) {
		var cfg imageConfig
		if err := layout.json(m.Config, &cfg); err != nil {
			t.Fatal(err)
		}
		if cfg.OS != "linux" || cfg.Architecture != runtime.GOARCH {
			t.Errorf("platform %s/%s, want linux/%s", cfg.OS, cfg.Architecture, runtime.GOARCH)
		}
		if cfg.Config.User != "65532:65532" {
			t.Errorf("User = %q, want 65532:65532", cfg.Config.User)
		}
		if fmt.Sprint(cfg.Config.Entrypoint) != "[/manager]" || len(cfg.Config.Cmd) != 0 {
			t.Errorf("Entrypoint %q, Cmd %q; want [/manager] and none", cfg.Config.Entrypoint, cfg.Config.Cmd)
		}
		if want := time.Unix(testEpoch, 0).UTC().Format(time.RFC3339); cfg.Created != want {
			t.Errorf("created = %q, want SOURCE_DATE_EPOCH %s", cfg.Created, want)
		}
		for k, want := range map[string]string{
			"org.opencontainers.image.source":   source,
			"org.opencontainers.image.version":  testVersion,
			"org.opencontainers.image.revision": key,
			"org.opencontainers.image.licenses": "Apache-2.0",
		} {
			if got := cfg.Config.Labels[k]; got != want {
				t.Errorf("label %s = %q, want %q", k, got, want)
			}
		}
		if len(cfg.RootFS.DiffIDs) != len(m.Layers) {
			t.Fatalf("%d diff_ids for %d layers", len(cfg.RootFS.DiffIDs), len(m.Layers))
		}
	})

	var cfg imageConfig
	if err := layout.json(m.Config, &cfg); err != nil {
		t.Fatal(err)
	}
	files := map[string]entry{}
	for i, l := range m.Layers {
		if l.MediaType != "application/vnd.oci.image.layer.v1.tar+gzip" {
			t.Errorf("layer %d: media type %s", i, l.MediaType)
		}
		lf, err := layout.layerFiles(l, cfg.RootFS.DiffIDs[i])
		if err != nil {
			t.Fatal(err)
		}
		for p, e := range lf {
			files[p] = e
		}
	}

	t.Run("files: the manager, CA certificates, the nonroot user, no shell", func(t *testing.T) {
		mgr, ok := files["/manager"]
		if !ok {
			t.Fatal("no /manager in the image")
		}
		if mgr.header.Typeflag != tar.TypeReg || mgr.header.Mode&0o777 != 0o755 || mgr.header.Uid != 0 {
			t.Errorf("/manager: type %c, mode %o, uid %d; want a root-owned 0755 regular file", mgr.header.Typeflag, mgr.header.Mode, mgr.header.Uid)
		}
		for p, e := range files {
			base := filepath.Base(p)
			if base == "sh" || base == "bash" || base == "ash" || base == "dash" || base == "busybox" || strings.HasPrefix(p, "/bin") || strings.HasPrefix(p, "/usr/bin") {
				t.Errorf("the image holds %s: a shell or a bin folder, which the image must not carry", p)
			}
			if !e.header.ModTime.Equal(time.Unix(testEpoch, 0)) {
				t.Errorf("%s: mtime %s, want SOURCE_DATE_EPOCH", p, e.header.ModTime)
			}
		}
		if p := string(files["/etc/passwd"].data); !strings.Contains(p, "nonroot:x:65532:65532:") {
			t.Errorf("/etc/passwd has no nonroot user 65532: %q", p)
		}
		if g := string(files["/etc/group"].data); !strings.Contains(g, "nonroot:x:65532:") {
			t.Errorf("/etc/group has no nonroot group 65532: %q", g)
		}
		certs := 0
		rest := files["/etc/ssl/certs/ca-certificates.crt"].data
		for {
			var block *pem.Block
			block, rest = pem.Decode(rest)
			if block == nil {
				break
			}
			if _, err := x509.ParseCertificate(block.Bytes); err != nil {
				t.Errorf("a CA certificate does not parse: %v", err)
			}
			certs++
		}
		if certs < 100 {
			t.Errorf("the CA bundle has %d certificates, want the NSS store's 100 or more", certs)
		}
	})

	t.Run("a second build of the same inputs has the same digest", func(t *testing.T) {
		start := time.Now()
		again := buildImage(t, root, t.TempDir(), key)
		t.Logf("rebuilt in %s", time.Since(start).Round(100*time.Millisecond))
		if again != idxDesc.Digest {
			t.Errorf("rebuild: %s, first build: %s", again, idxDesc.Digest)
		}
	})

	mgr, ok := files["/manager"]
	if !ok {
		t.FailNow()
	}
	bin := filepath.Join(t.TempDir(), "manager")
	if err := os.WriteFile(bin, mgr.data, 0o755); err != nil {
		t.Fatal(err)
	}

	t.Run("--version prints the stamped version and commit", func(t *testing.T) {
		out, err := exec.Command(bin, "--version").CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		want := fmt.Sprintf("residency-operator %s (commit %s, ", testVersion, key)
		if !strings.HasPrefix(string(out), want) || !strings.Contains(string(out), "linux/"+runtime.GOARCH) {
			t.Errorf("--version printed %q, want it to start with %q", out, want)
		}
	})

	t.Run("the manager from the image starts against a kube-apiserver and becomes ready", func(t *testing.T) {
		runManager(t, root, bin)
	})
}

// runManager starts the binary as the default install runs it (webhooks with the self-managed
// certificate, controllers), against envtest; the test plays the kubelet's part of projecting the
// certificate Secret into the pod.
func runManager(t *testing.T, root, bin string) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set: run through `make test`, which builds kube-apiserver and etcd and points it at them")
	}
	// envtest logs through controller-runtime; without a logger it prints a warning with a stack.
	w := &testWriter{t: t}
	defer w.done.Store(true)
	logf.SetLogger(zap.New(zap.WriteTo(w)))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	env := &envtest.Environment{CRDDirectoryPaths: []string{filepath.Join(root, "config", "crd", "bases")}, ErrorIfCRDPathMissing: true}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting the API server: %v", err)
	}
	defer func() { _ = env.Stop() }()
	scheme := clientgoscheme.Scheme
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}

	// What the install creates before the manager starts: its namespace, the empty certificate
	// Secret, and the webhook configurations whose CA bundle the manager fills (the generated
	// ones, with the names the manager's flags default to).
	const ns = "residency-system"
	secretKey := client.ObjectKey{Namespace: ns, Name: "residency-webhook-server-cert"}
	must(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	must(t, c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: secretKey.Name}}))
	webhooks, err := os.ReadFile(filepath.Join(root, "config", "webhook", "manifests.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	decoder := serializer.NewCodecFactory(scheme).UniversalDeserializer()
	for _, doc := range strings.Split(string(webhooks), "\n---") {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		obj, _, err := decoder.Decode([]byte(doc), nil, nil)
		if err != nil {
			t.Fatalf("config/webhook/manifests.yaml: %v", err)
		}
		switch o := obj.(type) {
		case *admissionregistrationv1.MutatingWebhookConfiguration:
			o.Name = "residency-" + o.Name
			for i := range o.Webhooks {
				o.Webhooks[i].ClientConfig.Service.Namespace, o.Webhooks[i].ClientConfig.Service.Name = ns, "residency-webhook-service"
			}
		case *admissionregistrationv1.ValidatingWebhookConfiguration:
			o.Name = "residency-" + o.Name
			for i := range o.Webhooks {
				o.Webhooks[i].ClientConfig.Service.Namespace, o.Webhooks[i].ClientConfig.Service.Name = ns, "residency-webhook-service"
			}
		}
		must(t, c.Create(ctx, obj.(client.Object)))
	}
	must(t, c.Create(ctx, &v1alpha1.Jurisdiction{ObjectMeta: metav1.ObjectMeta{Name: "eu"}, Spec: v1alpha1.JurisdictionSpec{Countries: []v1alpha1.CountryCode{"DE", "FR"}}}))

	dir := t.TempDir()
	user, err := env.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	must(t, os.WriteFile(filepath.Join(dir, "kubeconfig"), kubeconfig, 0o600))
	certDir := filepath.Join(dir, "certs")
	must(t, os.Mkdir(certDir, 0o700))
	healthPort, webhookPort := freePort(t), freePort(t)
	logPath := filepath.Join(dir, "manager.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	// The defaults, except what belongs to a pod: its addresses and certificate folder, and leader
	// election, which needs the pod's namespace file.
	cmd := exec.Command(bin, "--leader-elect=false", "--metrics-bind-address=0",
		fmt.Sprintf("--health-probe-bind-address=127.0.0.1:%d", healthPort),
		fmt.Sprintf("--webhook-port=%d", webhookPort), "--webhook-cert-dir="+certDir)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+filepath.Join(dir, "kubeconfig"), "POD_NAMESPACE="+ns)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		<-exited
		_ = logFile.Close()
		if t.Failed() {
			log, _ := os.ReadFile(logPath)
			t.Logf("manager log:\n%s", log)
		}
	}()

	// The kubelet's part: keep the certificate folder equal to the Secret.
	go func() {
		for ctx.Err() == nil {
			secret := &corev1.Secret{}
			if c.Get(ctx, secretKey, secret) == nil {
				for name, data := range secret.Data {
					p := filepath.Join(certDir, name)
					if cur, err := os.ReadFile(p); err != nil || !bytes.Equal(cur, data) {
						if os.WriteFile(p+".tmp", data, 0o600) == nil {
							_ = os.Rename(p+".tmp", p)
						}
					}
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()

	eventually := func(what string, check func() error) {
		t.Helper()
		var last error
		for ctx.Err() == nil {
			select {
			case <-exited:
				t.Fatalf("the manager exited (%s) while waiting for %s", cmd.ProcessState, what)
			default:
			}
			if last = check(); last == nil {
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
		t.Fatalf("timed out waiting for %s: %v", what, last)
	}

	probe := &http.Client{Timeout: 2 * time.Second}
	eventually("/readyz to answer 200 (webhook certificate issued, webhook server serving)", func() error {
		resp, err := probe.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", healthPort))
		if err != nil {
			return err
		}
		defer func() { _ = resp.Body.Close() }()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})
	t.Logf("ready %s after start", time.Since(start).Round(10*time.Millisecond))

	eventually("the CA bundle in the mutating webhook configuration", func() error {
		mwc := &admissionregistrationv1.MutatingWebhookConfiguration{}
		if err := c.Get(ctx, client.ObjectKey{Name: "residency-mutating-webhook-configuration"}, mwc); err != nil {
			return err
		}
		for _, w := range mwc.Webhooks {
			if len(w.ClientConfig.CABundle) == 0 {
				return fmt.Errorf("webhook %s has no CA bundle", w.Name)
			}
		}
		return nil
	})

	// The controllers run: a node in Frankfurt gets the eu jurisdiction and its country.
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "frankfurt-1", Labels: map[string]string{corev1.LabelTopologyRegion: "eu-central-1"}},
		Spec: corev1.NodeSpec{ProviderID: "aws:///eu-central-1a/i-0f1"}}
	must(t, c.Create(ctx, node))
	eventually("the node's jurisdiction label", func() error {
		n := &corev1.Node{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(node), n); err != nil {
			return err
		}
		if n.Labels[v1alpha1.JurisdictionLabel("eu")] != v1alpha1.JurisdictionLabelValue || n.Labels[v1alpha1.CountryLabel] != "DE" {
			return fmt.Errorf("labels %v", n.Labels)
		}
		return nil
	})
}

// testWriter sends log lines to t.Log, shown when the test fails or runs with -v, until done:
// t.Log after the test has ended would panic.
type testWriter struct {
	t    *testing.T
	done atomic.Bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	if !w.done.Load() {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}
