package report

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"strings"
	"testing"

	"github.com/residency-operator/residency-operator/cmd/kubectl-residency/internal/check"
	"github.com/residency-operator/residency-operator/internal/manifest"
)

func sample() *Report {
	deploy := &manifest.Object{Ref: manifest.Ref{Kind: "Deployment", Namespace: "shop", Name: "web"}, Source: manifest.Source{File: "./deploy/web.yaml", Line: 3}}
	jur := &manifest.Object{Ref: manifest.Ref{Kind: "Jurisdiction", Name: "eu"}, Source: manifest.Source{File: "policies/eu.yaml", Line: 1}}
	return &Report{Version: "1.2.3", Policies: "the checked manifests", Result: &check.Result{
		Objects: 3, Files: 2, Checked: []*manifest.Object{deploy, jur},
		Findings: []check.Finding{
			{Severity: check.Error, Rule: "RES001", Name: "placement-contradicts-store", Message: "pinned to us-east-1 <&> \"quoted\". Fix: move it", Object: deploy.Ref, File: deploy.Source.File, Line: 3},
			{Severity: check.Warning, Rule: "RES003", Name: "unknown-location", Message: "region mars-1. Fix: x", Object: deploy.Ref, File: deploy.Source.File, Line: 3},
			{Severity: check.Error, Rule: "RES005", Name: "jurisdiction-not-found", Message: "cluster object", Object: manifest.Ref{Kind: "PersonalDataStore", Namespace: "shop", Name: "db"}},
		},
	}}
}

// TestSARIF checks the log against what SARIF 2.1.0 and GitHub code scanning require: a version,
// a driver with rules, results whose ruleIndex points at their rule, relative URIs, lines >= 1.
func TestSARIF(t *testing.T) {
	var buf bytes.Buffer
	if err := Write(&buf, "sarif", sample()); err != nil {
		t.Fatal(err)
	}
	var log sarifLog
	if err := json.Unmarshal(buf.Bytes(), &log); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if log.Version != "2.1.0" || !strings.Contains(log.Schema, "sarif-2.1.0") || len(log.Runs) != 1 {
		t.Fatalf("header = %s %s, %d runs", log.Version, log.Schema, len(log.Runs))
	}
	run := log.Runs[0]
	if run.Tool.Driver.Name != "kubectl-residency" || run.Tool.Driver.Version != "1.2.3" || len(run.Tool.Driver.Rules) != len(check.Rules) {
		t.Errorf("driver = %+v", run.Tool.Driver)
	}
	if len(run.Results) != 3 || !run.Invocations[0].ExecutionSuccessful {
		t.Fatalf("results = %d, invocation = %+v", len(run.Results), run.Invocations)
	}
	for _, r := range run.Results {
		if run.Tool.Driver.Rules[r.RuleIndex].ID != r.RuleID {
			t.Errorf("result %s points at rule %d", r.RuleID, r.RuleIndex)
		}
		if r.Level != "error" && r.Level != "warning" {
			t.Errorf("level %q", r.Level)
		}
		if len(r.PartialFingerprints) == 0 || len(r.Locations) != 1 {
			t.Errorf("result = %+v", r)
		}
	}
	loc := run.Results[0].Locations[0].PhysicalLocation
	if loc == nil || loc.ArtifactLocation.URI != "deploy/web.yaml" || loc.Region.StartLine != 3 {
		t.Errorf("location = %+v", loc)
	}
	if run.Results[2].Locations[0].PhysicalLocation != nil || run.Results[2].Locations[0].LogicalLocations[0].FullyQualifiedName != "PersonalDataStore/shop/db" {
		t.Errorf("cluster object location = %+v", run.Results[2].Locations[0])
	}
	if run.Results[0].PartialFingerprints["residencyFinding/v1"] == run.Results[1].PartialFingerprints["residencyFinding/v1"] {
		t.Error("two rules on one object share a fingerprint")
	}
}

func TestSARIFInputErrors(t *testing.T) {
	var buf bytes.Buffer
	r := &Report{Version: "dev", InputErrors: []*manifest.Error{{File: "a.yaml", Line: 4, Err: errors.New("yaml: bad")}}}
	if err := Write(&buf, "sarif", r); err != nil {
		t.Fatal(err)
	}
	var log sarifLog
	if err := json.Unmarshal(buf.Bytes(), &log); err != nil {
		t.Fatal(err)
	}
	inv := log.Runs[0].Invocations[0]
	if inv.ExecutionSuccessful || len(inv.ToolExecutionNotifications) != 1 || inv.ToolExecutionNotifications[0].Locations[0].PhysicalLocation.Region.StartLine != 4 {
		t.Errorf("invocation = %+v", inv)
	}
	if log.Runs[0].Results == nil {
		t.Error("results must be an empty list, not null")
	}
}

// TestJUnit checks the XML parses, has one test case per object, and counts failures per case.
func TestJUnit(t *testing.T) {
	var buf bytes.Buffer
	if err := Write(&buf, "junit", sample()); err != nil {
		t.Fatal(err)
	}
	var suites junitSuites
	if err := xml.Unmarshal(buf.Bytes(), &suites); err != nil {
		t.Fatalf("not XML: %v\n%s", err, buf.String())
	}
	if suites.Tests != 3 || suites.Failures != 2 || len(suites.Suites) != 3 {
		t.Fatalf("tests %d failures %d suites %d:\n%s", suites.Tests, suites.Failures, len(suites.Suites), buf.String())
	}
	web := suites.Suites[0].Cases[0]
	if web.Name != "shop/web" || web.Classname != "Deployment" || web.Failure == nil || web.Failure.Type != "RES001" || !strings.Contains(web.SystemOut, "RES003") {
		t.Errorf("web = %+v", web)
	}
	if !strings.Contains(web.Failure.Message, `<&> "quoted"`) {
		t.Errorf("message lost its characters: %q", web.Failure.Message)
	}
	if c := suites.Suites[1].Cases[0]; c.Name != "eu" || c.Failure != nil {
		t.Errorf("eu = %+v", c)
	}
	if s := suites.Suites[2]; s.Name != "cluster" || s.Cases[0].Name != "shop/db" {
		t.Errorf("cluster suite = %+v", s)
	}
}

func TestJSONAndText(t *testing.T) {
	var buf bytes.Buffer
	if err := Write(&buf, "json", sample()); err != nil {
		t.Fatal(err)
	}
	var out jsonReport
	if err := json.Unmarshal(buf.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	if out.Summary.Errors != 2 || out.Summary.Warnings != 1 || out.Findings[0].File != "deploy/web.yaml" {
		t.Errorf("json = %+v", out)
	}
	buf.Reset()
	if err := Write(&buf, "text", sample()); err != nil {
		t.Fatal(err)
	}
	want := "deploy/web.yaml:3: error RES001 Deployment shop/web: pinned to us-east-1"
	if !strings.HasPrefix(buf.String(), want) || !strings.Contains(buf.String(), "cluster: error RES005 PersonalDataStore shop/db") ||
		!strings.Contains(buf.String(), "residency check failed: 2 errors, 1 warning in 3 objects (2 checked) from 2 files") {
		t.Errorf("text =\n%s", buf.String())
	}
	if err := Write(&buf, "yaml", sample()); err == nil {
		t.Error("unknown format accepted")
	}
}
