// Package report renders a residency check for people (text) and for CI systems: JSON, JUnit XML
// (GitLab, Jenkins, most CI test tabs) and SARIF 2.1.0 (GitHub code scanning and other viewers).
package report

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/residency-operator/residency-operator/cmd/kubectl-residency/internal/check"
	"github.com/residency-operator/residency-operator/internal/manifest"
)

// Formats are the output formats, the first being the default.
var Formats = []string{"text", "json", "junit", "sarif"}

// Report is what a check run produced: findings, or the input errors that stopped it.
type Report struct {
	// Result is nil when the input could not be read.
	Result *check.Result
	// InputErrors are the problems with the input (bad YAML, unreadable files).
	InputErrors []*manifest.Error
	// Version of kubectl-residency, for SARIF's tool description.
	Version string
	// Policies says where the policies came from, such as "the checked manifests".
	Policies string
}

// Write renders r in format.
func Write(w io.Writer, format string, r *Report) error {
	switch format {
	case "text", "":
		return writeText(w, r)
	case "json":
		return writeJSON(w, r)
	case "junit":
		return writeJUnit(w, r)
	case "sarif":
		return writeSARIF(w, r)
	}
	return fmt.Errorf("unknown output format %q: use one of %s", format, strings.Join(Formats, ", "))
}

// displayPath is a file as reports name it: slash-separated and without a leading "./", so that
// CI systems can match it to the repository's files.
func displayPath(file string) string {
	p := filepath.ToSlash(file)
	for strings.HasPrefix(p, "./") {
		p = p[2:]
	}
	return p
}

// location formats where a finding is, "file:line", or "cluster" for an object read from one.
func location(file string, line int) string {
	if file == "" {
		return "cluster"
	}
	if line == 0 {
		return displayPath(file)
	}
	return fmt.Sprintf("%s:%d", displayPath(file), line)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}
