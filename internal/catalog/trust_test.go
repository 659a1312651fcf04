package catalog

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTrustTable: one row per provider, each saying what the providerID parser does with its
// example, and docs/trust.md showing the same rows.
func TestTrustTable(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "trust.md"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[Provider]bool{}
	for _, row := range TrustTable() {
		if seen[row.Provider] {
			t.Errorf("provider %q has two rows", row.Provider)
		}
		seen[row.Provider] = true
		if row.Provider != "" {
			_, _, _, located := LocationFromProviderID(row.ExampleID)
			if located != row.ProviderIDLocates {
				t.Errorf("%s: LocationFromProviderID(%q) locates: %v, the table says %v", row.Provider, row.ExampleID, located, row.ProviderIDLocates)
			}
			if p, ok := ProviderFromID(row.ExampleID); row.Provider != OVHcloud && (!ok || p != row.Provider) {
				t.Errorf("%s: ProviderFromID(%q) = %q, %v", row.Provider, row.ExampleID, p, ok)
			}
		}
		name, example := string(row.Provider), "`"+row.ExampleID+"`"
		if row.Provider == "" {
			name, example = "other", "—"
		}
		located := "no"
		if row.ProviderIDLocates {
			located = "yes"
		}
		prefix := "| " + name + " | " + example + " | " + located + " |"
		if !strings.Contains(string(doc), prefix) {
			t.Errorf("docs/trust.md has no row starting %q", prefix)
		}
	}
	for _, p := range Providers() {
		if !seen[p] {
			t.Errorf("provider %s has no row", p)
		}
	}
}
