package auditreport

import (
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/residency-operator/residency-operator/internal/manifest"
)

// FuzzReport: whatever manifests hold, building and rendering the report in every format never
// panics. The seeds are the CLI's report fixture.
func FuzzReport(f *testing.F) {
	for _, name := range []string{"policies.yaml", "records.yaml"} {
		data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "fixtures", "report", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("apiVersion: dataresidency.io/v1alpha1\nkind: ResidencyRecord\nmetadata: {name: r}\nspec: {periodStart: '2026-05-02T00:00:00Z', periodEnd: '1970-01-01T00:00:00Z', locations: [{podSeconds: -1}]}\n"))
	period := Period{From: time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 5, 4, 0, 0, 0, 0, time.UTC)}
	f.Fuzz(func(t *testing.T, data []byte) {
		set := manifest.NewSet(manifest.Options{})
		_ = set.AddBytes("fuzz.yaml", data) // bad documents are skipped; the rest is reported
		in := Input{Stores: set.Stores, Processors: set.Processors, Jurisdictions: set.Jurisdictions, Records: set.Records}
		if len(set.RecordsOfProcessing) > 0 {
			in.RecordOfProcessing = set.RecordsOfProcessing[0]
		}
		r := Build(in, Options{Period: period, Now: period.To})
		for _, format := range Formats {
			if err := Write(io.Discard, format, r); err != nil {
				t.Fatalf("%s: %v", format, err)
			}
		}
	})
}
