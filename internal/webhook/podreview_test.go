package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	jsonpatch "github.com/evanphx/json-patch/v5"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/util/diff"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
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
			resp := serveReview(t, handler, "application/json", benchReview(t, benchRequest(t, pod)))
			if !resp.Allowed || resp.PatchType == nil || *resp.PatchType != admissionv1.PatchTypeJSONPatch {
				t.Fatalf("want an allowed response with a JSON patch, got %+v", resp)
			}
			if resp.UID != "705ab4f5-6393-11e8-b7cc-42010a800002" {
				t.Fatalf("the response names request %q", resp.UID)
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
			if err := (&PodPlacement{Reader: reader, Now: now}).Default(context.Background(), want); err != nil {
				t.Fatal(err)
			}
			want.Namespace = pod.Namespace
			if !equality.Semantic.DeepEqual(got, want) {
				t.Fatalf("the patched pod differs from Default's (patch %s):\n%s", resp.Patch, diff.Diff(want, got))
			}
		})
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

// TestPodResidencyReview: the validating handler passes denials and warnings through.
func TestPodResidencyReview(t *testing.T) {
	reader := newListReader(benchObjects())
	handler := &podReviewHandler{residency: &PodResidency{Reader: reader, Now: time.Now}}

	pinned := benchPod()
	pinned.Spec.NodeName = "node-003" // us-east-1
	placed := pinned.DeepCopy()
	if err := (&PodPlacement{Reader: reader, Now: time.Now}).Default(context.Background(), placed); err != nil {
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
	}{
		"not JSON":           {"application/json", []byte(`{"apiVersion":`), "decoding the AdmissionReview"},
		"not JSON content":   {"text/plain", review(`{}`), "want application/json"},
		"empty body":         {"application/json", nil, "no body"},
		"no request":         {"application/json", []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`), "no request"},
		"no object":          {"application/json", review(`null`), "no object"},
		"labels not strings": {"application/json", review(`{"metadata":{"labels":{"app":1}}}`), "metadata.labels"},
		"terms not a list":   {"application/json", review(`{"spec":{"affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":{}}}}}}`), "nodeSelectorTerms"},
		"values not strings": {"application/json", review(`{"spec":{"affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"k","operator":"In","values":[1]}]}]}}}}}`), "values"},
		"trailing garbage":   {"application/json", append(review(`{}`), " x"...), "decoding the AdmissionReview"},
	} {
		t.Run(name, func(t *testing.T) {
			resp := serveReview(t, handler, tc.contentType, tc.body)
			if resp.Allowed || resp.Result == nil || resp.Result.Code != http.StatusBadRequest || !strings.Contains(resp.Result.Message, tc.want) {
				t.Fatalf("want a 400 mentioning %q, got %+v", tc.want, resp.Result)
			}
		})
	}
}
