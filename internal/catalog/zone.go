package catalog

import "strings"

// RegionFromZone derives the region from a topology.kubernetes.io/zone value
// for providers whose zone names encode it:
//
//	AWS        us-east-1a, local/Wavelength zones us-east-1-bos-1a -> us-east-1
//	GCP        europe-west1-b                                     -> europe-west1
//	Azure      westeurope-1                                       -> westeurope
//	Alibaba    cn-hangzhou-h, ap-southeast-1a                     -> cn-hangzhou, ap-southeast-1
//	IBM        eu-de-1                                            -> eu-de
//	Scaleway   fr-par-1                                           -> fr-par
//	Hetzner    fsn1-dc14                                          -> fsn1
//	Oracle     XyZ:EU-FRANKFURT-1-AD-1, PHX-AD-1                  -> eu-frankfurt-1, us-phoenix-1
//	OVHcloud   eu-west-par-a                                      -> EU-WEST-PAR
//
// With a provider given, a zone that is well formed for that provider yields
// its region even when the region is not (yet) in the catalog, so that a new
// region is still compared correctly against the node's region label; catalog
// entries are returned in their catalog spelling. Oracle results are region
// identifiers, so compare them with Lookup(Oracle, label).Name rather than
// with a raw label that may hold a region key such as "iad".
//
// With p == "" every provider is tried, and a result is returned only if the
// region is in the catalog and all providers that recognise the zone agree on
// the region name. Note that a string can be a zone for one provider and a
// region for another: "us-east-1" is an IBM zone (region us-east) but only a
// region at AWS, so RegionFromZone("", "us-east-1") returns "us-east".
//
// DigitalOcean zone labels carry nothing beyond the region, so they never
// match.
func RegionFromZone(p Provider, zone string) (region string, ok bool) {
	if zone == "" {
		return "", false
	}
	if p != "" {
		pi := providerIndex(p)
		if pi < 0 {
			return "", false
		}
		cand, ok := zoneCandidate(p, zone)
		if !ok {
			return "", false
		}
		if i, found := getFold(byName[pi], cand); found {
			return all[i].Name, true
		}
		if p == OVHcloud {
			// OVHcloud zone names follow no grammar of their own, so only
			// known regions are trusted.
			return "", false
		}
		if hasUpper(cand) {
			return strings.ToLower(cand), true
		}
		return cand, true
	}

	found := ""
	for _, q := range providerOrder {
		cand, ok := zoneCandidate(q, zone)
		if !ok {
			continue
		}
		i, known := getFold(byName[providerIndex(q)], cand)
		if !known {
			continue
		}
		name := all[i].Name
		switch {
		case found == "":
			found = name
		case !strings.EqualFold(found, name):
			return "", false
		}
	}
	return found, found != ""
}

// zoneCandidate applies the zone grammar of provider p and returns the region
// part as a substring of zone (or, for Oracle, a catalog name), without
// checking the catalog.
func zoneCandidate(p Provider, zone string) (string, bool) {
	switch p {
	case AWS:
		return awsZoneRegion(zone)
	case GoogleCloud:
		return gcpZoneRegion(zone)
	case Azure:
		return azureZoneRegion(zone)
	case Alibaba:
		return alibabaZoneRegion(zone)
	case IBM, Scaleway:
		return numberedZoneRegion(zone)
	case Hetzner:
		return hetznerZoneRegion(zone)
	case Oracle:
		return oracleZoneRegion(zone)
	case OVHcloud:
		return lettered(zone)
	}
	return "", false
}

// awsZoneRegion handles availability zones ("us-east-1a", "us-gov-west-1b")
// and Local/Wavelength zones, which append "-<location>-<n><az>" to the
// region ("us-east-1-bos-1a", "us-east-1-wl1-bos-wlz-1"). A bare region such
// as "us-east-1" is not a zone.
func awsZoneRegion(z string) (string, bool) {
	start, seg := 0, 0
	for {
		end := strings.IndexByte(z[start:], '-')
		last := end < 0
		if last {
			end = len(z)
		} else {
			end += start
		}
		s := z[start:end]
		if s == "" {
			return "", false
		}
		if isDigit(s[0]) {
			if seg < 2 {
				return "", false
			}
			d := 0
			for d < len(s) && isDigit(s[d]) {
				d++
			}
			switch {
			case last && d == len(s)-1 && isLowerLetter(s[d]):
				return z[:start+d], true
			case !last && d == len(s) && isZoneSuffix(z[end+1:]):
				return z[:end], true
			}
			return "", false
		}
		if !isLowerAlpha(s) || (seg == 0 && (len(s) < 2 || len(s) > 4)) || last {
			return "", false
		}
		seg++
		start = end + 1
	}
}

// isZoneSuffix reports whether s is a non-empty run of dash-separated
// lower-case alphanumeric words, as in the tail of an AWS Local Zone name.
func isZoneSuffix(s string) bool {
	if s == "" || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case isLowerLetter(c), isDigit(c):
		case c == '-':
			if s[i-1] == '-' {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// gcpZoneRegion handles "<area>-<direction><n>-<letter>", e.g. europe-west1-b.
func gcpZoneRegion(z string) (string, bool) {
	i := strings.IndexByte(z, '-')
	if i < 0 || !isLowerAlpha(z[:i]) {
		return "", false
	}
	rest := z[i+1:]
	j := strings.IndexByte(rest, '-')
	if j < 0 {
		return "", false
	}
	mid, suffix := rest[:j], rest[j+1:]
	if len(suffix) != 1 || !isLowerLetter(suffix[0]) {
		return "", false
	}
	k := 0
	for k < len(mid) && isLowerLetter(mid[k]) {
		k++
	}
	if k == 0 || !isDigits(mid[k:]) {
		return "", false
	}
	return z[:i+1+j], true
}

// azureZoneRegion handles "<region>-<n>", e.g. westeurope-1. Azure writes a
// bare fault-domain number ("0") for VMs outside availability zones; that
// carries no region and does not match.
func azureZoneRegion(z string) (string, bool) {
	i := strings.LastIndexByte(z, '-')
	if i <= 0 || !isDigits(z[i+1:]) || len(z)-i-1 > 2 {
		return "", false
	}
	r := z[:i]
	if !isLowerLetter(r[0]) {
		return "", false
	}
	for k := 1; k < len(r); k++ {
		if !isLowerLetter(r[k]) && !isDigit(r[k]) {
			return "", false
		}
	}
	return r, true
}

// alibabaZoneRegion handles "<region>-<letter>" for regions without a number
// (cn-hangzhou-h) and "<region><letter>" for numbered regions
// (ap-southeast-1a).
func alibabaZoneRegion(z string) (string, bool) {
	n := len(z)
	if n < 4 || !isLowerLetter(z[n-1]) {
		return "", false
	}
	if z[n-2] == '-' {
		r := z[:n-2]
		if isAlibabaRegion(r, false) {
			return r, true
		}
		return "", false
	}
	if isDigit(z[n-2]) {
		r := z[:n-1]
		if isAlibabaRegion(r, true) {
			return r, true
		}
	}
	return "", false
}

// isAlibabaRegion reports whether r looks like an Alibaba region ID:
// a two-letter area followed by dash-separated words, ending in "-<n>" when
// numbered is set (ap-southeast-1) and in a word otherwise (cn-hangzhou).
func isAlibabaRegion(r string, numbered bool) bool {
	if numbered {
		i := strings.LastIndexByte(r, '-')
		if i < 0 || !isDigits(r[i+1:]) {
			return false
		}
		r = r[:i]
	}
	i := strings.IndexByte(r, '-')
	if i != 2 || !isLowerAlpha(r[:2]) {
		return false
	}
	_, ok := eachWord(r[3:], isLowerAlpha)
	return ok
}

// numberedZoneRegion handles IBM Cloud VPC and Scaleway zones, both
// "<two-letter area>-<location>-<n>": eu-de-1, fr-par-2.
func numberedZoneRegion(z string) (string, bool) {
	i := strings.IndexByte(z, '-')
	if i != 2 || !isLowerAlpha(z[:2]) {
		return "", false
	}
	rest := z[3:]
	j := strings.IndexByte(rest, '-')
	if j < 2 || j > 5 || !isLowerAlpha(rest[:j]) || !isDigits(rest[j+1:]) || len(rest)-j-1 > 2 {
		return "", false
	}
	return z[:3+j], true
}

// hetznerZoneRegion handles "<location>-dc<n>", e.g. fsn1-dc14 or ash-dc1.
func hetznerZoneRegion(z string) (string, bool) {
	i := strings.IndexByte(z, '-')
	if i <= 0 || !strings.HasPrefix(z[i+1:], "dc") || !isDigits(z[i+3:]) {
		return "", false
	}
	loc := z[:i]
	k := 0
	for k < len(loc) && isLowerLetter(loc[k]) {
		k++
	}
	if k < 2 || (k < len(loc) && !isDigits(loc[k:])) {
		return "", false
	}
	return loc, true
}

// lettered strips a "-<letter>" suffix, as in OVHcloud 3-AZ zone names
// (eu-west-par-a). The caller must check the result against the catalog.
func lettered(z string) (string, bool) {
	n := len(z)
	if n < 3 || z[n-2] != '-' || !isLetter(z[n-1]) {
		return "", false
	}
	return z[:n-2], true
}

// oracleZoneRegion handles OCI availability domains. The API names them
// "<tenancy prefix>:<REGION>-AD-<n>" and the OCI cloud-controller-manager
// drops the prefix; <REGION> is the upper-cased region identifier
// (EU-FRANKFURT-1), the identifier without its "-1" (US-ASHBURN), or the
// region key (PHX).
func oracleZoneRegion(z string) (string, bool) {
	if i := strings.LastIndexByte(z, ':'); i >= 0 {
		z = z[i+1:]
	}
	i := strings.LastIndexByte(z, '-')
	if i < 0 || !isDigits(z[i+1:]) {
		return "", false
	}
	z = z[:i]
	if len(z) < 4 || !strings.EqualFold(z[len(z)-3:], "-ad") {
		return "", false
	}
	name := z[:len(z)-3]
	if name == "" || len(name)+2 > maxFoldLen {
		return "", false
	}
	oi := providerIndex(Oracle)
	if k, ok := getFold(byName[oi], name); ok {
		return all[k].Name, true
	}
	var buf [maxFoldLen]byte
	n := copy(buf[:], name)
	n += copy(buf[n:], "-1")
	for k := 0; k < n; k++ {
		if 'A' <= buf[k] && buf[k] <= 'Z' {
			buf[k] += 'a' - 'A'
		}
	}
	if k, ok := byName[oi][string(buf[:n])]; ok {
		return all[k].Name, true
	}
	if isOracleIdentifier(name) {
		return name, true
	}
	return "", false
}

// isOracleIdentifier reports whether s has the shape of an OCI region
// identifier, "<word>(-<word>)+-<n>", in either case.
func isOracleIdentifier(s string) bool {
	i := strings.LastIndexByte(s, '-')
	if i <= 0 || !isDigits(s[i+1:]) {
		return false
	}
	words, ok := eachWord(s[:i], isAlpha)
	return ok && words >= 2
}

// eachWord splits s on '-' and reports how many words it has and whether
// every word satisfies valid. Unlike strings.Split it does not allocate,
// which keeps zone parsing allocation-free.
func eachWord(s string, valid func(string) bool) (int, bool) {
	n := 0
	for {
		i := strings.IndexByte(s, '-')
		w := s
		if i >= 0 {
			w = s[:i]
		}
		if !valid(w) {
			return n, false
		}
		n++
		if i < 0 {
			return n, true
		}
		s = s[i+1:]
	}
}
