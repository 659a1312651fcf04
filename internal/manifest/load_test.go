package manifest

import (
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
)

// refs renders the objects of a set as "Kind ns/name@line" for compact comparisons.
func refs(s *Set) []string {
	var out []string
	for _, o := range s.Objects {
		r := o.Ref.Kind + " " + o.Ref.Namespace + "/" + o.Ref.Name
		if o.Typed == nil {
			r += " (not decoded)"
		}
		out = append(out, r+"@"+strconv.Itoa(o.Source.Line))
	}
	return out
}

func TestAddBytes(t *testing.T) {
	tests := []struct {
		name string
		in   string
		ns   string
		want []string
	}{
		{
			name: "multi-document stream with comments, empty documents and a Service",
			in: "# Source: chart/templates/a.yaml\n---\n---\napiVersion: v1\nkind: Service\nmetadata: {name: svc}\n---\n" +
				"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: shop\n",
			want: []string{"Service /svc (not decoded)@4", "Deployment shop/web@8"},
		},
		{
			name: "default namespace from the options, none for cluster-scoped kinds",
			in: "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: data}\n---\n" +
				"apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: {name: fast, namespace: oops}\nprovisioner: x\n",
			ns:   "team-a",
			want: []string{"PersistentVolumeClaim team-a/data@1", "StorageClass /fast@5"},
		},
		{
			name: "a List, items at their own lines",
			in: "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata: {name: a}\n" +
				"- apiVersion: batch/v1\n  kind: CronJob\n  metadata: {name: b}\n",
			want: []string{"Pod default/a@4", "CronJob default/b@7"},
		},
		{
			name: "a typed list kind",
			in:   "apiVersion: apps/v1\nkind: DeploymentList\nitems:\n- apiVersion: apps/v1\n  kind: Deployment\n  metadata: {name: a}\n",
			want: []string{"Deployment default/a@4"},
		},
		{
			name: "documents without a kind are not objects",
			in:   "replicaCount: 3\nimage: {tag: latest}\n---\napiVersion: v2\nname: chart\nversion: 1.0.0\n",
			want: nil,
		},
		{
			name: "JSON",
			in:   `{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"nodeName": "n"}}`,
			want: []string{"Pod default/p@1"},
		},
		{
			name: "merge keys and aliases",
			in:   "base: &base\n  app: web\napiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  labels:\n    <<: *base\n    tier: front\n",
			want: []string{"Pod default/p@1"},
		},
		{
			name: "byte order mark and CRLF line ends",
			in:   "\xef\xbb\xbfapiVersion: v1\r\nkind: Pod\r\nmetadata:\r\n  name: p\r\n---\r\napiVersion: v1\r\nkind: Pod\r\nmetadata: {name: q}\r\n",
			want: []string{"Pod default/p@1", "Pod default/q@6"},
		},
		{
			name: "a document marker with a comment",
			in:   "--- # first\napiVersion: v1\nkind: Pod\nmetadata: {name: p}\n",
			want: []string{"Pod default/p@2"},
		},
		{
			name: "helm generateName",
			in:   "apiVersion: batch/v1\nkind: Job\nmetadata: {generateName: hook-}\n",
			want: []string{"Job default/hook-*@1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewSet(Options{DefaultNamespace: tt.ns})
			if err := s.AddBytes("in.yaml", []byte(tt.in)); err != nil {
				t.Fatalf("AddBytes: %v", err)
			}
			if diff := cmp.Diff(tt.want, refs(s)); diff != "" {
				t.Errorf("objects (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAddBytesDecodes(t *testing.T) {
	s := NewSet(Options{})
	in := `apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: shop}
spec:
  template:
    metadata:
      labels: &l {app: db}
    spec:
      nodeSelector: {topology.kubernetes.io/region: eu-central-1}
      containers: [{name: db, image: postgres}]
  volumeClaimTemplates:
  - metadata: {name: data, labels: *l}
    spec: {storageClassName: fast}
---
apiVersion: dataresidency.io/v1alpha1
kind: ResidencyException
metadata: {name: ex, namespace: shop}
spec:
  selector: {matchLabels: {app: db}}
  stores: [db]
  reason: Migration
  justification: moving the database between regions
  approvedBy: dpo@example.com
  expiresAt: "2027-01-01T00:00:00Z"
`
	if err := s.AddBytes("in.yaml", []byte(in)); err != nil {
		t.Fatal(err)
	}
	if len(s.Workloads) != 1 || len(s.Exceptions) != 1 {
		t.Fatalf("got %d workloads and %d exceptions, want 1 and 1", len(s.Workloads), len(s.Exceptions))
	}
	w := s.Workloads[0]
	if w.Template.Namespace != "shop" || w.Template.Labels["app"] != "db" || w.Template.Spec.NodeSelector["topology.kubernetes.io/region"] != "eu-central-1" {
		t.Errorf("template = %+v", w.Template.ObjectMeta)
	}
	if len(w.ClaimTemplates) != 1 || *w.ClaimTemplates[0].Spec.StorageClassName != "fast" || w.ClaimTemplates[0].Labels["app"] != "db" {
		t.Errorf("claim templates = %+v", w.ClaimTemplates)
	}
	if _, ok := w.Object.Typed.(*appsv1.StatefulSet); !ok {
		t.Errorf("typed = %T", w.Object.Typed)
	}
	if got := s.Exceptions[0].Spec.ExpiresAt.UTC().Year(); got != 2027 {
		t.Errorf("expiresAt year = %d", got)
	}
	if o := s.ObjectOf(s.Exceptions[0]); o == nil || o.Source.Line != 15 || o.Ref.Kind != "ResidencyException" {
		t.Errorf("ObjectOf(exception) = %+v", o)
	}
}

func TestAddBytesErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string // "line: substring"
	}{
		{"syntax error inside the second document", "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: b\n  labels: {a: b: c}\n",
			[]string{"9: yaml: did not find expected ',' or '}'"}},
		{"a bad document does not hide the next one", "a: [\n---\nb: {\n", []string{"2: yaml: did not find expected node content", "4: yaml: did not find expected node content"}},
		{"scanner error", "apiVersion: v1\nkind: Pod\nmetadata:\n\tname: a\n", []string{"4: yaml: found character that cannot start any token"}},
		{"error on the first line of a document", "apiVersion: v1\n---\na: b: c\n", []string{"3: yaml: mapping values are not allowed in this context"}},
		{"a wrong type points at the field", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a}\nspec:\n  replicas: three\n", []string{"5: decoding Deployment: spec.replicas: cannot use a string where an integer is expected"}},
		{"a wrong type in a list item", "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec:\n  containers:\n  - name: a\n  - name: b\n    ports:\n    - containerPort: http\n", []string{"9: decoding Pod: spec.containers.ports.containerPort"}},
		{"kind without apiVersion", "kind: Pod\nmetadata: {name: a}\n", []string{"1: Pod has no apiVersion"}},
		{"an unsupported version of our API", "apiVersion: dataresidency.io/v1beta9\nkind: Jurisdiction\nmetadata: {name: eu}\n", []string{"1: dataresidency.io/v1beta9 Jurisdiction is not a version this kubectl-residency understands; use dataresidency.io/v1alpha1"}},
		{"not a mapping", "apiVersion: v1\nkind: Pod\n---\n- a\n- b\n", []string{"4: a Kubernetes object must be a YAML mapping, not a sequence"}},
		{"a bad time", "apiVersion: dataresidency.io/v1alpha1\nkind: ResidencyException\nmetadata: {name: x}\nspec:\n  expiresAt: next tuesday\n", []string{"1: decoding ResidencyException"}},
		{"NaN", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a}\nspec:\n  replicas: .nan\n", []string{"5: yaml: .nan cannot be represented in JSON"}},
		{"a non-scalar key", "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec:\n  ? [a, b]\n  : c\n", []string{"5: yaml: mapping keys must be strings, numbers or booleans, not a sequence"}},
		{"an alias bomb", aliasBomb(), []string{"yaml: "}},
		{"an alias inside its own anchor through a merge key", "apiVersion: v1\nkind: Pod\nmetadata: &m\n  name: p\n  labels:\n    <<: *m\n", []string{"yaml: document nested more than"}},
		{"items that are not a list", "apiVersion: v1\nkind: List\nitems: {a: b}\n", []string{"1: List items must be a list, not a mapping"}},
		{"kind that is not a string", "apiVersion: v1\nkind: [Pod]\n", []string{"1: kind must be a string, not a sequence"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewSet(Options{})
			err := s.AddBytes("f.yaml", []byte(tt.in))
			errs := Errors(err)
			if len(errs) != len(tt.want) {
				t.Fatalf("got %d errors (%v), want %d", len(errs), err, len(tt.want))
			}
			for i, e := range errs {
				if e.File != "f.yaml" || e.Line < 1 {
					t.Errorf("error %d has no place: %+v", i, e)
				}
				if got := e.Error(); !strings.Contains(got, "f.yaml:"+tt.want[i]) && !strings.Contains(got, tt.want[i]) {
					t.Errorf("error %d = %q, want it to contain %q", i, got, "f.yaml:"+tt.want[i])
				}
			}
		})
	}
}

// aliasBomb is the "billion laughs": nine levels of nine aliases each.
func aliasBomb() string {
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\na0: &a0 [x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 9; i++ {
		p := "*a" + strconv.Itoa(i-1)
		fmt.Fprintf(&b, "a%d: &a%d [%s%s]\n", i, i, strings.Repeat(p+", ", 8), p)
	}
	b.WriteString("spec: {containers: [{name: c, image: i, args: *a8}]}\n")
	return b.String()
}

func TestLoadPaths(t *testing.T) {
	s := NewSet(Options{})
	err := s.LoadPaths([]string{"testdata/tree", "-", "testdata/missing.yaml"}, strings.NewReader("apiVersion: v1\nkind: Pod\nmetadata: {name: from-stdin}\n"))
	errs := Errors(err)
	if len(errs) != 1 || errs[0].File != "testdata/missing.yaml" || !errors.Is(errs[0], errNotExist) {
		t.Errorf("errors = %v, want one for the missing file", err)
	}
	want := []string{"Deployment default/web@1", "Jurisdiction /eu@1", "PersonalDataStore shop/db@1", "Pod default/from-stdin@1"}
	if diff := cmp.Diff(want, refs(s)); diff != "" {
		t.Errorf("objects (-want +got):\n%s", diff)
	}
	if s.Files != 4 {
		t.Errorf("files = %d, want 4", s.Files)
	}
	if src := s.ObjectOf(s.Stores[0]).Source; src.File != "testdata/tree/policies/store.json" {
		t.Errorf("store source = %v", src)
	}
	if s.Jurisdictions[0].Namespace != "" {
		t.Errorf("a cluster-scoped Jurisdiction kept namespace %q", s.Jurisdictions[0].Namespace)
	}
}

var errNotExist = fs.ErrNotExist
