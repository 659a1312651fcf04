package catalog

// hetznerRegions lists Hetzner Cloud locations. The hcloud
// cloud-controller-manager writes the location name into the region label
// and the datacenter name (location plus "-dc<N>", e.g. fsn1-dc14) into the
// zone label.
//
// Source: Hetzner Cloud API "Locations" (GET /locations,
// https://docs.hetzner.cloud/reference/cloud#locations) as documented by the
// hcloud client libraries (hetzner.hcloud Ansible collection,
// WWW::Hetzner::Cloud::API::Locations); taken 2026-11.
var hetznerRegions = []site{
	{"ash", "US", "Ashburn, VA"},
	{"fsn1", "DE", "Falkenstein"},
	{"hel1", "FI", "Helsinki"},
	{"hil", "US", "Hillsboro, OR"},
	{"nbg1", "DE", "Nuremberg"},
	{"sin", "SG", "Singapore"},
}
