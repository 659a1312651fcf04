package webhook

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/util/diff"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
	"github.com/residency-operator/residency-operator/internal/engine"
)

// These tests pin the pod webhooks' own AdmissionReview handling, which the envtest suite covers
// through the API server only for the pods it creates: every shape of affinity and annotations a
// pod can arrive with, and reviews that cannot be read. The reader is the benchmarks' cache
// stand-in (there is no API behaviour to test here, only our JSON).

// serveReview posts an AdmissionReview body to h and returns the response.
func serveReview(t *testing.T, h http.Handler, contentType string, body []byte) admissionv1.AdmissionResponse {
	t.Helper()
	r, err := http.NewRequestWithContext(context.Background(), http.MethodPost, "https://127.0.0.1:9443/", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Content-Type", contentType)
	w := &responseRecorder{header: http.Header{}}
	h.ServeHTTP(w, r)
	if w.code != 0 && w.code != http.StatusOK {
		t.Fatalf("HTTP %d: %s", w.code, w.body.String())
	}
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(w.body.Bytes(), &review); err != nil || review.Response == nil {
		t.Fatalf("decoding the AdmissionReview response %q: %v", w.body.String(), err)
	}
	if review.APIVersion != "admission.k8s.io/v1" || review.Kind != "AdmissionReview" {
		t.Fatalf("the response is a %s %s", review.APIVersion, review.Kind)
	}
	return *review.Response
}

// TestPodPlacementPatch checks that applying the mutating webhook's JSON patch to a pod gives
// exactly the pod Default makes of the whole typed pod, whatever affinity and annotations it had.
func TestPodPlacementPatch(t *testing.T) {
	reader := newListReader(benchObjects())
	now := func() time.Time { return time.Now() }
	handler := &podReviewHandler{placement: &PodPlacement{Reader: reader, Now: now}}

	preferred := []corev1.PreferredSchedulingTerm{{Weight: 10, Preference: corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{
		{Key: corev1.LabelTopologyZone, Operator: corev1.NodeSelectorOpIn, Values: []string{"eu-central-1a"}}}}}}
	antiAffinity := &corev1.PodAntiAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{Weight: 1,
		PodAffinityTerm: corev1.PodAffinityTerm{TopologyKey: corev1.LabelHostname}}}}
	cases := map[string]func(*corev1.Pod){
		"own required affinity and annotations": func(*corev1.Pod) {},
		"no affinity, no annotations": func(p *corev1.Pod) {
			p.Spec.Affinity, p.Annotations = nil, nil
		},
		"pod anti-affinity only": func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: antiAffinity}
		},
		"preferred node affinity only": func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: preferred}}
		},
		"required terms with match fields": func(p *corev1.Pod) {
			p.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms = append(
				p.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms,
				corev1.NodeSelectorTerm{MatchFields: []corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{"node-001"}}}})
		},
		"two stores (customer-db and analytics)": func(p *corev1.Pod) {
			p.Labels["team"] = "analytics"
		},
		"annotations already naming other stores": func(p *corev1.Pod) {
			p.Annotations[v1alpha1.StoresAnnotation] = "stale"
		},
		"created by a controller: no metadata.namespace": func(p *corev1.Pod) {
			p.Namespace = ""
		},
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			pod := benchPod()
			mutate(pod)
			raw, err := json.Marshal(pod)
			if err != nil {
				t.Fatal(err)
			}
			checkPatch(t, handler, raw)
		})
	}
}

// TestPodPlacementPatchRawShapes does the same for what json.Marshal of a typed pod never
// writes but a review may carry: null and empty members, and escaped strings.
func TestPodPlacementPatchRawShapes(t *testing.T) {
	handler := &podReviewHandler{placement: &PodPlacement{Reader: newListReader(benchObjects()), Now: time.Now}}
	raw, err := json.Marshal(benchPod())
	if err != nil {
		t.Fatal(err)
	}
	set := func(path []string, value any) func(map[string]any) {
		return func(pod map[string]any) {
			m := pod
			for _, key := range path[:len(path)-1] {
				next, ok := m[key].(map[string]any)
				if !ok {
					next = map[string]any{}
					m[key] = next
				}
				m = next
			}
			m[path[len(path)-1]] = value
		}
	}
	required := []string{"spec", "affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution"}
	cases := map[string]func(map[string]any){
		"affinity null":                    set([]string{"spec", "affinity"}, nil),
		"affinity {}":                      set([]string{"spec", "affinity"}, map[string]any{}),
		"nodeAffinity null":                set([]string{"spec", "affinity", "nodeAffinity"}, nil),
		"nodeAffinity {}":                  set([]string{"spec", "affinity", "nodeAffinity"}, map[string]any{}),
		"required null":                    set(required, nil),
		"required {}":                      set(required, map[string]any{}),
		"required with no terms":           set(required, map[string]any{"nodeSelectorTerms": []any{}}),
		"required with an empty term":      set(required, map[string]any{"nodeSelectorTerms": []any{map[string]any{}}}),
		"annotations null":                 set([]string{"metadata", "annotations"}, nil),
		"annotations {}":                   set([]string{"metadata", "annotations"}, map[string]any{}),
		"annotations with stale placement": set([]string{"metadata", "annotations"}, map[string]any{v1alpha1.StoresAnnotation: "old", v1alpha1.AllowedJurisdictionsAnnotation: "us"}),
		"spec.nodeName null":               set([]string{"spec", "nodeName"}, nil),
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			var pod map[string]any
			if err := json.Unmarshal(raw, &pod); err != nil {
				t.Fatal(err)
			}
			mutate(pod)
			shaped, err := json.Marshal(pod)
			if err != nil {
				t.Fatal(err)
			}
			checkPatch(t, handler, shaped)
		})
	}
	t.Run("escaped label key and value", func(t *testing.T) {
		escaped := bytes.Replace(raw, []byte(`"app.kubernetes.io/name":"customer-db"`), []byte(`"app.kubernetes.io\/n\u0061me":"customer\u002ddb"`), 1)
		if bytes.Equal(escaped, raw) {
			t.Fatalf("the pod JSON has no customer-db label to escape: %s", raw)
		}
		checkPatch(t, handler, escaped)
	})
}

// checkPatch sends a CREATE review of the pod JSON raw (in namespace shop) and checks that the
// response is an allowed JSON patch that, applied as the API server applies it, gives exactly the
// pod Default makes of the typed pod.
func checkPatch(t *testing.T, handler *podReviewHandler, raw []byte) {
	t.Helper()
	pod := &corev1.Pod{}
	if err := json.Unmarshal(raw, pod); err != nil {
		t.Fatal(err)
	}
	req := benchRequest(t, pod)
	req.Object.Raw = raw
	resp := serveReview(t, handler, "application/json", benchReview(t, req))
	if !resp.Allowed || resp.PatchType == nil || *resp.PatchType != admissionv1.PatchTypeJSONPatch {
		t.Fatalf("want an allowed response with a JSON patch, got %+v", resp)
	}
	if resp.UID != req.UID {
		t.Fatalf("the response names request %q, want %q", resp.UID, req.UID)
	}
	patch, err := jsonpatch.DecodePatch(resp.Patch)
	if err != nil {
		t.Fatalf("decoding the patch %s: %v", resp.Patch, err)
	}
	patched, err := patch.Apply(raw)
	if err != nil {
		t.Fatalf("applying the patch %s: %v", resp.Patch, err)
	}
	got := &corev1.Pod{}
	if err := json.Unmarshal(patched, got); err != nil {
		t.Fatal(err)
	}

	want := pod.DeepCopy()
	want.Namespace = benchNamespace // what the API server's request carries
	if err := placeTyped(context.Background(), handler.placement, want); err != nil {
		t.Fatal(err)
	}
	want.Namespace = pod.Namespace
	if !equality.Semantic.DeepEqual(got, want) {
		t.Fatalf("the patched pod differs from Default's (patch %s):\n%s", resp.Patch, diff.Diff(want, got))
	}
	if got.Annotations[v1alpha1.StoresAnnotation] == "" {
		t.Fatalf("the pod was not placed: %v", got.Annotations)
	}
}

// TestPodPlacementUngoverned: a pod no store selects, and one an exception covers, are admitted
// without a patch.
func TestPodPlacementUngoverned(t *testing.T) {
	handler := &podReviewHandler{placement: &PodPlacement{Reader: newListReader(benchObjects()), Now: time.Now}}
	for name, labels := range map[string]map[string]string{
		"no store selects it":      {"app.kubernetes.io/name": "storefront"},
		"an exception covers it":   {"app.kubernetes.io/name": "customer-db", "job-name": "legal-hold-export"},
		"only an Audit store does": {"app.kubernetes.io/name": "access-logs"},
	} {
		t.Run(name, func(t *testing.T) {
			pod := benchPod()
			pod.Labels = labels
			resp := serveReview(t, handler, "application/json", benchReview(t, benchRequest(t, pod)))
			if !resp.Allowed || resp.Patch != nil || resp.PatchType != nil {
				t.Fatalf("want allowed without a patch, got %+v (patch %s)", resp, resp.Patch)
			}
		})
	}
}

// TestPodReviewNotCreate: the webhooks are registered for CREATE only; anything else is allowed
// unchanged rather than placed twice.
func TestPodReviewNotCreate(t *testing.T) {
	reader := newListReader(benchObjects())
	for _, h := range []*podReviewHandler{
		{placement: &PodPlacement{Reader: reader, Now: time.Now}},
		{residency: &PodResidency{Reader: reader, Now: time.Now}},
	} {
		pod := benchPod()
		pod.Spec.NodeName = "node-003" // outside: a CREATE would be denied
		req := benchRequest(t, pod)
		req.Operation = admissionv1.Update
		resp := serveReview(t, h, "application/json", benchReview(t, req))
		if !resp.Allowed || resp.Patch != nil {
			t.Fatalf("want an UPDATE allowed as it is, got %+v", resp)
		}
	}
}

// failingReader is a cache that cannot be read.
type failingReader struct{ client.Reader }

func (failingReader) List(context.Context, client.ObjectList, ...client.ListOption) error {
	return errors.New("the cache is not synced")
}

// TestPodReviewCacheError: when the policy cannot be read, both webhooks refuse with a 500.
func TestPodReviewCacheError(t *testing.T) {
	for _, h := range []*podReviewHandler{
		{placement: &PodPlacement{Reader: failingReader{}, Now: time.Now}},
		{residency: &PodResidency{Reader: failingReader{}, Now: time.Now}},
	} {
		resp := serveReview(t, h, "application/json", benchReview(t, benchRequest(t, benchPod())))
		if resp.Allowed || resp.Result == nil || resp.Result.Code != http.StatusInternalServerError ||
			!strings.Contains(resp.Result.Message, "the cache is not synced") {
			t.Fatalf("want a 500 naming the cause, got %+v", resp.Result)
		}
	}
}

// TestPolicyLeavesCacheAlone: the webhooks list without deep copies, so nothing may write into
// what they list. Decide on every kind of pod, then compare the lists with copies taken before.
func TestPolicyLeavesCacheAlone(t *testing.T) {
	r := newListReader(benchObjects())
	before := &listReader{stores: map[string][]v1alpha1.PersonalDataStore{}, exceptions: map[string][]v1alpha1.ResidencyException{},
		jurisdictions: copyItems(r.jurisdictions, true, (*v1alpha1.Jurisdiction).DeepCopyInto)}
	for ns, items := range r.stores {
		before.stores[ns] = copyItems(items, true, (*v1alpha1.PersonalDataStore).DeepCopyInto)
	}
	for ns, items := range r.exceptions {
		before.exceptions[ns] = copyItems(items, true, (*v1alpha1.ResidencyException).DeepCopyInto)
	}
	for _, tc := range []struct {
		ns       string
		labels   map[string]string
		nodeName string
	}{
		{"shop", map[string]string{"app.kubernetes.io/name": "customer-db"}, ""},
		{"shop", map[string]string{"app.kubernetes.io/name": "customer-db", "team": "analytics"}, ""},
		{"shop", map[string]string{"app.kubernetes.io/name": "customer-db", "job-name": "legal-hold-export"}, ""},
		{"shop", map[string]string{"app.kubernetes.io/name": "access-logs"}, ""},
		{"shop", map[string]string{"app.kubernetes.io/name": "customer-db"}, "node-003"},
		{"team-00", map[string]string{"app": "events"}, "node-004"},
	} {
		pod := benchPod()
		pod.Namespace, pod.Labels, pod.Spec.NodeName = tc.ns, tc.labels, tc.nodeName
		_ = placeTyped(context.Background(), &PodPlacement{Reader: r, Now: time.Now}, pod)
		_, _ = validateTyped(context.Background(), &PodResidency{Reader: r, Now: time.Now}, pod)
	}
	if !equality.Semantic.DeepEqual(r.stores, before.stores) || !equality.Semantic.DeepEqual(r.exceptions, before.exceptions) ||
		!equality.Semantic.DeepEqual(r.jurisdictions, before.jurisdictions) {
		t.Fatal("deciding changed the listed stores, exceptions or Jurisdictions: the informer cache would be corrupted")
	}
}

// TestPodResidencyReview: the validating handler passes denials and warnings through.
func TestPodResidencyReview(t *testing.T) {
	reader := newListReader(benchObjects())
	handler := &podReviewHandler{residency: &PodResidency{Reader: reader, Now: time.Now}}

	pinned := benchPod()
	pinned.Spec.NodeName = "node-003" // us-east-1
	placed := pinned.DeepCopy()
	if err := placeTyped(context.Background(), &PodPlacement{Reader: reader, Now: time.Now}, placed); err != nil {
		t.Fatal(err)
	}
	resp := serveReview(t, handler, "application/json", benchReview(t, benchRequest(t, placed)))
	if resp.Allowed || resp.Result == nil || resp.Result.Code != http.StatusForbidden ||
		!strings.Contains(resp.Result.Message, "customer-db") || !strings.Contains(resp.Result.Message, "node-003") {
		t.Fatalf("want a 403 naming the store and the node, got %+v", resp.Result)
	}

	// A Warn store (team-00/events) with a pod whose own affinity the webhook never saw.
	warned := benchPod()
	warned.Namespace = "team-00"
	warned.Labels = map[string]string{"app": "events"}
	req := benchRequest(t, warned)
	req.Namespace = "team-00"
	resp = serveReview(t, handler, "application/json", benchReview(t, req))
	if !resp.Allowed || len(resp.Warnings) == 0 || !strings.Contains(resp.Warnings[0], "enforcement: Warn") {
		t.Fatalf("want allowed with a Warn warning, got %+v", resp)
	}
}

// TestPodReviewUnreadable: reviews the handler cannot read are refused with 400, never admitted.
func TestPodReviewUnreadable(t *testing.T) {
	handler := &podReviewHandler{placement: &PodPlacement{Reader: newListReader(benchObjects()), Now: time.Now}}
	review := func(object string) []byte {
		return []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u1","operation":"CREATE","namespace":"shop","object":` + object + `}}`)
	}
	for name, tc := range map[string]struct {
		contentType string
		body        []byte
		want        string
		code        int32
	}{
		"not JSON":              {"application/json", []byte(`{"apiVersion":`), "decoding the AdmissionReview", 400},
		"not a JSON object":     {"application/json", []byte(`[]`), "not a JSON object", 400},
		"not JSON content":      {"text/plain", review(`{}`), "want application/json", 400},
		"empty body":            {"application/json", nil, "no body", 400},
		"no request":            {"application/json", []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`), "no request", 400},
		"no object":             {"application/json", review(`null`), "no object", 400},
		"object not an object":  {"application/json", review(`"pod"`), "object: want an object", 400},
		"metadata not object":   {"application/json", review(`{"metadata":[]}`), "metadata: want an object", 400},
		"name not a string":     {"application/json", review(`{"metadata":{"name":7}}`), "name", 400},
		"labels not strings":    {"application/json", review(`{"metadata":{"labels":{"app":1}}}`), "metadata.labels", 400},
		"nodeName not a string": {"application/json", review(`{"spec":{"nodeName":{}}}`), "nodeName", 400},
		"affinity not object":   {"application/json", review(`{"spec":{"affinity":true}}`), "affinity: want an object", 400},
		"terms not a list":      {"application/json", review(`{"spec":{"affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":{}}}}}}`), "nodeSelectorTerms", 400},
		"term not an object":    {"application/json", review(`{"spec":{"affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[1]}}}}}`), "nodeSelectorTerms[0]: want an object", 400},
		"key not a string":      {"application/json", review(`{"spec":{"affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[{"key":1}]}]}}}}}`), "matchExpressions[0].key", 400},
		"values not strings":    {"application/json", review(`{"spec":{"affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"k","operator":"In","values":[1]}]}]}}}}}`), "values", 400},
		"trailing garbage":      {"application/json", append(review(`{}`), " x"...), "decoding the AdmissionReview", 400},
		"larger than 7 MiB":     {"application/json", review(`{"metadata":{"annotations":{"a":"` + strings.Repeat("x", maxReviewBytes) + `"}}}`), "larger than", 413},
	} {
		t.Run(name, func(t *testing.T) {
			resp := serveReview(t, handler, tc.contentType, tc.body)
			if resp.Allowed || resp.Result == nil || resp.Result.Code != tc.code || !strings.Contains(resp.Result.Message, tc.want) {
				t.Fatalf("want a %d mentioning %q, got %+v", tc.code, tc.want, resp.Result)
			}
			// Refusals of reviews read far enough to have a UID name their request.
			readable := bytes.Contains(tc.body, []byte(`"uid":"u1"`)) && tc.contentType == "application/json" &&
				!strings.Contains(resp.Result.Message, "decoding the AdmissionReview:")
			if readable && resp.UID != "u1" {
				t.Fatalf("the refusal names request %q, want u1", resp.UID)
			}
		})
	}
}

// placeTyped runs PodPlacement.Place on a typed pod and applies what it decides to the pod, as the
// JSON patch of the review does.
func placeTyped(ctx context.Context, p *PodPlacement, pod *corev1.Pod) error {
	facts := engine.FactsOf(pod.Labels, &pod.Spec)
	set, err := p.Place(ctx, pod.Namespace, cmp.Or(pod.Name, pod.GenerateName), &facts)
	if err != nil {
		return err
	}
	pod.Spec.Affinity = facts.Affinity
	for k, v := range set {
		if pod.Annotations == nil {
			pod.Annotations = map[string]string{}
		}
		pod.Annotations[k] = v
	}
	return nil
}

// validateTyped runs PodResidency.Validate on a typed pod.
func validateTyped(ctx context.Context, v *PodResidency, pod *corev1.Pod) (admission.Warnings, error) {
	facts := engine.FactsOf(pod.Labels, &pod.Spec)
	return v.Validate(ctx, pod.Namespace, cmp.Or(pod.Name, pod.GenerateName), &facts)
}
