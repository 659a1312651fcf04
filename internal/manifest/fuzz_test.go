package manifest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoad feeds arbitrary bytes to the loader: it must never panic, and every error must say
// where (a file and a line), since that is what a person fixing a manifest needs.
func FuzzLoad(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/tree/*/*")
	for _, p := range seeds {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
	fixtures, _ := filepath.Glob("../../cmd/kubectl-residency/testdata/fixtures/*/*.yaml")
	for _, p := range fixtures {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
	for _, s := range []string{
		"", "---", "--- |\n  a\n", "a: [\n", "a: *b", "x: &a\n  <<: *a\n", "apiVersion: v1\nkind: List\nitems: [{apiVersion: v1, kind: List, items: []}]\n",
		"apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {nodeSelector: {a: 1}}\n", "\xff\xfe\x00a", "kind: 1\napiVersion: []\n",
		aliasBomb(),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s := NewSet(Options{})
		err := s.AddBytes("fuzz.yaml", data)
		for _, e := range Errors(err) {
			if e.File != "fuzz.yaml" || e.Line < 1 {
				t.Fatalf("error without a place: %#v (%v)", e, e)
			}
			if strings.Contains(e.Err.Error(), "parser failed on this document") {
				t.Fatalf("the YAML parser panicked (recovered): %v", e)
			}
		}
		for _, o := range s.Objects {
			if o.Source.Line < 1 {
				t.Fatalf("object without a line: %+v", o)
			}
		}
	})
}
