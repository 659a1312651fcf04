package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
	"github.com/residency-operator/residency-operator/internal/engine"
)

// ExceptionReconciler keeps a ResidencyException's Active condition true to its approval and its
// time window, announces its start and its expiry with Events, and comes back exactly when it
// changes.
type ExceptionReconciler struct {
	client.Client
	Recorder events.EventRecorder
	Clock    clock.PassiveClock
}

var _ reconcile.Reconciler = (*ExceptionReconciler)(nil)

// +kubebuilder:rbac:groups=dataresidency.io,resources=residencyexceptions,verbs=get;list;watch
// +kubebuilder:rbac:groups=dataresidency.io,resources=residencyexceptions/status,verbs=get;update;patch

// Reconcile sets the Active condition and requeues at the next start or expiry. Status is
// written once, whatever happens.
func (r *ExceptionReconciler) Reconcile(ctx context.Context, req ctrl.Request) (_ ctrl.Result, retErr error) {
	ex := &v1alpha1.ResidencyException{}
	if err := r.Get(ctx, req.NamespacedName, ex); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	now := r.Clock.Now()
	// The approval is the approvers' to write: leave it out of the status this reconciler patches,
	// so a stale read can never write back an older decision.
	observed := *ex.Status.DeepCopy()
	observed.Approval = nil
	status := *observed.DeepCopy()
	status.ObservedGeneration = ex.Generation
	var s summary
	defer func() {
		setSummary(&status.Conditions, ex.Generation, s, retErr)
		if err := writeStatus(ctx, r.Client, ex, observed, status); err != nil {
			retErr = errors.Join(retErr, err)
		}
	}()

	active := engine.ExceptionActive(ex, now)
	approval := engine.ExceptionApproval(ex)
	cond := metav1.Condition{Type: v1alpha1.ActiveCondition, ObservedGeneration: ex.Generation}
	switch {
	case engine.RequiresNothing(&ex.Spec.Selector):
		cond.Status, cond.Reason = metav1.ConditionFalse, v1alpha1.ReasonInvalidSelector
		cond.Message = "spec.selector asks nothing of what it exempts (no matchLabels, no In or Exists), so it would exempt every pod and claim without a label: it exempts nothing"
	case !now.Before(ex.Spec.ExpiresAt.Time):
		cond.Status, cond.Reason = metav1.ConditionFalse, v1alpha1.ReasonExpired
		cond.Message = fmt.Sprintf("expired at %s; the stores' rules apply again", ex.Spec.ExpiresAt.UTC().Format(time.RFC3339))
	case approval == v1alpha1.ReasonPendingApproval:
		cond.Status, cond.Reason = metav1.ConditionFalse, approval
		cond.Message = fmt.Sprintf("exempts nothing until someone allowed to approve exceptions (the residency-approver role), other than its requester %s, approves it: kubectl residency approve exception/%s -n %s", requesterName(ex), ex.Name, ex.Namespace)
	case approval == v1alpha1.ReasonApprovalDenied:
		cond.Status, cond.Reason = metav1.ConditionFalse, approval
		cond.Message = fmt.Sprintf("denied by %s: exempts nothing", ex.Status.Approval.User)
		if ex.Status.Approval.Message != "" {
			cond.Message += " (" + ex.Status.Approval.Message + ")"
		}
	case approval == v1alpha1.ReasonApprovalOutdated:
		cond.Status, cond.Reason = metav1.ConditionFalse, approval
		cond.Message = fmt.Sprintf("the spec changed (generation %d) after %s decided on generation %d, which voids the decision: it exempts nothing until the new spec is approved", ex.Generation, ex.Status.Approval.User, ex.Status.Approval.Generation)
	case active:
		cond.Status, cond.Reason = metav1.ConditionTrue, v1alpha1.ReasonWithinWindow
		cond.Message = fmt.Sprintf("%s, approved by %s, exempts matching objects from stores %v until %s", ex.Spec.Reason, ex.Status.Approval.User, ex.Spec.Stores, ex.Spec.ExpiresAt.UTC().Format(time.RFC3339))
	default:
		cond.Status, cond.Reason = metav1.ConditionFalse, v1alpha1.ReasonNotYetActive
		cond.Message = fmt.Sprintf("starts at %s", ex.Spec.StartsAt.UTC().Format(time.RFC3339))
	}
	previous := meta.FindStatusCondition(ex.Status.Conditions, v1alpha1.ActiveCondition)
	meta.SetStatusCondition(&status.Conditions, cond)
	if previous == nil || previous.Status != cond.Status || previous.Reason != cond.Reason {
		switch cond.Reason {
		case v1alpha1.ReasonWithinWindow:
			r.Recorder.Eventf(ex, nil, corev1.EventTypeNormal, EventExceptionActive, actionExempt, "%s", cond.Message)
		case v1alpha1.ReasonExpired:
			r.Recorder.Eventf(ex, nil, corev1.EventTypeNormal, EventExceptionExpired, actionExempt, "%s", cond.Message)
		}
	}
	var next time.Duration
	for _, t := range exceptionTransitions(ex) {
		if d := t.Sub(now); d > 0 {
			next = minPositive(next, d)
		}
	}

	s.readyReason, s.readyMessage = v1alpha1.ReasonResolved, "the selector and every store it names are in force"
	if _, ok := engine.SelectorFor(&ex.Spec.Selector); !ok {
		s.stalled = &blocker{v1alpha1.ReasonInvalidSelector, fmt.Sprintf("spec.selector is empty or does not compile (%s), so the exception exempts nothing; fix the selector", selectorError(&ex.Spec.Selector))}
	} else if engine.RequiresNothing(&ex.Spec.Selector) {
		s.stalled = &blocker{v1alpha1.ReasonInvalidSelector, "spec.selector has only NotIn or DoesNotExist expressions, which every unlabelled pod and claim matches, so the exception exempts nothing; select the objects with matchLabels, In or Exists"}
	} else if missing, err := missingObjects(ctx, r.Client, ex.Namespace, ex.Spec.Stores, func() client.Object { return &v1alpha1.PersonalDataStore{} }); err != nil {
		return ctrl.Result{}, err
	} else if len(missing) > 0 {
		s.stalled = &blocker{v1alpha1.ReasonStoreNotFound, fmt.Sprintf("PersonalDataStore %s not found or being deleted in namespace %s: the exception lifts nothing for it; fix spec.stores", strings.Join(missing, ", "), ex.Namespace)}
	}
	exempted, err := r.countExempted(ctx, ex, active)
	if err != nil {
		return ctrl.Result{}, err
	}
	status.ExemptedObjects = exempted
	return ctrl.Result{RequeueAfter: next}, nil
}

// requesterName names who asked for an exception, as its requester field recorded it.
func requesterName(ex *v1alpha1.ResidencyException) string {
	if ex.Spec.Requester == nil {
		return "(not recorded: created before requesters were)"
	}
	return ex.Spec.Requester.Username
}

// countExempted counts the pods and claims the exception's selector matches while it is active.
func (r *ExceptionReconciler) countExempted(ctx context.Context, ex *v1alpha1.ResidencyException, active bool) (int32, error) {
	if !active {
		return 0, nil
	}
	sel, ok := engine.SelectorFor(&ex.Spec.Selector)
	if !ok {
		return 0, nil
	}
	var pods corev1.PodList
	if err := r.List(ctx, &pods, client.InNamespace(ex.Namespace), client.MatchingLabelsSelector{Selector: sel}); err != nil {
		return 0, fmt.Errorf("listing exempted pods: %w", err)
	}
	var pvcs corev1.PersistentVolumeClaimList
	if err := r.List(ctx, &pvcs, client.InNamespace(ex.Namespace), client.MatchingLabelsSelector{Selector: sel}); err != nil {
		return 0, fmt.Errorf("listing exempted claims: %w", err)
	}
	return int32(len(pods.Items) + len(pvcs.Items)), nil
}

// SetupWithManager watches exceptions' spec and approval changes, and stores coming and going (an
// exception naming a store that does not exist yet is Stalled until it does).
func (r *ExceptionReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("residencyexception").
		For(&v1alpha1.ResidencyException{}, builder.WithPredicates(predicate.Or[client.Object](predicate.GenerationChangedPredicate{}, approvalChanged))).
		Watches(&v1alpha1.PersonalDataStore{}, handler.EnqueueRequestsFromMapFunc(r.exceptionsOfStore),
			builder.WithPredicates(predicate.Funcs{UpdateFunc: func(event.UpdateEvent) bool { return false }})).
		Complete(r)
}

// exceptionsOfStore maps a store created or deleted to the exceptions that name it.
func (r *ExceptionReconciler) exceptionsOfStore(ctx context.Context, obj client.Object) []reconcile.Request {
	var list v1alpha1.ResidencyExceptionList
	if err := r.List(ctx, &list, client.InNamespace(obj.GetNamespace()), client.MatchingFields{exceptionStoreIndex: obj.GetName()}); err != nil {
		log.FromContext(ctx).Error(err, "listing exceptions of a store", "store", obj.GetName())
		return nil
	}
	out := make([]reconcile.Request, 0, len(list.Items))
	for i := range list.Items {
		out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
	}
	return out
}

// approvalChanged passes exception updates whose approval changed.
var approvalChanged = predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
	o, okO := e.ObjectOld.(*v1alpha1.ResidencyException)
	n, okN := e.ObjectNew.(*v1alpha1.ResidencyException)
	return !okO || !okN || !equality.Semantic.DeepEqual(o.Status.Approval, n.Status.Approval)
}}
