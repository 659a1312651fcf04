package report

import (
	"encoding/json"
	"io"

	"github.com/residency-operator/residency-operator/cmd/kubectl-residency/internal/check"
)

type jsonReport struct {
	Version     string           `json:"version"`
	Policies    string           `json:"policies"`
	Summary     *jsonSummary     `json:"summary,omitempty"`
	Findings    []check.Finding  `json:"findings"`
	InputErrors []jsonInputError `json:"inputErrors,omitempty"`
}

type jsonSummary struct {
	Files    int `json:"files"`
	Objects  int `json:"objects"`
	Checked  int `json:"checked"`
	Errors   int `json:"errors"`
	Warnings int `json:"warnings"`
}

type jsonInputError struct {
	File    string `json:"file"`
	Line    int    `json:"line,omitempty"`
	Message string `json:"message"`
}

// writeJSON writes the findings as one JSON document, for scripts (jq) and dashboards.
func writeJSON(w io.Writer, r *Report) error {
	out := jsonReport{Version: r.Version, Policies: r.Policies, Findings: []check.Finding{}}
	if res := r.Result; res != nil {
		out.Summary = &jsonSummary{Files: res.Files, Objects: res.Objects, Checked: len(res.Checked),
			Errors: res.Count(check.Error), Warnings: res.Count(check.Warning)}
		for _, f := range res.Findings {
			if f.File != "" {
				f.File = displayPath(f.File)
			}
			out.Findings = append(out.Findings, f)
		}
	}
	for _, e := range r.InputErrors {
		out.InputErrors = append(out.InputErrors, jsonInputError{File: displayPath(e.File), Line: e.Line, Message: e.Err.Error()})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
