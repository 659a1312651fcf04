package main

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden with the current output")

// testNow is the clock of every test: after the bad fixture's expired exception, before the others.
var testNow = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

// runCLI runs the command line in-process, as a CI step would run the binary.
func runCLI(t *testing.T, args []string, stdin string, c client.Client) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	deps := &dependencies{now: func() time.Time { return testNow }}
	deps.client = func() (client.Client, error) {
		if c == nil {
			return nil, errors.New("no cluster in this test")
		}
		return c, nil
	}
	code = run(args, strings.NewReader(stdin), &out, &errOut, deps)
	return code, out.String(), errOut.String()
}

// golden compares got with testdata/golden/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading the golden file (run go test -update to create it): %v", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs (-want +got); run go test ./cmd/kubectl-residency -update if the change is intended:\n%s", path, diff)
	}
}

// transcript is what a golden file holds: the command, its exit status and its output.
func transcript(args []string, code int, stdout, stderr string) string {
	return "$ kubectl residency " + strings.Join(args, " ") + "\nexit status: " + strconv.Itoa(code) + "\n--- stdout\n" + stdout + "--- stderr\n" + stderr
}

const fixtures = "testdata/fixtures/"

func TestCheckGolden(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		stdin string
		code  int
	}{
		{"shop", []string{"check", "-f", fixtures + "shop"}, "", exitOK},
		{"bad", []string{"check", "-f", fixtures + "bad"}, "", exitFindings},
		{"yaml-error", []string{"check", "-f", fixtures + "yaml-error"}, "", exitBadInput},
		// A Karmada and OCM hub's placement policies, decided as the hub's admission would.
		{"multicluster", []string{"check", "-f", fixtures + "multicluster"}, "", exitFindings},
	}
	for _, tt := range tests {
		for _, format := range []string{"text", "json", "junit", "sarif"} {
			t.Run(tt.name+"/"+format, func(t *testing.T) {
				args := append(append([]string{}, tt.args...), "-o", format)
				code, stdout, stderr := runCLI(t, args, tt.stdin, nil)
				if code != tt.code {
					t.Errorf("exit status = %d, want %d\nstderr: %s", code, tt.code, stderr)
				}
				golden(t, "check-"+tt.name+"."+format, transcript(args, code, stdout, stderr))
			})
		}
	}
}

func TestCheckGoldenVariants(t *testing.T) {
	list, err := os.ReadFile(fixtures + "bad/list.yaml")
	if err != nil {
		t.Fatal(err)
	}
	helm, err := os.ReadFile(fixtures + "bad/helm-output.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		args  []string
		stdin string
		code  int
	}{
		// `helm template ... | kubectl residency check -f - -n shop` with the policies from files.
		{"stdin", []string{"check", "-n", "shop", "-f", fixtures + "bad/jurisdictions.yaml", "-f", fixtures + "bad/stores.yaml", "-f", "-"}, string(helm) + "---\n" + string(list), exitFindings},
		// The same region is Ireland at AWS: telling the provider settles it.
		{"provider", []string{"check", "--provider", "aws", "-f", fixtures + "bad/jurisdictions.yaml", "-f", fixtures + "bad/stores.yaml", "-f", fixtures + "bad/workloads.yaml"}, "", exitFindings},
		// Warnings alone pass.
		{"warnings-only", []string{"check", "-f", fixtures + "warnings"}, "", exitOK},
		// The same processor twice, from two repositories' policies.
		{"duplicates", []string{"check", "-f", fixtures + "shop/policies", "-f", fixtures + "bad/processors.yaml", "-f", fixtures + "bad/jurisdictions.yaml"}, "", exitFindings},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, tt.args, tt.stdin, nil)
			if code != tt.code {
				t.Errorf("exit status = %d, want %d\nstderr: %s", code, tt.code, stderr)
			}
			golden(t, "check-"+tt.name+".text", transcript(tt.args, code, stdout, stderr))
		})
	}
}

func TestExitCodes(t *testing.T) {
	warnOnly := filepath.Join(t.TempDir(), "warn.yaml")
	if err := os.WriteFile(warnOnly, []byte(`apiVersion: dataresidency.io/v1alpha1
kind: Jurisdiction
metadata: {name: eu}
spec: {countries: [DE]}
---
apiVersion: dataresidency.io/v1alpha1
kind: PersonalDataStore
metadata: {name: s}
spec:
  dataCategories: [UsageActivity]
  allowedJurisdictions: [eu]
  enforcement: Warn
  workloadSelector: {matchLabels: {app: web}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  template:
    metadata: {labels: {app: web}}
    spec:
      nodeSelector: {topology.kubernetes.io/region: us-east-1}
      containers: [{name: web, image: nginx}]
`), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		args      []string
		stdin     string
		code      int
		stderrHas string
	}{
		{"clean", []string{"check", "-f", fixtures + "shop"}, "", exitOK, ""},
		{"warnings alone", []string{"check", "-f", warnOnly}, "", exitOK, ""},
		{"error findings", []string{"check", "-f", fixtures + "bad"}, "", exitFindings, ""},
		{"bad YAML", []string{"check", "-f", fixtures + "yaml-error/deploy.yaml"}, "", exitBadInput, "yaml-error/deploy.yaml:14: yaml: block sequence entries are not allowed in this context"},
		{"bad YAML on stdin", []string{"check", "-f", "-"}, "apiVersion: v1\nkind: Pod\nmetadata:\n  name: [\n", exitBadInput, "stdin:5: yaml: did not find expected node content"},
		{"missing file", []string{"check", "-f", "testdata/nope.yaml"}, "", exitBadInput, "testdata/nope.yaml: stat: no such file or directory"},
		{"no -f", []string{"check"}, "", exitBadInput, "no manifests given"},
		{"unknown format", []string{"check", "-f", fixtures + "shop", "-o", "xml"}, "", exitBadInput, `unknown output format "xml"`},
		{"unknown provider", []string{"check", "-f", fixtures + "shop", "--provider", "aws-gov"}, "", exitBadInput, `unknown provider "aws-gov"`},
		{"unknown flag", []string{"check", "--frobnicate"}, "", exitBadInput, "unknown flag: --frobnicate"},
		{"unknown command", []string{"chekc"}, "", exitBadInput, `unknown command "chekc"`},
		{"stray argument", []string{"check", "deploy.yaml"}, "", exitBadInput, "unknown command"},
		{"cluster unreachable", []string{"check", "-f", fixtures + "shop", "--cluster"}, "", exitBadInput, "no cluster in this test"},
		{"status unreachable", []string{"status"}, "", exitFindings, "no cluster in this test"},
		{"explain a deployment", []string{"explain", "deployment/web"}, "", exitBadInput, "explain works on pods"},
		{"explain needs one pod", []string{"explain"}, "", exitBadInput, "accepts 1 arg"},
		{"help", []string{"check", "--help"}, "", exitOK, ""},
		{"version", []string{"--version"}, "", exitOK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, tt.args, tt.stdin, nil)
			if code != tt.code {
				t.Errorf("exit status = %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, stdout, stderr)
			}
			if !strings.Contains(stderr, tt.stderrHas) {
				t.Errorf("stderr = %q, want it to contain %q", stderr, tt.stderrHas)
			}
		})
	}
}

// TestPanicIsBadInput covers the last line of defence: a panic becomes exit status 2 and a message.
func TestPanicIsBadInput(t *testing.T) {
	var out, errOut bytes.Buffer
	deps := &dependencies{now: func() time.Time { panic("boom") }}
	code := run([]string{"check", "-f", fixtures + "shop"}, strings.NewReader(""), &out, &errOut, deps)
	if code != exitBadInput || !strings.Contains(errOut.String(), "internal error: boom") {
		t.Errorf("code = %d, stderr = %q", code, errOut.String())
	}
}

// TestReadsEveryFormatFromStdin guards the pipeline use: `kustomize build | kubectl residency check -f -`.
func TestReadsEveryFormatFromStdin(t *testing.T) {
	data, err := io.ReadAll(mustOpen(t, fixtures+"shop/rendered.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI(t, []string{"check", "-f", "-", "-f", "-"}, string(data), nil)
	if code != exitOK || !strings.Contains(stdout, "no findings in 36 objects (14 checked) from 1 file") {
		t.Errorf("code = %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
}

func mustOpen(t *testing.T, path string) io.Reader {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return f
}

// fakeCluster is a cluster as the controller-runtime fake client holds it: enough to test how
// status and explain present what they read, not how a real API server behaves (that waits for
// the envtest harness).
func fakeCluster(t *testing.T) client.Client {
	t.Helper()
	gen := int64(3)
	cond := func(status metav1.ConditionStatus, reason, msg string) []metav1.Condition {
		return []metav1.Condition{{Type: v1alpha1.CompliantCondition, Status: status, Reason: reason, Message: msg, ObservedGeneration: gen,
			LastTransitionTime: metav1.NewTime(testNow.Add(-time.Hour))}}
	}
	evict := metav1.NewTime(testNow.Add(10 * time.Minute))
	objs := []client.Object{
		&v1alpha1.Jurisdiction{ObjectMeta: metav1.ObjectMeta{Name: "eu"}, Spec: v1alpha1.JurisdictionSpec{Countries: []v1alpha1.CountryCode{"DE", "FR", "IE"}}},
		&v1alpha1.Jurisdiction{ObjectMeta: metav1.ObjectMeta{Name: "us"}, Spec: v1alpha1.JurisdictionSpec{Countries: []v1alpha1.CountryCode{"US"}}},
		&v1alpha1.PersonalDataStore{
			ObjectMeta: metav1.ObjectMeta{Name: "customer-db", Namespace: "shop", Generation: gen},
			Spec: v1alpha1.PersonalDataStoreSpec{DataCategories: []v1alpha1.DataCategory{v1alpha1.Credentials}, AllowedJurisdictions: []v1alpha1.JurisdictionName{"eu"},
				WorkloadSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}, Enforcement: v1alpha1.Enforce},
			Status: v1alpha1.PersonalDataStoreStatus{GovernedPods: 3, GovernedVolumes: 1, ViolationCount: 1,
				Violations: []v1alpha1.Violation{{Object: v1alpha1.ObjectReference{Kind: "Pod", Name: "web-2"}, Node: "iad-1", Reason: v1alpha1.NodeNotPermitted,
					Location: v1alpha1.ObservedLocation{Region: "us-east-1", Country: "US", Jurisdictions: []string{"us"}},
					Message:  "pod web-2 runs on node iad-1 in us; store customer-db allows [eu]", Since: metav1.NewTime(testNow.Add(-5 * time.Minute)), EvictionTime: &evict}},
				ProcessorFindings: []v1alpha1.ProcessorFinding{{Processor: "tracker", Reason: v1alpha1.ProcessorNotFound, Message: "DataProcessor tracker does not exist: create it or remove it from spec.processors"}},
				Conditions: append(cond(metav1.ConditionFalse, v1alpha1.ReasonViolations, "1 violation"), metav1.Condition{
					Type: v1alpha1.EvictionHeldCondition, Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonEvictionBrake, ObservedGeneration: gen,
					Message:            "eviction of 1 violating pods held: evictions are paused cluster-wide by the eviction brake, because 40 of 120 governed pods became violations within 10m0s (more than 20%)",
					LastTransitionTime: metav1.NewTime(testNow.Add(-time.Minute))})},
		},
		&v1alpha1.PersonalDataStore{
			ObjectMeta: metav1.ObjectMeta{Name: "analytics", Namespace: "shop", Generation: gen},
			Spec: v1alpha1.PersonalDataStoreSpec{DataCategories: []v1alpha1.DataCategory{v1alpha1.UsageActivity}, AllowedJurisdictions: []v1alpha1.JurisdictionName{"eu", "us"},
				WorkloadSelector: metav1.LabelSelector{MatchLabels: map[string]string{"tier": "front"}}, Enforcement: v1alpha1.Audit},
			Status: v1alpha1.PersonalDataStoreStatus{GovernedPods: 2, Conditions: cond(metav1.ConditionTrue, v1alpha1.ReasonAllCompliant, "every governed object is in a permitted jurisdiction")},
		},
		&v1alpha1.PersonalDataStore{
			ObjectMeta: metav1.ObjectMeta{Name: "customer-records", Namespace: "shop", Generation: gen + 1},
			Spec: v1alpha1.PersonalDataStoreSpec{DataCategories: []v1alpha1.DataCategory{v1alpha1.Credentials}, AllowedJurisdictions: []v1alpha1.JurisdictionName{"eu"},
				WorkloadSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/part-of": "customer-db"}},
				VolumeSelector:   &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/part-of": "customer-db"}}},
			Status: v1alpha1.PersonalDataStoreStatus{Conditions: cond(metav1.ConditionTrue, v1alpha1.ReasonAllCompliant, "every governed object is in a permitted jurisdiction")},
		},
		&v1alpha1.PersonalDataStore{
			ObjectMeta: metav1.ObjectMeta{Name: "tickets", Namespace: "support"},
			Spec: v1alpha1.PersonalDataStoreSpec{DataCategories: []v1alpha1.DataCategory{v1alpha1.ContactDetails}, AllowedJurisdictions: []v1alpha1.JurisdictionName{"eu"},
				WorkloadSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "helpdesk"}}},
		},
		&v1alpha1.ResidencyException{
			ObjectMeta: metav1.ObjectMeta{Name: "court-order", Namespace: "shop", Generation: 1},
			Spec: v1alpha1.ResidencyExceptionSpec{Selector: metav1.LabelSelector{MatchLabels: map[string]string{"job-name": "legal-export"}},
				Stores: []v1alpha1.ObjectName{"customer-db"}, Reason: v1alpha1.LegalProcess, Justification: "a court order requires the export",
				Requester: &v1alpha1.ExceptionRequester{Username: "alice"}, ExpiresAt: metav1.NewTime(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC))},
			Status: v1alpha1.ResidencyExceptionStatus{Approval: &v1alpha1.ExceptionApproval{Decision: v1alpha1.Approved, User: "dpo@example.com", Generation: 1}},
		},
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "fra-1",
			Labels: map[string]string{"topology.kubernetes.io/region": "eu-central-1", "topology.kubernetes.io/zone": "eu-central-1a",
				v1alpha1.CountryLabel: "DE", v1alpha1.CountrySourceLabel: "catalog", v1alpha1.ConfirmedRegionLabel: "eu-central-1",
				v1alpha1.JurisdictionLabel("eu"): "true"}},
			Spec: corev1.NodeSpec{ProviderID: "aws:///eu-central-1a/i-0abc"}},
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "iad-1",
			Labels: map[string]string{"topology.kubernetes.io/region": "us-east-1", v1alpha1.CountryLabel: "US", v1alpha1.CountrySourceLabel: "catalog",
				v1alpha1.ConfirmedRegionLabel: "us-east-1", v1alpha1.JurisdictionLabel("us"): "true"}}},
		pod("web-1", map[string]string{"app": "web", "tier": "front"}, "fra-1", map[string]string{
			v1alpha1.ObservedRegionAnnotation: "eu-central-1", v1alpha1.ObservedCountryAnnotation: "DE", v1alpha1.ObservedJurisdictionsAnnotation: "eu"}),
		pod("web-2", map[string]string{"app": "web"}, "iad-1", nil),
		pod("web-3", map[string]string{"app": "web"}, "", nil),
		neverRuns(),
		pod("static", map[string]string{"app": "static"}, "iad-1", nil),
		pod("legal-export-x1", map[string]string{"app": "web", "job-name": "legal-export"}, "iad-1", nil),
		&storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "wffc"}, Provisioner: "x"},
	}
	return fake.NewClientBuilder().WithScheme(newScheme()).WithObjects(objs...).WithStatusSubresource(&v1alpha1.ResidencyException{}).Build()
}

// neverRuns is a pending pod placed in eu by admission whose own nodeSelector asks for us-east-1.
func neverRuns() *corev1.Pod {
	p := pod("web-4", map[string]string{"app": "web"}, "", nil)
	p.Spec.NodeSelector = map[string]string{corev1.LabelTopologyRegion: "us-east-1"}
	p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
		NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{
			{Key: v1alpha1.JurisdictionLabel("eu"), Operator: corev1.NodeSelectorOpIn, Values: []string{"true"}}}}}}}}
	return p
}

func pod(name string, labels map[string]string, node string, annotations map[string]string) *corev1.Pod {
	phase := corev1.PodRunning
	if node == "" {
		phase = corev1.PodPending
	}
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop", Labels: labels, Annotations: annotations},
		Spec:   corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "c", Image: "i"}}},
		Status: corev1.PodStatus{Phase: phase}}
}

func TestClusterCommandsGolden(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
	}{
		{"status", []string{"status"}, exitOK},
		{"status-json", []string{"status", "-o", "json"}, exitOK},
		{"status-namespace", []string{"status", "-n", "support"}, exitOK},
		{"status-empty", []string{"status", "-n", "nothing-here"}, exitOK},
		{"explain-permitted", []string{"explain", "pod/web-1", "-n", "shop"}, exitOK},
		{"explain-permitted-json", []string{"explain", "pod/web-1", "-n", "shop", "-o", "json"}, exitOK},
		{"explain-not-permitted", []string{"explain", "pods/web-2", "-n", "shop"}, exitOK},
		{"explain-pending", []string{"explain", "web-3", "-n", "shop"}, exitOK},
		{"explain-never-runs", []string{"explain", "web-4", "-n", "shop"}, exitOK},
		{"explain-not-governed", []string{"explain", "po/static", "-n", "shop"}, exitOK},
		{"explain-exempt", []string{"explain", "pod/legal-export-x1", "-n", "shop"}, exitOK},
		{"explain-missing", []string{"explain", "pod/nope", "-n", "shop"}, exitFindings},
		{"check-cluster", []string{"check", "--cluster", "-f", fixtures + "bad/workloads.yaml", "-f", fixtures + "bad/storage.yaml"}, exitFindings},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, tt.args, "", fakeCluster(t))
			if code != tt.code {
				t.Errorf("exit status = %d, want %d\nstderr: %s", code, tt.code, stderr)
			}
			golden(t, tt.name+".txt", transcript(tt.args, code, stdout, stderr))
		})
	}
}

// TestVersion: --version names the version, the commit and the Go toolchain, on stdout.
func TestVersion(t *testing.T) {
	oldVersion, oldCommit := version, commit
	t.Cleanup(func() { version, commit = oldVersion, oldCommit })
	version, commit = "v1.2.3", "0123abc"
	code, stdout, stderr := runCLI(t, []string{"--version"}, "", nil)
	if code != exitOK {
		t.Fatalf("exit status = %d, stderr: %s", code, stderr)
	}
	want := "kubectl-residency v1.2.3 (commit 0123abc, " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + ")\n"
	if stdout != want {
		t.Errorf("stdout = %q, want %q", stdout, want)
	}
}

// TestDecideWithoutTheWebhook: approve and deny need the operator's webhook to record who decided.
// Against a cluster without it (this fake), the decision is stored unsigned, and the command says
// so with exit 1 rather than report an approval nobody checked. The webhook's own checks are
// tested against a real API server (internal/webhook, test/e2e).
func TestDecideWithoutTheWebhook(t *testing.T) {
	for _, tc := range []struct {
		args       []string
		code       int
		wantStderr string
	}{
		{[]string{"approve", "exception/court-order", "-n", "shop"}, exitFindings, "the decision was stored without the approver"},
		{[]string{"deny", "rex/court-order", "-n", "shop", "-m", "no order attached"}, exitFindings, "the decision was stored without the approver"},
		{[]string{"approve", "pod/web-1", "-n", "shop"}, exitBadInput, `"pod/web-1" is not an exception`},
		{[]string{"approve", "exception/", "-n", "shop"}, exitBadInput, "names no exception"},
		{[]string{"approve", "exception/nope", "-n", "shop"}, exitFindings, "not found"},
		{[]string{"approve", "exception/court-order", "-n", "shop", "-m", strings.Repeat("x", 1025)}, exitBadInput, "at most 1024"},
	} {
		code, _, stderr := runCLI(t, tc.args, "", fakeCluster(t))
		if code != tc.code || !strings.Contains(stderr, tc.wantStderr) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", tc.args, code, stderr, tc.code, tc.wantStderr)
		}
	}
}
