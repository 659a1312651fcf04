package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
	"github.com/residency-operator/residency-operator/internal/engine"
)

// +kubebuilder:webhook:path=/mutate-dataresidency-io-v1alpha1-residencyexception,mutating=true,failurePolicy=fail,sideEffects=None,groups=dataresidency.io,resources=residencyexceptions;residencyexceptions/status,verbs=create;update,versions=v1alpha1,name=requests.residencyexceptions.dataresidency.io,admissionReviewVersions=v1,timeoutSeconds=5
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create

// ApproveVerb is the verb on residencyexceptions that lets a user approve or deny one, as
// `approve` on certificatesigningrequests/approval does for certificates.
const ApproveVerb = "approve"

// DefaultMaxExceptionDuration is how long an exception may last unless --max-exception-duration
// says otherwise: long enough for a migration or a legal hold's first phase, short enough that
// a forgotten exception ends on its own.
const DefaultMaxExceptionDuration = 30 * 24 * time.Hour

// ExceptionRequests makes a ResidencyException a request that someone else approves, as
// CertificateSigningRequests are:
//   - at creation it records the requester from the API server's authentication of the request,
//     whatever the request said, and keeps it on every update;
//   - a window longer than MaxDuration is refused;
//   - status.approval changes only by someone holding the approve verb on the exception (asked of
//     the API server with a SubjectAccessReview) who is not its requester; the webhook stamps who
//     decided, on which generation and when. A later spec change bumps the generation, which voids
//     the decision (engine.ExceptionApproval).
//
// It fails closed: while the operator is down, no exception is created or approved.
type ExceptionRequests struct {
	// Authorizer creates SubjectAccessReviews (the manager's client).
	Authorizer  client.Client
	MaxDuration time.Duration
	Now         func() time.Time
	decoder     admission.Decoder
}

var exceptionGVR = metav1.GroupVersionResource{Group: v1alpha1.GroupVersion.Group, Version: v1alpha1.GroupVersion.Version, Resource: "residencyexceptions"}

// Handle answers creations and updates of exceptions and of their status.
func (h *ExceptionRequests) Handle(ctx context.Context, req admission.Request) admission.Response {
	if req.Resource != exceptionGVR || (req.Operation != admissionv1.Create && req.Operation != admissionv1.Update) {
		return admission.Allowed("")
	}
	ex := &v1alpha1.ResidencyException{}
	if err := h.decoder.DecodeRaw(req.Object, ex); err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	old := &v1alpha1.ResidencyException{}
	if req.Operation == admissionv1.Update {
		if err := h.decoder.DecodeRaw(req.OldObject, old); err != nil {
			return admission.Errored(http.StatusBadRequest, err)
		}
	}
	switch req.SubResource {
	case "":
		return h.request(ex, old, req)
	case "status":
		return h.decide(ctx, ex, old, req)
	}
	return admission.Allowed("")
}

// request records the requester and bounds the window of a created or edited exception.
func (h *ExceptionRequests) request(ex, old *v1alpha1.ResidencyException, req admission.Request) admission.Response {
	requester := old.Spec.Requester // kept as it was on update; none on an exception that predates requesters
	if req.Operation == admissionv1.Create {
		requester = requesterOf(req.UserInfo)
	}
	if req.Operation == admissionv1.Create || !equality.Semantic.DeepEqual(ex.Spec, old.Spec) {
		if msg := h.windowTooLong(ex, h.Now()); msg != "" {
			return admission.Denied(msg)
		}
	}
	if equality.Semantic.DeepEqual(requester, ex.Spec.Requester) {
		return admission.Allowed("")
	}
	if requester == nil {
		return patchField("/spec/requester", nil)
	}
	return patchField("/spec/requester", requester)
}

// decide checks and stamps a change of status.approval. Status writes that leave the approval as
// it was (the operator's conditions) pass untouched.
func (h *ExceptionRequests) decide(ctx context.Context, ex, old *v1alpha1.ResidencyException, req admission.Request) admission.Response {
	if equality.Semantic.DeepEqual(ex.Status.Approval, old.Status.Approval) {
		return admission.Allowed("")
	}
	user := req.UserInfo.Username
	allowed, err := h.mayApprove(ctx, req.UserInfo, ex)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, fmt.Errorf("asking the API server whether %s may approve: %w", user, err))
	}
	if !allowed {
		return admission.Denied(fmt.Sprintf("ResidencyException %s/%s: %s may not decide on exceptions: that needs the %q verb on residencyexceptions in namespace %s (the residency-approver ClusterRole); ask an approver to run kubectl residency approve exception/%s -n %s",
			ex.Namespace, ex.Name, user, ApproveVerb, ex.Namespace, ex.Name, ex.Namespace))
	}
	if r := ex.Spec.Requester; r != nil && r.Username == user {
		return admission.Denied(fmt.Sprintf("ResidencyException %s/%s: %s requested it and cannot decide on it too; another approver must", ex.Namespace, ex.Name, user))
	}
	if ex.Status.Approval == nil {
		return admission.Allowed("") // withdrawing a decision: the exception is pending again
	}
	if ex.Status.Approval.Decision == v1alpha1.Approved {
		now := h.Now()
		if engine.RequiresNothing(&ex.Spec.Selector) {
			return admission.Denied(fmt.Sprintf("ResidencyException %s/%s: its selector asks nothing of what it exempts (only NotIn or DoesNotExist), so it would exempt every unlabelled pod and claim; it cannot be approved", ex.Namespace, ex.Name))
		}
		if !now.Before(ex.Spec.ExpiresAt.Time) {
			return admission.Denied(fmt.Sprintf("ResidencyException %s/%s expired at %s; create a new one", ex.Namespace, ex.Name, ex.Spec.ExpiresAt.UTC().Format(time.RFC3339)))
		}
		if msg := h.windowTooLong(ex, now); msg != "" {
			return admission.Denied(msg)
		}
	}
	stamped := *ex.Status.Approval
	stamped.User = user
	stamped.Generation = ex.Generation
	stamped.DecidedAt = &metav1.Time{Time: h.Now().UTC().Truncate(time.Second)}
	return patchField("/status/approval", &stamped)
}

// windowTooLong names what is wrong when an exception's window, counted from now or its later
// start, is longer than the maximum duration.
func (h *ExceptionRequests) windowTooLong(ex *v1alpha1.ResidencyException, now time.Time) string {
	start := now
	if ex.Spec.StartsAt != nil && ex.Spec.StartsAt.After(now) {
		start = ex.Spec.StartsAt.Time
	}
	if length := ex.Spec.ExpiresAt.Sub(start); length > h.MaxDuration {
		return fmt.Sprintf("ResidencyException %s/%s: spec.expiresAt %s is %s after %s; an exception may last at most %s (--max-exception-duration): set an earlier expiresAt, and ask again when it ends",
			ex.Namespace, ex.Name, ex.Spec.ExpiresAt.UTC().Format(time.RFC3339), length.Round(time.Hour), startName(ex, start), h.MaxDuration)
	}
	return ""
}

func startName(ex *v1alpha1.ResidencyException, start time.Time) string {
	if ex.Spec.StartsAt != nil && ex.Spec.StartsAt.Time.Equal(start) {
		return "spec.startsAt"
	}
	return "now"
}

// mayApprove asks the API server whether the user may approve this exception.
func (h *ExceptionRequests) mayApprove(ctx context.Context, user authenticationv1.UserInfo, ex *v1alpha1.ResidencyException) (bool, error) {
	extra := make(map[string]authorizationv1.ExtraValue, len(user.Extra))
	for k, v := range user.Extra {
		extra[k] = authorizationv1.ExtraValue(v)
	}
	review := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: user.Username, UID: user.UID, Groups: user.Groups, Extra: extra,
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Namespace: ex.Namespace, Name: ex.Name, Verb: ApproveVerb,
			Group: exceptionGVR.Group, Version: exceptionGVR.Version, Resource: exceptionGVR.Resource,
		},
	}}
	if err := h.Authorizer.Create(ctx, review); err != nil {
		return false, err
	}
	return review.Status.Allowed, nil
}

func requesterOf(user authenticationv1.UserInfo) *v1alpha1.ExceptionRequester {
	return &v1alpha1.ExceptionRequester{Username: user.Username, UID: user.UID, Groups: user.Groups}
}

// patchField answers with a JSON patch that sets one field of the object, or removes it when value
// is nil.
func patchField(path string, value any) admission.Response {
	op := map[string]any{"op": "add", "path": path, "value": value}
	if value == nil {
		op = map[string]any{"op": "remove", "path": path}
	}
	patch, err := json.Marshal([]map[string]any{op})
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, err)
	}
	pt := admissionv1.PatchTypeJSONPatch
	return admission.Response{AdmissionResponse: admissionv1.AdmissionResponse{Allowed: true, Patch: patch, PatchType: &pt}}
}
