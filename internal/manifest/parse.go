package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	yaml "go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// maxListDepth bounds Lists inside Lists; kubectl itself accepts one level.
const maxListDepth = 8

// AddBytes reads the objects of one file's content. name is used in errors and sources. Every
// problem is collected, so that one run shows all of them; the returned error joins *Error values.
func (s *Set) AddBytes(name string, data []byte) error {
	s.Files++
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	var errs []error
	for _, c := range splitDocuments(data) {
		if err := s.addChunk(name, c); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// chunk is the text between two document markers and the 1-based line it starts on.
type chunk struct {
	text []byte
	line int
}

// splitDocuments cuts a YAML stream before each line that starts a document ("---" alone or
// followed by a space). YAML forbids such a line inside any scalar, so the cut is always at a
// document boundary, and parsing each chunk alone lets one bad document not hide the rest.
func splitDocuments(data []byte) []chunk {
	var out []chunk
	start, startLine, line := 0, 1, 1
	for i := 0; i < len(data); {
		end := bytes.IndexByte(data[i:], '\n')
		next := len(data)
		if end >= 0 {
			next = i + end + 1
		}
		if i > start && isDocumentStart(data[i:next]) {
			out = append(out, chunk{text: data[start:i], line: startLine})
			start, startLine = i, line
		}
		i = next
		line++
	}
	return append(out, chunk{text: data[start:], line: startLine})
}

func isDocumentStart(l []byte) bool {
	if !bytes.HasPrefix(l, []byte("---")) {
		return false
	}
	rest := l[3:]
	return len(rest) == 0 || rest[0] == ' ' || rest[0] == '\t' || rest[0] == '\n' || rest[0] == '\r'
}

// addChunk parses the documents of one chunk. A panic inside the YAML parser on hostile input is
// turned into an error at the chunk's line rather than ending the program.
func (s *Set) addChunk(file string, c chunk) (err error) {
	offset := c.line - 1
	defer func() {
		if r := recover(); r != nil {
			err = &Error{File: file, Line: c.line, Err: fmt.Errorf("yaml: parser failed on this document: %v", r)}
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(c.text))
	for {
		var doc yaml.Node
		if err := dec.Decode(&doc); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return yamlError(file, offset, err)
		}
		if len(doc.Content) == 0 {
			continue
		}
		root := doc.Content[0]
		if root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" {
			continue // an empty document, as `helm template` leaves for disabled templates
		}
		if err := s.addNode(file, offset, root, 0); err != nil {
			return err
		}
	}
}

// addNode reads one object (or List of objects) from its mapping node.
func (s *Set) addNode(file string, offset int, n *yaml.Node, depth int) error {
	n = resolve(n)
	line := offset + max(n.Line, 1)
	fail := func(format string, args ...any) error {
		return &Error{File: file, Line: line, Err: fmt.Errorf(format, args...)}
	}
	if n.Kind != yaml.MappingNode {
		return fail("%w, not a %s", errNotMapping, kindName(n.Kind))
	}
	apiVersion, err := scalarField(n, "apiVersion")
	if err != nil {
		return fail("%v", err)
	}
	kind, err := scalarField(n, "kind")
	if err != nil {
		return fail("%v", err)
	}
	if kind == "" {
		// Not a Kubernetes object (a Helm values file, a Chart.yaml): nothing to check.
		return nil
	}
	if apiVersion == "" {
		return fail("%s has no apiVersion", kind)
	}
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil {
		return fail("%s: %v", kind, err)
	}

	if items := field(n, "items"); items != nil && strings.HasSuffix(kind, "List") {
		if depth >= maxListDepth {
			return fail("%s nested more than %d deep", kind, maxListDepth)
		}
		items = resolve(items)
		if items.Kind == yaml.ScalarNode && items.ShortTag() == "!!null" {
			return nil
		}
		if items.Kind != yaml.SequenceNode {
			return fail("%s items must be a list, not a %s", kind, kindName(items.Kind))
		}
		var errs []error
		for _, item := range items.Content {
			if err := s.addNode(file, offset, item, depth+1); err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}

	gk := groupKind{gv.Group, kind}
	obj := &Object{Ref: Ref{APIVersion: apiVersion, Kind: kind}, Source: Source{File: file, Line: line}}
	info, ok := decoded[gk]
	if !ok {
		meta := field(n, "metadata")
		if meta != nil && resolve(meta).Kind == yaml.MappingNode {
			obj.Ref.Name, _ = scalarField(resolve(meta), "name")
			obj.Ref.Namespace, _ = scalarField(resolve(meta), "namespace")
		}
		s.add(obj)
		return nil
	}
	if info.versions != nil && !slices.Contains(info.versions, gv.Version) {
		return fail("%s %s is not a version this kubectl-residency understands; use %s/%s",
			apiVersion, kind, gv.Group, strings.Join(info.versions, ", "))
	}

	w := jsonWriter{file: file, offset: offset}
	if err := w.value(n); err != nil {
		return err
	}
	typed := info.newObject()
	if err := json.Unmarshal(w.buf, typed); err != nil {
		return &Error{File: file, Line: offset + jsonErrorLine(n, err), Err: fmt.Errorf("decoding %s: %w", kind, cleanJSONError(err))}
	}
	if typed.GetNamespace() == "" && !clusterScoped[gk] {
		typed.SetNamespace(s.opts.DefaultNamespace)
	}
	if clusterScoped[gk] {
		typed.SetNamespace("")
	}
	obj.Ref.Namespace, obj.Ref.Name = typed.GetNamespace(), nameOf(typed)
	obj.Typed = typed
	s.add(obj)
	return nil
}

// resolve follows aliases (a bounded number of times; cycles end in the alias node itself).
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 64; i++ {
		n = n.Alias
	}
	return n
}

// field returns the value of key in mapping n, or nil.
func field(n *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := resolve(n.Content[i]); k.Kind == yaml.ScalarNode && k.Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// scalarField returns the string value of key in mapping n, "" when absent or null.
func scalarField(n *yaml.Node, key string) (string, error) {
	v := field(n, key)
	if v == nil {
		return "", nil
	}
	v = resolve(v)
	if v.Kind != yaml.ScalarNode {
		return "", fmt.Errorf("%s must be a string, not a %s", key, kindName(v.Kind))
	}
	if v.ShortTag() == "!!null" {
		return "", nil
	}
	return v.Value, nil
}

// jsonErrorLine finds the line of the field a JSON decoding error names, such as
// "spec.template.spec.containers.ports.containerPort", in the object's YAML; the object's own line
// when the field cannot be found. JSON paths leave out list indexes, so the first list item that
// has the whole path is taken.
func jsonErrorLine(root *yaml.Node, err error) int {
	var typeErr *json.UnmarshalTypeError
	if !errors.As(err, &typeErr) || typeErr.Field == "" {
		return max(root.Line, 1)
	}
	budget := maxNodes
	if line := lineOfPath(root, strings.Split(typeErr.Field, "."), &budget); line > 0 {
		return line
	}
	return max(root.Line, 1)
}

// lineOfPath returns the line of the node at path below n, or 0. budget bounds the nodes visited:
// aliases can make a small document a very large tree.
func lineOfPath(n *yaml.Node, path []string, budget *int) int {
	*budget--
	if *budget < 0 {
		return 0
	}
	n = resolve(n)
	if len(path) == 0 {
		return n.Line
	}
	switch n.Kind {
	case yaml.MappingNode:
		if v := field(n, path[0]); v != nil {
			return lineOfPath(v, path[1:], budget)
		}
	case yaml.SequenceNode:
		for _, item := range n.Content {
			if line := lineOfPath(item, path, budget); line > 0 || *budget < 0 {
				return line
			}
		}
	}
	return 0
}

// cleanJSONError says a decoding error in the words of the YAML, without Go type names.
func cleanJSONError(err error) error {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) && typeErr.Field != "" {
		return fmt.Errorf("%s: cannot use a %s where %s is expected", typeErr.Field, typeErr.Value, typeName(typeErr.Type.String()))
	}
	var syntaxErr *json.SyntaxError
	if errors.As(err, &syntaxErr) {
		return fmt.Errorf("invalid document: %w", syntaxErr)
	}
	return err
}

// typeName turns a Go type into what a YAML author would call it.
func typeName(t string) string {
	switch {
	case strings.HasPrefix(t, "int"), strings.HasPrefix(t, "uint"):
		return "an integer"
	case strings.HasPrefix(t, "float"):
		return "a number"
	case t == "string" || strings.HasSuffix(t, "Name") || strings.HasSuffix(t, "Code") || strings.HasSuffix(t, "Mode"):
		return "a string"
	case t == "bool":
		return "true or false"
	case strings.HasPrefix(t, "[]"):
		return "a list"
	case strings.HasPrefix(t, "map["):
		return "a mapping"
	}
	return "a " + t
}
