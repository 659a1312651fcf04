package controllers

import (
	"context"
	"maps"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
	"github.com/residency-operator/residency-operator/internal/engine"
)

// Index keys the store controller lists through; see indexers.go for the node indexes.
const (
	podNodeIndex           = "spec.nodeName"
	podClaimIndex          = "residency.pod.claim"
	storeJurisdictionIndex = "residency.store.jurisdiction"
	exceptionStoreIndex    = "residency.exception.store"
	storeProcessorIndex    = "residency.store.processor"
)

func setupStoreIndexers(ctx context.Context, mgr ctrl.Manager) error {
	indexer := mgr.GetFieldIndexer()
	if err := indexer.IndexField(ctx, &corev1.Pod{}, podNodeIndex, func(obj client.Object) []string {
		if n := obj.(*corev1.Pod).Spec.NodeName; n != "" {
			return []string{n}
		}
		return nil
	}); err != nil {
		return err
	}
	if err := indexer.IndexField(ctx, &corev1.Pod{}, podClaimIndex, func(obj client.Object) []string {
		return podClaimNames(obj.(*corev1.Pod))
	}); err != nil {
		return err
	}
	if err := indexer.IndexField(ctx, &v1alpha1.PersonalDataStore{}, storeJurisdictionIndex, func(obj client.Object) []string {
		var out []string
		for _, j := range obj.(*v1alpha1.PersonalDataStore).Spec.AllowedJurisdictions {
			out = append(out, string(j))
		}
		return out
	}); err != nil {
		return err
	}
	if err := indexer.IndexField(ctx, &v1alpha1.PersonalDataStore{}, storeProcessorIndex, func(obj client.Object) []string {
		var out []string
		for _, p := range obj.(*v1alpha1.PersonalDataStore).Spec.Processors {
			out = append(out, string(p))
		}
		return out
	}); err != nil {
		return err
	}
	return indexer.IndexField(ctx, &v1alpha1.ResidencyException{}, exceptionStoreIndex, func(obj client.Object) []string {
		var out []string
		for _, s := range obj.(*v1alpha1.ResidencyException).Spec.Stores {
			out = append(out, string(s))
		}
		return out
	})
}

// SetupWithManager maps every change that can move a store's audit to that store only: pods by
// the stores selecting them, nodes by the pods on them (and, for stores holding evictions, by the
// jurisdictions they need a node in), claims and volumes by the stores and pods
// using them, Jurisdictions and exceptions by the stores naming them.
func (r *StoreReconciler) SetupWithManager(mgr ctrl.Manager) error {
	b := ctrl.NewControllerManagedBy(mgr)
	if r.MultiCluster != nil {
		// Karmada's and OCM's kinds may be served only later: their watches start then, and
		// bring the namespace's stores back through this channel.
		b = b.WatchesRawSource(r.MultiCluster.storeSource())
	}
	return b.
		Named("personaldatastore").
		For(&v1alpha1.PersonalDataStore{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: 4}).
		Watches(&corev1.Pod{}, batched{handler.EnqueueRequestsFromMapFunc(r.storesOfPod), podEventBatch}, builder.WithPredicates(podPlacementChanged)).
		Watches(&corev1.Node{}, handler.EnqueueRequestsFromMapFunc(r.storesOfNode), builder.WithPredicates(nodeLocationChanged)).
		// A node that could now take held evictions' pods brings back the stores holding them.
		Watches(&corev1.Node{}, handler.EnqueueRequestsFromMapFunc(r.storesHoldingEvictions), builder.WithPredicates(nodeCapacityChanged)).
		Watches(&corev1.PersistentVolumeClaim{}, handler.EnqueueRequestsFromMapFunc(r.storesOfClaim), builder.WithPredicates(claimChanged)).
		Watches(&corev1.PersistentVolume{}, handler.EnqueueRequestsFromMapFunc(r.storesOfVolume), builder.WithPredicates(volumeChanged)).
		Watches(&v1alpha1.Jurisdiction{}, handler.EnqueueRequestsFromMapFunc(r.storesByIndex(storeJurisdictionIndex))).
		Watches(&v1alpha1.ResidencyException{}, handler.EnqueueRequestsFromMapFunc(storesOfException)).
		Watches(&v1alpha1.DataProcessor{}, handler.EnqueueRequestsFromMapFunc(r.storesByIndex(storeProcessorIndex)),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		// By name, not owner: a user's same-named policy going away must bring the store back too.
		Watches(&networkingv1.NetworkPolicy{}, handler.EnqueueRequestsFromMapFunc(r.storesOfNetworkPolicy)).
		Complete(r)
}

// podEventBatch is how long a store waits after one of its pods changes before it is audited: the
// pod events of a rollout within that time come to one audit and one status write, not one per
// pod (each audit reads all the store's pods). Status is at most this much behind its pods.
const podEventBatch = time.Second

// batched enqueues what its handler enqueues after delay. The work queue keeps an item's earliest
// time, so events in a stream do not postpone each other: one reconcile per delay at most.
type batched struct {
	handler.EventHandler
	delay time.Duration
}

func (b batched) Create(ctx context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	b.EventHandler.Create(ctx, e, delayedQueue{q, b.delay})
}

func (b batched) Update(ctx context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	b.EventHandler.Update(ctx, e, delayedQueue{q, b.delay})
}

func (b batched) Delete(ctx context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	b.EventHandler.Delete(ctx, e, delayedQueue{q, b.delay})
}

func (b batched) Generic(ctx context.Context, e event.GenericEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	b.EventHandler.Generic(ctx, e, delayedQueue{q, b.delay})
}

// delayedQueue turns Add into AddAfter.
type delayedQueue struct {
	workqueue.TypedRateLimitingInterface[reconcile.Request]
	delay time.Duration
}

func (q delayedQueue) Add(item reconcile.Request) { q.AddAfter(item, q.delay) }

// storeSelectorCache lists a namespace's stores once per map call, however many objects map.
type storeSelectorCache struct {
	r       *StoreReconciler
	byNS    map[string]*engine.Policies
	context context.Context
}

func (c *storeSelectorCache) policies(ns string) *engine.Policies {
	if p, ok := c.byNS[ns]; ok {
		return p
	}
	var list v1alpha1.PersonalDataStoreList
	// The stores are only matched, never changed: no copies.
	if err := c.r.List(c.context, &list, client.InNamespace(ns), client.UnsafeDisableDeepCopy); err != nil {
		// The event is dropped for this namespace; the store's own watch and the next change of
		// the object bring the store back.
		log.FromContext(c.context).Error(err, "listing stores for a watch event", "namespace", ns)
		return &engine.Policies{}
	}
	c.byNS[ns] = policiesOf(list.Items)
	return c.byNS[ns]
}

func newStoreSelectorCache(ctx context.Context, r *StoreReconciler) *storeSelectorCache {
	return &storeSelectorCache{r: r, byNS: map[string]*engine.Policies{}, context: ctx}
}

// matching adds requests for the stores of ns whose selector of kind which selects l: the
// engine's rule for which stores govern an object.
func (c *storeSelectorCache) matching(ns string, l map[string]string, which engine.SelectorKind, into map[reconcile.Request]bool) {
	for _, s := range engine.Matching(c.policies(ns), which, l) {
		into[reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: s.Name}}] = true
	}
}

// policiesOf wraps a namespace's stores for the engine.
func policiesOf(stores []v1alpha1.PersonalDataStore) *engine.Policies {
	p := &engine.Policies{Stores: make([]*v1alpha1.PersonalDataStore, len(stores))}
	for i := range stores {
		p.Stores[i] = &stores[i]
	}
	return p
}

func requests(set map[reconcile.Request]bool) []reconcile.Request {
	out := make([]reconcile.Request, 0, len(set))
	for req := range set {
		out = append(out, req)
	}
	return out
}

// storesOfPod maps a pod to the stores that select it, and to those that govern a claim it mounts
// (they govern the pod too).
func (r *StoreReconciler) storesOfPod(ctx context.Context, obj client.Object) []reconcile.Request {
	set := map[reconcile.Request]bool{}
	cache := newStoreSelectorCache(ctx, r)
	cache.matching(obj.GetNamespace(), obj.GetLabels(), engine.Workload, set)
	if pod, ok := obj.(*corev1.Pod); ok {
		for _, name := range podClaimNames(pod) {
			claim := &corev1.PersistentVolumeClaim{}
			if err := r.Get(ctx, client.ObjectKey{Namespace: pod.Namespace, Name: name}, claim); err != nil {
				continue // not there yet: the claim's own event brings its stores
			}
			cache.matching(pod.Namespace, claim.Labels, engine.Volume, set)
		}
	}
	return requests(set)
}

func (r *StoreReconciler) storesOfNode(ctx context.Context, obj client.Object) []reconcile.Request {
	var pods corev1.PodList
	if err := r.List(ctx, &pods, client.MatchingFields{podNodeIndex: obj.GetName()}, client.UnsafeDisableDeepCopy); err != nil {
		log.FromContext(ctx).Error(err, "listing pods of a changed node", "node", obj.GetName())
		return nil
	}
	cache := newStoreSelectorCache(ctx, r)
	set := map[reconcile.Request]bool{}
	for i := range pods.Items {
		cache.matching(pods.Items[i].Namespace, pods.Items[i].Labels, engine.Workload, set)
	}
	return requests(set)
}

func (r *StoreReconciler) storesOfClaim(ctx context.Context, obj client.Object) []reconcile.Request {
	cache := newStoreSelectorCache(ctx, r)
	set := map[reconcile.Request]bool{}
	cache.matching(obj.GetNamespace(), obj.GetLabels(), engine.Volume, set)
	var pods corev1.PodList
	if err := r.List(ctx, &pods, client.InNamespace(obj.GetNamespace()), client.MatchingFields{podClaimIndex: obj.GetName()}); err != nil {
		log.FromContext(ctx).Error(err, "listing pods of a changed claim", "claim", obj.GetName())
		return requests(set)
	}
	for i := range pods.Items {
		cache.matching(pods.Items[i].Namespace, pods.Items[i].Labels, engine.Workload, set)
	}
	return requests(set)
}

func (r *StoreReconciler) storesOfVolume(ctx context.Context, obj client.Object) []reconcile.Request {
	ref := obj.(*corev1.PersistentVolume).Spec.ClaimRef
	if ref == nil {
		return nil
	}
	claim := &corev1.PersistentVolumeClaim{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: ref.Namespace, Name: ref.Name}, claim); err != nil {
		return nil
	}
	return r.storesOfClaim(ctx, claim)
}

// storesByIndex maps an object to the stores whose index entry names it (a Jurisdiction or a
// DataProcessor by name).
func (r *StoreReconciler) storesByIndex(index string) handler.MapFunc {
	return func(ctx context.Context, obj client.Object) []reconcile.Request {
		var list v1alpha1.PersonalDataStoreList
		if err := r.List(ctx, &list, client.MatchingFields{index: obj.GetName()}); err != nil {
			log.FromContext(ctx).Error(err, "listing stores for a watch event", "index", index, "name", obj.GetName())
			return nil
		}
		out := make([]reconcile.Request, 0, len(list.Items))
		for i := range list.Items {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
		}
		return out
	}
}

// storesHoldingEvictions maps a node to the stores holding evictions that looked for nodes in one
// of its jurisdictions: only they can be helped by it.
func (r *StoreReconciler) storesHoldingEvictions(_ context.Context, obj client.Object) []reconcile.Request {
	stores := r.Evictor.storesHolding(engine.LabelledJurisdictions(obj.GetLabels()))
	out := make([]reconcile.Request, 0, len(stores))
	for _, s := range stores {
		out = append(out, reconcile.Request{NamespacedName: s})
	}
	return out
}

// storesOfNetworkPolicy maps a NetworkPolicy to the stores of its namespace that restrict egress:
// their own policy (by name, so that a person's same-named policy going away brings the store
// back too), and any other, which may widen what theirs allows.
func (r *StoreReconciler) storesOfNetworkPolicy(ctx context.Context, obj client.Object) []reconcile.Request {
	var out []reconcile.Request
	if name, ok := strings.CutPrefix(obj.GetName(), "residency-"); ok {
		out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: obj.GetNamespace(), Name: name}})
	}
	var stores v1alpha1.PersonalDataStoreList
	if err := r.List(ctx, &stores, client.InNamespace(obj.GetNamespace()), client.UnsafeDisableDeepCopy); err != nil {
		log.FromContext(ctx).Error(err, "listing the stores of a NetworkPolicy's namespace", "networkPolicy", obj.GetName())
		return out
	}
	for i := range stores.Items {
		if s := &stores.Items[i]; s.Spec.Egress == v1alpha1.EgressRestrict && "residency-"+s.Name != obj.GetName() {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(s)})
		}
	}
	return out
}

func storesOfException(_ context.Context, obj client.Object) []reconcile.Request {
	ex := obj.(*v1alpha1.ResidencyException)
	out := make([]reconcile.Request, 0, len(ex.Spec.Stores))
	for _, s := range ex.Spec.Stores {
		out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ex.Namespace, Name: string(s)}})
	}
	return out
}

// podPlacementChanged passes pod updates that can change a store's audit; status heartbeats,
// readiness flips and the operator's own evidence annotations do not.
var podPlacementChanged = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		o, okO := e.ObjectOld.(*corev1.Pod)
		n, okN := e.ObjectNew.(*corev1.Pod)
		if !okO || !okN {
			return true
		}
		return !maps.Equal(o.Labels, n.Labels) || o.Spec.NodeName != n.Spec.NodeName ||
			o.Status.Phase != n.Status.Phase || o.DeletionTimestamp.IsZero() != n.DeletionTimestamp.IsZero()
	},
}

// nodeCapacityChanged passes the node events that can make a node able to take a pod: a node in
// a jurisdiction appearing, or one whose labels, cordon, taints or readiness change. Heartbeats
// and deletions do not add capacity.
var nodeCapacityChanged = predicate.Funcs{
	CreateFunc: func(e event.CreateEvent) bool {
		return len(engine.LabelledJurisdictions(e.Object.GetLabels())) > 0
	},
	UpdateFunc: func(e event.UpdateEvent) bool {
		o, okO := e.ObjectOld.(*corev1.Node)
		n, okN := e.ObjectNew.(*corev1.Node)
		if !okO || !okN {
			return true
		}
		if len(engine.LabelledJurisdictions(n.Labels)) == 0 {
			return false
		}
		return !maps.Equal(o.Labels, n.Labels) || o.Spec.Unschedulable != n.Spec.Unschedulable ||
			!equality.Semantic.DeepEqual(o.Spec.Taints, n.Spec.Taints) || nodeReadyStatus(o) != nodeReadyStatus(n)
	},
	DeleteFunc:  func(event.DeleteEvent) bool { return false },
	GenericFunc: func(event.GenericEvent) bool { return false },
}

func nodeReadyStatus(n *corev1.Node) corev1.ConditionStatus {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status
		}
	}
	return corev1.ConditionUnknown
}

var claimChanged = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		o, okO := e.ObjectOld.(*corev1.PersistentVolumeClaim)
		n, okN := e.ObjectNew.(*corev1.PersistentVolumeClaim)
		if !okO || !okN {
			return true
		}
		return !maps.Equal(o.Labels, n.Labels) || o.Spec.VolumeName != n.Spec.VolumeName ||
			o.DeletionTimestamp.IsZero() != n.DeletionTimestamp.IsZero()
	},
}

var volumeChanged = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		o, okO := e.ObjectOld.(*corev1.PersistentVolume)
		n, okN := e.ObjectNew.(*corev1.PersistentVolume)
		if !okO || !okN {
			return true
		}
		return !maps.Equal(o.Labels, n.Labels) || !equality.Semantic.DeepEqual(o.Spec.NodeAffinity, n.Spec.NodeAffinity) ||
			!equality.Semantic.DeepEqual(o.Spec.ClaimRef, n.Spec.ClaimRef)
	},
}
