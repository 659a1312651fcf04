package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
)

// NamespaceReconciler labels namespaces that contain at least one PersonalDataStore as governed,
// which is what the webhooks select, and removes the label when the last store goes.
type NamespaceReconciler struct {
	client.Client
}

var _ reconcile.Reconciler = (*NamespaceReconciler)(nil)

// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=dataresidency.io,resources=personaldatastores,verbs=get;list;watch

// Reconcile sets or removes the governed label of one namespace.
func (r *NamespaceReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	ns := &corev1.Namespace{}
	if err := r.Get(ctx, req.NamespacedName, ns); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	var stores v1alpha1.PersonalDataStoreList
	if err := r.List(ctx, &stores, client.InNamespace(ns.Name)); err != nil {
		return ctrl.Result{}, fmt.Errorf("listing stores: %w", err)
	}
	governed := false
	for i := range stores.Items {
		if stores.Items[i].DeletionTimestamp.IsZero() {
			governed = true
			break
		}
	}
	_, labelled := ns.Labels[v1alpha1.GovernedNamespaceLabel]
	if governed == labelled && (!governed || ns.Labels[v1alpha1.GovernedNamespaceLabel] == "true") {
		return ctrl.Result{}, nil
	}
	patch := client.MergeFrom(ns.DeepCopy())
	if governed {
		if ns.Labels == nil {
			ns.Labels = map[string]string{}
		}
		ns.Labels[v1alpha1.GovernedNamespaceLabel] = "true"
	} else {
		delete(ns.Labels, v1alpha1.GovernedNamespaceLabel)
	}
	if err := r.Patch(ctx, ns, patch); client.IgnoreNotFound(err) != nil {
		return ctrl.Result{}, fmt.Errorf("patching namespace label: %w", err)
	}
	return ctrl.Result{}, nil
}

// SetupWithManager maps store events to their namespace, and watches namespaces so a removed or
// altered label is put back.
func (r *NamespaceReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("governed-namespace").
		For(&corev1.Namespace{}, builder.WithPredicates(governedLabelChanged)).
		Watches(&v1alpha1.PersonalDataStore{}, handler.EnqueueRequestsFromMapFunc(
			func(_ context.Context, obj client.Object) []reconcile.Request {
				return []reconcile.Request{{NamespacedName: client.ObjectKey{Name: obj.GetNamespace()}}}
			})).
		Complete(r)
}

var governedLabelChanged = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		return e.ObjectOld.GetLabels()[v1alpha1.GovernedNamespaceLabel] != e.ObjectNew.GetLabels()[v1alpha1.GovernedNamespaceLabel]
	},
}
