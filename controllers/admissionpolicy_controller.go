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

// AdmissionPolicyReconciler keeps, for each namespace with a store, the AdmissionPlan compiled from
// its stores, exceptions and the Jurisdictions (internal/admissionpolicy), and the cluster-wide
// policies that apply every plan, so that kube-apiserver places and checks pods itself. It
// recompiles on every change of those, when an exception starts or expires, and when someone
// edits or deletes a compiled object.
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
// +kubebuilder:rbac:groups=dataresidency.io,resources=admissionplans,verbs=get;list;watch;create;update;delete
// +kubebuilder:rbac:groups="",resources=namespaces;pods,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups="",resources=pods/eviction,verbs=create
// +kubebuilder:rbac:groups=dataresidency.io,resources=personaldatastores;residencyexceptions;jurisdictions,verbs=get;list;watch

// Reconcile compiles the plan of one namespace (the request's name) and makes the cluster's plan
// for it exactly that; the request without a name keeps the cluster-wide policies.
func (r *AdmissionPolicyReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	if req.Name == "" {
		return ctrl.Result{}, r.ensureClusterPolicies(ctx)
	}
	namespace := req.Name
	ns := &corev1.Namespace{}
	if err := r.Get(ctx, client.ObjectKey{Name: namespace}, ns); apierrors.IsNotFound(err) {
		ns = nil
	} else if err != nil {
		return ctrl.Result{}, fmt.Errorf("getting namespace: %w", err)
	}
	plan, recompile, pol, err := r.compile(ctx, ns)
	if errors.Is(err, admissionpolicy.ErrTooManySelections) {
		// Keep what was compiled before: removing it would leave the namespace's pods unplaced.
		r.Recorder.Eventf(ns, nil, corev1.EventTypeWarning, EventAdmissionNotCompiled, "Compile", "%v", err)
		return ctrl.Result{}, reconcile.TerminalError(err)
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	var result ctrl.Result
	if !recompile.IsZero() {
		result.RequeueAfter = recompile.Sub(r.Clock.Now())
	}
	if plan == nil {
		// Out of force first, then gone: a namespace still marked without a plan refuses pods.
		if ns != nil && ns.DeletionTimestamp.IsZero() {
			if err := r.markCompiled(ctx, ns, false, false); err != nil {
				return ctrl.Result{}, err
			}
		}
		// The cache first: most namespaces never had a plan, and a delete per event would be a
		// write per store status update.
		stale := &v1alpha1.AdmissionPlan{}
		err := r.Get(ctx, client.ObjectKey{Namespace: namespace, Name: v1alpha1.AdmissionPlanName}, stale)
		if client.IgnoreNotFound(err) != nil {
			return ctrl.Result{}, fmt.Errorf("getting the admission plan: %w", err)
		}
		if err == nil {
			if err := r.Delete(ctx, stale); client.IgnoreNotFound(err) != nil {
				return ctrl.Result{}, fmt.Errorf("deleting the admission plan: %w", err)
			}
		}
	} else {
		if err := r.apply(ctx, plan); err != nil {
			return ctrl.Result{}, err
		}
		// kube-apiserver reads plans through its informer: until it has had policySettle to read
		// the last version, the namespace is not marked, which would put the plan in force and
		// stop pods being gated. Once marked, a new version replaces one already in force. The
		// time is on the plan, so a new leader waits as the old one would have.
		if _, marked := ns.Labels[v1alpha1.PoliciesCompiledLabel]; !marked {
			written, err := time.Parse(time.RFC3339Nano, plan.Annotations[planWrittenAnnotation])
			if err != nil {
				written = plan.CreationTimestamp.Time // written by hand, or by an earlier release
			}
			if left := policySettle - time.Since(written); left > 0 {
				return ctrl.Result{RequeueAfter: left}, nil
			}
		}
		if err := r.markCompiled(ctx, ns, true, admissionpolicy.Warns(plan)); err != nil {
			return ctrl.Result{}, err
		}
	}
	if ns == nil || !ns.DeletionTimestamp.IsZero() {
		return result, nil
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

// policySettle is how long a newly created compiled object is given to be loaded by every API
// server before it is relied on.
const policySettle = 2 * time.Second

// compile returns the namespace's plan, nil when it should have none (no store, webhook mode),
// when to compile it again, and the policies it was compiled from: nil when the namespace has no
// store (none are in force).
func (r *AdmissionPolicyReconciler) compile(ctx context.Context, ns *corev1.Namespace) (*v1alpha1.AdmissionPlan, time.Time, *engine.Policies, error) {
	if ns == nil || !ns.DeletionTimestamp.IsZero() || slices.Contains(r.Excluded, ns.Name) {
		return nil, time.Time{}, nil, nil
	}
	namespace := ns.Name
	var stores v1alpha1.PersonalDataStoreList
	if err := r.List(ctx, &stores, client.InNamespace(namespace)); err != nil {
		return nil, time.Time{}, nil, fmt.Errorf("listing stores: %w", err)
	}
	if len(stores.Items) == 0 {
		return nil, time.Time{}, nil, nil
	}
	var exceptions v1alpha1.ResidencyExceptionList
	if err := r.List(ctx, &exceptions, client.InNamespace(namespace)); err != nil {
		return nil, time.Time{}, nil, fmt.Errorf("listing exceptions: %w", err)
	}
	var jurisdictions v1alpha1.JurisdictionList
	if err := r.List(ctx, &jurisdictions); err != nil {
		return nil, time.Time{}, nil, fmt.Errorf("listing jurisdictions: %w", err)
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
		return nil, time.Time{}, pol, nil
	}
	plan, recompile, err := admissionpolicy.Compile(namespace, pol)
	return plan, recompile, pol, err
}

// planWrittenAnnotation records on a plan when the operator last wrote it (real time, not
// r.Clock: it is how long the API server has had to load it).
const planWrittenAnnotation = "dataresidency.io/written-at"

// apply creates obj or updates the existing object when its labels or spec differ, stamping
// planWrittenAnnotation when it writes. obj is left as stored: unchanged, it takes the existing
// object's metadata.
func (r *AdmissionPolicyReconciler) apply(ctx context.Context, obj client.Object) error {
	existing := obj.DeepCopyObject().(client.Object)
	err := r.Get(ctx, client.ObjectKeyFromObject(obj), existing)
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("getting %T %s: %w", obj, obj.GetName(), err)
	}
	found := err == nil
	if found && equality.Semantic.DeepEqual(specOf(existing), specOf(obj)) && equality.Semantic.DeepEqual(existing.GetLabels(), obj.GetLabels()) {
		obj.SetAnnotations(existing.GetAnnotations())
		obj.SetCreationTimestamp(existing.GetCreationTimestamp())
		obj.SetResourceVersion(existing.GetResourceVersion())
		return nil
	}
	if _, isPlan := obj.(*v1alpha1.AdmissionPlan); isPlan {
		obj.SetAnnotations(map[string]string{planWrittenAnnotation: time.Now().UTC().Format(time.RFC3339Nano)})
	}
	if !found {
		if err := r.Create(ctx, obj); err != nil {
			return fmt.Errorf("creating %T %s: %w", obj, obj.GetName(), err)
		}
		return nil
	}
	obj.SetResourceVersion(existing.GetResourceVersion())
	if err := r.Update(ctx, obj); err != nil {
		return fmt.Errorf("updating %T %s: %w", obj, obj.GetName(), err)
	}
	return nil
}

// clusterPolicies are the cluster-wide objects the operator keeps: the placement gate and the
// policies that apply the namespaces' plans.
func (r *AdmissionPolicyReconciler) clusterPolicies() []client.Object {
	policy, binding := admissionpolicy.Gate(r.Excluded)
	return append([]client.Object{policy, binding}, admissionpolicy.Policies(r.Excluded)...)
}

// ensureClusterPolicies keeps the cluster-wide policies, or removes them when admission runs
// through the webhooks only, and removes the per-namespace policies of earlier releases.
func (r *AdmissionPolicyReconciler) ensureClusterPolicies(ctx context.Context) error {
	ours := r.clusterPolicies()
	if r.Enabled {
		for _, obj := range ours {
			if err := r.apply(ctx, obj); err != nil {
				return err
			}
		}
	} else {
		for _, obj := range slices.Backward(ours) {
			if err := r.Delete(ctx, obj); client.IgnoreNotFound(err) != nil {
				return fmt.Errorf("deleting %T %s: %w", obj, obj.GetName(), err)
			}
		}
	}
	for _, newList := range legacyKinds {
		list := newList()
		if err := r.List(ctx, list, client.HasLabels{legacyCompiledForLabel}); err != nil {
			return fmt.Errorf("listing earlier releases' compiled policies: %w", err)
		}
		items, err := meta.ExtractList(list)
		if err != nil {
			return fmt.Errorf("reading earlier releases' compiled policies: %w", err)
		}
		for _, item := range items {
			obj := item.(client.Object)
			if err := r.Delete(ctx, obj); client.IgnoreNotFound(err) != nil {
				return fmt.Errorf("deleting %T %s: %w", obj, obj.GetName(), err)
			}
		}
	}
	return nil
}

// markCompiled sets or removes PoliciesCompiledLabel (set, the gate no longer holds new pods) and
// PoliciesWarnLabel (set, the warn policy is evaluated too).
func (r *AdmissionPolicyReconciler) markCompiled(ctx context.Context, ns *corev1.Namespace, inForce, warns bool) error {
	_, marked := ns.Labels[v1alpha1.PoliciesCompiledLabel]
	_, warnMarked := ns.Labels[v1alpha1.PoliciesWarnLabel]
	warns = warns && inForce
	if marked == inForce && warnMarked == warns {
		return nil
	}
	patch := client.MergeFrom(ns.DeepCopy())
	if ns.Labels == nil {
		ns.Labels = map[string]string{}
	}
	for label, set := range map[string]bool{v1alpha1.PoliciesCompiledLabel: inForce, v1alpha1.PoliciesWarnLabel: warns} {
		if set {
			ns.Labels[label] = "true"
		} else {
			delete(ns.Labels, label)
		}
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
	case *v1alpha1.AdmissionPlan:
		return &o.Spec
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

// legacyCompiledForLabel marked the per-namespace policies earlier releases compiled; only those
// are swept, never a policy the operator did not write.
const legacyCompiledForLabel = "dataresidency.io/compiled-for"

// legacyKinds are the kinds of those policies, validating before mutating so that removing them
// never leaves a check without the mutation it checks.
var legacyKinds = []func() client.ObjectList{
	func() client.ObjectList { return &admissionregistrationv1.ValidatingAdmissionPolicyBindingList{} },
	func() client.ObjectList { return &admissionregistrationv1.ValidatingAdmissionPolicyList{} },
	func() client.ObjectList { return &admissionregistrationv1.MutatingAdmissionPolicyBindingList{} },
	func() client.ObjectList { return &admissionregistrationv1.MutatingAdmissionPolicyList{} },
}

// SetupWithManager recompiles a namespace on changes of its stores, exceptions and plan, and of
// any Jurisdiction (every namespace with a store); it restores the cluster-wide policies when
// someone edits or deletes them.
func (r *AdmissionPolicyReconciler) SetupWithManager(mgr ctrl.Manager) error {
	toNamespace := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, obj client.Object) []reconcile.Request {
		return []reconcile.Request{{NamespacedName: client.ObjectKey{Name: obj.GetNamespace()}}}
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
	toCluster := handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request {
		return []reconcile.Request{{}}
	})
	// Status updates (type checking) do not change the generation; edits and deletions do.
	compiled := builder.WithPredicates(predicate.GenerationChangedPredicate{}, predicate.NewPredicateFuncs(func(obj client.Object) bool {
		return obj.GetLabels()[admissionpolicy.ManagedByLabel] == admissionpolicy.ManagedBy
	}))
	gated := builder.WithPredicates(predicate.NewPredicateFuncs(func(obj client.Object) bool {
		pod, ok := obj.(*corev1.Pod)
		return ok && slices.ContainsFunc(pod.Spec.SchedulingGates, func(g corev1.PodSchedulingGate) bool { return g.Name == v1alpha1.PlacementGate })
	}))
	labels := builder.WithPredicates(predicate.LabelChangedPredicate{})
	if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		// The gate must exist before any namespace awaits its policies, not after the first event.
		return wait.PollUntilContextCancel(ctx, time.Second, true, func(ctx context.Context) (bool, error) {
			if err := r.ensureClusterPolicies(ctx); err != nil {
				log.FromContext(ctx).Error(err, "keeping the cluster-wide admission policies")
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
		Watches(&v1alpha1.AdmissionPlan{}, toNamespace, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&corev1.Pod{}, toNamespace, gated).
		Watches(&v1alpha1.Jurisdiction{}, toGoverned, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&admissionregistrationv1.MutatingAdmissionPolicy{}, toCluster, compiled).
		Watches(&admissionregistrationv1.MutatingAdmissionPolicyBinding{}, toCluster, compiled).
		Watches(&admissionregistrationv1.ValidatingAdmissionPolicy{}, toCluster, compiled).
		Watches(&admissionregistrationv1.ValidatingAdmissionPolicyBinding{}, toCluster, compiled).
		Complete(r)
}
