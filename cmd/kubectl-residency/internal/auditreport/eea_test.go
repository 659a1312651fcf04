package auditreport

import (
	"slices"
	"testing"
)

func TestEEACountries(t *testing.T) {
	if !slices.IsSorted(eeaCountries) {
		t.Fatal("eeaCountries must stay sorted: InEEA searches it")
	}
	if len(eeaCountries) != 30 { // 27 EU member states + IS, LI, NO
		t.Errorf("%d countries, want 30", len(eeaCountries))
	}
	for _, c := range []string{"DE", "FR", "IE", "NO", "IS", "LI"} {
		if !InEEA(c) {
			t.Errorf("InEEA(%s) = false", c)
		}
	}
	for _, c := range []string{"GB", "CH", "US", "JP", "", "de", "EL", "UK"} {
		if InEEA(c) {
			t.Errorf("InEEA(%q) = true", c)
		}
	}
}
