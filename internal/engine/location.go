package engine

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
	"github.com/residency-operator/residency-operator/internal/catalog"
)

// Well-known topology labels; the legacy beta keys are still set by some cloud providers.
const (
	RegionLabel       = corev1.LabelTopologyRegion
	ZoneLabel         = corev1.LabelTopologyZone
	LegacyRegionLabel = corev1.LabelFailureDomainBetaRegion
	LegacyZoneLabel   = corev1.LabelFailureDomainBetaZone
)

// CountrySource says where a node's country came from.
type CountrySource string

const (
	// CountryFromLabel: a person set the restricted country label (on-prem nodes).
	CountryFromLabel CountrySource = "label"
	// CountryFromCatalog: derived from the node's region through the region catalog.
	CountryFromCatalog CountrySource = "catalog"
)

// NodeLocation is where a node is, as far as the operator can tell and trust.
type NodeLocation struct {
	// Region and Zone as the node's labels (or its providerID) give them.
	Region, Zone string
	// Country is the ISO 3166-1 alpha-2 code, empty when unknown.
	Country string
	// CountrySource says where Country came from.
	CountrySource CountrySource
	// Provider is the cloud provider named by spec.providerID, if any.
	Provider catalog.Provider
	// Untrusted, when not empty, says why the node's location claim is not believed; an untrusted
	// node belongs to no jurisdiction.
	Untrusted string
}

// Trusted reports whether the location claim is believed.
func (l NodeLocation) Trusted() bool { return l.Untrusted == "" }

// LocateNode resolves a node's region, zone and country. The region comes from the topology
// label (or the legacy beta label), else from the zone, else from spec.providerID. The country
// comes from the restricted country label when a person set it (countryLabelIsPersonSet), else from
// the region through the catalog. A region or zone label that contradicts what spec.providerID
// encodes makes the node untrusted: kubelets may set topology labels on themselves, but the
// providerID cannot change once set.
func LocateNode(node *corev1.Node, countryLabelIsPersonSet bool) NodeLocation {
	labels := node.Labels
	loc := NodeLocation{
		Region: firstNonEmpty(labels[RegionLabel], labels[LegacyRegionLabel]),
		Zone:   firstNonEmpty(labels[ZoneLabel], labels[LegacyZoneLabel]),
	}
	idProvider, idRegion, idZone, idHasLocation := catalog.LocationFromProviderID(node.Spec.ProviderID)
	if p, ok := catalog.ProviderFromID(node.Spec.ProviderID); ok {
		loc.Provider = p
	} else if idHasLocation {
		loc.Provider = idProvider
	}
	if loc.Region == "" && loc.Zone != "" {
		if r, ok := catalog.RegionFromZone(loc.Provider, loc.Zone); ok {
			loc.Region = r
		}
	}
	if idHasLocation {
		switch {
		case loc.Region != "" && idRegion != "" && !strings.EqualFold(loc.Region, idRegion):
			loc.Untrusted = fmt.Sprintf("region label %q contradicts spec.providerID %q, which places the node in %q",
				loc.Region, node.Spec.ProviderID, idRegion)
		case loc.Zone != "" && idZone != "" && !strings.EqualFold(loc.Zone, idZone):
			loc.Untrusted = fmt.Sprintf("zone label %q contradicts spec.providerID %q, which places the node in zone %q",
				loc.Zone, node.Spec.ProviderID, idZone)
		}
		if loc.Region == "" {
			loc.Region = idRegion
		}
		if loc.Zone == "" {
			loc.Zone = idZone
		}
	}

	if c := labels[v1alpha1.CountryLabel]; c != "" && countryLabelIsPersonSet {
		if !catalog.IsISOCountry(c) {
			loc.Untrusted = fmt.Sprintf("label %s=%q is not an ISO 3166-1 alpha-2 country code", v1alpha1.CountryLabel, c)
			return loc
		}
		loc.Country, loc.CountrySource = c, CountryFromLabel
		return loc
	}
	if loc.Region != "" {
		if loc.Provider != "" {
			if r, ok := catalog.Lookup(loc.Provider, loc.Region); ok {
				loc.Country, loc.CountrySource = r.Country, CountryFromCatalog
				return loc
			}
		}
		if c, ok := catalog.CountryOf(loc.Region); ok {
			loc.Country, loc.CountrySource = c, CountryFromCatalog
		}
	}
	return loc
}

func firstNonEmpty(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}
