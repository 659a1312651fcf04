package engine

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
)

func node(providerID string, kv ...string) *corev1.Node {
	l := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		l[kv[i]] = kv[i+1]
	}
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n", Labels: l}, Spec: corev1.NodeSpec{ProviderID: providerID}}
}

func TestLocateNode(t *testing.T) {
	registration := Trust{RegistrationTopology: true}
	confirmed := v1alpha1.ConfirmedRegionLabel
	withAnnotation := func(n *corev1.Node, k, v string) *corev1.Node {
		n.Annotations = map[string]string{k: v}
		return n
	}
	const azureID = "azure:///subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm-0"
	tests := []struct {
		name             string
		node             *corev1.Node
		trust            Trust
		region, country  string
		source           CountrySource
		untrustedContain string
	}{
		{name: "aws region label and matching providerID", node: node("aws:///eu-central-1a/i-1", RegionLabel, "eu-central-1"),
			region: "eu-central-1", country: "DE", source: CountryFromCatalog},
		{name: "region from providerID when no labels", node: node("gce://p/us-central1-a/x"),
			region: "us-central1", country: "US", source: CountryFromCatalog},
		{name: "provider disambiguates a shared region name", node: node("alicloud://eu-west-1.i-abc", RegionLabel, "eu-west-1"),
			region: "eu-west-1", country: "GB", source: CountryFromCatalog},
		{name: "region label contradicting providerID is untrusted", node: node("aws:///us-east-1a/i-1", RegionLabel, "eu-central-1"),
			region: "eu-central-1", country: "DE", source: CountryFromCatalog, untrustedContain: "contradicts spec.providerID"},
		{name: "zone label contradicting providerID is untrusted", node: node("aws:///eu-central-1a/i-1", RegionLabel, "eu-central-1", ZoneLabel, "eu-central-1b"),
			region: "eu-central-1", country: "DE", source: CountryFromCatalog, untrustedContain: "zone label"},

		// A region only a kubelet-settable label claims is believed only when vouched for.
		{name: "azure region label alone is not believed", node: node(azureID, RegionLabel, "westeurope"),
			region: "westeurope", country: "NL", source: CountryFromCatalog, untrustedContain: "kubectl label node n " + confirmed + "=westeurope"},
		{name: "no providerID, region label alone is not believed", node: node("", RegionLabel, "eu-central-1"),
			region: "eu-central-1", country: "DE", source: CountryFromCatalog, untrustedContain: "the node has no spec.providerID"},
		{name: "azure region vouched for by a person", node: node(azureID, RegionLabel, "westeurope", confirmed, "westeurope"),
			region: "westeurope", country: "NL", source: CountryFromCatalog},
		{name: "vouched region without a topology label", node: node("", confirmed, "eu-central-1"),
			region: "eu-central-1", country: "DE", source: CountryFromCatalog},
		{name: "with --trust-registration-topology: legacy beta region label", node: node("", LegacyRegionLabel, "europe-west3"), trust: registration,
			region: "europe-west3", country: "DE", source: CountryFromCatalog},
		{name: "with --trust-registration-topology: region from the zone label", node: node("", ZoneLabel, "europe-west1-b"), trust: registration,
			region: "europe-west1", country: "BE", source: CountryFromCatalog},
		{name: "shared region name without provider stays unknown", node: node("", RegionLabel, "eu-west-1"), trust: registration,
			region: "eu-west-1"},
		{name: "unknown region", node: node("", RegionLabel, "mars-north-1"), trust: registration, region: "mars-north-1"},

		// Pinned at first sight: a region that changes afterwards is a lie until confirmed.
		{name: "region label moved away from the confirmed region", node: node(azureID, RegionLabel, "eastus", confirmed, "westeurope"),
			region: "eastus", country: "US", source: CountryFromCatalog, untrustedContain: `was first seen in, or confirmed for, region "westeurope"`},
		{name: "moved even with --trust-registration-topology", node: node("", RegionLabel, "eastus", confirmed, "westeurope"), trust: registration,
			region: "eastus", country: "US", source: CountryFromCatalog, untrustedContain: "kubectl label node n " + confirmed + "=eastus --overwrite"},
		{name: "providerID of another region than the confirmed one (node re-created elsewhere)", node: node("aws:///us-east-1a/i-2", confirmed, "eu-central-1"),
			region: "us-east-1", country: "US", source: CountryFromCatalog, untrustedContain: "nodes do not change region"},
		{name: "region label removed: the confirmed region stands", node: node(azureID, confirmed, "westeurope"),
			region: "westeurope", country: "NL", source: CountryFromCatalog},

		// Countries.
		{name: "person-set country wins, region labels take no part", node: node("", RegionLabel, "zurich-dc1", v1alpha1.CountryLabel, "CH"),
			country: "CH", source: CountryFromLabel},
		{name: "a region label in another country than a person's contradicts it", node: node("", RegionLabel, "westeurope", v1alpha1.CountryLabel, "CH"),
			country: "CH", source: CountryFromLabel, untrustedContain: `region "westeurope" is in NL, but a person set the node's country to CH`},
		{name: "operator-written country label is recomputed", node: node("aws:///us-east-1a/i-1", v1alpha1.CountryLabel, "DE", v1alpha1.CountrySourceLabel, "catalog"),
			region: "us-east-1", country: "US", source: CountryFromCatalog},
		{name: "person-set country that is not ISO is untrusted", node: node("", v1alpha1.CountryLabel, "UK"),
			untrustedContain: "not an ISO 3166-1"},
		{name: "legacy annotation of the operator's own country is adopted", node: withAnnotation(node("aws:///eu-central-1a/i-1", v1alpha1.CountryLabel, "DE"),
			v1alpha1.LegacyCountrySourceAnnotation, "catalog"), region: "eu-central-1", country: "DE", source: CountryFromCatalog},
		{name: "legacy annotation a kubelet wrote on a person's country (seen by the operator) changes nothing",
			node: withAnnotation(node("", v1alpha1.CountryLabel, "CH", v1alpha1.CountrySourceLabel, CountryFromPerson, RegionLabel, "westeurope"),
				v1alpha1.LegacyCountrySourceAnnotation, "catalog"), trust: registration, country: "CH", source: CountryFromLabel, untrustedContain: "a person set the node's country to CH"},
		{name: "upgrade: a country an earlier release derived from a region nothing vouches for is not kept",
			node:   withAnnotation(node(azureID, RegionLabel, "westeurope", v1alpha1.CountryLabel, "NL"), v1alpha1.LegacyCountrySourceAnnotation, "catalog"),
			region: "westeurope", country: "NL", source: CountryFromCatalog, untrustedContain: "Vouch for it"},
		{name: "a person's country keeps a region something vouches for (Jurisdictions listing regions)",
			node:   node(azureID, RegionLabel, "westeurope", confirmed, "westeurope", v1alpha1.CountryLabel, "NL"),
			region: "westeurope", country: "NL", source: CountryFromLabel},
		{name: "nothing at all", node: node("kwok://n")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := LocateNode(tt.node, tt.trust)
			if got.Region != tt.region || got.Country != tt.country || got.CountrySource != tt.source {
				t.Errorf("LocateNode() = region %q country %q source %q; want %q %q %q", got.Region, got.Country, got.CountrySource, tt.region, tt.country, tt.source)
			}
			if tt.untrustedContain == "" && !got.Trusted() {
				t.Errorf("unexpectedly untrusted: %s", got.Untrusted)
			}
			if tt.untrustedContain != "" && !strings.Contains(got.Untrusted, tt.untrustedContain) {
				t.Errorf("Untrusted = %q, want it to contain %q", got.Untrusted, tt.untrustedContain)
			}
		})
	}
}

func TestJurisdictionMatcher(t *testing.T) {
	m, err := NewJurisdictionMatcher("affiliates", &v1alpha1.JurisdictionSpec{
		Countries:    []v1alpha1.CountryCode{"CH"},
		Regions:      []string{"private-1"},
		NodeSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"site.dataresidency.node-restriction.kubernetes.io/affiliate": "true"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		loc    NodeLocation
		labels labels.Set
		want   bool
	}{
		{"country listed", NodeLocation{Country: "CH"}, nil, true},
		{"region listed", NodeLocation{Region: "private-1"}, nil, true},
		{"selector matches", NodeLocation{}, labels.Set{"site.dataresidency.node-restriction.kubernetes.io/affiliate": "true"}, true},
		{"other country", NodeLocation{Country: "DE", Region: "eu-central-1"}, nil, false},
		{"untrusted never belongs", NodeLocation{Country: "CH", Untrusted: "lies"}, nil, false},
		{"empty location", NodeLocation{}, nil, false},
	}
	for _, tt := range tests {
		if got := m.Contains(tt.loc, tt.labels); got != tt.want {
			t.Errorf("%s: Contains = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestKubeletSettable(t *testing.T) {
	for key, want := range map[string]bool{
		"topology.kubernetes.io/region":                               true,
		"failure-domain.beta.kubernetes.io/zone":                      true,
		"node.kubernetes.io/instance-type":                            true,
		"kubelet.kubernetes.io/anything":                              true,
		"example.com/site":                                            true,
		"site":                                                        true,
		"node-role.kubernetes.io/worker":                              false,
		"dataresidency.node-restriction.kubernetes.io/country":        false,
		"site.dataresidency.node-restriction.kubernetes.io/affiliate": false,
		"node-restriction.kubernetes.io/site":                         false,
		"k8s.io/something":                                            false,
	} {
		if got := KubeletSettable(key); got != want {
			t.Errorf("KubeletSettable(%q) = %v, want %v", key, got, want)
		}
	}
}
