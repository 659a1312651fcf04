package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestReportHTMLInChromium renders the golden HTML report in headless Chromium (Debian's package,
// which `make tools` installs with hack/tools/chromium.sh) with the network cut off, and checks
// that the document Chromium built has the title and both pictures. It never skips: without
// chromium it fails and says how to get it. `make unit` leaves it out; `make test` runs it.
func TestReportHTMLInChromium(t *testing.T) {
	bin := os.Getenv("RESIDENCY_CHROMIUM")
	if bin == "" {
		var err error
		if bin, err = exec.LookPath("chromium"); err != nil {
			t.Fatalf("chromium is not on PATH: run `make tools` (hack/tools/chromium.sh installs Debian's chromium) or set RESIDENCY_CHROMIUM")
		}
	}
	page, err := filepath.Abs(filepath.Join("testdata", "golden", "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir="+t.TempDir(),
		"--host-resolver-rules=MAP * ~NOTFOUND", "--enable-logging=stderr", "--v=0", "--dump-dom", "file://"+page)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium: %v\n%s", err, stderr.String())
	}
	dom := string(out)
	for _, want := range []string{
		"<title>Record of processing activities and residency evidence: 2026-05-01T00:00:00Z to 2026-05-04T00:00:00Z</title>",
		`<svg class="chart"`, `<svg class="timeline"`, `<rect class="third"`, `<rect class="violation"`, `<rect class="hold"`, `<rect class="exception"`,
		`id="store-shop-customer-db"`, `verified: 6 records`,
	} {
		if !strings.Contains(dom, want) {
			t.Errorf("the document Chromium rendered has no %s", want)
		}
	}
	// Self-contained: nothing to fetch.
	for _, external := range []string{`src="http`, `href="http`, "url(", "@import", "<link", "<script"} {
		if strings.Contains(dom, external) {
			t.Errorf("the report refers to something outside itself: %s", external)
		}
	}
	if n := strings.Count(dom, "<svg "); n != 6 {
		t.Errorf("%d SVG pictures, want 6 (a chart and a timeline for each of the 3 stores)", n)
	}
	// Console errors (a failed fetch, a bad resource) are logged as CONSOLE lines or net errors.
	for _, line := range strings.Split(stderr.String(), "\n") {
		if strings.Contains(line, "CONSOLE") || strings.Contains(line, "ERR_NAME_NOT_RESOLVED") || strings.Contains(line, "Failed to load resource") {
			t.Errorf("chromium reported: %s", line)
		}
	}
}
