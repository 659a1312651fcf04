package controllers

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
	"github.com/residency-operator/residency-operator/internal/engine"
)

// EvidenceReconciler records, once a governed pod is bound, where it ran: the node's region,
// country and jurisdictions at that time, as annotations kept with the pod. It is a controller of
// its own so that thousands of first-time annotations never hold up store status.
type EvidenceReconciler struct {
	client.Client
	Clock clock.PassiveClock
}

var _ reconcile.Reconciler = (*EvidenceReconciler)(nil)

// Reconcile stamps one pod if a store governs it and its node's location is known and trusted.
func (r *EvidenceReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	pod := &corev1.Pod{}
	if err := r.Get(ctx, req.NamespacedName, pod); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !needsEvidence(pod) {
		return ctrl.Result{}, nil
	}
	governed, err := r.governed(ctx, pod)
	if err != nil || !governed {
		return ctrl.Result{}, err
	}
	node := &corev1.Node{}
	if err := r.Get(ctx, client.ObjectKey{Name: pod.Spec.NodeName}, node); err != nil {
		if apierrors.IsNotFound(err) {
			return ctrl.Result{}, nil // no node, no location to record; the audit reports it
		}
		return ctrl.Result{}, fmt.Errorf("getting node: %w", err)
	}
	if node.Annotations[engine.LocationProblemAnnotation] != "" {
		return ctrl.Result{}, nil // untrusted or unknown: nothing true to record
	}
	return ctrl.Result{}, r.stampEvidence(ctx, pod, node, r.Clock.Now())
}

// governed reports whether a store of the pod's namespace governs it, by the engine's rule.
func (r *EvidenceReconciler) governed(ctx context.Context, pod *corev1.Pod) (bool, error) {
	var stores v1alpha1.PersonalDataStoreList
	if err := r.List(ctx, &stores, client.InNamespace(pod.Namespace), client.UnsafeDisableDeepCopy); err != nil {
		return false, fmt.Errorf("listing stores: %w", err)
	}
	return len(engine.Matching(policiesOf(stores.Items), engine.Workload, pod.Labels)) > 0, nil
}

func needsEvidence(pod *corev1.Pod) bool {
	_, stamped := pod.Annotations[v1alpha1.ObservedAtAnnotation]
	return !stamped && pod.Spec.NodeName != "" && pod.DeletionTimestamp.IsZero()
}

// stampEvidence records once, on a bound governed pod, where it ran: the node's region, country
// and jurisdictions at that time. It annotates; it never changes the pod's spec.
func (r *EvidenceReconciler) stampEvidence(ctx context.Context, pod *corev1.Pod, node *corev1.Node, now time.Time) error {
	loc := observedLocation(node)
	patch := client.MergeFrom(pod.DeepCopy())
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	pod.Annotations[v1alpha1.ObservedRegionAnnotation] = loc.Region
	pod.Annotations[v1alpha1.ObservedCountryAnnotation] = loc.Country
	pod.Annotations[v1alpha1.ObservedJurisdictionsAnnotation] = strings.Join(loc.Jurisdictions, ",")
	pod.Annotations[v1alpha1.ObservedAtAnnotation] = now.UTC().Format(time.RFC3339)
	if err := r.Patch(ctx, pod, patch); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("recording evidence on pod %s: %w", pod.Name, err)
	}
	return nil
}

// SetupWithManager watches bound pods that carry no evidence yet.
func (r *EvidenceReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("pod-evidence").
		For(&corev1.Pod{}, builder.WithPredicates(predicate.NewPredicateFuncs(func(obj client.Object) bool {
			pod, ok := obj.(*corev1.Pod)
			return ok && needsEvidence(pod)
		}))).
		// A store created after its pods were bound makes them governed.
		Watches(&v1alpha1.PersonalDataStore{}, handler.EnqueueRequestsFromMapFunc(r.unstampedPodsOfStore),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: 4}).
		Complete(r)
}

func (r *EvidenceReconciler) unstampedPodsOfStore(ctx context.Context, obj client.Object) []reconcile.Request {
	store := obj.(*v1alpha1.PersonalDataStore)
	sel, ok := engine.SelectorFor(&store.Spec.WorkloadSelector)
	if !ok {
		return nil
	}
	var pods corev1.PodList
	if err := r.List(ctx, &pods, client.InNamespace(store.Namespace), client.MatchingLabelsSelector{Selector: sel}); err != nil {
		log.FromContext(ctx).Error(err, "listing pods of a store for evidence")
		return nil
	}
	var out []reconcile.Request
	for i := range pods.Items {
		if needsEvidence(&pods.Items[i]) {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&pods.Items[i])})
		}
	}
	return out
}
