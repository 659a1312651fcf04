package engine

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestSelectsNeverGovernsEverything pins the rule every caller relies on: a nil, empty or invalid
// selector selects nothing, so a broken policy never governs or exempts a whole namespace.
func TestSelectsNeverGovernsEverything(t *testing.T) {
	pod := map[string]string{"app": "db"}
	for name, tt := range map[string]struct {
		sel  *metav1.LabelSelector
		want bool
	}{
		"nil":       {nil, false},
		"empty":     {&metav1.LabelSelector{}, false},
		"invalid":   {&metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: "Near"}}}, false},
		"matching":  {&metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}, true},
		"different": {&metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}, false},
	} {
		if got := Selects(tt.sel, pod); got != tt.want {
			t.Errorf("%s: Selects = %v, want %v", name, got, tt.want)
		}
	}
}
