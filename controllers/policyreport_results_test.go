package controllers

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
	"github.com/residency-operator/residency-operator/internal/engine"
)

// TestStoreResults: one result per audited object, its value by the store's mode and exemptions,
// its rule from the shared table, the eviction time from the store's violations.
func TestStoreResults(t *testing.T) {
	evict := metav1.NewTime(time.Date(2026, 12, 2, 15, 0, 0, 0, time.UTC))
	de := &v1alpha1.ObservedLocation{Region: "eu-central-1", Zone: "eu-central-1a", Country: "DE", Jurisdictions: []string{"eu"}}
	us := &v1alpha1.ObservedLocation{Region: "us-east-1", Country: "US", Jurisdictions: []string{"us", "five-eyes"}}
	notPermitted := engine.Finding{Reason: engine.NodeNotPermitted, Severity: engine.Breach, Message: "node iad is outside"}
	unplaced := engine.Finding{Reason: engine.PlacementMissing, Severity: engine.Breach, Message: "created without placement"}
	volume := engine.Finding{Reason: engine.VolumeLocationUnknown, Severity: engine.Breach, Message: "volume pv-1 has no location"}
	a := &auditResult{observed: []auditedObject{
		{Ref: v1alpha1.ObjectReference{Kind: "Pod", Name: "ok", UID: "u1"}, Where: "fra", Location: de},
		{Ref: v1alpha1.ObjectReference{Kind: "Pod", Name: "out", UID: "u2"}, Where: "iad", Location: us, Denied: []engine.Finding{notPermitted}},
		{Ref: v1alpha1.ObjectReference{Kind: "Pod", Name: "pending", UID: "u3"}, Denied: []engine.Finding{unplaced}},
		{Ref: v1alpha1.ObjectReference{Kind: "Pod", Name: "legal", UID: "u4"}, Where: "iad", Location: us, ExemptedBy: "court-order"},
		{Ref: v1alpha1.ObjectReference{Kind: "PersistentVolumeClaim", Name: "data", UID: "u5"}, Where: "pv-1", Denied: []engine.Finding{volume}},
		{Ref: v1alpha1.ObjectReference{Kind: "PersistentVolumeClaim", Name: "new", UID: "u6"}},
	}}
	store := &v1alpha1.PersonalDataStore{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "shop"},
		Spec: v1alpha1.PersonalDataStoreSpec{AllowedJurisdictions: []v1alpha1.JurisdictionName{"eu"}, Enforcement: v1alpha1.Enforce}}
	violations := []v1alpha1.Violation{{Object: v1alpha1.ObjectReference{Kind: "Pod", Name: "out"}, EvictionTime: &evict}}

	got := storeResults(store, a, violations)
	type summary struct{ result, rule, severity, where string }
	var brief []summary
	for _, r := range got {
		brief = append(brief, summary{r.Result, r.Rule, r.Severity, r.Properties["node"] + r.Properties["volume"]})
	}
	want := []summary{
		{"pass", "RES010", "", "fra"}, {"fail", "RES010", "high", "iad"}, {"fail", "RES018", "high", ""},
		{"skip", "RES010", "", "iad"}, {"fail", "RES014", "high", "pv-1"}, {"pass", "RES014", "", ""},
	}
	if diff := cmp.Diff(want, brief, cmp.AllowUnexported(summary{})); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"enforcement": "Enforce", "node": "iad", "region": "us-east-1", "country": "US",
		"jurisdictions": "us,five-eyes", "evictionTime": "2026-12-02T15:00:00Z"}, got[1].Properties); diff != "" {
		t.Errorf("properties of the violating pod (-want +got):\n%s", diff)
	}
	if got[3].Properties["exception"] != "court-order" || got[3].Properties["evictionTime"] != "" {
		t.Errorf("exempted pod: %+v", got[3].Properties)
	}
	if got[1].Message != "node iad is outside" || got[1].Resources[0].Namespace != "shop" || got[1].Resources[0].UID != "u2" || got[1].Policy != "db" {
		t.Errorf("violating pod's result: %+v", got[1])
	}

	t.Run("Audit findings fail, Warn findings warn, neither evicts", func(t *testing.T) {
		audit := store.DeepCopy()
		audit.Spec.Enforcement = v1alpha1.Audit
		got := storeResults(audit, &auditResult{observed: []auditedObject{
			{Ref: v1alpha1.ObjectReference{Kind: "Pod", Name: "out"}, Where: "iad", Reported: []engine.Finding{notPermitted}},
			{Ref: v1alpha1.ObjectReference{Kind: "Pod", Name: "warned"}, Where: "iad", Warned: []engine.Finding{notPermitted}},
		}}, nil)
		if got[0].Result != resultFail || got[1].Result != resultWarn || got[1].Severity != "medium" || got[0].Properties["evictionTime"] != "" {
			t.Errorf("results: %+v", got)
		}
	})
}

// TestReportContent: the summary counts every result, the results are failures first and bounded,
// and an openreports.io Report carries its source and limits.
func TestReportContent(t *testing.T) {
	var results []reportResult
	for i, value := range []string{"pass", "pass", "skip", "fail", "pass", "warn", "fail"} {
		results = append(results, reportResult{Policy: "db", Result: value, Resources: resourcesOf(fmt.Sprintf("p%d", i))})
	}
	w := &PolicyReports{Format: PolicyReportFormat, MaxResults: 4}
	c := w.content(results)
	if want := (reportSummary{Pass: 3, Fail: 2, Warn: 1, Skip: 1}); c.Summary != want {
		t.Errorf("summary = %+v, want %+v", c.Summary, want)
	}
	var values []string
	for _, r := range c.Results {
		values = append(values, r.Result+"/"+r.Resources[0].Name)
	}
	if diff := cmp.Diff([]string{"fail/p3", "fail/p6", "warn/p5", "skip/p2"}, values); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	if c.omitted != 3 || c.Source != "" || c.Configuration != nil {
		t.Errorf("omitted %d, source %q, configuration %v", c.omitted, c.Source, c.Configuration)
	}
	fields, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&c)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := fields["source"]; ok {
		t.Errorf("a wgpolicyk8s.io PolicyReport has no top-level source: %v", fields)
	}

	w.Format = OpenReportsFormat
	c = w.content(results)
	if c.Source != "residency-operator" || c.Configuration == nil || c.Configuration.Limits.MaxResults != 4 {
		t.Errorf("openreports content: source %q, configuration %+v", c.Source, c.Configuration)
	}
	if gvk := OpenReportsFormat.gvk(); gvk.Group != "openreports.io" || gvk.Version != "v1alpha1" || gvk.Kind != "Report" {
		t.Errorf("openreports kind = %v", gvk)
	}
}

func TestParseReportFormat(t *testing.T) {
	for _, s := range []string{"policyreport", "openreports", "off"} {
		if f, err := ParseReportFormat(s); err != nil || string(f) != s {
			t.Errorf("ParseReportFormat(%q) = %q, %v", s, f, err)
		}
	}
	if _, err := ParseReportFormat("kyverno"); err == nil {
		t.Error("ParseReportFormat accepted an unknown format")
	}
	if NewPolicyReports(nil, nil, nil, NoReports, 0, 0) != nil {
		t.Error("--policy-reports=off must write nothing")
	}
}

func resourcesOf(name string) []corev1.ObjectReference {
	return []corev1.ObjectReference{{APIVersion: "v1", Kind: "Pod", Namespace: "shop", Name: name}}
}
