package manifest

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
)

// Error is a problem with the input, at a file and line. Line is 1-based; it is 0 only for
// problems with a whole path (a file that cannot be read).
type Error struct {
	File string
	Line int
	Err  error
}

// Error formats the problem as "file:line: message", the form editors and CI logs link to.
func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.File, e.Err)
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Errors returns the *Error values inside err, which may be one or an errors.Join of several.
// Other errors (there should be none) are returned as an *Error without a file.
func Errors(err error) []*Error {
	if err == nil {
		return nil
	}
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		var out []*Error
		for _, e := range joined.Unwrap() {
			out = append(out, Errors(e)...)
		}
		return out
	}
	var e *Error
	if errors.As(err, &e) {
		return []*Error{e}
	}
	return []*Error{{Err: err}}
}

// errNotMapping is returned for documents that are not Kubernetes objects at all.
var errNotMapping = errors.New("a Kubernetes object must be a YAML mapping")

// yamlLine matches the "yaml: line N: " that go-yaml puts in front of most syntax errors.
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): `)

// parserProblems are the go-yaml problems its parser (rather than its scanner) reports. go-yaml
// prints the parser's zero-based line for these and the scanner's one-based line for the rest.
var parserProblems = map[string]bool{
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"did not find expected '-' indicator":    true,
	"did not find expected <document start>": true,
	"did not find expected key":              true,
	"did not find expected node content":     true,
	"found duplicate %TAG directive":         true,
	"found duplicate %YAML directive":        true,
	"found incompatible YAML document":       true,
}

// yamlError turns a go-yaml error inside a document that starts at line offset+1 into an *Error at
// the absolute line. go-yaml leaves the line out when the problem is on the document's first
// line, so that is where such errors point.
func yamlError(file string, offset int, err error) *Error {
	msg := err.Error()
	line := 1
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		rest := msg[len(m[0]):]
		if n, convErr := strconv.Atoi(m[1]); convErr == nil && n > 0 {
			line = n
			if parserProblems[rest] {
				line++
			}
		}
		msg = "yaml: " + rest
	}
	return &Error{File: file, Line: offset + line, Err: errors.New(msg)}
}
