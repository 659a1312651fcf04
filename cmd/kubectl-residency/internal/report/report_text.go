package report

import (
	"bufio"
	"fmt"
	"io"
)

// writeText writes one line per finding, "file:line: severity RULE Kind ns/name: message", the
// form editors and CI logs turn into links, then a summary line.
func writeText(w io.Writer, r *Report) error {
	b := bufio.NewWriter(w)
	for _, e := range r.InputErrors {
		fmt.Fprintf(b, "%s: error: %v\n", location(e.File, e.Line), e.Err)
	}
	if res := r.Result; res != nil {
		for _, f := range res.Findings {
			fmt.Fprintf(b, "%s: %s %s %s: %s\n", location(f.File, f.Line), f.Severity, f.Rule, f.Object, f.Message)
		}
		errs, warns := res.Count("error"), res.Count("warning")
		scope := fmt.Sprintf("%s (%d checked) from %s, against the policies of %s",
			plural(res.Objects, "object", "objects"), len(res.Checked), plural(res.Files, "file", "files"), r.Policies)
		if errs+warns == 0 {
			fmt.Fprintf(b, "residency check passed: no findings in %s.\n", scope)
		} else {
			verdict := "passed"
			if errs > 0 {
				verdict = "failed"
			}
			fmt.Fprintf(b, "residency check %s: %s, %s in %s.\n", verdict, plural(errs, "error", "errors"), plural(warns, "warning", "warnings"), scope)
		}
	}
	if len(r.InputErrors) > 0 {
		fmt.Fprintf(b, "residency check could not read its input: %s; nothing was checked.\n", plural(len(r.InputErrors), "problem", "problems"))
	}
	return b.Flush()
}
