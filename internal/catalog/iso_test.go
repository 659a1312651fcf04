package catalog

import (
	"sort"
	"testing"
)

func TestISOCountries(t *testing.T) {
	codes := ISOCountries()
	if len(codes) != 249 {
		t.Fatalf("ISOCountries() has %d codes, want 249", len(codes))
	}
	if !sort.StringsAreSorted(codes) {
		t.Error("ISOCountries() is not sorted")
	}
	seen := map[string]bool{}
	for _, c := range codes {
		if seen[c] {
			t.Errorf("duplicate code %q", c)
		}
		seen[c] = true
		if !IsISOCountry(c) {
			t.Errorf("IsISOCountry(%q) = false for a listed code", c)
		}
	}
	codes[0] = "ZZ"
	if ISOCountries()[0] != "AD" {
		t.Error("ISOCountries() returned shared storage")
	}
}

func TestIsISOCountry(t *testing.T) {
	tests := []struct {
		code string
		want bool
	}{
		{"DE", true},
		{"US", true},
		{"AE", true},
		{"HK", true},
		{"TW", true},
		{"GB", true},
		{"AX", true},
		{"ZW", true},
		{"AD", true},
		{"XK", false}, // Kosovo: user-assigned, not ISO-assigned.
		{"UK", false}, // exceptionally reserved, the code is GB.
		{"EU", false}, // exceptionally reserved.
		{"EL", false}, // Greece in EU usage; ISO is GR.
		{"AA", false}, // user-assigned.
		{"ZZ", false}, // user-assigned.
		{"de", false}, // only the canonical upper case is accepted.
		{"De", false},
		{"D", false},
		{"DEU", false},
		{"", false},
		{"1A", false},
		{"A[", false},
		{"\xff\xff", false},
	}
	for _, tc := range tests {
		if got := IsISOCountry(tc.code); got != tc.want {
			t.Errorf("IsISOCountry(%q) = %v, want %v", tc.code, got, tc.want)
		}
	}
}
