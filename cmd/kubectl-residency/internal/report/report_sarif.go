package report

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"path/filepath"

	"github.com/residency-operator/residency-operator/cmd/kubectl-residency/internal/check"
)

// SARIF 2.1.0 (OASIS), the subset that GitHub code scanning and other viewers read.
const (
	sarifSchema  = "https://json.schemastore.org/sarif-2.1.0.json"
	sarifVersion = "2.1.0"
	toolName     = "kubectl-residency"
	toolURI      = "https://github.com/residency-operator/residency-operator"
)

type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool        sarifTool         `json:"tool"`
	Invocations []sarifInvocation `json:"invocations"`
	Results     []sarifResult     `json:"results"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	InformationURI string      `json:"informationUri"`
	Version        string      `json:"version"`
	Rules          []sarifRule `json:"rules"`
}

type sarifRule struct {
	ID                   string            `json:"id"`
	Name                 string            `json:"name"`
	ShortDescription     sarifText         `json:"shortDescription"`
	FullDescription      sarifText         `json:"fullDescription"`
	Help                 sarifText         `json:"help"`
	DefaultConfiguration sarifRuleConfig   `json:"defaultConfiguration"`
	Properties           sarifRuleProperty `json:"properties"`
}

type sarifRuleConfig struct {
	Level string `json:"level"`
}

type sarifRuleProperty struct {
	Tags []string `json:"tags"`
}

type sarifText struct {
	Text string `json:"text"`
}

type sarifInvocation struct {
	ExecutionSuccessful        bool                `json:"executionSuccessful"`
	ToolExecutionNotifications []sarifNotification `json:"toolExecutionNotifications,omitempty"`
}

type sarifNotification struct {
	Level     string          `json:"level"`
	Message   sarifText       `json:"message"`
	Locations []sarifLocation `json:"locations,omitempty"`
}

type sarifResult struct {
	RuleID              string            `json:"ruleId"`
	RuleIndex           int               `json:"ruleIndex"`
	Level               string            `json:"level"`
	Message             sarifText         `json:"message"`
	Locations           []sarifLocation   `json:"locations"`
	PartialFingerprints map[string]string `json:"partialFingerprints"`
}

type sarifLocation struct {
	PhysicalLocation *sarifPhysicalLocation `json:"physicalLocation,omitempty"`
	LogicalLocations []sarifLogicalLocation `json:"logicalLocations,omitempty"`
}

type sarifPhysicalLocation struct {
	ArtifactLocation sarifArtifactLocation `json:"artifactLocation"`
	Region           *sarifRegion          `json:"region,omitempty"`
}

type sarifArtifactLocation struct {
	URI string `json:"uri"`
}

type sarifRegion struct {
	StartLine int `json:"startLine"`
}

type sarifLogicalLocation struct {
	Name               string `json:"name"`
	FullyQualifiedName string `json:"fullyQualifiedName"`
	Kind               string `json:"kind"`
}

// writeSARIF writes a SARIF 2.1.0 log with every rule, and a result per finding located at the
// object's document. Input errors become tool execution notifications of an unsuccessful run.
func writeSARIF(w io.Writer, r *Report) error {
	driver := sarifDriver{Name: toolName, InformationURI: toolURI, Version: r.Version}
	index := map[string]int{}
	for i, rule := range check.Rules {
		index[rule.ID] = i
		driver.Rules = append(driver.Rules, sarifRule{
			ID: rule.ID, Name: rule.Name,
			ShortDescription:     sarifText{rule.Short},
			FullDescription:      sarifText{rule.Short + " " + rule.Help},
			Help:                 sarifText{rule.Help},
			DefaultConfiguration: sarifRuleConfig{Level: string(rule.Default)},
			Properties:           sarifRuleProperty{Tags: []string{"data-residency", "kubernetes"}},
		})
	}
	run := sarifRun{Tool: sarifTool{Driver: driver}, Results: []sarifResult{}}
	inv := sarifInvocation{ExecutionSuccessful: len(r.InputErrors) == 0}
	for _, e := range r.InputErrors {
		inv.ToolExecutionNotifications = append(inv.ToolExecutionNotifications, sarifNotification{
			Level: "error", Message: sarifText{e.Err.Error()},
			Locations: []sarifLocation{{PhysicalLocation: physical(e.File, e.Line)}},
		})
	}
	run.Invocations = []sarifInvocation{inv}
	if res := r.Result; res != nil {
		for _, f := range res.Findings {
			fqn := f.Object.Kind + "/" + f.Object.Name
			if f.Object.Namespace != "" {
				fqn = f.Object.Kind + "/" + f.Object.Namespace + "/" + f.Object.Name
			}
			loc := sarifLocation{LogicalLocations: []sarifLogicalLocation{{Name: f.Object.Name, FullyQualifiedName: fqn, Kind: "resource"}}}
			if f.File != "" {
				loc.PhysicalLocation = physical(f.File, f.Line)
			}
			run.Results = append(run.Results, sarifResult{
				RuleID: f.Rule, RuleIndex: index[f.Rule], Level: string(f.Severity),
				Message:             sarifText{f.Object.String() + ": " + f.Message},
				Locations:           []sarifLocation{loc},
				PartialFingerprints: map[string]string{"residencyFinding/v1": fingerprint(f)},
			})
		}
	}
	log := sarifLog{Schema: sarifSchema, Version: sarifVersion, Runs: []sarifRun{run}}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(log)
}

func physical(file string, line int) *sarifPhysicalLocation {
	p := &sarifPhysicalLocation{ArtifactLocation: sarifArtifactLocation{URI: artifactURI(file)}}
	if line > 0 {
		p.Region = &sarifRegion{StartLine: line}
	}
	return p
}

// artifactURI is a file as a SARIF URI: relative paths stay relative (viewers resolve them against
// the repository root, where CI runs the check), absolute ones become file URIs.
func artifactURI(file string) string {
	p := displayPath(file)
	if filepath.IsAbs(file) {
		return "file://" + p
	}
	return p
}

// fingerprint identifies a finding across runs whatever its line, so that code scanning tracks an
// alert as the file around it changes.
func fingerprint(f check.Finding) string {
	h := sha256.Sum256([]byte(f.Rule + "\x00" + f.Object.Kind + "\x00" + f.Object.Namespace + "\x00" + f.Object.Name + "\x00" + displayPath(f.File)))
	return hex.EncodeToString(h[:16])
}
