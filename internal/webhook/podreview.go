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
// which was three quarters of a review. Placement reads a handful of fields; one pass of a
// scanner that decodes only those is enough (jsonscan.go). A large review is pruned to them as it
// is read (jsonprune.go), so that it costs what placement reads of it, not what the pod holds.
// Routing, TLS and the controller_runtime_webhook_* metrics stay controller-runtime's (the
// webhook server instruments every handler registered).

const (
	// maxReviewBytes bounds a review's body, as controller-runtime does (etcd's limit plus room).
	maxReviewBytes = 7 * 1024 * 1024
	// maxPooledBytes: buffers and parsers that served a larger review are dropped rather than
	// pooled, so that one huge pod does not pin megabytes per concurrent request.
	maxPooledBytes = 1 << 20
	// smallReviewBytes: reviews up to this size (pods are a few KiB) are read whole, the fastest
	// way; larger ones are pruned as they are read (jsonprune.go). Fifty small ones hold 3 MiB.
	smallReviewBytes = 64 << 10
)

var (
	podReviewLog  = logf.Log.WithName("pod-webhook")
	reviewParsers fastjson.ParserPool
	reviewBodies  = sync.Pool{New: func() any { return new(bytes.Buffer) }}

	errReviewTooLarge = fmt.Errorf("the request is larger than %d bytes", maxReviewBytes)
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
	resp := h.review(w, r, rev, body)
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
func (h *podReviewHandler) review(w http.ResponseWriter, r *http.Request, rev *podReview, body *bytes.Buffer) (resp admissionv1.AdmissionResponse) {
	defer func() {
		if p := recover(); p != nil {
			podReviewLog.Error(fmt.Errorf("%v", p), "panic in the pod webhook", "stack", string(debug.Stack()))
			resp = errored(http.StatusInternalServerError, fmt.Errorf("internal error: %v", p))
		}
	}()
	held, uid, code, err := readReview(w, r, body)
	if held > 0 {
		defer largeRetained.Add(-held)
	}
	if err != nil {
		rev.uid = types.UID(uid)
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

// readReview reads the body of an AdmissionReview request into body: whole when it is small, else
// pruned to what parse reads (pruneReview), returning what that holds of largeRetainedBytes for
// the caller to release once done with the review. On failure it returns the HTTP status that
// says why, and the request's UID if it was read.
func readReview(w http.ResponseWriter, r *http.Request, body *bytes.Buffer) (held int64, uid string, code int32, err error) {
	if r.Body == nil || r.Body == http.NoBody {
		return 0, "", http.StatusBadRequest, errors.New("the request has no body")
	}
	defer func() { _ = r.Body.Close() }()
	if ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || ct != "application/json" {
		return 0, "", http.StatusBadRequest, fmt.Errorf("content type %q: want application/json", r.Header.Get("Content-Type"))
	}
	if r.ContentLength > maxReviewBytes {
		// Refused unread but for its start, which names the request: the API server passes the
		// reason on only with the request's UID.
		held, uid, _ := pruneReview(io.LimitReader(r.Body, 4<<10), body)
		largeRetained.Add(-held)
		body.Reset()
		return 0, uid, http.StatusRequestEntityTooLarge, errReviewTooLarge
	}
	in := http.MaxBytesReader(w, r.Body, maxReviewBytes)
	if r.ContentLength >= 0 && r.ContentLength <= smallReviewBytes {
		if _, err := body.ReadFrom(in); err != nil {
			code, err := readFailure(err)
			return 0, "", code, err
		}
		if body.Len() == 0 {
			return 0, "", http.StatusBadRequest, errors.New("the request has no body")
		}
		return 0, "", 0, nil
	}
	held, uid, err = pruneReview(in, body)
	var failed readError
	switch {
	case err == nil:
		return held, uid, 0, nil
	case errors.As(err, &failed):
		code, err := readFailure(failed.error)
		return held, uid, code, err
	case errors.Is(err, errRetainedBusy):
		return held, uid, http.StatusTooManyRequests, err
	case errors.Is(err, errEmptyBody):
		return held, uid, http.StatusBadRequest, err
	}
	return held, uid, http.StatusBadRequest, fmt.Errorf("decoding the AdmissionReview: %w", err)
}

func readFailure(err error) (int32, error) {
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return http.StatusRequestEntityTooLarge, errReviewTooLarge
	}
	return http.StatusBadRequest, fmt.Errorf("reading the request: %w", err)
}

// reviewFields are the JSON values (nil when absent) of the members of a review that parse reads:
// the first of each name, as a lookup finds it, except in maps, whose last member of a name
// counts, as in a map decoded.
type reviewFields struct {
	apiVersion, request                []byte
	uid, operation, namespace, object  []byte
	metadata, spec                     []byte
	name, generateName, podNamespace   []byte
	labels, annotations                []byte
	nodeName, nodeSelector, affinity   []byte
	nodeAffinity, requiredNodeAffinity []byte
	// placement are the values of the placement annotations (placementAnnotations), the only
	// ones admit reads; annotationsErr the first annotation that is not a string.
	placement      [2][]byte
	annotationsErr error
}

var placementAnnotations = [2]string{v1alpha1.StoresAnnotation, v1alpha1.AllowedJurisdictionsAnnotation}

// scan finds the fields in an AdmissionReview, checking the syntax of the whole review and
// reading nothing else of it.
func (f *reviewFields) scan(body []byte) error {
	s := skipWS(body)
	var err error
	if len(s) > 0 && s[0] == '{' {
		s, err = scanObject(s, 1, func(key, s []byte) ([]byte, error) {
			switch {
			case f.apiVersion == nil && keyIs(key, "apiVersion"):
				return member(s, 2, &f.apiVersion, nil)
			case f.request == nil && keyIs(key, "request"):
				return member(s, 2, &f.request, f.scanRequest)
			}
			return scanValue(s, 2)
		})
	} else {
		s, err = scanValue(s, 1)
	}
	if err != nil {
		return err
	}
	if s = skipWS(s); len(s) > 0 {
		return fmt.Errorf("unexpected tail: %.20q", s)
	}
	return nil
}

func (f *reviewFields) scanRequest(key, s []byte) ([]byte, error) {
	switch {
	case f.uid == nil && keyIs(key, "uid"):
		return member(s, 3, &f.uid, nil)
	case f.operation == nil && keyIs(key, "operation"):
		return member(s, 3, &f.operation, nil)
	case f.namespace == nil && keyIs(key, "namespace"):
		return member(s, 3, &f.namespace, nil)
	case f.object == nil && keyIs(key, "object"):
		return member(s, 3, &f.object, f.scanPod)
	}
	return scanValue(s, 3)
}

func (f *reviewFields) scanPod(key, s []byte) ([]byte, error) {
	switch {
	case f.metadata == nil && keyIs(key, "metadata"):
		return member(s, 4, &f.metadata, f.scanMetadata)
	case f.spec == nil && keyIs(key, "spec"):
		return member(s, 4, &f.spec, f.scanSpec)
	}
	return scanValue(s, 4)
}

func (f *reviewFields) scanMetadata(key, s []byte) ([]byte, error) {
	switch {
	case f.name == nil && keyIs(key, "name"):
		return member(s, 5, &f.name, nil)
	case f.generateName == nil && keyIs(key, "generateName"):
		return member(s, 5, &f.generateName, nil)
	case f.podNamespace == nil && keyIs(key, "namespace"):
		return member(s, 5, &f.podNamespace, nil)
	case f.labels == nil && keyIs(key, "labels"):
		return member(s, 5, &f.labels, nil)
	case f.annotations == nil && keyIs(key, "annotations"):
		return member(s, 5, &f.annotations, f.scanAnnotation)
	}
	return scanValue(s, 5)
}

// scanAnnotation keeps the placement annotations. The others are skipped, not decoded: a pod may
// carry hundreds of KiB of them.
func (f *reviewFields) scanAnnotation(key, s []byte) ([]byte, error) {
	if len(s) > 0 && s[0] != '"' && f.annotationsErr == nil {
		tail, err := scanValue(s, 6)
		if err == nil {
			f.annotationsErr = fmt.Errorf("%s: value doesn't contain string; it contains %s", unquote(key), jsonType(s[:len(s)-len(tail)]))
		}
		return tail, err
	}
	for i, name := range placementAnnotations {
		if keyIs(key, name) {
			return member(s, 6, &f.placement[i], nil)
		}
	}
	return scanValue(s, 6)
}

func (f *reviewFields) scanSpec(key, s []byte) ([]byte, error) {
	switch {
	case f.nodeName == nil && keyIs(key, "nodeName"):
		return member(s, 5, &f.nodeName, nil)
	case f.nodeSelector == nil && keyIs(key, "nodeSelector"):
		return member(s, 5, &f.nodeSelector, nil)
	case f.affinity == nil && keyIs(key, "affinity"):
		return member(s, 5, &f.affinity, func(key, s []byte) ([]byte, error) {
			if f.nodeAffinity == nil && keyIs(key, "nodeAffinity") {
				return member(s, 6, &f.nodeAffinity, func(key, s []byte) ([]byte, error) {
					if f.requiredNodeAffinity == nil && keyIs(key, "requiredDuringSchedulingIgnoredDuringExecution") {
						return member(s, 7, &f.requiredNodeAffinity, nil)
					}
					return scanValue(s, 7)
				})
			}
			return scanValue(s, 6)
		})
	}
	return scanValue(s, 5)
}

// parse reads an AdmissionReview of a pod. It fails on malformed JSON and on fields of the
// wrong type, so a review it cannot read is refused rather than admitted unexamined.
func (rev *podReview) parse(body []byte) (err error) {
	var f reviewFields
	if err := f.scan(body); err != nil {
		return fmt.Errorf("decoding the AdmissionReview: %w", err)
	}
	if s := skipWS(body); s[0] != '{' {
		return errors.New("decoding the AdmissionReview: not a JSON object")
	}
	if rev.apiVersion, err = str(f.apiVersion, "apiVersion", rev.apiVersion); err != nil {
		return err
	}
	req, err := object(f.request, "request")
	if err != nil || req == nil {
		return errors.Join(errors.New("decoding the AdmissionReview: it has no request"), err)
	}
	// The UID first: even a refusal must name the request it answers.
	uid, err := str(f.uid, "uid", "")
	if err != nil {
		return err
	}
	rev.uid = types.UID(uid)
	operation, err := str(f.operation, "operation", "")
	if err != nil {
		return err
	}
	rev.operation = admissionv1.Operation(operation)
	obj, err := object(f.object, "object")
	if err != nil || obj == nil {
		return errors.Join(errors.New("decoding the AdmissionReview: the request has no object"), err)
	}

	pod := &rev.pod
	meta, err := object(f.metadata, "metadata")
	if err != nil {
		return fmt.Errorf("decoding the pod: %w", err)
	}
	if meta != nil {
		name, errName := str(f.name, "name", "")
		generateName, errGenerateName := str(f.generateName, "generateName", "")
		namespace, errNamespace := str(f.podNamespace, "namespace", "")
		if err := errors.Join(errName, errGenerateName, errNamespace); err != nil {
			return fmt.Errorf("decoding the pod's metadata: %w", err)
		}
		rev.name, rev.namespace = cmp.Or(name, generateName), namespace
		if pod.Labels, err = stringMap(f.labels); err != nil {
			return fmt.Errorf("decoding the pod's metadata.labels: %w", err)
		}
		if rev.annotations, err = f.placementAnnotations(); err != nil {
			return fmt.Errorf("decoding the pod's metadata.annotations: %w", err)
		}
	}
	// Pods created by controllers reach the webhook without metadata.namespace.
	if rev.namespace, err = str(f.namespace, "namespace", rev.namespace); err != nil {
		return err
	}

	spec, err := object(f.spec, "spec")
	if err != nil || spec == nil {
		return wrap("decoding the pod", err)
	}
	if pod.NodeName, err = str(f.nodeName, "nodeName", ""); err != nil {
		return fmt.Errorf("decoding the pod's spec: %w", err)
	}
	if pod.NodeSelector, err = stringMap(f.nodeSelector); err != nil {
		return fmt.Errorf("decoding the pod's spec.nodeSelector: %w", err)
	}
	affinity, err := object(f.affinity, "affinity")
	if rev.hasAffinity = affinity != nil; err != nil || !rev.hasAffinity {
		return wrap("decoding the pod's spec", err)
	}
	nodeAffinity, err := object(f.nodeAffinity, "nodeAffinity")
	if rev.hasNodeAffinity = nodeAffinity != nil; err != nil || !rev.hasNodeAffinity {
		return wrap("decoding the pod's spec.affinity", err)
	}
	required, err := parseNodeSelector(f.requiredNodeAffinity)
	if err != nil {
		return fmt.Errorf("decoding the pod's spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution: %w", err)
	}
	pod.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: required}}
	return nil
}

// placementAnnotations returns the pod's placement annotations: nil when it has no annotations,
// else a map of those it has. admit reads no others.
func (f *reviewFields) placementAnnotations() (map[string]string, error) {
	if !jsonPresent(f.annotations) {
		return nil, nil
	}
	if f.annotations[0] != '{' {
		return nil, fmt.Errorf("value doesn't contain object; it contains %s", jsonType(f.annotations))
	}
	if f.annotationsErr != nil {
		return nil, f.annotationsErr
	}
	m := make(map[string]string, len(f.placement))
	for i, raw := range f.placement {
		if raw != nil {
			m[placementAnnotations[i]] = unquote(raw)
		}
	}
	return m, nil
}

func wrap(context string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", context, err)
}

// str returns the string raw (a member key's value), or def when it is absent or null.
func str(raw []byte, key, def string) (string, error) {
	if !jsonPresent(raw) {
		return def, nil
	}
	if raw[0] != '"' {
		return "", fmt.Errorf("%s: value doesn't contain string; it contains %s", key, jsonType(raw))
	}
	return unquote(raw), nil
}

// object returns the object raw (a member key's value), or nil when it is absent or null.
func object(raw []byte, key string) ([]byte, error) {
	if !jsonPresent(raw) {
		return nil, nil
	}
	if raw[0] != '{' {
		return nil, fmt.Errorf("%s: want an object, got %s", key, jsonType(raw))
	}
	return raw, nil
}

// stringMap decodes raw, an object of strings (checked by scan).
func stringMap(raw []byte) (map[string]string, error) {
	if !jsonPresent(raw) {
		return nil, nil
	}
	if raw[0] != '{' {
		return nil, fmt.Errorf("value doesn't contain object; it contains %s", jsonType(raw))
	}
	n := 0
	if _, err := scanObject(raw, 1, func(_, s []byte) ([]byte, error) { n++; return scanValue(s, 2) }); err != nil {
		return nil, err
	}
	m := make(map[string]string, n)
	var err error
	_, scanErr := scanObject(raw, 1, func(key, s []byte) ([]byte, error) {
		if s[0] != '"' {
			tail, e := scanValue(s, 2)
			if e == nil && err == nil {
				err = fmt.Errorf("%s: value doesn't contain string; it contains %s", unquote(key), jsonType(s[:len(s)-len(tail)]))
			}
			return tail, e
		}
		value, tail, e := scanString(s)
		if e == nil {
			m[unquote(key)] = unquote(value)
		}
		return tail, e
	})
	return m, cmp.Or(scanErr, err)
}

// parseNodeSelector decodes the pod's required node affinity, which fastjson parses: it is small,
// and decoded whole.
func parseNodeSelector(raw []byte) (*corev1.NodeSelector, error) {
	if !jsonPresent(raw) {
		return nil, nil
	}
	p := reviewParsers.Get()
	defer func() {
		if len(raw) <= maxPooledBytes {
			reviewParsers.Put(p)
		}
	}()
	v, err := p.ParseBytes(raw)
	if err != nil {
		return nil, err
	}
	return nodeSelectorFrom(v)
}

func present(v *fastjson.Value) bool { return v != nil && v.Type() != fastjson.TypeNull }

// fieldString returns the string member key of v, or def when it is absent or null.
func fieldString(v *fastjson.Value, key, def string) (string, error) {
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
		key, err := fieldString(r, "key", "")
		if err != nil {
			return nil, fmt.Errorf("[%d].%w", i, err)
		}
		operator, err := fieldString(r, "operator", "")
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
