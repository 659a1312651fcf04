package catalog

import (
	"strings"
	"testing"
)

func TestRegionFromZone(t *testing.T) {
	tests := []struct {
		p      Provider
		zone   string
		want   string
		wantOK bool
	}{
		// AWS availability zones, Local Zones and Wavelength Zones.
		{AWS, "us-east-1a", "us-east-1", true},
		{AWS, "eu-central-1c", "eu-central-1", true},
		{AWS, "us-gov-west-1a", "us-gov-west-1", true},
		{AWS, "cn-northwest-1b", "cn-northwest-1", true},
		{AWS, "eusc-de-east-1a", "eusc-de-east-1", true},
		{AWS, "us-east-1-bos-1a", "us-east-1", true},
		{AWS, "us-west-2-lax-1b", "us-west-2", true},
		{AWS, "us-east-1-wl1-bos-wlz-1", "us-east-1", true},
		{AWS, "xx-future-9a", "xx-future-9", true}, // well-formed, not yet catalogued
		{AWS, "us-east-1", "", false},              // a region, not a zone
		{AWS, "us-east-1ab", "", false},
		{AWS, "us-east-1-", "", false},
		{AWS, "us-east-1--bos", "", false},
		{AWS, "us-east-1-bos-", "", false},
		{AWS, "use1-az1", "", false}, // zone ID, not zone name
		{AWS, "1a", "", false},
		{AWS, "us-1a", "", false},
		{AWS, "US-EAST-1A", "", false},
		{AWS, "europe-west1-b", "", false},

		// Google Cloud.
		{GoogleCloud, "europe-west1-b", "europe-west1", true},
		{GoogleCloud, "us-central1-f", "us-central1", true},
		{GoogleCloud, "northamerica-northeast2-a", "northamerica-northeast2", true},
		{GoogleCloud, "europe-west10-c", "europe-west10", true},
		{GoogleCloud, "me-west1-a", "me-west1", true},
		{GoogleCloud, "europe-west1", "", false},
		{GoogleCloud, "europe-west-b", "", false},
		{GoogleCloud, "europe-west1-bb", "", false},
		{GoogleCloud, "us-east-1a", "", false},

		// Azure.
		{Azure, "westeurope-1", "westeurope", true},
		{Azure, "eastus2-3", "eastus2", true},
		{Azure, "australiacentral2-1", "australiacentral2", true},
		{Azure, "0", "", false}, // fault domain of a VM outside zones
		{Azure, "1", "", false},
		{Azure, "westeurope", "", false},
		{Azure, "west-europe-1", "", false},
		{Azure, "westeurope-", "", false},
		{Azure, "-1", "", false},
		{Azure, "westeurope-123", "", false},

		// Alibaba Cloud.
		{Alibaba, "cn-hangzhou-h", "cn-hangzhou", true},
		{Alibaba, "cn-beijing-a", "cn-beijing", true},
		{Alibaba, "ap-southeast-1a", "ap-southeast-1", true},
		{Alibaba, "eu-central-1b", "eu-central-1", true},
		{Alibaba, "cn-hangzhou", "", false},
		{Alibaba, "cn-hangzhou-", "", false},
		{Alibaba, "ap-southeast-1", "", false},
		{Alibaba, "c-hangzhou-h", "", false},

		// IBM Cloud VPC.
		{IBM, "eu-de-1", "eu-de", true},
		{IBM, "us-south-3", "us-south", true},
		{IBM, "jp-tok-2", "jp-tok", true},
		{IBM, "eu-de", "", false},
		{IBM, "dal10", "", false}, // classic data centre, not a VPC zone
		{IBM, "eu-de-x", "", false},

		// Scaleway.
		{Scaleway, "fr-par-1", "fr-par", true},
		{Scaleway, "nl-ams-3", "nl-ams", true},
		{Scaleway, "pl-waw-2", "pl-waw", true},
		{Scaleway, "fr-par", "", false},

		// Hetzner Cloud.
		{Hetzner, "fsn1-dc14", "fsn1", true},
		{Hetzner, "nbg1-dc3", "nbg1", true},
		{Hetzner, "ash-dc1", "ash", true},
		{Hetzner, "hil-dc1", "hil", true},
		{Hetzner, "sin-dc1", "sin", true},
		{Hetzner, "fsn1", "", false},
		{Hetzner, "fsn1-dc", "", false},
		{Hetzner, "fsn1-az1", "", false},
		{Hetzner, "1fsn-dc1", "", false},

		// Oracle availability domains, with and without the tenancy prefix.
		{Oracle, "XyZ:EU-FRANKFURT-1-AD-1", "eu-frankfurt-1", true},
		{Oracle, "EU-FRANKFURT-1-AD-1", "eu-frankfurt-1", true},
		{Oracle, "UK-LONDON-1-AD-2", "uk-london-1", true},
		{Oracle, "US-ASHBURN-AD-1", "us-ashburn-1", true},
		{Oracle, "Uocm:US-ASHBURN-AD-3", "us-ashburn-1", true},
		{Oracle, "NWuj:PHX-AD-1", "us-phoenix-1", true},
		{Oracle, "PHX-AD-2", "us-phoenix-1", true},
		{Oracle, "XX-NEWCITY-1-AD-1", "xx-newcity-1", true}, // well-formed, not yet catalogued
		{Oracle, "EU-FRANKFURT-1", "", false},
		{Oracle, "EU-FRANKFURT-1-AD-", "", false},
		{Oracle, "-AD-1", "", false},
		{Oracle, "XYZ-AD-1", "", false}, // unknown region key
		{Oracle, "FAULT-DOMAIN-1", "", false},

		// OVHcloud 3-AZ regions.
		{OVHcloud, "eu-west-par-a", "EU-WEST-PAR", true},
		{OVHcloud, "eu-south-mil-c", "EU-SOUTH-MIL", true},
		{OVHcloud, "nova", "", false},
		{OVHcloud, "xx-unknown-a", "", false},

		// DigitalOcean zones carry nothing beyond the region.
		{DigitalOcean, "nyc1", "", false},

		// Unknown provider and empty input.
		{"kind", "us-east-1a", "", false},
		{AWS, "", "", false},

		// Provider unknown: only unambiguous catalog answers.
		{"", "us-east-1a", "us-east-1", true},        // AWS and Alibaba agree on the name
		{"", "eu-central-1b", "eu-central-1", true},  // AWS and Alibaba agree on the name
		{"", "europe-west1-b", "europe-west1", true}, // GCP
		{"", "westeurope-1", "westeurope", true},     // Azure
		{"", "cn-hangzhou-h", "cn-hangzhou", true},   // Alibaba
		{"", "eu-de-1", "eu-de", true},               // IBM
		{"", "fr-par-1", "fr-par", true},             // Scaleway
		{"", "fsn1-dc14", "fsn1", true},              // Hetzner
		{"", "XyZ:EU-FRANKFURT-1-AD-1", "eu-frankfurt-1", true},
		{"", "PHX-AD-1", "us-phoenix-1", true},
		{"", "eu-west-par-a", "EU-WEST-PAR", true},
		{"", "us-east-1-bos-1a", "us-east-1", true},
		{"", "us-east-1", "us-east", true}, // an IBM zone; at AWS only a region
		{"", "xx-future-9a", "", false},    // well-formed but not in the catalog
		{"", "foo-1", "", false},
		{"", "", "", false},
		{"", "garbage", "", false},
		{"", "-", "", false},
		{"", "a-b-c-d-e-f", "", false},
	}
	for _, tc := range tests {
		t.Run(string(tc.p)+"/"+tc.zone, func(t *testing.T) {
			got, ok := RegionFromZone(tc.p, tc.zone)
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("RegionFromZone(%q, %q) = %q, %v; want %q, %v", tc.p, tc.zone, got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

// TestRegionFromZoneRoundTrip builds the usual zone names for every catalog
// region whose provider encodes the region in the zone and checks that the
// region comes back, both with the provider given and, where the name is
// unique, without it.
func TestRegionFromZoneRoundTrip(t *testing.T) {
	zonesFor := func(r Region) []string {
		switch r.Provider {
		case AWS:
			return []string{r.Name + "a", r.Name + "-bos-1a"}
		case GoogleCloud:
			return []string{r.Name + "-a", r.Name + "-f"}
		case Azure:
			return []string{r.Name + "-1", r.Name + "-3"}
		case Alibaba:
			if isDigit(r.Name[len(r.Name)-1]) {
				return []string{r.Name + "a"}
			}
			return []string{r.Name + "-h"}
		case IBM, Scaleway:
			return []string{r.Name + "-1", r.Name + "-3"}
		case Hetzner:
			return []string{r.Name + "-dc1"}
		case Oracle:
			return []string{"AbCd:" + strings.ToUpper(r.Name) + "-AD-1", strings.ToUpper(r.Name) + "-AD-3"}
		}
		return nil
	}
	for _, r := range Regions() {
		for _, z := range zonesFor(r) {
			got, ok := RegionFromZone(r.Provider, z)
			if !ok || got != r.Name {
				t.Errorf("RegionFromZone(%q, %q) = %q, %v; want %q", r.Provider, z, got, ok, r.Name)
			}
			guessed, ok := RegionFromZone("", z)
			if ok && guessed != r.Name {
				t.Errorf("RegionFromZone(\"\", %q) = %q; the zone belongs to %s/%s", z, guessed, r.Provider, r.Name)
			}
		}
	}
}

func TestRegionFromZoneDoesNotAllocate(t *testing.T) {
	zones := []struct {
		p    Provider
		zone string
	}{
		{AWS, "us-east-1a"},
		{AWS, "us-east-1-bos-1a"},
		{GoogleCloud, "europe-west1-b"},
		{Azure, "westeurope-1"},
		{Alibaba, "cn-hangzhou-h"},
		{IBM, "eu-de-1"},
		{Hetzner, "fsn1-dc14"},
		{Oracle, "XyZ:EU-FRANKFURT-1-AD-1"},
		{Oracle, "US-ASHBURN-AD-1"},
		{"", "europe-west1-b"},
		{"", "PHX-AD-1"},
	}
	allocs := testing.AllocsPerRun(100, func() {
		for _, z := range zones {
			_, _ = RegionFromZone(z.p, z.zone)
		}
	})
	if allocs != 0 {
		t.Errorf("RegionFromZone allocates %.1f times per run, want 0", allocs)
	}
}
