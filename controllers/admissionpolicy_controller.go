package controllers

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
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
// +kubebuilder:rbac:groups="",resources=namespaces;pods,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups="",resources=pods/eviction,verbs=create
// +kubebuilder:rbac:groups=dataresidency.io,resources=personaldatastores;residencyexceptions;jurisdictions,verbs=get;list;watch

// Reconcile compiles the policies of one namespace (the request's name) and makes the cluster's
// compiled objects for it exactly those.
func (r *AdmissionPolicyReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	if req.Name == "" {
		return ctrl.Result{}, r.ensureGate(ctx)
	}
	namespace := req.Name
	ns := &corev1.Namespace{}
	if err := r.Get(ctx, client.ObjectKey{Name: namespace}, ns); apierrors.IsNotFound(err) {
		ns = nil
	} else if err != nil {
		return ctrl.Result{}, fmt.Errorf("getting namespace: %w", err)
	}
	compiled, pol, err := r.compile(ctx, ns)
	if errors.Is(err, admissionpolicy.ErrTooManySelections) {
		// Keep what was compiled before: removing it would leave the namespace's pods unplaced.
		r.Recorder.Eventf(ns, nil, corev1.EventTypeWarning, EventAdmissionNotCompiled, "Compile", "%v", err)
		return ctrl.Result{}, reconcile.TerminalError(err)
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	var want []client.Object
	if compiled != nil {
		want = compiled.Objects()
	}
	settling := false
	for _, obj := range want {
		fresh, err := r.apply(ctx, obj)
		if err != nil {
			return ctrl.Result{}, err
		}
		settling = settling || fresh
	}
	if err := r.removeOthers(ctx, namespace, want); err != nil {
		return ctrl.Result{}, err
	}
	var result ctrl.Result
	if compiled != nil && !compiled.Recompile.IsZero() {
		result.RequeueAfter = compiled.Recompile.Sub(r.Clock.Now())
	}
	if ns == nil || !ns.DeletionTimestamp.IsZero() {
		return result, nil
	}
	if settling {
		// The API server loads new policies asynchronously: wait before pods stop being gated.
		return ctrl.Result{RequeueAfter: policySettle}, nil
	}
	inForce := r.Enabled && pol != nil
	if err := r.markCompiled(ctx, ns, inForce); err != nil {
		return ctrl.Result{}, err
	}
	// Gated pods wait for their stores while the namespace awaits them; they are released once
	// the policies are in force, or when nothing gates any more (the label removed, webhook mode).
	if pol == nil && ns.Labels[v1alpha1.AwaitPoliciesLabel] == "true" && r.Enabled {
		return result, nil
	}
	if pol == nil {
		pol = &engine.Policies{Now: r.Clock.Now()}
	}
	if err := r.releaseGated(ctx, namespace, pol); err != nil {
		return ctrl.Result{}, err
	}
	return result, nil
}

// policySettle is how long a newly created compiled policy is given to be loaded by every API
// server before the namespace's pods stop being gated.
const policySettle = 2 * time.Second

// compile returns the namespace's compiled policies, nil when it should have none, and the
// policies they were compiled from: nil when the namespace has no store (none are in force).
func (r *AdmissionPolicyReconciler) compile(ctx context.Context, ns *corev1.Namespace) (*admissionpolicy.Compiled, *engine.Policies, error) {
	if ns == nil || !ns.DeletionTimestamp.IsZero() || slices.Contains(r.Excluded, ns.Name) {
		return nil, nil, nil
	}
	namespace := ns.Name
	var stores v1alpha1.PersonalDataStoreList
	if err := r.List(ctx, &stores, client.InNamespace(namespace)); err != nil {
		return nil, nil, fmt.Errorf("listing stores: %w", err)
	}
	if len(stores.Items) == 0 {
		return nil, nil, nil
	}
	var exceptions v1alpha1.ResidencyExceptionList
	if err := r.List(ctx, &exceptions, client.InNamespace(namespace)); err != nil {
		return nil, nil, fmt.Errorf("listing exceptions: %w", err)
	}
	var jurisdictions v1alpha1.JurisdictionList
	if err := r.List(ctx, &jurisdictions); err != nil {
		return nil, nil, fmt.Errorf("listing jurisdictions: %w", err)
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
	if !r.Enabled {
		return nil, pol, nil
	}
	compiled, err := admissionpolicy.Compile(namespace, pol)
	return compiled, pol, err
}

// apply creates obj or updates the existing object when its labels or spec differ. fresh is true
// when it did, or when the object was created less than policySettle ago.
func (r *AdmissionPolicyReconciler) apply(ctx context.Context, obj client.Object) (fresh bool, err error) {
	existing := obj.DeepCopyObject().(client.Object)
	err = r.Get(ctx, client.ObjectKeyFromObject(obj), existing)
	if apierrors.IsNotFound(err) {
		if err := r.Create(ctx, obj); err != nil {
			return false, fmt.Errorf("creating %T %s: %w", obj, obj.GetName(), err)
		}
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("getting %T %s: %w", obj, obj.GetName(), err)
	}
	if equality.Semantic.DeepEqual(specOf(existing), specOf(obj)) && equality.Semantic.DeepEqual(existing.GetLabels(), obj.GetLabels()) {
		// Real time, not r.Clock: this is how long the API server has had to load the object.
		return time.Since(existing.GetCreationTimestamp().Time) < policySettle, nil
	}
	obj.SetResourceVersion(existing.GetResourceVersion())
	if err := r.Update(ctx, obj); err != nil {
		return false, fmt.Errorf("updating %T %s: %w", obj, obj.GetName(), err)
	}
	return false, nil // an update changes policies already in force: nothing to wait for
}

// ensureGate keeps the cluster's placement gate policy (admissionpolicy.Gate), or removes it when
// admission runs through the webhooks only.
func (r *AdmissionPolicyReconciler) ensureGate(ctx context.Context) error {
	policy, binding := admissionpolicy.Gate(r.Excluded)
	if !r.Enabled {
		for _, obj := range []client.Object{binding, policy} {
			if err := r.Delete(ctx, obj); client.IgnoreNotFound(err) != nil {
				return fmt.Errorf("deleting %T %s: %w", obj, obj.GetName(), err)
			}
		}
		return nil
	}
	for _, obj := range []client.Object{policy, binding} {
		if _, err := r.apply(ctx, obj); err != nil {
			return err
		}
	}
	return nil
}

// markCompiled sets or removes PoliciesCompiledLabel: set, the gate no longer holds new pods.
func (r *AdmissionPolicyReconciler) markCompiled(ctx context.Context, ns *corev1.Namespace, inForce bool) error {
	_, marked := ns.Labels[v1alpha1.PoliciesCompiledLabel]
	if marked == inForce {
		return nil
	}
	patch := client.MergeFrom(ns.DeepCopy())
	if inForce {
		if ns.Labels == nil {
			ns.Labels = map[string]string{}
		}
		ns.Labels[v1alpha1.PoliciesCompiledLabel] = "true"
	} else {
		delete(ns.Labels, v1alpha1.PoliciesCompiledLabel)
	}
	if err := r.Patch(ctx, ns, patch); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("labelling namespace: %w", err)
	}
	return nil
}

// releaseGated removes the placement gate from the namespace's gated pods, placing each in the
// same update as admission would have at creation (engine.PlacePod and IntersectPlacement, the
// webhook's path): a gated pod's affinity may still be narrowed. The compiled policies match the
// release too and check it. A pod that cannot be placed that way (its own required terms times
// several permitted terms change the number of terms, which the API server refuses for a gated
// pod) is evicted when a controller owns it, so that it is recreated through admission; a pod its
// Enforce stores refuse stays gated. Both are reported on the pod.
func (r *AdmissionPolicyReconciler) releaseGated(ctx context.Context, namespace string, pol *engine.Policies) error {
	var pods corev1.PodList
	if err := r.List(ctx, &pods, client.InNamespace(namespace), client.MatchingFields{podPlacementGateIndex: "true"}); err != nil {
		return fmt.Errorf("listing gated pods: %w", err)
	}
	for i := range pods.Items {
		pod := pods.Items[i].DeepCopy()
		base := pod.DeepCopy()
		pod.Spec.SchedulingGates = slices.DeleteFunc(pod.Spec.SchedulingGates, func(g corev1.PodSchedulingGate) bool { return g.Name == v1alpha1.PlacementGate })
		if len(pod.Spec.SchedulingGates) == len(base.Spec.SchedulingGates) {
			continue
		}
		facts := engine.FactsOf(pod.Labels, &pod.Spec)
		facts.NodeName = "" // gated pods are not bound
		a := engine.AdmitPod(pol, &facts)
		if len(a.Denied) > 0 {
			// What admission would refuse at creation stays gated: Enforce stores forbid it.
			r.Recorder.Eventf(pod, nil, corev1.EventTypeWarning, EventPlacementRefused, "Release",
				"the pod stays gated: %s", engine.DenialMessage(a.Denied))
			continue
		}
		if a.Affinity != nil {
			pod.Spec.Affinity = a.Affinity
			if pod.Annotations == nil {
				pod.Annotations = map[string]string{}
			}
			maps.Copy(pod.Annotations, a.Annotations)
		}
		// Optimistic: a pod changed since the cache read it is released on the next event.
		err := r.Patch(ctx, pod, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}))
		switch {
		case err == nil, apierrors.IsNotFound(err), apierrors.IsConflict(err):
		case apierrors.IsInvalid(err) || apierrors.IsForbidden(err):
			if metav1.GetControllerOf(base) == nil {
				r.Recorder.Eventf(base, nil, corev1.EventTypeWarning, EventPlacementRefused, "Release",
					"the pod stays gated, it cannot be placed on release: %v. Fix: delete and recreate it; it is placed at creation now", err)
				continue
			}
			evictErr := r.SubResource("eviction").Create(ctx, base, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: base.Name, Namespace: base.Namespace}})
			if client.IgnoreNotFound(evictErr) != nil {
				return fmt.Errorf("evicting gated pod %s: %w", base.Name, evictErr)
			}
			r.Recorder.Eventf(base, nil, corev1.EventTypeNormal, EventPlacementRefused, "Release",
				"evicted while gated (it never ran), so that its controller recreates it through admission: %v", err)
		default:
			return fmt.Errorf("releasing gated pod %s: %w", base.Name, err)
		}
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
		items, err := meta.ExtractList(list)
		if err != nil {
			return fmt.Errorf("reading compiled policies: %w", err)
		}
		objs := make([]client.Object, 0, len(items))
		for _, item := range items {
			objs = append(objs, item.(client.Object))
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
	// Status updates (type checking) do not change the generation; edits and deletions do.
	compiled := builder.WithPredicates(predicate.GenerationChangedPredicate{}, predicate.NewPredicateFuncs(func(obj client.Object) bool {
		return obj.GetLabels()[admissionpolicy.ManagedByLabel] == admissionpolicy.ManagedBy
	}))
	toGate := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, obj client.Object) []reconcile.Request {
		if obj.GetName() != admissionpolicy.GateName {
			return nil
		}
		return []reconcile.Request{{}}
	})
	gated := builder.WithPredicates(predicate.NewPredicateFuncs(func(obj client.Object) bool {
		pod, ok := obj.(*corev1.Pod)
		return ok && slices.ContainsFunc(pod.Spec.SchedulingGates, func(g corev1.PodSchedulingGate) bool { return g.Name == v1alpha1.PlacementGate })
	}))
	labels := builder.WithPredicates(predicate.LabelChangedPredicate{})
	if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		// The gate must exist before any namespace awaits its policies, not after the first event.
		return wait.PollUntilContextCancel(ctx, time.Second, true, func(ctx context.Context) (bool, error) {
			if err := r.ensureGate(ctx); err != nil {
				log.FromContext(ctx).Error(err, "keeping the placement gate policy")
				return false, nil
			}
			return true, nil
		})
	})); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("admission-policy").
		Watches(&corev1.Namespace{}, &handler.EnqueueRequestForObject{}, labels).
		Watches(&v1alpha1.PersonalDataStore{}, toNamespace).
		Watches(&v1alpha1.ResidencyException{}, toNamespace).
		Watches(&corev1.Pod{}, toNamespace, gated).
		Watches(&v1alpha1.Jurisdiction{}, toGoverned, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&admissionregistrationv1.MutatingAdmissionPolicy{}, toCompiledFor, compiled).
		Watches(&admissionregistrationv1.MutatingAdmissionPolicyBinding{}, toCompiledFor, compiled).
		Watches(&admissionregistrationv1.ValidatingAdmissionPolicy{}, toCompiledFor, compiled).
		Watches(&admissionregistrationv1.ValidatingAdmissionPolicyBinding{}, toCompiledFor, compiled).
		Watches(&admissionregistrationv1.MutatingAdmissionPolicy{}, toGate).
		Watches(&admissionregistrationv1.MutatingAdmissionPolicyBinding{}, toGate).
		Complete(r)
}
