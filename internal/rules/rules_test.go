package rules

import (
	"testing"

	"github.com/residency-operator/residency-operator/internal/engine"
)

// TestEveryReasonHasARule: the CLI and the PolicyReports name a rule for every finding the engine
// makes about a pod or claim; only a relabelling decision has none.
func TestEveryReasonHasARule(t *testing.T) {
	for _, r := range []engine.Reason{
		engine.StoresDisagree, engine.TooManyTerms, engine.PlacementConflict, engine.PlacesUnknown, engine.AffinityLoosened,
		engine.PlacementMissing, engine.NodeNotFound, engine.NodeNotPermitted, engine.NodeLocationUnknown, engine.NodeUnchecked,
		engine.VolumeNotFound, engine.VolumeUnchecked, engine.VolumeLocationUnknown, engine.VolumeNotPermitted,
		engine.StorageClassNotFound, engine.StorageClassUnchecked, engine.StorageNotConfined, engine.MountsGovernedClaim,
	} {
		rule, ok := ForReason(r)
		if !ok {
			t.Errorf("reason %s has no rule", r)
			continue
		}
		if got, ok := ByID(rule.ID); !ok || got != rule {
			t.Errorf("reason %s maps to %+v, which is not in the table", r, rule)
		}
	}
	if _, ok := ForReason(engine.ExemptedByRelabel); ok {
		t.Errorf("ExemptedByRelabel is a decision about a label change, not a place")
	}
}
