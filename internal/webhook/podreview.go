package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"sync"

	"github.com/valyala/fastjson"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
)

// The pod webhooks answer AdmissionReviews themselves instead of through controller-runtime's
// admission.Webhook. Every governed pod costs the API server two webhook calls, so their cost is
// the operator's cost on the pod-creation path: the generic codec decodes the whole review and pod
// with encoding/json (validating the JSON, then decoding, then once more for the typed handler),
// which was three quarters of a review. Placement reads a handful of fields; one pass of a fast
// parser that keeps only those is enough. Routing, TLS and the controller_runtime_webhook_*
// metrics stay controller-runtime's (the webhook server instruments every handler registered).

// maxReviewBytes bounds a review's body, as controller-runtime does (etcd's limit plus room).
const maxReviewBytes = 7 * 1024 * 1024

var (
	reviewParsers fastjson.ParserPool
	reviewBodies  = sync.Pool{New: func() any { return new(bytes.Buffer) }}
)

// podReview is what the pod webhooks read of an AdmissionReview: the request's identity and a
// stand-in pod holding the pod's metadata, nodeName and required node affinity, which is all
// the engine looks at.
type podReview struct {
	apiVersion, kind string
	uid              types.UID
	operation        admissionv1.Operation
	pod              corev1.Pod
	// hasAffinity and hasNodeAffinity say which of spec.affinity and spec.affinity.nodeAffinity
	// exist (and are not null), which decides where a JSON patch may add the required terms.
	hasAffinity, hasNodeAffinity bool
}

// podReviewHandler serves one pod webhook: mutate (PodPlacement) or validate (PodResidency).
type podReviewHandler struct {
	placement *PodPlacement
	residency *PodResidency
}

func (h *podReviewHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body := reviewBodies.Get().(*bytes.Buffer)
	body.Reset()
	defer reviewBodies.Put(body)

	rev := &podReview{apiVersion: admissionv1.SchemeGroupVersion.String(), kind: "AdmissionReview"}
	var resp admissionv1.AdmissionResponse
	if err := readReview(r, body); err != nil {
		resp = errored(http.StatusBadRequest, err)
	} else if err := rev.parse(body.Bytes()); err != nil {
		resp = errored(http.StatusBadRequest, err)
	} else if h.placement != nil {
		resp = h.placement.admit(r.Context(), rev)
	} else {
		resp = h.residency.admit(r.Context(), rev)
	}
	resp.UID = rev.uid
	out, err := json.Marshal(struct {
		APIVersion string                         `json:"apiVersion"`
		Kind       string                         `json:"kind"`
		Response   *admissionv1.AdmissionResponse `json:"response"`
	}{rev.apiVersion, rev.kind, &resp})
	if err != nil {
		http.Error(w, fmt.Sprintf("encoding the AdmissionReview response: %v", err), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(out)
}

// readReview reads the body of an AdmissionReview request into body.
func readReview(r *http.Request, body *bytes.Buffer) error {
	if r.Body == nil || r.Body == http.NoBody {
		return errors.New("the request has no body")
	}
	defer r.Body.Close()
	if ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || ct != "application/json" {
		return fmt.Errorf("content type %q: want application/json", r.Header.Get("Content-Type"))
	}
	if _, err := body.ReadFrom(io.LimitReader(r.Body, maxReviewBytes+1)); err != nil {
		return fmt.Errorf("reading the request: %w", err)
	}
	if body.Len() > maxReviewBytes {
		return fmt.Errorf("the request is larger than %d bytes", maxReviewBytes)
	}
	return nil
}

// parse reads an AdmissionReview of a pod. It fails on malformed JSON and on fields of the
// wrong type, so a review it cannot read is refused rather than admitted unexamined.
func (rev *podReview) parse(body []byte) error {
	p := reviewParsers.Get()
	defer reviewParsers.Put(p)
	root, err := p.ParseBytes(body)
	if err != nil {
		return fmt.Errorf("decoding the AdmissionReview: %w", err)
	}
	if v := root.GetStringBytes("apiVersion"); len(v) > 0 {
		rev.apiVersion = string(v)
	}
	req := root.Get("request")
	if req == nil || req.Type() != fastjson.TypeObject {
		return errors.New("decoding the AdmissionReview: it has no request")
	}
	rev.uid = types.UID(req.GetStringBytes("uid"))
	rev.operation = admissionv1.Operation(req.GetStringBytes("operation"))
	obj := req.Get("object")
	if obj == nil || obj.Type() != fastjson.TypeObject {
		return errors.New("decoding the AdmissionReview: the request has no object")
	}
	pod := &rev.pod
	meta := obj.Get("metadata")
	if present(meta) {
		pod.Name = string(meta.GetStringBytes("name"))
		pod.GenerateName = string(meta.GetStringBytes("generateName"))
		pod.Namespace = string(meta.GetStringBytes("namespace"))
		if pod.Labels, err = stringMap(meta.Get("labels")); err != nil {
			return fmt.Errorf("decoding the pod's metadata.labels: %w", err)
		}
		if pod.Annotations, err = stringMap(meta.Get("annotations")); err != nil {
			return fmt.Errorf("decoding the pod's metadata.annotations: %w", err)
		}
	}
	// Pods created by controllers reach the webhook without metadata.namespace.
	if ns := req.GetStringBytes("namespace"); len(ns) > 0 {
		pod.Namespace = string(ns)
	}
	spec := obj.Get("spec")
	if !present(spec) {
		return nil
	}
	pod.Spec.NodeName = string(spec.GetStringBytes("nodeName"))
	affinity := spec.Get("affinity")
	if rev.hasAffinity = present(affinity); !rev.hasAffinity {
		return nil
	}
	nodeAffinity := affinity.Get("nodeAffinity")
	if rev.hasNodeAffinity = present(nodeAffinity); !rev.hasNodeAffinity {
		return nil
	}
	required, err := nodeSelectorFrom(nodeAffinity.Get("requiredDuringSchedulingIgnoredDuringExecution"))
	if err != nil {
		return fmt.Errorf("decoding the pod's spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution: %w", err)
	}
	pod.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: required}}
	return nil
}

func present(v *fastjson.Value) bool { return v != nil && v.Type() != fastjson.TypeNull }

func stringMap(v *fastjson.Value) (map[string]string, error) {
	if !present(v) {
		return nil, nil
	}
	o, err := v.Object()
	if err != nil {
		return nil, err
	}
	m := make(map[string]string, o.Len())
	o.Visit(func(key []byte, v *fastjson.Value) {
		s, e := v.StringBytes()
		if e != nil && err == nil {
			err = fmt.Errorf("%s: %w", key, e)
		}
		m[string(key)] = string(s)
	})
	return m, err
}

func stringList(v *fastjson.Value) ([]string, error) {
	if !present(v) {
		return nil, nil
	}
	a, err := v.Array()
	if err != nil {
		return nil, err
	}
	out := make([]string, len(a))
	for i, s := range a {
		b, err := s.StringBytes()
		if err != nil {
			return nil, fmt.Errorf("[%d]: %w", i, err)
		}
		out[i] = string(b)
	}
	return out, nil
}

func nodeSelectorFrom(v *fastjson.Value) (*corev1.NodeSelector, error) {
	if !present(v) {
		return nil, nil
	}
	terms := v.Get("nodeSelectorTerms")
	if !present(terms) {
		return &corev1.NodeSelector{}, nil
	}
	a, err := terms.Array()
	if err != nil {
		return nil, fmt.Errorf("nodeSelectorTerms: %w", err)
	}
	sel := &corev1.NodeSelector{NodeSelectorTerms: make([]corev1.NodeSelectorTerm, len(a))}
	for i, t := range a {
		term := &sel.NodeSelectorTerms[i]
		if term.MatchExpressions, err = requirementsFrom(t.Get("matchExpressions")); err != nil {
			return nil, fmt.Errorf("nodeSelectorTerms[%d].matchExpressions%w", i, err)
		}
		if term.MatchFields, err = requirementsFrom(t.Get("matchFields")); err != nil {
			return nil, fmt.Errorf("nodeSelectorTerms[%d].matchFields%w", i, err)
		}
	}
	return sel, nil
}

func requirementsFrom(v *fastjson.Value) ([]corev1.NodeSelectorRequirement, error) {
	if !present(v) {
		return nil, nil
	}
	a, err := v.Array()
	if err != nil {
		return nil, fmt.Errorf(": %w", err)
	}
	out := make([]corev1.NodeSelectorRequirement, len(a))
	for i, r := range a {
		out[i].Key = string(r.GetStringBytes("key"))
		out[i].Operator = corev1.NodeSelectorOperator(r.GetStringBytes("operator"))
		if out[i].Values, err = stringList(r.Get("values")); err != nil {
			return nil, fmt.Errorf("[%d].values%w", i, err)
		}
	}
	return out, nil
}

// admit decides a review of the mutating webhook and answers with a JSON patch of the required
// node affinity and the two placement annotations, nothing else.
func (p *PodPlacement) admit(ctx context.Context, rev *podReview) admissionv1.AdmissionResponse {
	if rev.operation != admissionv1.Create {
		return allowed()
	}
	pod := &rev.pod
	original := requiredOf(pod)
	annotations := maps.Clone(pod.Annotations)
	if err := p.Default(ctx, pod); err != nil {
		return denied(err)
	}
	var patch []patchOperation
	if required := requiredOf(pod); !equality.Semantic.DeepEqual(required, original) {
		switch {
		case !rev.hasAffinity:
			patch = append(patch, patchOperation{"add", "/spec/affinity", pod.Spec.Affinity})
		case !rev.hasNodeAffinity:
			patch = append(patch, patchOperation{"add", "/spec/affinity/nodeAffinity", pod.Spec.Affinity.NodeAffinity})
		default: // "add" replaces an existing member (RFC 6902, 4.1)
			patch = append(patch, patchOperation{"add", "/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution", required})
		}
	}
	added := map[string]string{}
	for _, key := range []string{v1alpha1.StoresAnnotation, v1alpha1.AllowedJurisdictionsAnnotation} {
		if value, set := pod.Annotations[key]; set && annotations[key] != value {
			added[key] = value
		}
	}
	if len(added) > 0 && annotations == nil {
		patch = append(patch, patchOperation{"add", "/metadata/annotations", added})
	} else {
		for _, key := range []string{v1alpha1.StoresAnnotation, v1alpha1.AllowedJurisdictionsAnnotation} {
			if value, ok := added[key]; ok {
				patch = append(patch, patchOperation{"add", "/metadata/annotations/" + escapeJSONPointer(key), value})
			}
		}
	}
	if len(patch) == 0 {
		return allowed()
	}
	raw, err := json.Marshal(patch)
	if err != nil {
		return errored(http.StatusInternalServerError, fmt.Errorf("encoding the JSON patch: %w", err))
	}
	resp := allowed()
	resp.Patch = raw
	resp.PatchType = new(admissionv1.PatchTypeJSONPatch)
	return resp
}

// admit decides a review of the validating webhook.
func (v *PodResidency) admit(ctx context.Context, rev *podReview) admissionv1.AdmissionResponse {
	if rev.operation != admissionv1.Create {
		return allowed()
	}
	warnings, err := v.ValidateCreate(ctx, &rev.pod)
	if err != nil {
		resp := denied(err)
		resp.Warnings = warnings
		return resp
	}
	resp := allowed()
	resp.Warnings = warnings
	return resp
}

type patchOperation struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value"`
}

func requiredOf(pod *corev1.Pod) *corev1.NodeSelector {
	if a := pod.Spec.Affinity; a != nil && a.NodeAffinity != nil {
		return a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution
	}
	return nil
}

func allowed() admissionv1.AdmissionResponse {
	return admissionv1.AdmissionResponse{Allowed: true, Result: &metav1.Status{Code: http.StatusOK}}
}

// denied answers with the status an API error carries (403 Forbidden with the reasons, 500 when
// the cache could not be read), or a 403 with the error's message.
func denied(err error) admissionv1.AdmissionResponse {
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		s := status.Status()
		return admissionv1.AdmissionResponse{Allowed: false, Result: &s}
	}
	return admissionv1.AdmissionResponse{Allowed: false, Result: &metav1.Status{
		Status: metav1.StatusFailure, Code: http.StatusForbidden, Reason: metav1.StatusReasonForbidden, Message: err.Error()}}
}

func errored(code int32, err error) admissionv1.AdmissionResponse {
	return admissionv1.AdmissionResponse{Allowed: false, Result: &metav1.Status{Status: metav1.StatusFailure, Code: code, Message: err.Error()}}
}
