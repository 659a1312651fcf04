package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
	"github.com/residency-operator/residency-operator/internal/engine"
)

const maxListedProcessorStores = 100

// ProcessorReconciler writes a DataProcessor's status: the stores that name it and whether its
// jurisdictions exist.
type ProcessorReconciler struct {
	client.Client
}

var _ reconcile.Reconciler = (*ProcessorReconciler)(nil)

// +kubebuilder:rbac:groups=dataresidency.io,resources=dataprocessors/status,verbs=get;update;patch

// Reconcile computes the processor's status, written once whatever happens.
func (r *ProcessorReconciler) Reconcile(ctx context.Context, req ctrl.Request) (_ ctrl.Result, retErr error) {
	p := &v1alpha1.DataProcessor{}
	if err := r.Get(ctx, req.NamespacedName, p); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	status := *p.Status.DeepCopy()
	status.ObservedGeneration = p.Generation
	var s summary
	defer func() {
		setSummary(&status.Conditions, p.Generation, s, retErr)
		if err := writeStatus(ctx, r.Client, p, p.Status, status); err != nil {
			retErr = errors.Join(retErr, err)
		}
	}()

	var stores v1alpha1.PersonalDataStoreList
	if err := r.List(ctx, &stores, client.MatchingFields{storeProcessorIndex: p.Name}); err != nil {
		return ctrl.Result{}, fmt.Errorf("listing stores naming the processor: %w", err)
	}
	status.Stores = nil
	for i := range stores.Items {
		status.Stores = append(status.Stores, v1alpha1.NamespacedReference{Namespace: stores.Items[i].Namespace, Name: stores.Items[i].Name})
	}
	slices.SortFunc(status.Stores, func(a, b v1alpha1.NamespacedReference) int {
		return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
	})
	status.Stores = status.Stores[:min(len(status.Stores), maxListedProcessorStores)]
	missing, err := missingObjects(ctx, r.Client, "", p.Spec.Jurisdictions, func() client.Object { return &v1alpha1.Jurisdiction{} })
	if err != nil {
		return ctrl.Result{}, err
	}
	s.readyReason = v1alpha1.ReasonResolved
	s.readyMessage = fmt.Sprintf("processes in %s; named by %d stores", engine.Names(p.Spec.Jurisdictions), len(stores.Items))
	if len(missing) > 0 {
		s.stalled = &blocker{v1alpha1.ReasonJurisdictionNotFound, fmt.Sprintf("Jurisdiction %s not found or being deleted: create it or fix spec.jurisdictions", strings.Join(missing, ", "))}
	}
	return ctrl.Result{}, nil
}

// SetupWithManager watches processors, the stores that name them (old and new names, so a
// processor dropped from a store updates too) and Jurisdictions.
func (r *ProcessorReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("dataprocessor").
		For(&v1alpha1.DataProcessor{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&v1alpha1.PersonalDataStore{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, obj client.Object) []reconcile.Request {
			var out []reconcile.Request
			for _, name := range obj.(*v1alpha1.PersonalDataStore).Spec.Processors {
				out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Name: string(name)}})
			}
			return out
		}), builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&v1alpha1.Jurisdiction{}, handler.EnqueueRequestsFromMapFunc(r.allProcessors)).
		Complete(r)
}

func (r *ProcessorReconciler) allProcessors(ctx context.Context, _ client.Object) []reconcile.Request {
	var list v1alpha1.DataProcessorList
	if err := r.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil { // names only
		log.FromContext(ctx).Error(err, "listing processors after a jurisdiction change")
		return nil
	}
	out := make([]reconcile.Request, 0, len(list.Items))
	for i := range list.Items {
		out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Name: list.Items[i].Name}})
	}
	return out
}
