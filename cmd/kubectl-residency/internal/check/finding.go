package check

import (
	"cmp"
	"slices"

	"github.com/residency-operator/residency-operator/internal/manifest"
)

// Finding is one problem with one object.
type Finding struct {
	Severity Severity     `json:"severity"`
	Rule     string       `json:"rule"`
	Name     string       `json:"name"`
	Message  string       `json:"message"`
	Object   manifest.Ref `json:"object"`
	// File and Line are where the object's document starts; empty for objects read from a cluster.
	File string `json:"file,omitempty"`
	Line int    `json:"line,omitempty"`
}

// Result is what a check found.
type Result struct {
	Findings []Finding
	// Checked are the objects the checks read (policies, workloads, claims, StorageClasses), in
	// input order; reports list one test case per checked object.
	Checked []*manifest.Object
	// Objects counts every object read; Files the files read.
	Objects, Files int
}

// Count returns the number of findings of a severity.
func (r *Result) Count(s Severity) int {
	n := 0
	for _, f := range r.Findings {
		if f.Severity == s {
			n++
		}
	}
	return n
}

// sortFindings orders findings by file, line, rule and message, objects from a cluster last, so
// that output is stable and reads top to bottom like the files, and drops repeats (a claim
// mounted by two workloads is reached twice).
func sortFindings(fs []Finding) []Finding {
	slices.SortStableFunc(fs, func(a, b Finding) int {
		if (a.File == "") != (b.File == "") {
			if a.File == "" {
				return 1
			}
			return -1
		}
		return cmp.Or(
			cmp.Compare(a.File, b.File),
			cmp.Compare(a.Line, b.Line),
			cmp.Compare(a.Object.Kind, b.Object.Kind),
			cmp.Compare(a.Object.Namespace, b.Object.Namespace),
			cmp.Compare(a.Object.Name, b.Object.Name),
			cmp.Compare(a.Rule, b.Rule),
			cmp.Compare(a.Message, b.Message),
		)
	})
	return slices.Compact(fs)
}
