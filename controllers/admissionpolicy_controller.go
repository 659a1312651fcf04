package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
	"github.com/residency-operator/residency-operator/internal/admissionpolicy"
	"github.com/residency-operator/residency-operator/internal/engine"
)

// AdmissionPolicyReconciler keeps, for each namespace with a store, the admission policies
// compiled from its stores, exceptions and the Jurisdictions (internal/admissionpolicy), so that
// kube-apiserver places and checks its pods itself. It recompiles on every change of those, when
// an exception starts or expires, and when someone edits or deletes a compiled object.
type AdmissionPolicyReconciler struct {
	client.Client
	Recorder events.EventRecorder
	Clock    clock.Clock
	// Enabled is false when admission runs through the webhooks only: compiled objects are removed.
	Enabled bool
	// Excluded namespaces never get policies: kube-system and the operator's own.
	Excluded []string
}

// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=mutatingadmissionpolicies;mutatingadmissionpolicybindings;validatingadmissionpolicies;validatingadmissionpolicybindings,verbs=get;list;watch;create;update;delete
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch
// +kubebuilder:rbac:groups=dataresidency.io,resources=personaldatastores;residencyexceptions;jurisdictions,verbs=get;list;watch

// Reconcile compiles the policies of one namespace (the request's name) and makes the cluster's
// compiled objects for it exactly those.
func (r *AdmissionPolicyReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	namespace := req.Name
	compiled, err := r.compile(ctx, namespace)
	if errors.Is(err, admissionpolicy.ErrTooManySelections) {
		// Keep what was compiled before: removing it would leave the namespace's pods unplaced.
		ns := &corev1.Namespace{}
		if r.Get(ctx, client.ObjectKey{Name: namespace}, ns) == nil {
			r.Recorder.Eventf(ns, nil, corev1.EventTypeWarning, EventAdmissionNotCompiled, "Compile", "%v", err)
		}
		return ctrl.Result{}, reconcile.TerminalError(err)
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	var want []client.Object
	if compiled != nil {
		want = compiled.Objects()
	}
	for _, obj := range want {
		if err := r.apply(ctx, obj); err != nil {
			return ctrl.Result{}, err
		}
	}
	if err := r.removeOthers(ctx, namespace, want); err != nil {
		return ctrl.Result{}, err
	}
	if compiled != nil && !compiled.Recompile.IsZero() {
		return ctrl.Result{RequeueAfter: compiled.Recompile.Sub(r.Clock.Now())}, nil
	}
	return ctrl.Result{}, nil
}

// compile returns the namespace's compiled policies, nil when it should have none.
func (r *AdmissionPolicyReconciler) compile(ctx context.Context, namespace string) (*admissionpolicy.Compiled, error) {
	if !r.Enabled || slices.Contains(r.Excluded, namespace) {
		return nil, nil
	}
	ns := &corev1.Namespace{}
	if err := r.Get(ctx, client.ObjectKey{Name: namespace}, ns); apierrors.IsNotFound(err) || err == nil && !ns.DeletionTimestamp.IsZero() {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("getting namespace: %w", err)
	}
	var stores v1alpha1.PersonalDataStoreList
	if err := r.List(ctx, &stores, client.InNamespace(namespace)); err != nil {
		return nil, fmt.Errorf("listing stores: %w", err)
	}
	if len(stores.Items) == 0 {
		return nil, nil
	}
	var exceptions v1alpha1.ResidencyExceptionList
	if err := r.List(ctx, &exceptions, client.InNamespace(namespace)); err != nil {
		return nil, fmt.Errorf("listing exceptions: %w", err)
	}
	var jurisdictions v1alpha1.JurisdictionList
	if err := r.List(ctx, &jurisdictions); err != nil {
		return nil, fmt.Errorf("listing jurisdictions: %w", err)
	}
	pol := &engine.Policies{Now: r.Clock.Now(), Jurisdictions: map[string]*v1alpha1.JurisdictionSpec{}}
	for i := range stores.Items {
		pol.Stores = append(pol.Stores, &stores.Items[i])
	}
	for i := range exceptions.Items {
		pol.Exceptions = append(pol.Exceptions, &exceptions.Items[i])
	}
	for i := range jurisdictions.Items {
		if jurisdictions.Items[i].DeletionTimestamp.IsZero() {
			pol.Jurisdictions[jurisdictions.Items[i].Name] = &jurisdictions.Items[i].Spec
		}
	}
	return admissionpolicy.Compile(namespace, pol)
}

// apply creates obj or updates the existing object when its labels or spec differ.
func (r *AdmissionPolicyReconciler) apply(ctx context.Context, obj client.Object) error {
	existing := obj.DeepCopyObject().(client.Object)
	err := r.Get(ctx, client.ObjectKeyFromObject(obj), existing)
	if apierrors.IsNotFound(err) {
		if err := r.Create(ctx, obj); err != nil {
			return fmt.Errorf("creating %T %s: %w", obj, obj.GetName(), err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("getting %T %s: %w", obj, obj.GetName(), err)
	}
	if equality.Semantic.DeepEqual(specOf(existing), specOf(obj)) && equality.Semantic.DeepEqual(existing.GetLabels(), obj.GetLabels()) {
		return nil
	}
	obj.SetResourceVersion(existing.GetResourceVersion())
	if err := r.Update(ctx, obj); err != nil {
		return fmt.Errorf("updating %T %s: %w", obj, obj.GetName(), err)
	}
	return nil
}

// specOf is the part of a compiled object the operator owns. The API server defaults some fields
// (matchPolicy, namespaceSelector, objectSelector), so the comparison is of what was compiled
// against the stored object with the same defaults applied.
func specOf(obj client.Object) any {
	switch o := obj.(type) {
	case *admissionregistrationv1.MutatingAdmissionPolicy:
		s := o.Spec.DeepCopy()
		clearDefaults(s.MatchConstraints)
		return s
	case *admissionregistrationv1.MutatingAdmissionPolicyBinding:
		s := o.Spec.DeepCopy()
		clearDefaults(s.MatchResources)
		return s
	case *admissionregistrationv1.ValidatingAdmissionPolicy:
		s := o.Spec.DeepCopy()
		clearDefaults(s.MatchConstraints)
		return s
	case *admissionregistrationv1.ValidatingAdmissionPolicyBinding:
		s := o.Spec.DeepCopy()
		clearDefaults(s.MatchResources)
		return s
	}
	return obj
}

func clearDefaults(m *admissionregistrationv1.MatchResources) {
	if m == nil {
		return
	}
	m.MatchPolicy = nil
	m.ObjectSelector = nil
	if m.NamespaceSelector != nil && len(m.NamespaceSelector.MatchLabels)+len(m.NamespaceSelector.MatchExpressions) == 0 {
		m.NamespaceSelector = nil
	}
}

// compiledKinds are the kinds the operator compiles into, validating before mutating so that
// removing a namespace's policies never leaves a check without the mutation it checks.
var compiledKinds = []func() client.ObjectList{
	func() client.ObjectList { return &admissionregistrationv1.ValidatingAdmissionPolicyBindingList{} },
	func() client.ObjectList { return &admissionregistrationv1.ValidatingAdmissionPolicyList{} },
	func() client.ObjectList { return &admissionregistrationv1.MutatingAdmissionPolicyBindingList{} },
	func() client.ObjectList { return &admissionregistrationv1.MutatingAdmissionPolicyList{} },
}

// removeOthers deletes the objects compiled for namespace that are not in want.
func (r *AdmissionPolicyReconciler) removeOthers(ctx context.Context, namespace string, want []client.Object) error {
	wanted := map[string]bool{}
	for _, obj := range want {
		wanted[fmt.Sprintf("%T/%s", obj, obj.GetName())] = true
	}
	for _, newList := range compiledKinds {
		list := newList()
		if err := r.List(ctx, list, client.MatchingLabels{admissionpolicy.ManagedByLabel: admissionpolicy.ManagedBy,
			admissionpolicy.NamespaceLabel: namespace}); err != nil {
			return fmt.Errorf("listing compiled policies: %w", err)
		}
		var objs []client.Object
		switch l := list.(type) {
		case *admissionregistrationv1.ValidatingAdmissionPolicyBindingList:
			for i := range l.Items {
				objs = append(objs, &l.Items[i])
			}
		case *admissionregistrationv1.ValidatingAdmissionPolicyList:
			for i := range l.Items {
				objs = append(objs, &l.Items[i])
			}
		case *admissionregistrationv1.MutatingAdmissionPolicyBindingList:
			for i := range l.Items {
				objs = append(objs, &l.Items[i])
			}
		case *admissionregistrationv1.MutatingAdmissionPolicyList:
			for i := range l.Items {
				objs = append(objs, &l.Items[i])
			}
		}
		for _, obj := range objs {
			if wanted[fmt.Sprintf("%T/%s", obj, obj.GetName())] {
				continue
			}
			if err := r.Delete(ctx, obj); client.IgnoreNotFound(err) != nil {
				return fmt.Errorf("deleting %T %s: %w", obj, obj.GetName(), err)
			}
		}
	}
	return nil
}

// SetupWithManager recompiles a namespace on changes of its stores and exceptions, of any
// Jurisdiction (every namespace with a store), and of the objects compiled for it.
func (r *AdmissionPolicyReconciler) SetupWithManager(mgr ctrl.Manager) error {
	toNamespace := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, obj client.Object) []reconcile.Request {
		return []reconcile.Request{{NamespacedName: client.ObjectKey{Name: obj.GetNamespace()}}}
	})
	toCompiledFor := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, obj client.Object) []reconcile.Request {
		ns := obj.GetLabels()[admissionpolicy.NamespaceLabel]
		if ns == "" {
			return nil
		}
		return []reconcile.Request{{NamespacedName: client.ObjectKey{Name: ns}}}
	})
	toGoverned := handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, _ client.Object) []reconcile.Request {
		var stores v1alpha1.PersonalDataStoreList
		if err := mgr.GetClient().List(ctx, &stores); err != nil {
			return nil
		}
		var out []reconcile.Request
		seen := map[string]bool{}
		for _, s := range stores.Items {
			if !seen[s.Namespace] {
				seen[s.Namespace] = true
				out = append(out, reconcile.Request{NamespacedName: client.ObjectKey{Name: s.Namespace}})
			}
		}
		return out
	})
	// Status updates (type checking) do not change the generation; edits and deletions do.
	compiled := builder.WithPredicates(predicate.GenerationChangedPredicate{}, predicate.NewPredicateFuncs(func(obj client.Object) bool {
		return obj.GetLabels()[admissionpolicy.ManagedByLabel] == admissionpolicy.ManagedBy
	}))
	return ctrl.NewControllerManagedBy(mgr).
		Named("admission-policy").
		Watches(&v1alpha1.PersonalDataStore{}, toNamespace).
		Watches(&v1alpha1.ResidencyException{}, toNamespace).
		Watches(&v1alpha1.Jurisdiction{}, toGoverned, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&admissionregistrationv1.MutatingAdmissionPolicy{}, toCompiledFor, compiled).
		Watches(&admissionregistrationv1.MutatingAdmissionPolicyBinding{}, toCompiledFor, compiled).
		Watches(&admissionregistrationv1.ValidatingAdmissionPolicy{}, toCompiledFor, compiled).
		Watches(&admissionregistrationv1.ValidatingAdmissionPolicyBinding{}, toCompiledFor, compiled).
		Complete(r)
}
