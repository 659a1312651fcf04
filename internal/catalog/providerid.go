package catalog

import "strings"

// schemes maps spec.providerID schemes to providers. openstack:// is
// deliberately absent: every OpenStack cloud-controller-manager writes it,
// so it does not identify OVHcloud (or any other single operator).
var schemes = [...]struct {
	prefix   string
	provider Provider
}{
	{"aws://", AWS},
	{"gce://", GoogleCloud},
	{"azure://", Azure},
	{"oci://", Oracle},
	{"ibm://", IBM},
	{"ibmpowervs://", IBM},
	{"alicloud://", Alibaba},
	{"digitalocean://", DigitalOcean},
	{"hcloud://", Hetzner},
	{"hrobot://", Hetzner}, // Hetzner Robot (dedicated) servers managed by the hcloud CCM.
	{"scaleway://", Scaleway},
}

// ProviderFromID returns the provider named by a node's spec.providerID.
// Besides the scheme-prefixed forms (aws://, gce://, azure://, oci://, ibm://,
// ibmpowervs://, alicloud://, digitalocean://, hcloud://, hrobot://,
// scaleway://) it recognises the two unprefixed forms managed services use:
// a bare OCID ("ocid1.instance.oc1...", Oracle OKE) and "<region>.i-<id>"
// (Alibaba ACK).
//
// ok is false for an empty ID, for schemes that do not identify a single
// cloud (openstack://, vsphere://, kind://, kwok://, ...) and for a scheme
// with nothing after it.
func ProviderFromID(providerID string) (Provider, bool) {
	p, _, ok := splitProviderID(providerID)
	return p, ok
}

// splitProviderID returns the provider and the part of the ID after the
// scheme (the whole ID for the unprefixed forms).
func splitProviderID(id string) (Provider, string, bool) {
	for _, s := range schemes {
		if strings.HasPrefix(id, s.prefix) {
			rest := id[len(s.prefix):]
			if strings.Trim(rest, "/") == "" {
				return "", "", false
			}
			return s.provider, rest, true
		}
	}
	if strings.Contains(id, "://") {
		return "", "", false
	}
	if strings.HasPrefix(id, "ocid1.") {
		return Oracle, id, true
	}
	if r, inst, ok := strings.Cut(id, "."); ok && strings.HasPrefix(inst, "i-") && len(inst) > 2 && isAlibabaRegionID(r) {
		return Alibaba, id, true
	}
	return "", "", false
}

// LocationFromProviderID extracts the region and zone that a node's
// spec.providerID encodes:
//
//	aws:///us-east-1a/i-0123                     zone us-east-1a, region us-east-1
//	gce://project/europe-west1-b/name            zone europe-west1-b, region europe-west1
//	alicloud://cn-hangzhou.i-xxx, cn-hangzhou.i-xxx   region cn-hangzhou
//	scaleway://instance/fr-par-1/uuid            zone fr-par-1, region fr-par
//	oci://ocid1.instance.oc1.eu-frankfurt-1.xxx  region eu-frankfurt-1
//	ocid1.instance.oc1.iad.xxx                   region us-ashburn-1 (region key resolved)
//	ibm://.../us-south-1/...                     zone us-south-1, region us-south (when present)
//
// zone is empty when the ID carries only a region. p is set whenever the
// provider is recognised, even if ok is false; ok is false when the ID
// encodes no location (Azure, DigitalOcean, Hetzner, IBM Cloud Kubernetes
// Service "ibm://<account>///<cluster>/<worker>" IDs, legacy scaleway://<uuid>)
// or cannot be parsed. When ok is true, region is non-empty. It never panics
// and does not allocate for well-formed IDs.
func LocationFromProviderID(providerID string) (p Provider, region, zone string, ok bool) {
	p, rest, known := splitProviderID(providerID)
	if !known {
		return "", "", "", false
	}
	switch p {
	case AWS:
		region, zone, ok = awsLocation(rest)
	case GoogleCloud:
		region, zone, ok = gceLocation(rest)
	case Oracle:
		region, ok = ociLocation(rest)
	case IBM:
		if strings.HasPrefix(providerID, "ibm://") {
			region, zone, ok = ibmLocation(rest)
		}
	case Alibaba:
		region, ok = alibabaLocation(rest)
	case Scaleway:
		region, zone, ok = scalewayLocation(rest)
	}
	if !ok || region == "" {
		return p, "", "", false
	}
	return p, region, zone, true
}

// awsLocation parses "/<zone>/<instance>" (the usual aws:///zone/id form) or
// "<zone>/<instance>".
func awsLocation(rest string) (region, zone string, ok bool) {
	rest = strings.TrimLeft(rest, "/")
	zone, inst, found := strings.Cut(rest, "/")
	if !found || inst == "" {
		return "", "", false
	}
	region, ok = RegionFromZone(AWS, zone)
	return region, zone, ok
}

// gceLocation parses "<project>/<zone>/<instance>".
func gceLocation(rest string) (region, zone string, ok bool) {
	project, after, found := strings.Cut(rest, "/")
	if !found || project == "" {
		return "", "", false
	}
	zone, name, found := strings.Cut(after, "/")
	if !found || name == "" || strings.IndexByte(name, '/') >= 0 {
		return "", "", false
	}
	region, ok = RegionFromZone(GoogleCloud, zone)
	return region, zone, ok
}

// ociLocation parses an OCID, "ocid1.<type>.<realm>.<region>.<unique>",
// where <region> is a region identifier or, for older regions, a region key.
func ociLocation(rest string) (string, bool) {
	kind, after, ok := strings.Cut(rest, ".")
	if !ok || kind != "ocid1" {
		return "", false
	}
	_, after, ok = strings.Cut(after, ".") // resource type
	if !ok {
		return "", false
	}
	realm, after, ok := strings.Cut(after, ".")
	if !ok || len(realm) < 3 || !strings.HasPrefix(realm, "oc") || !isDigits(realm[2:]) {
		return "", false
	}
	reg, unique, ok := strings.Cut(after, ".")
	if !ok || reg == "" || unique == "" {
		return "", false
	}
	if i, found := getFold(byName[providerIndex(Oracle)], reg); found {
		return all[i].Name, true
	}
	if !hasUpper(reg) && isOracleIdentifier(reg) {
		return reg, true
	}
	return "", false
}

// ibmLocation looks for a VPC zone ("us-south-1") or region ("us-south")
// among the path segments. IBM Cloud Kubernetes Service writes
// "ibm://<account>///<cluster>/<worker>", which has neither; some
// provisioners (for example Karpenter for IBM Cloud) include the region.
// Only catalog regions are accepted, because the other segments are opaque
// IDs that could look like anything.
func ibmLocation(rest string) (region, zone string, ok bool) {
	ii := providerIndex(IBM)
	for rest != "" {
		seg, after, _ := strings.Cut(rest, "/")
		rest = after
		if seg == "" {
			continue
		}
		if r, isZone := numberedZoneRegion(seg); isZone {
			if i, known := getFold(byName[ii], r); known {
				return all[i].Name, seg, true
			}
		}
		if i, known := getFold(byName[ii], seg); known && region == "" {
			region = all[i].Name
		}
	}
	return region, "", region != ""
}

// alibabaLocation parses "<region>.<instance>".
func alibabaLocation(rest string) (string, bool) {
	r, inst, ok := strings.Cut(rest, ".")
	if !ok || inst == "" || !isAlibabaRegionID(r) {
		return "", false
	}
	if i, found := getFold(byName[providerIndex(Alibaba)], r); found {
		return all[i].Name, true
	}
	return r, true
}

// isAlibabaRegionID reports whether r looks like an Alibaba region ID,
// numbered (ap-southeast-1) or not (cn-hangzhou).
func isAlibabaRegionID(r string) bool {
	return isAlibabaRegion(r, false) || isAlibabaRegion(r, true)
}

// scalewayLocation parses "<product>/<zone>/<uuid>"; the legacy "<uuid>" form
// carries no location.
func scalewayLocation(rest string) (region, zone string, ok bool) {
	product, after, found := strings.Cut(rest, "/")
	if !found || product == "" {
		return "", "", false
	}
	zone, id, found := strings.Cut(after, "/")
	if !found || id == "" || strings.IndexByte(id, '/') >= 0 {
		return "", "", false
	}
	region, ok = RegionFromZone(Scaleway, zone)
	return region, zone, ok
}
