package catalog

import (
	"strings"
	"testing"
)

func FuzzLocationFromProviderID(f *testing.F) {
	for _, seed := range []string{
		"",
		"aws:///us-east-1a/i-0123",
		"aws://",
		"aws:///us-east-1-bos-1a/i-1",
		"gce://project/europe-west1-b/name",
		"azure:///subscriptions/x/resourceGroups/y/providers/Microsoft.Compute/virtualMachines/z",
		"oci://ocid1.instance.oc1.eu-frankfurt-1.xxx",
		"ocid1.instance.oc1.iad.xxx",
		"ibm://acct///cluster/worker",
		"ibm:///us-south/instance",
		"alicloud://cn-hangzhou.i-xxx",
		"cn-hangzhou.i-xxx",
		"digitalocean://1",
		"hcloud://1",
		"hrobot://1",
		"scaleway://instance/fr-par-1/uuid",
		"kwok://node-1",
		"://",
		"ocid1.....",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, id string) {
		p, region, zone, ok := LocationFromProviderID(id)
		if ok && region == "" {
			t.Fatalf("LocationFromProviderID(%q) ok with empty region", id)
		}
		if !ok && (region != "" || zone != "") {
			t.Fatalf("LocationFromProviderID(%q) = %q, %q on failure", id, region, zone)
		}
		if ok && p == "" {
			t.Fatalf("LocationFromProviderID(%q) ok without a provider", id)
		}
		if pp, known := ProviderFromID(id); known != (p != "") || pp != p {
			t.Fatalf("ProviderFromID(%q) = %q, %v but LocationFromProviderID says %q", id, pp, known, p)
		}
		if ok && zone != "" {
			if !strings.Contains(id, zone) {
				t.Fatalf("LocationFromProviderID(%q) zone %q is not part of the ID", id, zone)
			}
			if r, zok := RegionFromZone(p, zone); !zok || r != region {
				t.Fatalf("LocationFromProviderID(%q) region %q, but zone %q gives %q, %v", id, region, zone, r, zok)
			}
		}
	})
}

func FuzzRegionFromZone(f *testing.F) {
	for _, seed := range []string{
		"",
		"us-east-1a",
		"us-east-1",
		"us-east-1-bos-1a",
		"us-east-1-wl1-bos-wlz-1",
		"europe-west1-b",
		"westeurope-1",
		"cn-hangzhou-h",
		"ap-southeast-1a",
		"eu-de-1",
		"fr-par-1",
		"fsn1-dc14",
		"XyZ:EU-FRANKFURT-1-AD-1",
		"PHX-AD-1",
		"US-ASHBURN-AD-1",
		"eu-west-par-a",
		"-",
		"--",
		":",
		"-AD-1",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, zone string) {
		guessed, ok := RegionFromZone("", zone)
		if ok && guessed == "" {
			t.Fatalf("RegionFromZone(\"\", %q) ok with empty region", zone)
		}
		if ok {
			if providersNaming(guessed) == 0 {
				t.Fatalf("RegionFromZone(\"\", %q) = %q, which is not in the catalog", zone, guessed)
			}
		}
		for _, p := range Providers() {
			r, ok := RegionFromZone(p, zone)
			if ok && r == "" {
				t.Fatalf("RegionFromZone(%q, %q) ok with empty region", p, zone)
			}
			if !ok && r != "" {
				t.Fatalf("RegionFromZone(%q, %q) = %q on failure", p, zone, r)
			}
		}
	})
}

// providersNaming counts the providers that have a catalog region named
// name; the fuzz target uses it to check that provider-less answers always
// come from the catalog.
func providersNaming(name string) int {
	n := 0
	for _, p := range Providers() {
		if _, ok := Lookup(p, name); ok {
			n++
		}
	}
	return n
}
