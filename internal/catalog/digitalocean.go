package catalog

// digitalOceanRegions lists DigitalOcean datacenter region slugs, which the
// DigitalOcean cloud-controller-manager writes into the region label. The
// legacy slugs nyc2, sfo1 and ams2 no longer accept new Droplets but still
// host existing ones, so they stay in the catalog.
//
// Source: DigitalOcean API "List All Regions" (/v2/regions) output as
// documented for `doctl compute region list`
// (https://docs.digitalocean.com/reference/doctl/reference/compute/region/list/),
// with atl1 from the DigitalOcean API reference's region enums; taken 2026-11.
var digitalOceanRegions = []site{
	{"ams2", "NL", "Amsterdam"},
	{"ams3", "NL", "Amsterdam"},
	{"atl1", "US", "Atlanta"},
	{"blr1", "IN", "Bangalore"},
	{"fra1", "DE", "Frankfurt"},
	{"lon1", "GB", "London"},
	{"nyc1", "US", "New York"},
	{"nyc2", "US", "New York"},
	{"nyc3", "US", "New York"},
	{"sfo1", "US", "San Francisco"},
	{"sfo2", "US", "San Francisco"},
	{"sfo3", "US", "San Francisco"},
	{"sgp1", "SG", "Singapore"},
	{"syd1", "AU", "Sydney"},
	{"tor1", "CA", "Toronto"},
}
