package webhook

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
	"github.com/residency-operator/residency-operator/internal/engine"
)

// TestPlacementConflictMatchConditions: the placement-conflict webhook's matchConditions (written
// once, in config/webhook, and read by the chart) send it pods whose nodeSelector or required
// affinity uses any key the engine locates by, and no other: a key missing there would let a
// conflicting pod through unjudged.
func TestPlacementConflictMatchConditions(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "config", "webhook", "match_conditions_patch.yaml"))
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
	var expression string
	for i, op := range ops {
		if op.Op != "test" {
			continue
		}
		if i+1 == len(ops) || ops[i+1].Op != "add" || !strings.HasSuffix(ops[i+1].Path, "/matchConditions") {
			t.Fatalf("op %d: a name test not followed by its matchConditions (the chart reads them in pairs)", i)
		}
		if op.Value == "unplaceable.pods.dataresidency.io" {
			conditions, _ := ops[i+1].Value.([]any)
			if len(conditions) != 1 {
				t.Fatalf("want one match condition, got %v", ops[i+1].Value)
			}
			expression, _ = conditions[0].(map[string]any)["expression"].(string)
		}
	}
	if expression == "" {
		t.Fatal("no matchConditions for unplaceable.pods.dataresidency.io")
	}
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
	// A pod's own nodeSelector on a jurisdiction label is judged too (its affinity's are
	// admission's own terms, which the engine sets aside).
	if !strings.Contains(expression, "k.startsWith('"+v1alpha1.JurisdictionLabelPrefix+"')") {
		t.Errorf("the nodeSelector branch does not send pods selecting a jurisdiction label: %s", expression)
	}
}
