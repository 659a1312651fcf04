// Command crd-selector-bounds bounds the label selectors of the generated CRDs, which
// controller-gen copies from metav1.LabelSelector without any limit: the API server then prices
// the CEL rules that check selector syntax as if a selector could fill a whole request, and refuses
// the CRD. The markers cannot reach the fields of a type from another module, so `make manifests`
// runs this after controller-gen. The bounds are those of the label syntax (a value is at most 63
// characters, a key at most 253+1+63) and generous counts no real selector reaches.
//
// Usage: go run ./hack/crd-selector-bounds FILE...
package main

import (
	"bytes"
	"fmt"
	"os"

	"sigs.k8s.io/yaml"
)

// Bounds of a label selector.
const (
	maxExpressions = 32
	maxValues      = 64
	maxMatchLabels = 64
	maxKeyLength   = 253 + 1 + 63
	maxValueLength = 63
)

func main() {
	for _, path := range os.Args[1:] {
		if err := bound(path); err != nil {
			fmt.Fprintf(os.Stderr, "crd-selector-bounds: %s: %v\n", path, err)
			os.Exit(1)
		}
	}
}

func bound(path string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var doc map[string]any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return err
	}
	if walk(doc) == 0 {
		return nil
	}
	out, err := yaml.Marshal(doc)
	if err != nil {
		return err
	}
	if bytes.HasPrefix(raw, []byte("---\n")) {
		out = append([]byte("---\n"), out...)
	}
	return os.WriteFile(path, out, 0o644)
}

// walk bounds every schema node that is a label selector and returns how many it found.
func walk(node any) int {
	n := 0
	switch v := node.(type) {
	case map[string]any:
		if isSelector(v) {
			boundSelector(v["properties"].(map[string]any))
			n++
		}
		for _, child := range v {
			n += walk(child)
		}
	case []any:
		for _, child := range v {
			n += walk(child)
		}
	}
	return n
}

func isSelector(schema map[string]any) bool {
	props, ok := schema["properties"].(map[string]any)
	if !ok || len(props) != 2 {
		return false
	}
	_, exprs := props["matchExpressions"].(map[string]any)
	_, labels := props["matchLabels"].(map[string]any)
	return exprs && labels
}

func boundSelector(props map[string]any) {
	exprs := props["matchExpressions"].(map[string]any)
	exprs["maxItems"] = maxExpressions
	item := exprs["items"].(map[string]any)["properties"].(map[string]any)
	item["key"].(map[string]any)["maxLength"] = maxKeyLength
	item["operator"].(map[string]any)["maxLength"] = len("DoesNotExist")
	values := item["values"].(map[string]any)
	values["maxItems"] = maxValues
	values["items"].(map[string]any)["maxLength"] = maxValueLength

	labels := props["matchLabels"].(map[string]any)
	labels["maxProperties"] = maxMatchLabels
	labels["additionalProperties"].(map[string]any)["maxLength"] = maxValueLength
}
