package engine

import (
	"fmt"
	"slices"

	"k8s.io/apimachinery/pkg/api/equality"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
)

// modeStrength orders enforcement modes: Enforce holds most, Audit least.
var modeStrength = map[v1alpha1.EnforcementMode]int{v1alpha1.Audit: 0, v1alpha1.Warn: 1, v1alpha1.Enforce: 2}

// Loosening lists how a change of a store's spec from old to new weakens what it promises: a
// weaker mode, more jurisdictions, selectors that may now leave objects out, a longer grace before
// eviction, egress no longer restricted, more processors receiving the data. It is the one rule for
// what the policy trail records; nil when nothing is looser.
func Loosening(old, new *v1alpha1.PersonalDataStoreSpec) []string {
	var out []string
	oldMode, newMode := modeOrEnforce(old.Enforcement), modeOrEnforce(new.Enforcement)
	if modeStrength[newMode] < modeStrength[oldMode] {
		out = append(out, fmt.Sprintf("enforcement %s -> %s", oldMode, newMode))
	}
	for _, j := range new.AllowedJurisdictions {
		if !slices.Contains(old.AllowedJurisdictions, j) {
			out = append(out, fmt.Sprintf("allowedJurisdictions adds %s", j))
		}
	}
	if !equality.Semantic.DeepEqual(old.WorkloadSelector, new.WorkloadSelector) {
		out = append(out, "workloadSelector changed (pods it selected may no longer be governed)")
	}
	if !equality.Semantic.DeepEqual(old.VolumeSelector, new.VolumeSelector) {
		out = append(out, "volumeSelector changed (claims it selected may no longer be governed)")
	}
	if grace(new) > grace(old) {
		out = append(out, fmt.Sprintf("evictionGracePeriod %s -> %s", durationOf(old), durationOf(new)))
	}
	if old.Egress == v1alpha1.EgressRestrict && new.Egress != v1alpha1.EgressRestrict {
		out = append(out, "egress Restrict -> Unrestricted")
	}
	for _, p := range new.Processors {
		if !slices.Contains(old.Processors, p) {
			out = append(out, fmt.Sprintf("processors adds %s", p))
		}
	}
	return out
}

func modeOrEnforce(m v1alpha1.EnforcementMode) v1alpha1.EnforcementMode {
	if m == "" {
		return v1alpha1.Enforce
	}
	return m
}

// grace is a store's eviction grace period; the schema defaults it, so nil reaches admission only
// from a store stored before the default existed.
func grace(s *v1alpha1.PersonalDataStoreSpec) int64 {
	if s.EvictionGracePeriod == nil {
		return 0
	}
	return int64(s.EvictionGracePeriod.Duration)
}

func durationOf(s *v1alpha1.PersonalDataStoreSpec) string {
	if s.EvictionGracePeriod == nil {
		return "default"
	}
	return s.EvictionGracePeriod.Duration.String()
}
