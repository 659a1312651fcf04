package engine

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
	"github.com/residency-operator/residency-operator/internal/catalog"
)

// Topology keys that say where a volume may be, as PV labels, PV node affinity or StorageClass
// allowedTopologies write them. CSI drivers use their own zone keys.
var (
	regionKeys = map[string]bool{RegionLabel: true, LegacyRegionLabel: true}
	zoneKeys   = map[string]bool{
		ZoneLabel: true, LegacyZoneLabel: true,
		"topology.ebs.csi.aws.com/zone":                 true,
		"topology.gke.io/zone":                          true,
		"topology.disk.csi.azure.com/zone":              true,
		"topology.cinder.csi.openstack.org/zone":        true,
		"topology.diskplugin.csi.alibabacloud.com/zone": true,
	}
)

// TopologyKey says whether a label key names a region or a zone.
func TopologyKey(key string) (isRegion, isZone bool) { return regionKeys[key], zoneKeys[key] }

// LocationOf builds the location of a region or a zone value (zone: the region is derived when the
// zone name encodes it). Its country comes from the catalog; ok is false when nothing is known.
func LocationOf(region, zone string) (NodeLocation, bool) {
	loc := NodeLocation{Region: region, Zone: zone}
	if loc.Region == "" && zone != "" {
		if r, ok := catalog.RegionFromZone("", zone); ok {
			loc.Region = r
		}
	}
	if loc.Region == "" {
		return loc, false
	}
	if c, ok := catalog.CountryOf(loc.Region); ok {
		loc.Country, loc.CountrySource = c, CountryFromCatalog
	}
	return loc, true
}

// providerLocationOf is LocationOf in one cloud's catalog when provider is known.
func providerLocationOf(provider catalog.Provider, region, zone string) (NodeLocation, bool) {
	if provider == "" {
		return LocationOf(region, zone)
	}
	loc := ProviderLocation(provider, region, zone)
	return loc, loc.Region != ""
}

// PlaceOf is a node stand-in: the labels a node at loc would carry, so that "is this volume or
// region permitted?" is answered by the same NodePermitted as pods, never a second implementation.
func PlaceOf(loc NodeLocation, matchers []*JurisdictionMatcher) *corev1.Node {
	l := map[string]string{}
	if loc.Region != "" {
		l[RegionLabel] = loc.Region
	}
	if loc.Zone != "" {
		l[ZoneLabel] = loc.Zone
	}
	if loc.Country != "" {
		l[v1alpha1.CountryLabel] = loc.Country
	}
	for _, name := range JurisdictionsOf(matchers, loc, labels.Set(l)) {
		l[v1alpha1.JurisdictionLabel(name)] = v1alpha1.JurisdictionLabelValue
	}
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Labels: l}}
}

// VolumeProvider returns the cloud a PersistentVolume is in, when its CSI driver or in-tree
// source says so.
func VolumeProvider(pv *corev1.PersistentVolume) catalog.Provider {
	src := &pv.Spec.PersistentVolumeSource
	switch {
	case src.CSI != nil:
		p, _ := catalog.ProviderOfDriver(src.CSI.Driver)
		return p
	case src.AWSElasticBlockStore != nil:
		return catalog.AWS
	case src.GCEPersistentDisk != nil:
		return catalog.GoogleCloud
	case src.AzureDisk != nil, src.AzureFile != nil:
		return catalog.Azure
	}
	return ""
}

// VolumePlaces returns where a PersistentVolume may be: one place for PV topology labels, else
// one per value its node affinity allows (a hostname resolves to that node through nodeByName).
// Region names are located in the cloud the volume's driver belongs to, else in provider (the
// cloud the cluster is known to run in, or ""). ok is false when the volume's location cannot be
// told, which callers treat as a violation. disagreement, when not empty, says how the labels
// contradict the node affinity: a volume is in one place, so one of them is wrong and which cannot
// be told (ok is false then too).
func VolumePlaces(pv *corev1.PersistentVolume, provider catalog.Provider, matchers []*JurisdictionMatcher, nodeByName func(string) *corev1.Node) (places []*corev1.Node, disagreement string, ok bool) {
	if p := VolumeProvider(pv); p != "" {
		provider = p
	}
	var affinity []*corev1.Node
	affinityOK := pv.Spec.NodeAffinity != nil && pv.Spec.NodeAffinity.Required != nil
	if affinityOK {
		for _, term := range pv.Spec.NodeAffinity.Required.NodeSelectorTerms {
			termPlaces, termOK := termPlaces(term.MatchExpressions, provider, matchers, nodeByName)
			affinityOK = affinityOK && termOK
			affinity = append(affinity, termPlaces...)
		}
	}
	region := firstNonEmpty(pv.Labels[RegionLabel], pv.Labels[LegacyRegionLabel])
	zone := firstNonEmpty(pv.Labels[ZoneLabel], pv.Labels[LegacyZoneLabel])
	if region == "" && zone == "" {
		return affinity, "", affinityOK && len(affinity) > 0
	}
	labelled, known := providerLocationOf(provider, region, zone)
	if !known {
		return nil, "", false
	}
	for _, place := range affinity {
		r, c := firstNonEmpty(place.Labels[RegionLabel], place.Labels[LegacyRegionLabel]), place.Labels[v1alpha1.CountryLabel]
		if (r != "" && labelled.Region != "" && !strings.EqualFold(r, labelled.Region)) || (c != "" && labelled.Country != "" && c != labelled.Country) {
			return nil, fmt.Sprintf("its topology labels place it in region %s (%s), but its node affinity lets it attach at %s",
				orUnknown(labelled.Region), orUnknown(labelled.Country), Describe(place)), false
		}
	}
	return []*corev1.Node{PlaceOf(labelled, matchers)}, "", true
}

// termPlaces returns the places one node selector term (or one allowedTopologies term) allows:
// the values of its first In expression on a hostname, region or zone key.
func termPlaces(exprs []corev1.NodeSelectorRequirement, provider catalog.Provider, matchers []*JurisdictionMatcher, nodeByName func(string) *corev1.Node) ([]*corev1.Node, bool) {
	for _, e := range exprs {
		if e.Operator != corev1.NodeSelectorOpIn || len(e.Values) == 0 {
			continue
		}
		isRegion, isZone := TopologyKey(e.Key)
		isHost := e.Key == corev1.LabelHostname
		if !isRegion && !isZone && !isHost {
			continue
		}
		places := make([]*corev1.Node, 0, len(e.Values))
		for _, v := range e.Values {
			switch {
			case isHost:
				node := nodeByName(v)
				if node == nil {
					return nil, false
				}
				places = append(places, node)
			default:
				region, zone := v, ""
				if isZone {
					region, zone = "", v
				}
				loc, known := providerLocationOf(provider, region, zone)
				if !known {
					return nil, false
				}
				places = append(places, PlaceOf(loc, matchers))
			}
		}
		return places, true
	}
	return nil, false
}

// TopologyPlaces returns the places a StorageClass's allowedTopologies permit a provisioner of
// cloud provider ("" when unknown) to use; ok is false when a term names no region, zone or host
// the operator can place.
func TopologyPlaces(terms []corev1.TopologySelectorTerm, provider catalog.Provider, matchers []*JurisdictionMatcher, nodeByName func(string) *corev1.Node) ([]*corev1.Node, bool) {
	var places []*corev1.Node
	for _, t := range terms {
		exprs := make([]corev1.NodeSelectorRequirement, 0, len(t.MatchLabelExpressions))
		for _, e := range t.MatchLabelExpressions {
			exprs = append(exprs, corev1.NodeSelectorRequirement{Key: e.Key, Operator: corev1.NodeSelectorOpIn, Values: e.Values})
		}
		p, ok := termPlaces(exprs, provider, matchers, nodeByName)
		if !ok {
			return nil, false
		}
		places = append(places, p...)
	}
	return places, len(places) > 0
}

// Describe says where a place is, for messages: name, region, country and jurisdictions.
func Describe(place *corev1.Node) string {
	l := place.Labels
	var names []string
	for k := range l {
		if name, ok := strings.CutPrefix(k, v1alpha1.JurisdictionLabelPrefix); ok {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	prefix := ""
	if place.Name != "" {
		prefix = "node " + place.Name + " "
	}
	return fmt.Sprintf("%s(region %s, country %s, jurisdictions [%s])", prefix,
		orUnknown(firstNonEmpty(l[RegionLabel], l[LegacyRegionLabel])), orUnknown(l[v1alpha1.CountryLabel]), strings.Join(names, " "))
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
