package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/yaml"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
	"github.com/residency-operator/residency-operator/internal/history"
	"github.com/residency-operator/residency-operator/internal/manifest"
)

const reportFixture = fixtures + "report"

// The fixture's stores.
const (
	customerDBUID = "6f1c2a9e-0d3b-4c59-9a61-3f2b7c1d0001"
	analyticsUID  = "6f1c2a9e-0d3b-4c59-9a61-3f2b7c1d0002"
	oldCacheUID   = "6f1c2a9e-0d3b-4c59-9a61-3f2b7c1d0003" // deleted: only its history is left
)

// reportArgs is the period every golden report covers: 1 to 3 May 2026, 3 May included.
var reportArgs = []string{"report", "-f", reportFixture, "--from", "2026-05-01", "--to", "2026-05-03"}

func day(d, h, m int) time.Time { return time.Date(2026, 5, d, h, m, 0, 0, time.UTC) }

func mt(t time.Time) metav1.Time { return metav1.NewTime(t) }

func mtp(t time.Time) *metav1.Time { v := metav1.NewTime(t); return &v }

// fixtureRecords are the ResidencyRecords of the report fixture, hash-chained per store with
// history.Hash as the operator chains them. TestReportFixture writes them to records.yaml.
func fixtureRecords() []*v1alpha1.ResidencyRecord {
	pod := func(name string) v1alpha1.ObjectReference {
		return v1alpha1.ObjectReference{Kind: "Pod", Name: name, UID: types.UID("uid-" + name)}
	}
	eu := []string{"eu"}
	gen2 := v1alpha1.RecordedPolicyChange{Time: mt(time.Date(2026, 4, 1, 8, 0, 0, 0, time.UTC)), Generation: 2,
		SpecHash: "4b1d0c6a93e9a1f5d2b7c8e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4", AllowedJurisdictions: eu, Enforcement: v1alpha1.Warn}
	gen3 := v1alpha1.RecordedPolicyChange{Time: mt(day(2, 9, 0)), Generation: 3,
		SpecHash: "9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b", AllowedJurisdictions: eu, Enforcement: v1alpha1.Enforce}
	mailer := v1alpha1.RecordedProcessor{Name: "mailer", Role: v1alpha1.ServiceProvider, Jurisdictions: []string{"us"}, Permitted: false}
	helpdesk := v1alpha1.RecordedProcessor{Name: "helpdesk", Role: v1alpha1.ServiceProvider, Jurisdictions: eu, Permitted: true}
	fullDay := func(d int) (metav1.Time, metav1.Time, *metav1.Time, *metav1.Time) {
		return mt(day(d, 0, 0)), mt(day(d+1, 0, 0)), mtp(day(d, 0, 0)), mtp(day(d+1, 0, 0)) // a sealed record is observed to its end, as the recorder writes it
	}
	rec := func(store, uid string, seq int64, d int) *v1alpha1.ResidencyRecord {
		start, end, first, last := fullDay(d)
		return &v1alpha1.ResidencyRecord{
			TypeMeta: metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "ResidencyRecord"},
			ObjectMeta: metav1.ObjectMeta{Name: store + "-" + start.UTC().Format("20060102"), Namespace: "shop",
				Labels: map[string]string{v1alpha1.RecordStoreUIDLabel: uid}},
			Spec: v1alpha1.ResidencyRecordSpec{Store: v1alpha1.NamespacedReference{Namespace: "shop", Name: store}, StoreUID: types.UID(uid),
				Sequence: seq, PeriodStart: start, PeriodEnd: end, FirstObserved: first, LastObserved: last, ObservedSeconds: 86400, Sealed: true},
		}
	}
	de := func(podSeconds, volumeSeconds int64) v1alpha1.RecordedLocation {
		return v1alpha1.RecordedLocation{Country: "DE", Jurisdictions: eu, PodSeconds: podSeconds, VolumeSeconds: volumeSeconds, MaxPods: 3, MaxVolumes: 1}
	}

	// customer-db: 30 April (before the period), 1, 2 and 3 May.
	c0 := rec("customer-db", customerDBUID, 0, 0) // 30 April: day 0 of May
	c0.Spec.Locations = []v1alpha1.RecordedLocation{de(259200, 86400)}
	c0.Spec.Processors = []v1alpha1.RecordedProcessor{mailer, helpdesk}
	c0.Spec.PolicyChanges = []v1alpha1.RecordedPolicyChange{gen2}
	c1 := rec("customer-db", customerDBUID, 1, 1)
	c1.Spec.Locations = []v1alpha1.RecordedLocation{de(259200, 86400)}
	c1.Spec.Processors = []v1alpha1.RecordedProcessor{mailer, helpdesk}
	c1.Spec.PolicyChanges = []v1alpha1.RecordedPolicyChange{gen2}
	// 2 May: the operator was down 10:00-12:00; a pod ran in Virginia 13:00-15:30 until evicted,
	// after the store went from Warn to Enforce at 09:00.
	c2 := rec("customer-db", customerDBUID, 2, 2)
	c2.Spec.ObservedSeconds = 86340 - 7200
	c2.Spec.Gaps = []v1alpha1.RecordGap{{From: mt(day(2, 10, 0)), To: mt(day(2, 12, 0))}}
	c2.Spec.Locations = []v1alpha1.RecordedLocation{de(230400, 79200),
		{Country: "US", Jurisdictions: []string{"us"}, PodSeconds: 9000, MaxPods: 1}}
	c2.Spec.Violations = []v1alpha1.RecordedViolation{{Object: pod("customer-db-2"), Reason: v1alpha1.NodeNotPermitted, Where: "iad-1", Country: "US",
		Start: mt(day(2, 13, 0)), End: mtp(day(2, 15, 30))}}
	c2.Spec.Evictions = []v1alpha1.RecordedEviction{{Pod: pod("customer-db-2"), Node: "iad-1", Time: mt(day(2, 15, 30))}}
	c2.Spec.Processors = []v1alpha1.RecordedProcessor{mailer, helpdesk}
	c2.Spec.PolicyChanges = []v1alpha1.RecordedPolicyChange{gen2, gen3}
	// 3 May: a court-ordered export ran in the US under an exception; one eviction was held.
	c3 := rec("customer-db", customerDBUID, 3, 3)
	c3.Spec.Locations = []v1alpha1.RecordedLocation{de(259200, 86400),
		{Country: "US", Jurisdictions: []string{"us"}, PodSeconds: 5400, MaxPods: 1}}
	c3.Spec.Exceptions = []v1alpha1.RecordedException{{Name: "court-order", First: mt(day(3, 6, 0)), Last: mt(day(3, 7, 30)),
		ExpiresAt: mtp(time.Date(2026, 5, 10, 0, 0, 0, 0, time.UTC)), MaxObjects: 1}}
	c3.Spec.Violations = []v1alpha1.RecordedViolation{{Object: pod("customer-db-4"), Reason: v1alpha1.NodeLocationUnknown, Where: "edge-7",
		Start: mt(day(3, 18, 0))}}
	c3.Spec.Holds = []v1alpha1.RecordedHold{{Pod: pod("customer-db-4"), Why: "no permitted node can take the pod", Start: mt(day(3, 18, 10))}}
	c3.Spec.Processors = []v1alpha1.RecordedProcessor{mailer, helpdesk}
	c3.Spec.PolicyChanges = []v1alpha1.RecordedPolicyChange{gen3}
	c3.Spec.Sealed = false
	c3.Spec.LastObserved = mtp(day(3, 23, 0))

	// analytics: created on 2 May; no record for 3 May (the operator was not installed then).
	a0 := rec("analytics", analyticsUID, 0, 2)
	a0.Spec.Locations = []v1alpha1.RecordedLocation{
		{Country: "US", Jurisdictions: []string{"us"}, PodSeconds: 86400, MaxPods: 1},
		{Country: "NL", Jurisdictions: eu, PodSeconds: 43200, MaxPods: 1},
		{PodSeconds: 1800, MaxPods: 1}}
	a0.Spec.Processors = []v1alpha1.RecordedProcessor{{Name: "tracker", Role: v1alpha1.CoBrandPartner, Jurisdictions: []string{"us", "onprem"}, Permitted: true}}
	a0.Spec.PolicyChanges = []v1alpha1.RecordedPolicyChange{{Time: mt(day(2, 0, 0)), Generation: 1, SpecHash: "0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9",
		AllowedJurisdictions: []string{"eu", "us"}, Enforcement: v1alpha1.Audit}}

	// old-cache: deleted on 1 May; its last record is still evidence.
	o0 := rec("old-cache", oldCacheUID, 0, 1)
	o0.Spec.Locations = []v1alpha1.RecordedLocation{{Country: "FR", Jurisdictions: eu, PodSeconds: 3600, MaxPods: 1}}
	o0.Spec.ObservedSeconds = 3600
	o0.Spec.LastObserved = mtp(day(1, 1, 0))

	chains := [][]*v1alpha1.ResidencyRecord{{c0, c1, c2, c3}, {a0}, {o0}}
	var out []*v1alpha1.ResidencyRecord
	for _, chain := range chains {
		prev := ""
		for _, r := range chain {
			r.Spec.PreviousHash = prev
			r.Spec.Hash = history.Hash(&r.Spec)
			prev = r.Spec.Hash
			out = append(out, r)
		}
	}
	return out
}

func marshalRecords(t *testing.T, records []*v1alpha1.ResidencyRecord) []byte {
	t.Helper()
	var b bytes.Buffer
	b.WriteString("# Generated by TestReportFixture from fixtureRecords in report_test.go, hashes by history.Hash:\n")
	b.WriteString("# go test ./cmd/kubectl-residency -run TestReportFixture -update\n")
	for _, r := range records {
		y, err := yaml.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString("---\n")
		b.Write(y)
	}
	return b.Bytes()
}

// TestReportFixture keeps testdata/fixtures/report/records.yaml what fixtureRecords makes, and
// checks that the records read back from it verify: YAML does not change what is hashed.
func TestReportFixture(t *testing.T) {
	path := filepath.Join(reportFixture, "records.yaml")
	want := marshalRecords(t, fixtureRecords())
	if *update {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is not what fixtureRecords makes: run go test ./cmd/kubectl-residency -run TestReportFixture -update", path)
	}
	set := manifest.NewSet(manifest.Options{})
	if err := set.AddBytes(path, got); err != nil {
		t.Fatal(err)
	}
	byUID := map[string][]v1alpha1.ResidencyRecord{}
	for _, r := range set.Records {
		byUID[string(r.Spec.StoreUID)] = append(byUID[string(r.Spec.StoreUID)], *r)
	}
	if len(byUID) != 3 {
		t.Fatalf("%d chains, want 3", len(byUID))
	}
	for uid, chain := range byUID {
		if problems := history.Verify(chain); len(problems) > 0 {
			t.Errorf("chain %s read back from YAML: %v", uid, problems)
		}
	}
}

// TestReportGolden renders the fixture in every format into a file, as an auditor would get it.
func TestReportGolden(t *testing.T) {
	for _, format := range []string{"md", "json", "csv", "html"} {
		t.Run(format, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "report."+format)
			args := append(append([]string{}, reportArgs...), "-o", format, "--output-file", out)
			code, stdout, stderr := runCLI(t, args, "", nil)
			if code != exitOK || stdout != "" || stderr != "wrote "+out+"\n" {
				t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
			}
			got, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "report."+format, string(got))
		})
	}
}

func TestReportVariants(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
	}{
		// One store to standard output, markdown by default; --verify passes on the intact chain.
		{"store", append(append([]string{}, reportArgs...), "-n", "shop", "--store", "analytics", "--verify"), exitOK},
		// No RecordOfProcessing: the controller and every adequacy decision are not declared.
		{"no-rop", []string{"report", "-f", reportFixture + "/records.yaml", "--from", "2026-05-02", "--to", "2026-05-02T12:00:00Z", "-o", "md"}, exitOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, tt.args, "", nil)
			if code != tt.code {
				t.Errorf("exit status = %d, want %d\nstderr: %s", code, tt.code, stderr)
			}
			golden(t, "report-"+tt.name+".txt", transcript(tt.args, code, stdout, stderr))
		})
	}
}

// TestReportVerifyTampered: one record's content was edited after the operator wrote it and
// another was removed; --verify names both and exits 1, and the report says so too.
func TestReportVerifyTampered(t *testing.T) {
	dir := t.TempDir()
	policies, err := os.ReadFile(filepath.Join(reportFixture, "policies.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "policies.yaml"), policies, 0o644); err != nil {
		t.Fatal(err)
	}
	var kept []*v1alpha1.ResidencyRecord
	for _, r := range fixtureRecords() {
		switch r.Name {
		case "customer-db-20260501":
			continue // removed
		case "customer-db-20260502":
			r.Spec.Locations = r.Spec.Locations[:1] // the pod-hours in the US edited away
		}
		kept = append(kept, r)
	}
	if err := os.WriteFile(filepath.Join(dir, "records.yaml"), marshalRecords(t, kept), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"report", "-f", dir, "--from", "2026-05-01", "--to", "2026-05-03", "--verify", "-o", "json"}
	code, stdout, stderr := runCLI(t, args, "", nil)
	if code != exitFindings {
		t.Errorf("exit status = %d, want %d\nstderr: %s", code, exitFindings, stderr)
	}
	for _, want := range []string{
		"verify: store shop/customer-db (sequence 1): records 1 to 1 are missing: removed after the operator wrote them",
		"verify: store shop/customer-db record customer-db-20260502 (sequence 2): content does not match its hash",
		"error: the residency history failed verification: 2 problems",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr does not say %q:\n%s", want, stderr)
		}
	}
	if !strings.Contains(stdout, `"verified": false`) || !strings.Contains(stdout, "content does not match its hash") {
		t.Errorf("the report does not carry the failed verification:\n%s", stdout)
	}
	if strings.Count(stderr, "verify:") != 2 {
		t.Errorf("want exactly 2 problems:\n%s", stderr)
	}
}

func TestReportBadInput(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	badYAML := write("bad.yaml", "apiVersion: dataresidency.io/v1alpha1\nkind: ResidencyRecord\nmetadata:\n  name: r\nspec:\n  sequence: [\n")
	badType := write("type.yaml", "apiVersion: dataresidency.io/v1alpha1\nkind: ResidencyRecord\nmetadata:\n  name: r\nspec:\n  sequence: first\n")
	otherROP := write("rop.yaml", "apiVersion: dataresidency.io/v1alpha1\nkind: RecordOfProcessing\nmetadata:\n  name: mine\nspec:\n  controller: {name: x}\n")
	tests := []struct {
		name      string
		args      []string
		code      int
		stderrHas string
	}{
		{"bad YAML", []string{"report", "-f", badYAML}, exitBadInput, "bad.yaml:7: yaml: did not find expected node content"},
		{"bad type", []string{"report", "-f", badType}, exitBadInput, "type.yaml:6: decoding ResidencyRecord: spec.sequence: cannot use a string where an integer is expected"},
		{"RecordOfProcessing not default", []string{"report", "-f", otherROP}, exitBadInput, `rop.yaml:1: RecordOfProcessing "mine": there is one per cluster and it is named default`},
		{"missing file", []string{"report", "-f", "testdata/nope.yaml"}, exitBadInput, "testdata/nope.yaml: stat: no such file or directory"},
		{"bad --from", []string{"report", "-f", reportFixture, "--from", "1 May"}, exitBadInput, `--from: "1 May" is neither a date`},
		{"bad --to", []string{"report", "-f", reportFixture, "--to", "2026-13-01"}, exitBadInput, `--to: "2026-13-01" is neither a date`},
		{"out of range", []string{"report", "-f", reportFixture, "--from", "0001-01-01"}, exitBadInput, `--from: "0001-01-01" is out of range`},
		{"empty period", []string{"report", "-f", reportFixture, "--from", "2026-05-03", "--to", "2026-05-01"}, exitBadInput, "the period is empty"},
		{"unknown format", []string{"report", "-f", reportFixture, "-o", "pdf"}, exitBadInput, `unknown output format "pdf"`},
		{"unwritable output file", []string{"report", "-f", reportFixture, "--output-file", filepath.Join(dir, "no", "such", "dir.md")}, exitBadInput, "writing the report"},
		{"cluster unreachable", []string{"report"}, exitFindings, "no cluster in this test"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, tt.args, "", nil)
			if code != tt.code || !strings.Contains(stderr, tt.stderrHas) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q\nstdout: %s", code, stderr, tt.code, tt.stderrHas, stdout)
			}
		})
	}
}

// TestReportHostileInput: whatever the objects hold, the report is written without a panic and
// nothing of the input becomes markup or a spreadsheet formula.
func TestReportHostileInput(t *testing.T) {
	evil := `<script>alert(1)</script>`
	dir := t.TempDir()
	content := `apiVersion: dataresidency.io/v1alpha1
kind: PersonalDataStore
metadata: {name: "x", namespace: shop, uid: u1}
spec:
  description: "` + evil + ` | # *"
  purposes: ["=cmd|' /C calc'!A0", "</td></tr>"]
  dataCategories: [Nonsense]
  allowedJurisdictions: [missing]
  workloadSelector: {matchLabels: {app: x}}
  processors: ["` + evil + `", p]
---
apiVersion: dataresidency.io/v1alpha1
kind: DataProcessor
metadata: {name: p}
spec:
  role: "` + evil + `"
  jurisdictions: [nowhere]
  purposes: [x]
  dataCategories: [UsageActivity]
  transfer: {mechanism: Telepathy}
---
apiVersion: dataresidency.io/v1alpha1
kind: ResidencyRecord
metadata: {name: "r1", namespace: shop}
spec:
  store: {namespace: shop, name: x}
  storeUID: u1
  sequence: 9223372036854775807
  periodStart: "2026-05-02T00:00:00Z"
  periodEnd: "2026-05-01T00:00:00Z"
  observedSeconds: -5
  locations:
  - {country: "<b>", podSeconds: 9223372036854775807, volumeSeconds: -100}
  - {country: "US", podSeconds: 9223372036854775807}
  violations:
  - {object: {kind: Pod, name: "` + evil + `"}, reason: NodeNotPermitted, start: "2026-05-01T10:00:00Z", end: "2020-01-01T00:00:00Z"}
---
apiVersion: dataresidency.io/v1alpha1
kind: ResidencyRecord
metadata: {name: "r2", namespace: shop}
spec:
  store: {namespace: shop, name: x}
  storeUID: u1
  sequence: -3
  periodStart: "2026-05-01T00:00:00Z"
  periodEnd: "2026-05-01T06:00:00Z"
  violations:
  - {object: {kind: Pod, name: v}, reason: NodeNotPermitted, start: "1999-01-01T00:00:00Z"}
`
	if err := os.WriteFile(filepath.Join(dir, "evil.yaml"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"md", "json", "csv", "html"} {
		code, stdout, stderr := runCLI(t, []string{"report", "-f", dir, "--from", "2000-01-01", "--to", "2026-06-01", "-o", format, "--verify"}, "", nil)
		if code != exitFindings || !strings.Contains(stderr, "content does not match its hash") {
			t.Errorf("%s: exit %d, stderr %s", format, code, stderr)
		}
		if format != "csv" && strings.Contains(stdout, evil) { // CSV is data, not markup
			t.Errorf("%s: the input's markup is in the output unescaped", format)
		}
		if format == "csv" && strings.Contains(stdout, ",=cmd") {
			t.Errorf("csv: a formula from the input is in the output")
		}
	}
}

// TestReportFromCluster reads the same fixture from a (fake) cluster: the same report, but for
// its source.
func TestReportFromCluster(t *testing.T) {
	set := manifest.NewSet(manifest.Options{})
	if err := set.LoadPaths([]string{reportFixture}, nil); err != nil {
		t.Fatal(err)
	}
	var objs []client.Object
	for _, s := range set.Stores {
		objs = append(objs, s)
	}
	for _, p := range set.Processors {
		objs = append(objs, p)
	}
	for _, j := range set.Jurisdictions {
		objs = append(objs, j)
	}
	for _, r := range set.Records {
		objs = append(objs, r)
	}
	for _, r := range set.RecordsOfProcessing {
		objs = append(objs, r)
	}
	c := fake.NewClientBuilder().WithScheme(newScheme()).WithObjects(objs...).Build()
	args := []string{"report", "--from", "2026-05-01", "--to", "2026-05-03", "-o", "json", "--verify"}
	code, fromCluster, stderr := runCLI(t, args, "", c)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	code, fromFiles, _ := runCLI(t, append(args, "-f", reportFixture), "", nil)
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	norm := func(s string) string {
		var out []string
		for _, l := range strings.Split(s, "\n") {
			if !strings.Contains(l, `"source":`) {
				out = append(out, l)
			}
		}
		return strings.Join(out, "\n")
	}
	if norm(fromCluster) != norm(fromFiles) {
		t.Errorf("the report from the cluster differs from the one from the files")
	}
}
