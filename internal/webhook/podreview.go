package webhook

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"runtime/debug"
	"sync"

	"github.com/valyala/fastjson"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
	"github.com/residency-operator/residency-operator/internal/engine"
)

// The pod webhooks answer AdmissionReviews themselves instead of through controller-runtime's
// admission.Webhook. Every governed pod costs the API server two webhook calls, so their cost is
// the operator's cost on the pod-creation path: the generic codec decodes the whole review and pod
// with encoding/json (validating the JSON, then decoding, then once more for the typed handler),
// which was three quarters of a review. Placement reads a handful of fields; one pass of a fast
// parser that keeps only those is enough. Routing, TLS and the controller_runtime_webhook_*
// metrics stay controller-runtime's (the webhook server instruments every handler registered).

const (
	// maxReviewBytes bounds a review's body, as controller-runtime does (etcd's limit plus room).
	maxReviewBytes = 7 * 1024 * 1024
	// maxPooledBytes: buffers and parsers that served a larger review are dropped rather than
	// pooled, so that one huge pod does not pin megabytes per concurrent request.
	maxPooledBytes = 1 << 20
)

var (
	podReviewLog  = logf.Log.WithName("pod-webhook")
	reviewParsers fastjson.ParserPool
	reviewBodies  = sync.Pool{New: func() any { return new(bytes.Buffer) }}
)

// podReview is what the pod webhooks read of an AdmissionReview: the request's identity, the pod's
// name, namespace and annotations, and the placement facts the engine reads (engine.PodFacts).
type podReview struct {
	apiVersion, kind string
	uid              types.UID
	operation        admissionv1.Operation
	// name is the pod's name, or its generateName; namespace the request's.
	name, namespace string
	annotations     map[string]string
	pod             engine.PodFacts
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
	defer func() {
		if body.Cap() <= maxPooledBytes {
			reviewBodies.Put(body)
		}
	}()

	rev := &podReview{apiVersion: admissionv1.SchemeGroupVersion.String(), kind: "AdmissionReview"}
	resp := h.review(r, rev, body)
	resp.UID = rev.uid
	if resp.Result != nil && resp.Result.Code >= http.StatusBadRequest && resp.Result.Code != http.StatusForbidden {
		podReviewLog.Error(errors.New(resp.Result.Message), "pod admission review failed", "code", resp.Result.Code, "uid", rev.uid, "path", r.URL.Path)
	}
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

// review reads and decides one review. A panic is answered with a 500 (refused, since the
// webhooks fail closed) rather than a dropped connection, as controller-runtime does.
func (h *podReviewHandler) review(r *http.Request, rev *podReview, body *bytes.Buffer) (resp admissionv1.AdmissionResponse) {
	defer func() {
		if p := recover(); p != nil {
			podReviewLog.Error(fmt.Errorf("%v", p), "panic in the pod webhook", "stack", string(debug.Stack()))
			resp = errored(http.StatusInternalServerError, fmt.Errorf("internal error: %v", p))
		}
	}()
	if code, err := readReview(r, body); err != nil {
		return errored(code, err)
	}
	if err := rev.parse(body.Bytes()); err != nil {
		return errored(http.StatusBadRequest, err)
	}
	if h.placement != nil {
		return h.placement.admit(r.Context(), rev)
	}
	return h.residency.admit(r.Context(), rev)
}

// readReview reads the body of an AdmissionReview request into body; on failure it returns the
// HTTP status that says why.
func readReview(r *http.Request, body *bytes.Buffer) (int32, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return http.StatusBadRequest, errors.New("the request has no body")
	}
	defer func() { _ = r.Body.Close() }()
	if ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || ct != "application/json" {
		return http.StatusBadRequest, fmt.Errorf("content type %q: want application/json", r.Header.Get("Content-Type"))
	}
	if _, err := body.ReadFrom(io.LimitReader(r.Body, maxReviewBytes+1)); err != nil {
		return http.StatusBadRequest, fmt.Errorf("reading the request: %w", err)
	}
	switch {
	case body.Len() == 0:
		return http.StatusBadRequest, errors.New("the request has no body")
	case body.Len() > maxReviewBytes:
		return http.StatusRequestEntityTooLarge, fmt.Errorf("the request is larger than %d bytes", maxReviewBytes)
	}
	return 0, nil
}

// parse reads an AdmissionReview of a pod. It fails on malformed JSON and on fields of the
// wrong type, so a review it cannot read is refused rather than admitted unexamined.
func (rev *podReview) parse(body []byte) (err error) {
	p := reviewParsers.Get()
	defer func() {
		if len(body) <= maxPooledBytes {
			reviewParsers.Put(p)
		}
	}()
	root, err := p.ParseBytes(body)
	if err != nil {
		return fmt.Errorf("decoding the AdmissionReview: %w", err)
	}
	if root.Type() != fastjson.TypeObject {
		return errors.New("decoding the AdmissionReview: not a JSON object")
	}
	if rev.apiVersion, err = str(root, "apiVersion", rev.apiVersion); err != nil {
		return err
	}
	req, err := object(root, "request")
	if err != nil || req == nil {
		return errors.Join(errors.New("decoding the AdmissionReview: it has no request"), err)
	}
	// The UID first: even a refusal must name the request it answers.
	uid, err := str(req, "uid", "")
	if err != nil {
		return err
	}
	rev.uid = types.UID(uid)
	operation, err := str(req, "operation", "")
	if err != nil {
		return err
	}
	rev.operation = admissionv1.Operation(operation)
	obj, err := object(req, "object")
	if err != nil || obj == nil {
		return errors.Join(errors.New("decoding the AdmissionReview: the request has no object"), err)
	}

	pod := &rev.pod
	meta, err := object(obj, "metadata")
	if err != nil {
		return fmt.Errorf("decoding the pod: %w", err)
	}
	if meta != nil {
		name, errName := str(meta, "name", "")
		generateName, errGenerateName := str(meta, "generateName", "")
		namespace, errNamespace := str(meta, "namespace", "")
		if err := errors.Join(errName, errGenerateName, errNamespace); err != nil {
			return fmt.Errorf("decoding the pod's metadata: %w", err)
		}
		rev.name, rev.namespace = cmp.Or(name, generateName), namespace
		if pod.Labels, err = stringMap(meta.Get("labels")); err != nil {
			return fmt.Errorf("decoding the pod's metadata.labels: %w", err)
		}
		if rev.annotations, err = stringMap(meta.Get("annotations")); err != nil {
			return fmt.Errorf("decoding the pod's metadata.annotations: %w", err)
		}
	}
	// Pods created by controllers reach the webhook without metadata.namespace.
	if rev.namespace, err = str(req, "namespace", rev.namespace); err != nil {
		return err
	}

	spec, err := object(obj, "spec")
	if err != nil || spec == nil {
		return wrap("decoding the pod", err)
	}
	if pod.NodeName, err = str(spec, "nodeName", ""); err != nil {
		return fmt.Errorf("decoding the pod's spec: %w", err)
	}
	if pod.NodeSelector, err = stringMap(spec.Get("nodeSelector")); err != nil {
		return fmt.Errorf("decoding the pod's spec.nodeSelector: %w", err)
	}
	affinity, err := object(spec, "affinity")
	if rev.hasAffinity = affinity != nil; err != nil || !rev.hasAffinity {
		return wrap("decoding the pod's spec", err)
	}
	nodeAffinity, err := object(affinity, "nodeAffinity")
	if rev.hasNodeAffinity = nodeAffinity != nil; err != nil || !rev.hasNodeAffinity {
		return wrap("decoding the pod's spec.affinity", err)
	}
	required, err := nodeSelectorFrom(nodeAffinity.Get("requiredDuringSchedulingIgnoredDuringExecution"))
	if err != nil {
		return fmt.Errorf("decoding the pod's spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution: %w", err)
	}
	pod.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: required}}
	return nil
}

func wrap(context string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", context, err)
}

func present(v *fastjson.Value) bool { return v != nil && v.Type() != fastjson.TypeNull }

// str returns the string member key of v, or def when it is absent or null.
func str(v *fastjson.Value, key, def string) (string, error) {
	m := v.Get(key)
	if !present(m) {
		return def, nil
	}
	b, err := m.StringBytes()
	if err != nil {
		return "", fmt.Errorf("%s: %w", key, err)
	}
	return string(b), nil
}

// object returns the object member key of v, or nil when it is absent or null.
func object(v *fastjson.Value, key string) (*fastjson.Value, error) {
	m := v.Get(key)
	if !present(m) {
		return nil, nil
	}
	if m.Type() != fastjson.TypeObject {
		return nil, fmt.Errorf("%s: want an object, got %s", key, m.Type())
	}
	return m, nil
}

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
	if v.Type() != fastjson.TypeObject {
		return nil, fmt.Errorf("want an object, got %s", v.Type())
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
		if t.Type() != fastjson.TypeObject {
			return nil, fmt.Errorf("nodeSelectorTerms[%d]: want an object, got %s", i, t.Type())
		}
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
		if r.Type() != fastjson.TypeObject {
			return nil, fmt.Errorf("[%d]: want an object, got %s", i, r.Type())
		}
		key, err := str(r, "key", "")
		if err != nil {
			return nil, fmt.Errorf("[%d].%w", i, err)
		}
		operator, err := str(r, "operator", "")
		if err != nil {
			return nil, fmt.Errorf("[%d].%w", i, err)
		}
		out[i].Key, out[i].Operator = key, corev1.NodeSelectorOperator(operator)
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
	original := requiredOf(pod.Affinity)
	set, err := p.Place(ctx, rev.namespace, rev.name, pod)
	if err != nil {
		return denied(err)
	}
	var patch []patchOperation
	if required := requiredOf(pod.Affinity); !equality.Semantic.DeepEqual(required, original) {
		switch {
		case !rev.hasAffinity:
			patch = append(patch, patchOperation{"add", "/spec/affinity", pod.Affinity})
		case !rev.hasNodeAffinity:
			patch = append(patch, patchOperation{"add", "/spec/affinity/nodeAffinity", pod.Affinity.NodeAffinity})
		default: // "add" replaces an existing member (RFC 6902, 4.1)
			patch = append(patch, patchOperation{"add", "/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution", required})
		}
	}
	added := map[string]string{}
	for _, key := range []string{v1alpha1.StoresAnnotation, v1alpha1.AllowedJurisdictionsAnnotation} {
		if value, ok := set[key]; ok && rev.annotations[key] != value {
			added[key] = value
		}
	}
	if len(added) > 0 && rev.annotations == nil {
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
	warnings, err := v.Validate(ctx, rev.namespace, rev.name, &rev.pod)
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

func requiredOf(a *corev1.Affinity) *corev1.NodeSelector {
	if a != nil && a.NodeAffinity != nil {
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
