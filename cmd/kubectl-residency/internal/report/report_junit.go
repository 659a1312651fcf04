package report

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"

	"github.com/residency-operator/residency-operator/cmd/kubectl-residency/internal/check"
	"github.com/residency-operator/residency-operator/internal/manifest"
)

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Errors   int         `xml:"errors,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	File      string        `xml:"file,attr,omitempty"`
	Line      int           `xml:"line,attr,omitempty"`
	Failure   *junitProblem `xml:"failure,omitempty"`
	Error     *junitProblem `xml:"error,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

// writeJUnit writes one test suite per file and one test case per checked object: error findings
// fail it, warnings go to its output. Input errors are test cases with an error, so that a CI test
// tab shows why nothing was checked.
func writeJUnit(w io.Writer, r *Report) error {
	out := junitSuites{Name: "kubectl-residency"}
	suites := map[string]int{}
	suite := func(file string) *junitSuite {
		name := "cluster"
		if file != "" {
			name = displayPath(file)
		}
		i, ok := suites[name]
		if !ok {
			i = len(out.Suites)
			suites[name] = i
			out.Suites = append(out.Suites, junitSuite{Name: name})
		}
		return &out.Suites[i]
	}

	if len(r.InputErrors) > 0 {
		for _, e := range r.InputErrors {
			s := suite(e.File)
			s.Cases = append(s.Cases, junitCase{
				Name: location(e.File, e.Line), Classname: "input", File: displayPath(e.File), Line: e.Line,
				Error: &junitProblem{Message: e.Err.Error(), Type: "InputError", Text: fmt.Sprintf("%s: %v", location(e.File, e.Line), e.Err)},
			})
			s.Tests++
			s.Errors++
		}
	}
	if res := r.Result; res != nil {
		byObject := map[objectKey][]check.Finding{}
		for _, f := range res.Findings {
			k := objectKey{f.Object, f.File, f.Line}
			byObject[k] = append(byObject[k], f)
		}
		objects := make([]*manifest.Object, 0, len(res.Checked))
		seen := map[objectKey]bool{}
		for _, o := range res.Checked {
			k := objectKey{o.Ref, o.Source.File, o.Source.Line}
			if !seen[k] {
				seen[k] = true
				objects = append(objects, o)
			}
		}
		// Findings about objects that were not read from the files (policies of a cluster).
		for _, f := range res.Findings {
			k := objectKey{f.Object, f.File, f.Line}
			if !seen[k] {
				seen[k] = true
				objects = append(objects, &manifest.Object{Ref: f.Object, Source: manifest.Source{File: f.File, Line: f.Line}})
			}
		}
		for _, o := range objects {
			k := objectKey{o.Ref, o.Source.File, o.Source.Line}
			s := suite(o.Source.File)
			tc := junitCase{Name: objectName(o.Ref), Classname: o.Ref.Kind, Line: o.Source.Line}
			if o.Source.File != "" {
				tc.File = displayPath(o.Source.File)
			}
			var failures, warnings []string
			var firstRule, firstMessage string
			for _, f := range byObject[k] {
				line := fmt.Sprintf("%s %s %s: %s", location(f.File, f.Line), f.Severity, f.Rule, f.Message)
				if f.Severity == check.Error {
					if firstRule == "" {
						firstRule, firstMessage = f.Rule, f.Message
					}
					failures = append(failures, line)
				} else {
					warnings = append(warnings, line)
				}
			}
			if len(failures) > 0 {
				tc.Failure = &junitProblem{Message: fmt.Sprintf("%s: %s", firstRule, firstMessage), Type: firstRule, Text: strings.Join(failures, "\n")}
				s.Failures++
			}
			if len(warnings) > 0 {
				tc.SystemOut = strings.Join(warnings, "\n")
			}
			s.Cases = append(s.Cases, tc)
			s.Tests++
		}
	}
	for _, s := range out.Suites {
		out.Tests += s.Tests
		out.Failures += s.Failures
		out.Errors += s.Errors
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(out); err != nil {
		return fmt.Errorf("writing JUnit XML: %w", err)
	}
	_, err := io.WriteString(w, "\n")
	return err
}

type objectKey struct {
	ref  manifest.Ref
	file string
	line int
}

// objectName names a test case: "namespace/name", or the name of a cluster-scoped object.
func objectName(r manifest.Ref) string {
	if r.Namespace == "" {
		return r.Name
	}
	return r.Namespace + "/" + r.Name
}
