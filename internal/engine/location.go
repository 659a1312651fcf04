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

// Trust says which location claims are believed without a person vouching for them.
type Trust struct {
	// RegistrationTopology believes the topology labels of nodes whose spec.providerID does not
	// say where they are (Azure, DigitalOcean, Hetzner, IBM, on-prem), although their kubelet may
	// set those labels: for clusters whose kubelets are as trusted as their
	// cloud-controller-manager. The region first seen is still pinned (ConfirmedRegionLabel).
	RegistrationTopology bool
}

// LocateNode resolves a node's region, zone and country, and whether to believe them.
//
// The region comes from the topology label (or the legacy beta label), else from the zone, else
// from spec.providerID, else from the confirmed-region label. A kubelet may set topology labels
// on its own Node, so a region is believed only when something it cannot write vouches for it:
// spec.providerID (immutable once set) encodes it, or the restricted confirmed-region label (the
// region the operator first saw, or a person's word) names it, or trust.RegistrationTopology says
// so. A region that contradicts either makes the node Untrusted: nodes do not move.
//
// The country comes from the restricted country label when a person set it (personSetCountry);
// the node's region then takes part only when the restricted region label names it too, and a
// region the catalog places in another country makes the node Untrusted. Otherwise the country
// comes from the believed region through the catalog.
func LocateNode(node *corev1.Node, trust Trust) NodeLocation {
	return locate(node, trust, nodeWords)
}

// placeWords name the kind of place being located in LocateNode's messages: a node, or a member
// cluster that LocateCluster locates by the same rule.
type placeWords struct {
	// noun is "node" or "cluster"; resource is what kubectl labels ("node", "clusters.cluster.karmada.io").
	noun, resource string
}

var nodeWords = placeWords{noun: "node", resource: "node"}

func locate(node *corev1.Node, trust Trust, w placeWords) NodeLocation {
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

	confirmed := labels[v1alpha1.ConfirmedRegionLabel]
	country := labels[v1alpha1.CountryLabel]
	if country != "" && personSetCountry(node) {
		if !catalog.IsISOCountry(country) {
			loc.Untrusted = fmt.Sprintf("label %s=%q is not an ISO 3166-1 alpha-2 country code", v1alpha1.CountryLabel, country)
			return loc
		}
		// A person's country is the node's location. Its region takes part only where the person
		// vouched for it too (a Jurisdiction listing the region must not claim the node on a
		// kubelet's word, nor on a providerID a kubelet may set once on a node that had none), and
		// contradicts the country when it places the node elsewhere: one of the two is wrong.
		if c, _ := catalogCountry(loc); c != "" && c != country && loc.Untrusted == "" {
			loc.Untrusted = fmt.Sprintf("region %q is in %s, but a person set the %s's country to %s (label %s); remove the region label, or correct the country",
				loc.Region, c, w.noun, country, v1alpha1.CountryLabel)
		}
		if loc.Region == "" || !strings.EqualFold(loc.Region, confirmed) {
			loc.Region, loc.Zone = "", ""
		}
		loc.Country, loc.CountrySource = country, CountryFromLabel
		return loc
	}

	switch {
	case loc.Untrusted != "":
	case confirmed != "" && loc.Region != "" && !strings.EqualFold(loc.Region, confirmed):
		loc.Untrusted = fmt.Sprintf("the %s now claims region %q but was first seen in, or confirmed for, region %q (label %s); %ss do not change region. "+
			"If it really moved, confirm it: kubectl label %s %s %s=%s --overwrite",
			w.noun, loc.Region, confirmed, v1alpha1.ConfirmedRegionLabel, w.noun, w.resource, node.Name, v1alpha1.ConfirmedRegionLabel, loc.Region)
	case confirmed != "":
		loc.Region = confirmed
	case loc.Region != "" && !idHasLocation && !trust.RegistrationTopology:
		loc.Untrusted = unvouchedRegion(node, loc.Region)
	}
	loc.Country, loc.CountrySource = catalogCountry(loc)
	return loc
}

// unvouchedRegion says why a region only a kubelet-settable label claims is not believed, and how
// to vouch for it.
func unvouchedRegion(node *corev1.Node, region string) string {
	id := "the node has no spec.providerID"
	if node.Spec.ProviderID != "" {
		id = fmt.Sprintf("spec.providerID %q does not say where the node is", node.Spec.ProviderID)
	}
	return fmt.Sprintf("region %q comes only from a topology label, which the node's kubelet may set itself, and %s. "+
		"Vouch for it: kubectl label node %s %s=%s (kubelets cannot set that label), or run the operator with --trust-registration-topology",
		region, id, node.Name, v1alpha1.ConfirmedRegionLabel, region)
}

// catalogCountry is the catalog's country for loc's region, in loc's cloud when it is known
// (ProviderLocation, which volumes and offline places use too).
func catalogCountry(loc NodeLocation) (string, CountrySource) {
	if loc.Region == "" {
		return "", ""
	}
	l := ProviderLocation(loc.Provider, loc.Region, "")
	return l.Country, l.CountrySource
}

// CountryFromPerson is the country-source label's value on a node whose country a person set; the
// operator writes it (once it has seen the label) so that nothing written later, by a kubelet
// say, can make that country look derived.
const CountryFromPerson = "person"

// personSetCountry reports whether a node's country label was set by a person: the restricted
// country-source label says so (or says nothing, on a node the operator has not labelled yet). The
// legacy annotation counts only on such a node, the first time the operator sees it after an
// upgrade: an earlier release wrote it on the countries it derived, which are derived again (from a
// region something vouches for, or not at all). Afterwards the restricted label answers, and an
// annotation a kubelet adds changes nothing.
func personSetCountry(node *corev1.Node) bool {
	switch node.Labels[v1alpha1.CountrySourceLabel] {
	case string(CountryFromCatalog):
		return false
	case "":
		return node.Annotations[v1alpha1.LegacyCountrySourceAnnotation] != string(CountryFromCatalog)
	}
	return true
}

func firstNonEmpty(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}
