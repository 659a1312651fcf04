package webhook

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/residency-operator/residency-operator/internal/engine"
)

// TestPlacementConflictMatchConditions: the placement-conflict webhook's matchConditions (written
// once, in config/webhook, and read by the chart) send it pods whose nodeSelector or required
// affinity uses any key the engine locates by, and no other: a key missing there would let a
// conflicting pod through unjudged.
func TestPlacementConflictMatchConditions(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "config", "webhook", "placement_conflicts_patch.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var ops []struct {
		Op, Path string
		Value    any
	}
	if err := yaml.Unmarshal(raw, &ops); err != nil {
		t.Fatal(err)
	}
	if len(ops) != 2 || ops[0].Op != "test" || ops[1].Op != "add" {
		t.Fatalf("want [test name, add matchConditions], got %+v (the chart reads them in that order)", ops)
	}
	conditions, ok := ops[1].Value.([]any)
	if !ok || len(conditions) != 1 {
		t.Fatalf("want one match condition, got %v", ops[1].Value)
	}
	expression, _ := conditions[0].(map[string]any)["expression"].(string)
	lists := regexp.MustCompile(`\[('[^\]]*)\]`).FindAllStringSubmatch(expression, -1)
	if len(lists) != 2 {
		t.Fatalf("want a key list for the nodeSelector and one for the affinity, got %d in %s", len(lists), expression)
	}
	want := engine.LocationKeys()
	for i, l := range lists {
		var keys []string
		for _, m := range regexp.MustCompile(`'([^']+)'`).FindAllStringSubmatch(l[1], -1) {
			keys = append(keys, m[1])
		}
		slices.Sort(keys)
		if !slices.Equal(keys, want) {
			t.Errorf("key list %d is %v, the engine locates by %v", i, keys, want)
		}
	}
}
