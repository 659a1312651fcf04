package catalog

// ovhRegions lists OVHcloud Public Cloud regions by their OpenStack region
// name, which is what the OpenStack cloud-controller-manager of OVHcloud
// Managed Kubernetes writes into the region label (upper case; Lookup
// matches case-insensitively).
//
// Source: OVHcloud API enum cloud.kube.RegionEnum (Managed Kubernetes
// regions: BHS5, DE1, GRA5, GRA7, GRA9, SBG5, SGP1, SYD1, UK1, US-EAST-VA-1,
// US-WEST-OR-1, WAW1) and the OVHcloud Pulumi/Terraform provider
// documentation (https://www.pulumi.com/registry/packages/ovh/, cloud
// region and getLocation pages: GRA11, EU-WEST-PAR, ...); taken 2026-11.
// Local Zones are left out.
var ovhRegions = []site{
	{"AP-SOUTH-MUM-1", "IN", "Mumbai"},
	{"BHS5", "CA", "Beauharnois"},
	{"DE1", "DE", "Frankfurt"},
	{"EU-SOUTH-MIL", "IT", "Milan"},
	{"EU-WEST-PAR", "FR", "Paris"},
	{"GRA11", "FR", "Gravelines"},
	{"GRA5", "FR", "Gravelines"},
	{"GRA7", "FR", "Gravelines"},
	{"GRA9", "FR", "Gravelines"},
	{"SBG5", "FR", "Strasbourg"},
	{"SBG7", "FR", "Strasbourg"},
	{"SGP1", "SG", "Singapore"},
	{"SYD1", "AU", "Sydney"},
	{"UK1", "GB", "London"},
	{"US-EAST-VA-1", "US", "Vint Hill, Virginia"},
	{"US-WEST-OR-1", "US", "Hillsboro, Oregon"},
	{"WAW1", "PL", "Warsaw"},
}

// ovhFamilies are the location codes OVHcloud numbers its regions within
// (GRA5, GRA7, GRA9, GRA11, ...). Lookup falls back to them so that a newly
// numbered region still resolves to its country before the catalog learns
// its exact name. Only locations already present in ovhRegions are listed.
var ovhFamilies = []site{
	{"BHS", "CA", "Beauharnois"},
	{"DE", "DE", "Frankfurt"},
	{"GRA", "FR", "Gravelines"},
	{"SBG", "FR", "Strasbourg"},
	{"SGP", "SG", "Singapore"},
	{"SYD", "AU", "Sydney"},
	{"UK", "GB", "London"},
	{"WAW", "PL", "Warsaw"},
}
