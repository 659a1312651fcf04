package catalog

import (
	"sort"
	"strings"
	"testing"
)

func TestProvidersStableAndComplete(t *testing.T) {
	want := []Provider{AWS, GoogleCloud, Azure, Oracle, IBM, Alibaba, DigitalOcean, Hetzner, OVHcloud, Scaleway}
	got := Providers()
	if len(got) != len(want) {
		t.Fatalf("Providers() has %d entries, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("Providers()[%d] = %q, want %q", i, got[i], want[i])
		}
		if providerIndex(want[i]) != i {
			t.Errorf("providerIndex(%q) = %d, want %d", want[i], providerIndex(want[i]), i)
		}
	}
	got[0] = "mutated"
	if Providers()[0] != AWS {
		t.Error("Providers() returned shared storage")
	}
	if providerIndex("kind") != -1 {
		t.Error(`providerIndex("kind") should be -1`)
	}
}

func TestRegionsIntegrity(t *testing.T) {
	regions := Regions()
	if len(regions) < 150 {
		t.Errorf("catalog has %d regions, want at least 150", len(regions))
	}

	perProvider := map[Provider]int{}
	seen := map[string]bool{}
	for _, r := range regions {
		perProvider[r.Provider]++
		if providerIndex(r.Provider) < 0 {
			t.Errorf("%+v: unknown provider", r)
		}
		if r.Name == "" || strings.TrimSpace(r.Name) != r.Name {
			t.Errorf("%+v: bad name", r)
		}
		if !IsISOCountry(r.Country) {
			t.Errorf("%s/%s: country %q is not an assigned ISO 3166-1 alpha-2 code", r.Provider, r.Name, r.Country)
		}
		if r.City == "" {
			t.Errorf("%s/%s: empty city", r.Provider, r.Name)
		}
		// Duplicates are checked case-insensitively because Lookup matches
		// that way; two spellings of one name would shadow each other.
		key := string(r.Provider) + "/" + strings.ToLower(r.Name)
		if seen[key] {
			t.Errorf("duplicate entry %s", key)
		}
		seen[key] = true
	}
	for _, p := range Providers() {
		if perProvider[p] < 3 {
			t.Errorf("provider %s has %d regions, want at least 3", p, perProvider[p])
		}
	}

	sorted := sort.SliceIsSorted(regions, func(i, j int) bool {
		pi, pj := providerIndex(regions[i].Provider), providerIndex(regions[j].Provider)
		if pi != pj {
			return pi < pj
		}
		return regions[i].Name < regions[j].Name
	})
	if !sorted {
		t.Error("Regions() is not ordered by provider, then name")
	}

	regions[0].Name = "mutated"
	if Regions()[0].Name == "mutated" {
		t.Error("Regions() returned shared storage")
	}
	t.Logf("catalog: %d regions %v", len(regions), perProvider)
}

func TestOracleAliasesResolve(t *testing.T) {
	seen := map[string]bool{}
	for _, a := range oracleAliases {
		if _, ok := Lookup(Oracle, a.name); !ok {
			t.Errorf("alias %q points at unknown region %q", a.alias, a.name)
		}
		if seen[a.alias] {
			t.Errorf("duplicate alias %q", a.alias)
		}
		seen[a.alias] = true
		if len(a.alias) != 3 || a.alias != strings.ToLower(a.alias) {
			t.Errorf("alias %q is not a lower-case three-letter region key", a.alias)
		}
	}
	// Every Oracle region should be reachable by its key, because OCIDs and
	// availability domains of any region may use it.
	for _, r := range Regions() {
		if r.Provider != Oracle {
			continue
		}
		found := false
		for _, a := range oracleAliases {
			found = found || a.name == r.Name
		}
		if !found {
			t.Errorf("Oracle region %s has no region key alias", r.Name)
		}
	}
}

func TestOVHFamiliesMatchRegions(t *testing.T) {
	for _, f := range ovhFamilies {
		if !IsISOCountry(f.country) {
			t.Errorf("family %s: bad country %q", f.name, f.country)
		}
		found := false
		for _, r := range ovhRegions {
			if strings.HasPrefix(r.name, f.name) && isDigits(r.name[len(f.name):]) {
				found = true
				if r.country != f.country {
					t.Errorf("family %s is %s but region %s is %s", f.name, f.country, r.name, r.country)
				}
			}
		}
		if !found {
			t.Errorf("family %s has no region in ovhRegions", f.name)
		}
	}
}

func TestLookup(t *testing.T) {
	tests := []struct {
		p           Provider
		name        string
		wantOK      bool
		wantName    string
		wantCountry string
	}{
		{AWS, "us-east-1", true, "us-east-1", "US"},
		{AWS, "US-EAST-1", true, "us-east-1", "US"},
		{AWS, "us-gov-west-1", true, "us-gov-west-1", "US"},
		{AWS, "us-gov-east-1", true, "us-gov-east-1", "US"},
		{AWS, "cn-north-1", true, "cn-north-1", "CN"},
		{AWS, "cn-northwest-1", true, "cn-northwest-1", "CN"},
		{AWS, "me-central-1", true, "me-central-1", "AE"},
		{AWS, "il-central-1", true, "il-central-1", "IL"},
		{AWS, "ap-east-1", true, "ap-east-1", "HK"},
		{AWS, "eu-central-1", true, "eu-central-1", "DE"},
		{AWS, "us-east-1a", false, "", ""},
		{GoogleCloud, "me-west1", true, "me-west1", "IL"},
		{GoogleCloud, "europe-west3", true, "europe-west3", "DE"},
		{GoogleCloud, "asia-east1", true, "asia-east1", "TW"},
		{GoogleCloud, "us-east-1", false, "", ""},
		{Azure, "uaenorth", true, "uaenorth", "AE"},
		{Azure, "switzerlandnorth", true, "switzerlandnorth", "CH"},
		{Azure, "westeurope", true, "westeurope", "NL"},
		{Azure, "germanywestcentral", true, "germanywestcentral", "DE"},
		{Azure, "eastus2", true, "eastus2", "US"},
		{Azure, "West Europe", false, "", ""},
		{Oracle, "eu-frankfurt-1", true, "eu-frankfurt-1", "DE"},
		{Oracle, "iad", true, "us-ashburn-1", "US"},
		{Oracle, "PHX", true, "us-phoenix-1", "US"},
		{Oracle, "eu-jovanovac-1", true, "eu-jovanovac-1", "RS"},
		{IBM, "us-south", true, "us-south", "US"},
		{IBM, "eu-de", true, "eu-de", "DE"},
		{IBM, "jp-tok", true, "jp-tok", "JP"},
		{Alibaba, "cn-hangzhou", true, "cn-hangzhou", "CN"},
		{Alibaba, "cn-hongkong", true, "cn-hongkong", "HK"},
		{Alibaba, "eu-central-1", true, "eu-central-1", "DE"},
		{Alibaba, "me-central-1", true, "me-central-1", "SA"},
		{DigitalOcean, "nyc1", true, "nyc1", "US"},
		{DigitalOcean, "ams3", true, "ams3", "NL"},
		{DigitalOcean, "blr1", true, "blr1", "IN"},
		{Hetzner, "fsn1", true, "fsn1", "DE"},
		{Hetzner, "ash", true, "ash", "US"},
		{Hetzner, "hel1", true, "hel1", "FI"},
		{Hetzner, "fsn1-dc14", false, "", ""},
		{OVHcloud, "GRA7", true, "GRA7", "FR"},
		{OVHcloud, "gra7", true, "GRA7", "FR"},
		{OVHcloud, "BHS5", true, "BHS5", "CA"},
		{OVHcloud, "eu-west-par", true, "EU-WEST-PAR", "FR"},
		// Location-family fallback: a bare code and an unknown number.
		{OVHcloud, "GRA", true, "GRA", "FR"},
		{OVHcloud, "gra", true, "GRA", "FR"},
		{OVHcloud, "GRA13", true, "GRA", "FR"},
		{OVHcloud, "UK", true, "UK", "GB"},
		{OVHcloud, "DE", true, "DE", "DE"},
		{OVHcloud, "XYZ1", false, "", ""},
		{OVHcloud, "G1", false, "", ""},
		{OVHcloud, "1", false, "", ""},
		{OVHcloud, "", false, "", ""},
		{Scaleway, "fr-par", true, "fr-par", "FR"},
		{Scaleway, "pl-waw", true, "pl-waw", "PL"},
		{Scaleway, "fr-par-1", false, "", ""},
		{"", "us-east-1", false, "", ""},
		{"kind", "us-east-1", false, "", ""},
		{AWS, "", false, "", ""},
		{AWS, strings.Repeat("A", 100), false, "", ""},
	}
	for _, tc := range tests {
		t.Run(string(tc.p)+"/"+tc.name, func(t *testing.T) {
			r, ok := Lookup(tc.p, tc.name)
			if ok != tc.wantOK {
				t.Fatalf("Lookup(%q, %q) ok = %v, want %v", tc.p, tc.name, ok, tc.wantOK)
			}
			if !ok {
				if r != (Region{}) {
					t.Errorf("Lookup(%q, %q) = %+v on failure, want zero Region", tc.p, tc.name, r)
				}
				return
			}
			if r.Name != tc.wantName || r.Country != tc.wantCountry || r.Provider != tc.p {
				t.Errorf("Lookup(%q, %q) = %+v, want name %q country %q", tc.p, tc.name, r, tc.wantName, tc.wantCountry)
			}
		})
	}
}

func TestLookupFindsEveryEntry(t *testing.T) {
	for _, r := range Regions() {
		for _, name := range []string{r.Name, strings.ToUpper(r.Name), strings.ToLower(r.Name)} {
			got, ok := Lookup(r.Provider, name)
			if !ok || got != r {
				t.Errorf("Lookup(%q, %q) = %+v, %v; want %+v", r.Provider, name, got, ok, r)
			}
		}
	}
}

func TestCountryOf(t *testing.T) {
	tests := []struct {
		region      string
		wantCountry string
		wantOK      bool
	}{
		// Shared by AWS and Alibaba, both Frankfurt.
		{"eu-central-1", "DE", true},
		// Shared by AWS and Alibaba, both in the same country.
		{"us-east-1", "US", true},
		{"ap-northeast-1", "JP", true},
		{"ap-southeast-1", "SG", true},
		{"ap-southeast-7", "TH", true},
		// Shared names the two providers place in different countries.
		{"eu-west-1", "", false},      // AWS Ireland, Alibaba London
		{"me-central-1", "", false},   // AWS UAE, Alibaba Riyadh
		{"ap-southeast-3", "", false}, // AWS Jakarta, Alibaba Kuala Lumpur
		{"ap-southeast-5", "", false}, // AWS Malaysia, Alibaba Jakarta
		{"ap-southeast-6", "", false}, // AWS New Zealand, Alibaba Manila
		// Shared by DigitalOcean and OVHcloud (case differs), same country.
		{"sgp1", "SG", true},
		{"SYD1", "AU", true},
		// Shared by Hetzner and an Oracle region key, both Singapore.
		{"sin", "SG", true},
		// Single-provider names.
		{"me-west1", "IL", true},
		{"europe-west3", "DE", true},
		{"uaenorth", "AE", true},
		{"switzerlandnorth", "CH", true},
		{"il-central-1", "IL", true},
		{"ap-east-1", "HK", true},
		{"ash", "US", true},
		{"BHS5", "CA", true},
		{"bhs5", "CA", true},
		{"cn-northwest-1", "CN", true},
		{"iad", "US", true}, // Oracle region key, as OKE writes it.
		{"phx", "US", true},
		// Unknown.
		{"", "", false},
		{"moon-base-1", "", false},
		{"us-east-1a", "", false},
		{"GRA", "", false}, // family fallback is Lookup(OVHcloud, ...) only
	}
	for _, tc := range tests {
		t.Run(tc.region, func(t *testing.T) {
			got, ok := CountryOf(tc.region)
			if got != tc.wantCountry || ok != tc.wantOK {
				t.Errorf("CountryOf(%q) = %q, %v; want %q, %v", tc.region, got, ok, tc.wantCountry, tc.wantOK)
			}
		})
	}
}

// TestCountryOfAgreesWithLookup checks CountryOf against a brute-force
// answer computed from Regions, so that the ambiguity logic cannot drift.
func TestCountryOfAgreesWithLookup(t *testing.T) {
	byName := map[string]map[string]bool{}
	add := func(name, country string) {
		k := strings.ToLower(name)
		if byName[k] == nil {
			byName[k] = map[string]bool{}
		}
		byName[k][country] = true
	}
	for _, r := range Regions() {
		add(r.Name, r.Country)
	}
	for _, a := range oracleAliases {
		r, _ := Lookup(Oracle, a.name)
		add(a.alias, r.Country)
	}
	ambiguous := 0
	for name, set := range byName {
		got, ok := CountryOf(name)
		if len(set) == 1 {
			for c := range set {
				if !ok || got != c {
					t.Errorf("CountryOf(%q) = %q, %v; want %q, true", name, got, ok, c)
				}
			}
			continue
		}
		ambiguous++
		if ok {
			t.Errorf("CountryOf(%q) = %q, true; providers disagree %v", name, got, set)
		}
	}
	if ambiguous == 0 {
		t.Error("expected at least one ambiguous region name in the catalog")
	}
}

func TestLookupAndCountryOfDoNotAllocate(t *testing.T) {
	allocs := testing.AllocsPerRun(200, func() {
		_, _ = Lookup(Azure, "westeurope")
		_, _ = Lookup(OVHcloud, "gra7")
		_, _ = Lookup(OVHcloud, "GRA13")
		_, _ = Lookup(Oracle, "IAD")
		_, _ = CountryOf("eu-central-1")
		_, _ = CountryOf("BHS5")
		_, _ = IsISOCountry("DE"), IsISOCountry("XK")
	})
	if allocs != 0 {
		t.Errorf("lookups allocate %.1f times per run, want 0", allocs)
	}
}
