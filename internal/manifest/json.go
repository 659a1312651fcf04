package manifest

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"

	yaml "go.yaml.in/yaml/v3"
)

// maxNodes bounds the YAML nodes one document may expand to through aliases. A few anchors can
// describe billions of nodes (the "billion laughs"); real manifests are far below this.
const maxNodes = 1 << 20

// maxDepth bounds nesting, aliases included, so that an alias cycle through a merge key cannot
// exhaust the stack; go-yaml's parser has the same bound for what is written out.
const maxDepth = 10000

// jsonWriter renders a YAML node tree as JSON, the form Kubernetes types decode from, the way
// kubectl's YAML-to-JSON conversion does: merge keys are applied, aliases expanded, scalars typed by
// their resolved YAML tag. It reports problems JSON cannot express (non-scalar keys, NaN) at the
// YAML line.
type jsonWriter struct {
	buf    []byte
	file   string
	offset int // lines before the chunk the nodes were parsed from
	nodes  int
	depth  int
	active map[*yaml.Node]bool // anchors being expanded, to catch an alias inside its own anchor
}

func (w *jsonWriter) fail(n *yaml.Node, format string, args ...any) error {
	return &Error{File: w.file, Line: w.offset + max(n.Line, 1), Err: fmt.Errorf(format, args...)}
}

// value appends n as JSON.
func (w *jsonWriter) value(n *yaml.Node) error {
	w.nodes++
	if w.nodes > maxNodes {
		return w.fail(n, "yaml: document expands to more than %d nodes through aliases", maxNodes)
	}
	w.depth++
	defer func() { w.depth-- }()
	if w.depth > maxDepth {
		return w.fail(n, "yaml: document nested more than %d deep", maxDepth)
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			w.buf = append(w.buf, "null"...)
			return nil
		}
		return w.value(n.Content[0])
	case yaml.AliasNode:
		return w.alias(n, w.value)
	case yaml.MappingNode:
		return w.mapping(n)
	case yaml.SequenceNode:
		w.buf = append(w.buf, '[')
		for i, item := range n.Content {
			if i > 0 {
				w.buf = append(w.buf, ',')
			}
			if err := w.value(item); err != nil {
				return err
			}
		}
		w.buf = append(w.buf, ']')
		return nil
	case yaml.ScalarNode:
		return w.scalar(n)
	}
	return w.fail(n, "yaml: node of unknown kind %d", n.Kind)
}

// alias expands an alias node through fn, refusing an alias inside its own anchor.
func (w *jsonWriter) alias(n *yaml.Node, fn func(*yaml.Node) error) error {
	target := n.Alias
	if target == nil {
		return w.fail(n, "yaml: alias *%s refers to nothing", n.Value)
	}
	if w.active[target] {
		return w.fail(n, "yaml: anchor &%s contains an alias to itself", target.Anchor)
	}
	if w.active == nil {
		w.active = map[*yaml.Node]bool{}
	}
	w.active[target] = true
	defer delete(w.active, target)
	return fn(target)
}

// pair is a key and value of a mapping after merge keys are applied.
type pair struct {
	key   string
	value *yaml.Node
}

func (w *jsonWriter) mapping(n *yaml.Node) error {
	if len(n.Content)%2 != 0 {
		return w.fail(n, "yaml: mapping with a key and no value")
	}
	pairs, err := w.pairs(n, 0)
	if err != nil {
		return err
	}
	w.buf = append(w.buf, '{')
	for i, p := range pairs {
		if i > 0 {
			w.buf = append(w.buf, ',')
		}
		w.buf = appendJSONString(w.buf, p.key)
		w.buf = append(w.buf, ':')
		if err := w.value(p.value); err != nil {
			return err
		}
	}
	w.buf = append(w.buf, '}')
	return nil
}

// pairs returns a mapping's own pairs, then those its merge keys ("<<: *base") bring in that it
// does not set itself; earlier merge sources win over later ones, as YAML specifies.
func (w *jsonWriter) pairs(n *yaml.Node, depth int) ([]pair, error) {
	if depth > 64 {
		return nil, w.fail(n, "yaml: merge keys nested more than 64 deep")
	}
	out := make([]pair, 0, len(n.Content)/2)
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		key, err := w.key(k)
		if err != nil {
			return nil, err
		}
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			merges = append(merges, v)
			continue
		}
		out = append(out, pair{key: key, value: v})
	}
	if len(merges) == 0 {
		return out, nil
	}
	have := make(map[string]bool, len(out))
	for _, p := range out {
		have[p.key] = true
	}
	var add func(src *yaml.Node) error
	add = func(src *yaml.Node) error {
		w.nodes++
		if w.nodes > maxNodes {
			return w.fail(src, "yaml: document expands to more than %d nodes through aliases", maxNodes)
		}
		switch src.Kind {
		case yaml.AliasNode:
			return w.alias(src, add)
		case yaml.MappingNode:
			merged, err := w.pairs(src, depth+1)
			if err != nil {
				return err
			}
			for _, p := range merged {
				if !have[p.key] {
					have[p.key] = true
					out = append(out, p)
				}
			}
			return nil
		case yaml.SequenceNode:
			for _, item := range src.Content {
				if item.Kind == yaml.SequenceNode {
					return w.fail(item, "yaml: a merge key takes a mapping or a list of mappings")
				}
				if err := add(item); err != nil {
					return err
				}
			}
			return nil
		}
		return w.fail(src, "yaml: a merge key takes a mapping or a list of mappings")
	}
	for _, m := range merges {
		if err := add(m); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// key returns a mapping key as a string: JSON objects only have string keys, so a scalar's text is
// used (as kubectl does) and anything else is refused.
func (w *jsonWriter) key(k *yaml.Node) (string, error) {
	for depth := 0; k.Kind == yaml.AliasNode && k.Alias != nil && depth < 64; depth++ {
		k = k.Alias
	}
	if k.Kind != yaml.ScalarNode {
		return "", w.fail(k, "yaml: mapping keys must be strings, numbers or booleans, not a %s", kindName(k.Kind))
	}
	return k.Value, nil
}

func kindName(k yaml.Kind) string {
	switch k {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "sequence"
	case yaml.AliasNode:
		return "alias"
	case yaml.DocumentNode:
		return "document"
	}
	return "scalar"
}

// scalar appends a scalar with the JSON type its resolved YAML tag gives it. Timestamps and
// binary values stay strings, as Kubernetes expects them.
func (w *jsonWriter) scalar(n *yaml.Node) error {
	switch n.ShortTag() {
	case "!!null":
		w.buf = append(w.buf, "null"...)
		return nil
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			return w.fail(n, "%v", err)
		}
		w.buf = strconv.AppendBool(w.buf, b)
		return nil
	case "!!int":
		if plainDecimal(n.Value) {
			w.buf = append(w.buf, n.Value...)
			return nil
		}
		var v any
		if err := n.Decode(&v); err != nil {
			return w.fail(n, "%v", err)
		}
		return w.number(n, v)
	case "!!float":
		var v any
		if err := n.Decode(&v); err != nil {
			return w.fail(n, "%v", err)
		}
		return w.number(n, v)
	}
	w.buf = appendJSONString(w.buf, n.Value)
	return nil
}

// number appends a decoded YAML number, refusing what JSON cannot hold.
func (w *jsonWriter) number(n *yaml.Node, v any) error {
	if f, ok := v.(float64); ok && (math.IsNaN(f) || math.IsInf(f, 0)) {
		return w.fail(n, "yaml: %s cannot be represented in JSON; quote it if it is meant as a string", n.Value)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return w.fail(n, "yaml: %s: %v", n.Value, err)
	}
	w.buf = append(w.buf, b...)
	return nil
}

// plainDecimal reports whether s is already a JSON integer: an optional minus, then digits with no
// leading zero, short enough for int64.
func plainDecimal(s string) bool {
	d := s
	if len(d) > 0 && d[0] == '-' {
		d = d[1:]
	}
	if len(d) == 0 || len(d) > 18 || (d[0] == '0' && len(d) > 1) {
		return false
	}
	for i := 0; i < len(d); i++ {
		if d[i] < '0' || d[i] > '9' {
			return false
		}
	}
	return true
}

// appendJSONString appends s as a JSON string; invalid UTF-8 becomes U+FFFD, as encoding/json does.
func appendJSONString(buf []byte, s string) []byte {
	const hex = "0123456789abcdef"
	buf = append(buf, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				buf = append(buf, '\\', c)
			case c == '\n':
				buf = append(buf, '\\', 'n')
			case c == '\r':
				buf = append(buf, '\\', 'r')
			case c == '\t':
				buf = append(buf, '\\', 't')
			case c < 0x20:
				buf = append(buf, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				buf = append(buf, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			buf = append(buf, `\ufffd`...)
		} else {
			buf = append(buf, s[i:i+size]...)
		}
		i += size
	}
	return append(buf, '"')
}
