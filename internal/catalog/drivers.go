package catalog

// Storage drivers (CSI driver names, which are also StorageClass provisioners and PV
// spec.csi.driver values) and in-tree provisioners, by the cloud that runs them. A volume
// provisioned by one of these is in that cloud, which resolves region names that several clouds
// use for different countries (eu-west-1 is Ireland at AWS, London at Alibaba). Drivers that run
// on any cloud (OpenStack Cinder, Ceph, Longhorn, ...) are not listed: they say nothing.
var storageDrivers = map[string]Provider{
	"ebs.csi.aws.com":                 AWS,
	"efs.csi.aws.com":                 AWS,
	"fsx.csi.aws.com":                 AWS,
	"kubernetes.io/aws-ebs":           AWS,
	"pd.csi.storage.gke.io":           GoogleCloud,
	"filestore.csi.storage.gke.io":    GoogleCloud,
	"kubernetes.io/gce-pd":            GoogleCloud,
	"disk.csi.azure.com":              Azure,
	"file.csi.azure.com":              Azure,
	"blob.csi.azure.com":              Azure,
	"kubernetes.io/azure-disk":        Azure,
	"kubernetes.io/azure-file":        Azure,
	"diskplugin.csi.alibabacloud.com": Alibaba,
	"nasplugin.csi.alibabacloud.com":  Alibaba,
	"ossplugin.csi.alibabacloud.com":  Alibaba,
	"blockvolume.csi.oraclecloud.com": Oracle,
	"fss.csi.oraclecloud.com":         Oracle,
	"vpc.block.csi.ibm.io":            IBM,
	"dobs.csi.digitalocean.com":       DigitalOcean,
	"csi.hetzner.cloud":               Hetzner,
	"csi.scaleway.com":                Scaleway,
}

// ProviderOfDriver returns the cloud a storage driver or provisioner belongs to.
func ProviderOfDriver(name string) (Provider, bool) {
	p, ok := storageDrivers[name]
	return p, ok
}

// StorageDrivers returns the drivers ProviderOfDriver knows, for documentation and tests.
func StorageDrivers() map[string]Provider {
	out := make(map[string]Provider, len(storageDrivers))
	for k, v := range storageDrivers {
		out[k] = v
	}
	return out
}

// OneProvider returns the provider every non-empty entry of providers names, or "" when none does
// or they disagree: what a set of nodes or StorageClasses says about the cloud they run in.
func OneProvider(providers []Provider) Provider {
	var found Provider
	for _, p := range providers {
		switch {
		case p == "":
		case found == "":
			found = p
		case p != found:
			return ""
		}
	}
	return found
}
