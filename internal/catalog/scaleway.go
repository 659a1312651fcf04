package catalog

// scalewayRegions lists Scaleway regions. The Scaleway cloud-controller-manager
// writes the region into the region label and the availability zone (region
// plus "-1", "-2", "-3") into the zone label.
//
// Source: Scaleway documentation "Products availability by region"
// (https://www.scaleway.com/en/docs/account/reference-content/products-availability/)
// and the Scaleway SDK locality definitions; taken 2026-11.
var scalewayRegions = []site{
	{"fr-par", "FR", "Paris"},
	{"nl-ams", "NL", "Amsterdam"},
	{"pl-waw", "PL", "Warsaw"},
}
