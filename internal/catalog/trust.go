package catalog

// ProviderTrust is one row of the trust table: for nodes of one provider, where their region comes
// from, and what the operator needs before it believes it. docs/trust.md shows the same rows (a
// test keeps them equal), and TestTrustTable checks ProviderIDLocates against
// LocationFromProviderID on ExampleID.
type ProviderTrust struct {
	// Provider is empty for the row of nodes whose providerID names no provider (on-prem,
	// OpenStack, vSphere, kind, ...).
	Provider Provider
	// ExampleID is a typical spec.providerID of a node there; empty in the row of no provider.
	ExampleID string
	// ProviderIDLocates says whether such providerIDs name the region (or a zone of it). A
	// providerID is set once, at registration, and never changes, so that region is believed, and
	// a topology label that contradicts it makes the node Untrusted.
	ProviderIDLocates bool
	// Note qualifies the row, for the documentation.
	Note string
}

// TrustTable returns one row per provider of the catalog, in the catalog's order, then the row for
// nodes of no known provider.
func TrustTable() []ProviderTrust {
	return []ProviderTrust{
		{AWS, "aws:///eu-central-1a/i-0123456789abcdef0", true, "the availability zone"},
		{GoogleCloud, "gce://my-project/europe-west3-a/node-1", true, "the zone"},
		{Azure, "azure:///subscriptions/0000/resourceGroups/mc_rg/providers/Microsoft.Compute/virtualMachineScaleSets/aks-pool/virtualMachines/0", false, "a resource path without location"},
		{Oracle, "ocid1.instance.oc1.eu-frankfurt-1.antheljtexample", true, "the region in the OCID"},
		{IBM, "ibm://account///cluster/worker", false, "IBM Cloud Kubernetes Service; VPC IDs that name a catalog zone locate"},
		{Alibaba, "alicloud://eu-central-1.i-abc", true, "the region prefix"},
		{DigitalOcean, "digitalocean://123456", false, "a droplet number"},
		{Hetzner, "hcloud://123456", false, "a server number"},
		{OVHcloud, "openstack:///uuid", false, "OpenStack IDs name no provider"},
		{Scaleway, "scaleway://instance/fr-par-1/uuid", true, "the zone; the legacy scaleway://uuid form does not"},
		{"", "", false, "on-prem and other platforms: no providerID, or kind://, vsphere://, openstack://, ..."},
	}
}
