// Package catalog is a built-in table of public-cloud regions and the ISO
// 3166-1 alpha-2 country each one is in.
//
// The operator uses it to answer "which country is this Kubernetes node in?"
// from the node's topology.kubernetes.io/region label, and to notice nodes
// whose region label disagrees with what their spec.providerID or
// topology.kubernetes.io/zone label says. Region names are stored exactly as
// each provider's cloud-controller-manager writes them into the label.
//
// The data is compiled in (see the per-provider files, each naming its
// source) so that an admission webhook can answer without network access.
// All lookups on the hot path are allocation-free.
package catalog

import (
	"sort"
	"strings"
)

// Provider identifies a public cloud.
type Provider string

// The providers the catalog knows. The string values are stable identifiers
// meant for configuration and logs, not display names.
const (
	AWS          Provider = "aws"
	GoogleCloud  Provider = "gcp"
	Azure        Provider = "azure"
	Oracle       Provider = "oracle"
	IBM          Provider = "ibm"
	Alibaba      Provider = "alibaba"
	DigitalOcean Provider = "digitalocean"
	Hetzner      Provider = "hetzner"
	OVHcloud     Provider = "ovhcloud"
	Scaleway     Provider = "scaleway"
)

// providerOrder is the one place that fixes the order of Providers and of
// Regions; callers rely on it being stable across releases.
var providerOrder = [...]Provider{
	AWS, GoogleCloud, Azure, Oracle, IBM, Alibaba, DigitalOcean, Hetzner, OVHcloud, Scaleway,
}

const numProviders = len(providerOrder)

// Providers returns all providers in a stable order. The caller owns the
// returned slice.
func Providers() []Provider {
	out := make([]Provider, numProviders)
	copy(out, providerOrder[:])
	return out
}

// providerIndex maps a provider to its position in providerOrder, or -1.
// A switch avoids a map lookup on the hot path.
func providerIndex(p Provider) int {
	switch p {
	case AWS:
		return 0
	case GoogleCloud:
		return 1
	case Azure:
		return 2
	case Oracle:
		return 3
	case IBM:
		return 4
	case Alibaba:
		return 5
	case DigitalOcean:
		return 6
	case Hetzner:
		return 7
	case OVHcloud:
		return 8
	case Scaleway:
		return 9
	}
	return -1
}

// Region is one provider region as it appears in topology.kubernetes.io/region.
type Region struct {
	// Provider is the cloud the region belongs to.
	Provider Provider
	// Name is the region exactly as the provider's cloud-controller-manager
	// writes it into the node label.
	Name string
	// Country is the ISO 3166-1 alpha-2 code of the country (or territory,
	// such as HK) the region's data centres are in.
	Country string
	// City is the provider's own location description, a city or
	// metropolitan area. It is for humans only; never compare on it.
	City string
}

// site is one catalog row before the provider is attached; keeping the
// provider out of every literal keeps the data files short and uniform.
type site struct {
	name, country, city string
}

// alias maps an alternative spelling of a region to its catalog name. Oracle
// needs this because its API reports the two oldest regions by their region
// key ("iad", "phx") and the OCI cloud-controller-manager copies that into the
// node label verbatim.
type alias struct {
	alias, name string
}

// providerData ties each provider to its data; the order must match
// providerOrder.
var providerData = [numProviders][]site{
	awsRegions,
	gcpRegions,
	azureRegions,
	oracleRegions,
	ibmRegions,
	alibabaRegions,
	digitalOceanRegions,
	hetznerRegions,
	ovhRegions,
	scalewayRegions,
}

// countryVote records what the providers that use a region name say about
// its country, so that CountryOf can refuse names they disagree on.
type countryVote struct {
	country   string
	ambiguous bool
}

// all is every catalog entry in the documented order (provider, then name).
var all []Region

// byName indexes all per provider by lower-cased name (and aliases).
var byName [numProviders]map[string]int

// countries indexes every lower-cased region name and alias across all
// providers for CountryOf.
var countries map[string]countryVote

// ovhFamilyIndex indexes ovhFamilies by lower-cased location code.
var ovhFamilyIndex map[string]int

func init() {
	n := 0
	for _, d := range providerData {
		n += len(d)
	}
	all = make([]Region, 0, n)
	for i, d := range providerData {
		for _, s := range d {
			all = append(all, Region{Provider: providerOrder[i], Name: s.name, Country: s.country, City: s.city})
		}
	}
	sort.SliceStable(all, func(i, j int) bool {
		pi, pj := providerIndex(all[i].Provider), providerIndex(all[j].Provider)
		if pi != pj {
			return pi < pj
		}
		return all[i].Name < all[j].Name
	})

	countries = make(map[string]countryVote, n+len(oracleAliases))
	vote := func(name, country string) {
		key := strings.ToLower(name)
		v, seen := countries[key]
		if !seen {
			countries[key] = countryVote{country: country}
			return
		}
		if v.country != country {
			v.ambiguous = true
			countries[key] = v
		}
	}
	for i := range byName {
		byName[i] = make(map[string]int)
	}
	for i, r := range all {
		byName[providerIndex(r.Provider)][strings.ToLower(r.Name)] = i
		vote(r.Name, r.Country)
	}
	oi := providerIndex(Oracle)
	for _, a := range oracleAliases {
		i, ok := byName[oi][strings.ToLower(a.name)]
		if !ok {
			// A dangling alias is a data bug; the tests report it. Skipping
			// it here keeps a bad edit from crashing the operator at start.
			continue
		}
		byName[oi][strings.ToLower(a.alias)] = i
		vote(a.alias, all[i].Country)
	}

	ovhFamilyIndex = make(map[string]int, len(ovhFamilies))
	for i, f := range ovhFamilies {
		ovhFamilyIndex[strings.ToLower(f.name)] = i
	}
}

// Regions returns every catalog entry, ordered by provider (in Providers
// order) and then by name. The caller owns the returned slice.
func Regions() []Region {
	out := make([]Region, len(all))
	copy(out, all)
	return out
}

// Lookup finds a region by provider and name. The name is matched
// case-insensitively (OVHcloud labels appear both as "GRA7" and "gra7").
//
// Two provider quirks are resolved so that callers can compare a label with
// what a providerID or zone says:
//   - Oracle: region keys such as "iad" or "PHX" resolve to the region
//     identifier ("us-ashburn-1"); the returned Name is the identifier.
//   - OVHcloud: a name that is not in the catalog but starts with a known
//     location code followed by digits (e.g. "GRA13", or the bare "GRA")
//     resolves to that location; the returned Name is the location code.
func Lookup(p Provider, name string) (Region, bool) {
	pi := providerIndex(p)
	if pi < 0 {
		return Region{}, false
	}
	if i, ok := getFold(byName[pi], name); ok {
		return all[i], true
	}
	if p == OVHcloud {
		return lookupOVHFamily(name)
	}
	return Region{}, false
}

// lookupOVHFamily resolves an OVHcloud region name to its location family:
// OVHcloud numbers regions within a location (GRA7, GRA9, GRA11, ...) and adds
// new numbers more often than this catalog is updated.
func lookupOVHFamily(name string) (Region, bool) {
	end := len(name)
	for end > 0 && isDigit(name[end-1]) {
		end--
	}
	letters := name[:end]
	if len(letters) < 2 || !isAlpha(letters) {
		return Region{}, false
	}
	i, ok := getFold(ovhFamilyIndex, letters)
	if !ok {
		return Region{}, false
	}
	f := ovhFamilies[i]
	return Region{Provider: OVHcloud, Name: f.name, Country: f.country, City: f.city}, true
}

// CountryOf returns the country of a region label value when the provider is
// not known. ok is true only if every provider that has a region (or Oracle
// region key) of that name agrees on the country: "eu-central-1" is Frankfurt
// at both AWS and Alibaba and resolves to DE, while "eu-west-1" is Ireland at
// AWS but London at Alibaba and does not resolve. The name is matched
// case-insensitively.
func CountryOf(region string) (country string, ok bool) {
	v, found := getFold(countries, region)
	if !found || v.ambiguous {
		return "", false
	}
	return v.country, true
}

// maxFoldLen bounds the names getFold lower-cases on the stack. Every catalog
// name is far shorter, so a longer input cannot match anyway.
const maxFoldLen = 64

// getFold looks s up in a map keyed by lower-case ASCII strings without
// allocating: the lower-cased copy lives in a stack buffer and the
// m[string(b)] form is compiled without a string allocation.
func getFold[V any](m map[string]V, s string) (V, bool) {
	if !hasUpper(s) {
		v, ok := m[s]
		return v, ok
	}
	var zero V
	if len(s) > maxFoldLen {
		return zero, false
	}
	var buf [maxFoldLen]byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	v, ok := m[string(buf[:len(s)])]
	return v, ok
}

func hasUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return true
		}
	}
	return false
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isLowerLetter(c byte) bool { return 'a' <= c && c <= 'z' }

func isLetter(c byte) bool { return isLowerLetter(c) || ('A' <= c && c <= 'Z') }

// isAlpha reports whether s is non-empty and only ASCII letters.
func isAlpha(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isLetter(s[i]) {
			return false
		}
	}
	return true
}

// isLowerAlpha reports whether s is non-empty and only a-z.
func isLowerAlpha(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isLowerLetter(s[i]) {
			return false
		}
	}
	return true
}

// isDigits reports whether s is non-empty and only 0-9.
func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}
