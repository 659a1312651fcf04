package controllers

import (
	"context"
	"fmt"
	"slices"
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
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
	"github.com/residency-operator/residency-operator/internal/engine"
)

// ExceptionReconciler keeps a ResidencyException's Active condition true to its time window,
// announces its start and its expiry with Events, and comes back exactly when it changes.
type ExceptionReconciler struct {
	client.Client
	Recorder events.EventRecorder
	Clock    clock.PassiveClock
}

var _ reconcile.Reconciler = (*ExceptionReconciler)(nil)

// +kubebuilder:rbac:groups=dataresidency.io,resources=residencyexceptions,verbs=get;list;watch
// +kubebuilder:rbac:groups=dataresidency.io,resources=residencyexceptions/status,verbs=get;update;patch

// Reconcile sets the Active condition and requeues at the next start or expiry.
func (r *ExceptionReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	ex := &v1alpha1.ResidencyException{}
	if err := r.Get(ctx, req.NamespacedName, ex); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	now := r.Clock.Now()
	active := engine.ExceptionActive(&ex.Spec, ex.CreationTimestamp.Time, now)
	cond := metav1.Condition{Type: v1alpha1.ActiveCondition, ObservedGeneration: ex.Generation}
	switch {
	case active:
		cond.Status, cond.Reason = metav1.ConditionTrue, v1alpha1.ReasonWithinWindow
		cond.Message = fmt.Sprintf("%s exempts matching objects from stores %v until %s", ex.Spec.Reason, ex.Spec.Stores, ex.Spec.ExpiresAt.UTC().Format(time.RFC3339))
	case !now.Before(ex.Spec.ExpiresAt.Time):
		cond.Status, cond.Reason = metav1.ConditionFalse, v1alpha1.ReasonExpired
		cond.Message = fmt.Sprintf("expired at %s; the stores' rules apply again", ex.Spec.ExpiresAt.UTC().Format(time.RFC3339))
	default:
		cond.Status, cond.Reason = metav1.ConditionFalse, v1alpha1.ReasonNotYetActive
		cond.Message = fmt.Sprintf("starts at %s", ex.Spec.StartsAt.UTC().Format(time.RFC3339))
	}

	exempted, err := r.countExempted(ctx, ex, active)
	if err != nil {
		return ctrl.Result{}, err
	}
	status := v1alpha1.ResidencyExceptionStatus{ObservedGeneration: ex.Generation, ExemptedObjects: exempted,
		Conditions: slices.Clone(ex.Status.Conditions)}
	previous := meta.FindStatusCondition(ex.Status.Conditions, v1alpha1.ActiveCondition)
	meta.SetStatusCondition(&status.Conditions, cond)
	if previous == nil || previous.Status != cond.Status || previous.Reason != cond.Reason {
		switch cond.Reason {
		case v1alpha1.ReasonWithinWindow:
			r.Recorder.Eventf(ex, nil, corev1.EventTypeNormal, "ExceptionActive", "Exempt", "%s", cond.Message)
		case v1alpha1.ReasonExpired:
			r.Recorder.Eventf(ex, nil, corev1.EventTypeNormal, "ExceptionExpired", "Exempt", "%s", cond.Message)
		}
	}
	if !equality.Semantic.DeepEqual(status, ex.Status) {
		patch := client.MergeFrom(ex.DeepCopy())
		ex.Status = status
		if err := r.Status().Patch(ctx, ex, patch); err != nil {
			return ctrl.Result{}, fmt.Errorf("patching status: %w", client.IgnoreNotFound(err))
		}
	}
	var next time.Duration
	for _, t := range exceptionTransitions(ex) {
		if d := t.Sub(now); d > 0 {
			next = minPositive(next, d)
		}
	}
	return ctrl.Result{RequeueAfter: next}, nil
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

// SetupWithManager watches exceptions' spec changes.
func (r *ExceptionReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("residencyexception").
		For(&v1alpha1.ResidencyException{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Complete(r)
}
