package catalog

import "testing"

func TestProviderFromID(t *testing.T) {
	tests := []struct {
		id     string
		want   Provider
		wantOK bool
	}{
		{"aws:///us-east-1a/i-0123456789abcdef0", AWS, true},
		{"gce://my-project/europe-west1-b/node-1", GoogleCloud, true},
		{"azure:///subscriptions/0000/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm-0", Azure, true},
		{"oci://ocid1.instance.oc1.eu-frankfurt-1.abcdef", Oracle, true},
		{"ocid1.instance.oc1.iad.abcdef", Oracle, true},
		{"ibm://0123abcd///c0ffee/kube-c0ffee-worker-1", IBM, true},
		{"ibmpowervs://dal/dal10/0000/1111", IBM, true},
		{"alicloud://cn-hangzhou.i-bp1abcdef", Alibaba, true},
		{"cn-hangzhou.i-bp1abcdef", Alibaba, true},
		{"digitalocean://123456789", DigitalOcean, true},
		{"hcloud://123456", Hetzner, true},
		{"hrobot://123456", Hetzner, true},
		{"scaleway://instance/fr-par-1/11111111-1111-1111-1111-111111111111", Scaleway, true},
		{"scaleway://11111111-1111-1111-1111-111111111111", Scaleway, true},

		{"", "", false},
		{"kind://docker/kind/kind-control-plane", "", false},
		{"kwok://node-1", "", false},
		{"openstack:///dda1f31a-3dfb-435a-9e1d-16149a8dd628", "", false},
		{"vsphere://421a27ac-bb12-f6e6-48cb-f2aa74e56156", "", false},
		{"aws://", "", false},
		{"aws:///", "", false},
		{"AWS:///us-east-1a/i-1", "", false},
		{"node-1", "", false},
		{"foo.bar", "", false},
		{"cn-hangzhou.x-abc", "", false},
		{"cn-hangzhou.i-", "", false},
		{"ocid1", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.id, func(t *testing.T) {
			got, ok := ProviderFromID(tc.id)
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("ProviderFromID(%q) = %q, %v; want %q, %v", tc.id, got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

func TestLocationFromProviderID(t *testing.T) {
	tests := []struct {
		id         string
		wantP      Provider
		wantRegion string
		wantZone   string
		wantOK     bool
	}{
		{"aws:///us-east-1a/i-0123", AWS, "us-east-1", "us-east-1a", true},
		{"aws:///eu-central-1b/i-0123", AWS, "eu-central-1", "eu-central-1b", true},
		{"aws://us-west-2c/i-0123", AWS, "us-west-2", "us-west-2c", true},
		{"aws:///us-east-1-bos-1a/i-0123", AWS, "us-east-1", "us-east-1-bos-1a", true},
		{"aws:///us-gov-west-1a/i-0123", AWS, "us-gov-west-1", "us-gov-west-1a", true},
		{"gce://project/europe-west1-b/name", GoogleCloud, "europe-west1", "europe-west1-b", true},
		{"gce://p/us-central1-f/gke-pool-1-abcd", GoogleCloud, "us-central1", "us-central1-f", true},
		{"alicloud://cn-hangzhou.i-xxx", Alibaba, "cn-hangzhou", "", true},
		{"cn-hangzhou.i-bp1abc", Alibaba, "cn-hangzhou", "", true},
		{"alicloud://ap-southeast-1.i-t4nabc", Alibaba, "ap-southeast-1", "", true},
		{"scaleway://instance/fr-par-1/11111111-1111-1111-1111-111111111111", Scaleway, "fr-par", "fr-par-1", true},
		{"scaleway://baremetal/nl-ams-2/2222", Scaleway, "nl-ams", "nl-ams-2", true},
		{"oci://ocid1.instance.oc1.eu-frankfurt-1.antheljsxxx", Oracle, "eu-frankfurt-1", "", true},
		{"ocid1.instance.oc1.eu-frankfurt-1.antheljsxxx", Oracle, "eu-frankfurt-1", "", true},
		{"oci://ocid1.instance.oc1.iad.anuwcljsxxx", Oracle, "us-ashburn-1", "", true},
		{"ocid1.instance.oc1.phx.anyhqljsxxx", Oracle, "us-phoenix-1", "", true},
		{"ocid1.instance.oc1.xx-newcity-1.abc", Oracle, "xx-newcity-1", "", true},
		{"ibm:///us-south/instance", IBM, "us-south", "", true},
		{"ibm://acct/eu-de/eu-de-2/0717-abc", IBM, "eu-de", "eu-de-2", true},

		// Recognised provider, no location in the ID.
		{"azure:///subscriptions/0000/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm-0", Azure, "", "", false},
		{"digitalocean://123456789", DigitalOcean, "", "", false},
		{"hcloud://123456", Hetzner, "", "", false},
		{"hrobot://123456", Hetzner, "", "", false},
		{"ibm://0123abcd///c0ffee/kube-c0ffee-worker-1", IBM, "", "", false},
		{"ibmpowervs://dal/dal10/0000/1111", IBM, "", "", false},
		{"scaleway://11111111-1111-1111-1111-111111111111", Scaleway, "", "", false},

		// Malformed IDs of a known provider.
		{"aws:///us-east-1a", AWS, "", "", false},
		{"aws:///us-east-1a/", AWS, "", "", false},
		{"aws:///i-0123", AWS, "", "", false},
		{"aws:///us-east-1/i-0123", AWS, "", "", false},
		{"gce://project/europe-west1-b", GoogleCloud, "", "", false},
		{"gce:///abc", GoogleCloud, "", "", false},
		{"gce://project/europe-west1/name", GoogleCloud, "", "", false},
		{"gce://project/europe-west1-b/name/extra", GoogleCloud, "", "", false},
		{"alicloud://cn-hangzhou", Alibaba, "", "", false},
		{"alicloud://cn-hangzhou.", Alibaba, "", "", false},
		{"alicloud://nope.i-1", Alibaba, "", "", false},
		{"scaleway://instance/fr-par-1/", Scaleway, "", "", false},
		{"scaleway://instance/fr-par/uuid", Scaleway, "", "", false},
		{"oci://ocid1.instance.oc1..abc", Oracle, "", "", false},
		{"oci://ocid1.instance.oc1.zzz.abc", Oracle, "", "", false},
		{"oci://ocid1.instance.xx.iad.abc", Oracle, "", "", false},
		{"oci://ocid2.instance.oc1.iad.abc", Oracle, "", "", false},
		{"oci://ocid1.instance.oc1.iad", Oracle, "", "", false},

		// Not a known provider at all.
		{"", "", "", "", false},
		{"kwok://node-1", "", "", "", false},
		{"kind://docker/kind/kind-worker", "", "", "", false},
		{"aws://", "", "", "", false},
		{"openstack:///dda1f31a-3dfb-435a-9e1d-16149a8dd628", "", "", "", false},
		{"://", "", "", "", false},
		{"/us-east-1a/i-0123", "", "", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.id, func(t *testing.T) {
			p, region, zone, ok := LocationFromProviderID(tc.id)
			if p != tc.wantP || region != tc.wantRegion || zone != tc.wantZone || ok != tc.wantOK {
				t.Errorf("LocationFromProviderID(%q) = %q, %q, %q, %v; want %q, %q, %q, %v",
					tc.id, p, region, zone, ok, tc.wantP, tc.wantRegion, tc.wantZone, tc.wantOK)
			}
		})
	}
}

// TestLocationMatchesZoneLabel checks the invariant the operator relies on:
// for providers whose IDs carry a zone, the region derived from the ID equals
// the region derived from the same zone label.
func TestLocationMatchesZoneLabel(t *testing.T) {
	ids := []string{
		"aws:///ap-southeast-3a/i-1",
		"gce://p/asia-southeast3-b/n",
		"scaleway://instance/pl-waw-3/u",
	}
	for _, id := range ids {
		p, region, zone, ok := LocationFromProviderID(id)
		if !ok {
			t.Fatalf("LocationFromProviderID(%q) failed", id)
		}
		fromZone, ok := RegionFromZone(p, zone)
		if !ok || fromZone != region {
			t.Errorf("%s: ID says %q, zone %q says %q, %v", id, region, zone, fromZone, ok)
		}
		if _, ok := Lookup(p, region); !ok {
			t.Errorf("%s: region %q not in catalog", id, region)
		}
	}
}

func TestLocationFromProviderIDDoesNotAllocate(t *testing.T) {
	ids := []string{
		"aws:///us-east-1a/i-0123456789abcdef0",
		"gce://project/europe-west1-b/node",
		"ocid1.instance.oc1.iad.anuwcljsxxx",
		"alicloud://cn-hangzhou.i-bp1abc",
		"scaleway://instance/fr-par-1/11111111-1111-1111-1111-111111111111",
		"azure:///subscriptions/0000/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm-0",
		"kwok://node-1",
	}
	allocs := testing.AllocsPerRun(100, func() {
		for _, id := range ids {
			_, _, _, _ = LocationFromProviderID(id)
		}
	})
	if allocs != 0 {
		t.Errorf("LocationFromProviderID allocates %.1f times per run, want 0", allocs)
	}
}
