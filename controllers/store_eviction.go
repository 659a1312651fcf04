package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
	"github.com/residency-operator/residency-operator/internal/engine"
)

// How soon a store comes back after an eviction could not happen now.
const (
	evictionBlockedRetry = 10 * time.Second
	evictionRateRetry    = time.Second
)

// Evictor evicts pods through the Eviction API, so PodDisruptionBudgets are honoured, at a rate
// shared by every store: a relabelled region must not drain a whole application at once.
type Evictor struct {
	client.Client
	Limiter *rate.Limiter
	// Brake pauses every eviction when many pods became violations at once; nil disables it.
	Brake *Brake

	mu     sync.Mutex
	recent map[types.UID]time.Time // pods evicted lately, whose deletion the cache may not show yet
	// held are the stores holding evictions: which pods (for Events on transitions only) and the
	// jurisdictions whose nodes could end the hold (for the node watch). Bounded by the stores.
	held map[types.NamespacedName]heldRecord
	// firstSeen is when each violating object of a store was first seen, by UID: status lists
	// only maxListedViolations, and an object beyond them must not have its eviction clock restart
	// on every reconcile. Replaced by each audit, so bounded by the current violations; lost on a
	// restart, when the clocks of unlisted objects restart (later evictions, never earlier).
	firstSeen map[types.NamespacedName]map[types.UID]metav1.Time
}

// sinceOf returns, for each violating object of the audit (by UID), when it was first seen as
// recorded by an earlier audit, and records now for the others; objects no longer violating are
// forgotten.
func (e *Evictor) sinceOf(store types.NamespacedName, violating []types.UID, now metav1.Time) map[types.UID]metav1.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	before := e.firstSeen[store]
	if len(violating) == 0 {
		delete(e.firstSeen, store)
		return nil
	}
	out := make(map[types.UID]metav1.Time, len(violating))
	for _, uid := range violating {
		if at, ok := before[uid]; ok {
			out[uid] = at
		} else {
			out[uid] = now
		}
	}
	e.firstSeen[store] = out
	return out
}

// forget drops what the Evictor and the brake keep for a store that is gone or going: its held
// evictions, its eviction clocks and its share of the brake's counts (a deleted store's pods must
// not keep the brake engaged, nor its clocks outlive it).
func (e *Evictor) forget(store types.NamespacedName) {
	e.mu.Lock()
	delete(e.held, store)
	delete(e.firstSeen, store)
	e.mu.Unlock()
	e.Brake.Forget(store)
}

type heldRecord struct {
	pods          map[types.UID]bool
	jurisdictions map[string]bool
}

// recentEvictionWindow is how long an evicted pod is not evicted again while the informer cache
// catches up with its deletion.
const recentEvictionWindow = 30 * time.Second

// NewEvictor returns an Evictor allowing perSecond evictions with the given burst.
func NewEvictor(c client.Client, perSecond float64, burst int) *Evictor {
	return &Evictor{Client: c, Limiter: rate.NewLimiter(rate.Limit(perSecond), burst), recent: map[types.UID]time.Time{},
		held: map[types.NamespacedName]heldRecord{}, firstSeen: map[types.NamespacedName]map[types.UID]metav1.Time{}}
}

// setHeld records the evictions a store holds now, replacing what it held before, and returns the
// pods that were not held before. A store that holds nothing is forgotten.
func (e *Evictor) setHeld(store types.NamespacedName, held []heldPod) []heldPod {
	e.mu.Lock()
	defer e.mu.Unlock()
	before := e.held[store].pods
	if len(held) == 0 {
		delete(e.held, store)
		return nil
	}
	rec := heldRecord{pods: map[types.UID]bool{}, jurisdictions: map[string]bool{}}
	var newly []heldPod
	for _, h := range held {
		rec.pods[h.pod.UID] = true
		for _, j := range h.jurisdictions {
			rec.jurisdictions[j] = true
		}
		if !before[h.pod.UID] {
			newly = append(newly, h)
		}
	}
	e.held[store] = rec
	return newly
}

// storesHolding returns the stores holding evictions that a node in the given jurisdictions might
// end.
func (e *Evictor) storesHolding(jurisdictions []string) []types.NamespacedName {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []types.NamespacedName
	for store, rec := range e.held {
		if slices.ContainsFunc(jurisdictions, func(j string) bool { return rec.jurisdictions[j] }) {
			out = append(out, store)
		}
	}
	return out
}

// evictedLately reports whether pod was evicted within the window, forgetting older entries.
func (e *Evictor) evictedLately(pod *corev1.Pod, now time.Time) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for uid, at := range e.recent {
		if now.Sub(at) > recentEvictionWindow {
			delete(e.recent, uid)
		}
	}
	_, ok := e.recent[pod.UID]
	return ok
}

func (e *Evictor) remember(pod *corev1.Pod, now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.recent[pod.UID] = now
}

// enforce evicts the violating pods whose eviction time has come, when eviction helps: a pod
// whose replacement no Ready, schedulable, permitted node could take is held instead (run.held),
// and evicted on a later reconcile once such a node appears. It returns when the store should be
// looked at again (the next eviction time, or a retry).
func (r *StoreReconciler) enforce(ctx context.Context, store *v1alpha1.PersonalDataStore, run *storeRun) (time.Duration, error) {
	var requeue time.Duration
	a, now := run.audit, run.now
	capacity := &capacityCheck{r: r, store: store, now: now, memo: map[string]capacityAnswer{}}
	heldUIDs := map[types.UID]bool{}
	braked, brakeReason, err := r.Evictor.Brake.Engaged(ctx, now)
	if err != nil {
		return requeue, err
	}
	if braked {
		run.braked = brakeReason
	}
	announced := announcedEvictions(store)
	for i := range run.violations {
		v := &run.violations[i]
		if v.EvictionTime == nil {
			continue
		}
		if wait := v.EvictionTime.Sub(now); wait > 0 {
			requeue = minPositive(requeue, wait)
			continue
		}
		if !announced(*v) {
			// The clock ran, but the status that announces the eviction time was never written
			// (kube-apiserver away when the violation was first seen): announce first.
			requeue = minPositive(requeue, time.Second)
			continue
		}
		shared, ok := a.objects[objectKey("Pod", v.Object.Name)].(*corev1.Pod)
		if !ok || r.Evictor.evictedLately(shared, now) {
			continue
		}
		if braked {
			if !heldUIDs[shared.UID] {
				heldUIDs[shared.UID] = true
				run.held = append(run.held, heldPod{pod: shared, why: "evictions are paused cluster-wide by the eviction brake: " + brakeReason})
			}
			requeue = minPositive(requeue, brakeRecheck)
			continue
		}
		answer, err := capacity.forPod(ctx, shared)
		if err != nil {
			return requeue, err
		}
		if !answer.placeable {
			if !heldUIDs[shared.UID] { // a pod with several violations is held once
				heldUIDs[shared.UID] = true
				run.held = append(run.held, heldPod{pod: shared, why: answer.why, jurisdictions: answer.jurisdictions})
			}
			requeue = minPositive(requeue, heldRecheck)
			continue
		}
		if stale, err := capacity.nodeNowPermitted(ctx, shared, answer); err != nil {
			return requeue, err
		} else if stale {
			// The node gained a permitted jurisdiction since the audit read it (a Jurisdiction
			// edit reverted, say): the violation is gone, and the next audit says so.
			requeue = minPositive(requeue, time.Second)
			continue
		}
		pod := shared.DeepCopy() // the audit's pods are the cache's own objects

		if !r.Evictor.Limiter.Allow() {
			requeue = minPositive(requeue, evictionRateRetry)
			continue
		}
		err = r.Evictor.SubResource("eviction").Create(ctx, pod, &policyv1.Eviction{
			ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace},
		})
		switch {
		case err == nil:
			r.Evictor.remember(pod, now)
			run.evicted = append(run.evicted, v1alpha1.RecordedEviction{Pod: v1alpha1.ObjectReference{Kind: "Pod", Name: pod.Name, UID: pod.UID}, Node: pod.Spec.NodeName, Time: metav1.NewTime(now)})
			evictions.WithLabelValues(store.Namespace, store.Name, "evicted").Inc()
			r.Recorder.Eventf(store, nil, corev1.EventTypeWarning, EventEvicted, actionEvict,
				"evicted pod %s: %s; its controller recreates it on a permitted node (%s can take it)", pod.Name, v.Message, answer.node)
			r.Recorder.Eventf(pod, store, corev1.EventTypeWarning, EventEvicted, actionEvict,
				"evicted by store %s: %s", store.Name, v.Message)
		case apierrors.IsNotFound(err):
		case apierrors.IsTooManyRequests(err):
			evictions.WithLabelValues(store.Namespace, store.Name, "blocked").Inc()
			r.Recorder.Eventf(pod, store, corev1.EventTypeWarning, EventEvictionBlocked, actionEvict,
				"eviction for store %s refused (a PodDisruptionBudget allows no disruption now); retrying", store.Name)
			requeue = minPositive(requeue, evictionBlockedRetry)
		default:
			evictions.WithLabelValues(store.Namespace, store.Name, "error").Inc()
			log.FromContext(ctx).Error(err, "evicting pod", "pod", pod.Name)
			requeue = minPositive(requeue, evictionBlockedRetry)
		}
	}
	return requeue, nil
}

// announcedEvictions returns whether the store's stored status (what users were told) announced
// a violation's eviction: it lists the object with an eviction time, or records its clock among
// the unlisted violations (whose Events announced them), or, beyond those records too, counts more
// violations than it records. Objects are matched by UID; entries written before UIDs were, by
// kind and name.
func announcedEvictions(store *v1alpha1.PersonalDataStore) func(v1alpha1.Violation) bool {
	listed := map[string]bool{}
	for _, v := range store.Status.Violations {
		listed[clockKey(v)] = v.EvictionTime != nil
	}
	recorded := map[types.UID]bool{}
	for _, c := range store.Status.UnlistedViolations {
		recorded[c.UID] = true
	}
	uncounted := int(store.Status.ViolationCount) > len(store.Status.Violations)+len(store.Status.UnlistedViolations)
	return func(v v1alpha1.Violation) bool {
		if withTime, ok := listed[clockKey(v)]; ok {
			return withTime
		}
		if withTime, ok := listed[violationKey(v)]; ok { // an entry without a UID
			return withTime
		}
		return recorded[v.Object.UID] || uncounted
	}
}

// clockKey is the key of a violation's clock: its object's UID, or its kind and name when the
// entry has no UID.
func clockKey(v v1alpha1.Violation) string {
	if v.Object.UID != "" {
		return string(v.Object.UID)
	}
	return violationKey(v)
}

// brakeRecheck is how soon a store holding evictions for the brake looks again for a resumption.
const brakeRecheck = 10 * time.Second

// heldRecheck is how soon a store with held evictions looks again even if no watched change
// brings it back (a node watch does, for new or newly Ready, uncordoned or untainted nodes).
const heldRecheck = time.Minute

// heldPod is a violating pod whose eviction is held, and why.
type heldPod struct {
	pod *corev1.Pod
	why string
	// jurisdictions are those whose nodes were looked at: a change to one of their nodes brings
	// the store back.
	jurisdictions []string
}

// capacityAnswer is whether some node could take a pod's replacement.
type capacityAnswer struct {
	placeable     bool
	node          string // the first node found that could
	terms         []corev1.NodeSelectorTerm
	why           string // why none could
	jurisdictions []string
}

// capacityCheck answers, for the violating pods of one reconcile, whether a Ready, schedulable
// node is permitted for each; pods with the same labels and placement share the answer.
type capacityCheck struct {
	r     *StoreReconciler
	store *v1alpha1.PersonalDataStore
	now   time.Time
	pol   *engine.Policies
	memo  map[string]capacityAnswer
}

// nodeNowPermitted reports whether the node a violating pod runs on is, as the cache has it now,
// permitted for it: the audit read the node earlier in the reconcile, and the node controller may
// have relabelled it since.
func (c *capacityCheck) nodeNowPermitted(ctx context.Context, pod *corev1.Pod, answer capacityAnswer) (bool, error) {
	if pod.Spec.NodeName == "" || len(answer.terms) == 0 {
		return false, nil
	}
	var node corev1.Node
	if err := c.r.Get(ctx, client.ObjectKey{Name: pod.Spec.NodeName}, &node); err != nil {
		return false, client.IgnoreNotFound(err)
	}
	return node.Annotations[engine.LocationProblemAnnotation] == "" && engine.NodePermitted(&node, answer.terms), nil
}

// forPod decides with engine.PlacePod what the pod's replacement would be held to (every Enforce
// and Warn store of the namespace that selects it, as admission injects) and with
// engine.PlaceableOn whether a node could take it. It lists only the nodes of one jurisdiction per
// permitted term, through the node index, and stops at the first placeable node.
func (c *capacityCheck) forPod(ctx context.Context, pod *corev1.Pod) (capacityAnswer, error) {
	facts := engine.FactsOf(pod.Labels, &pod.Spec)
	facts.NodeName = "" // the replacement is not bound yet
	key, err := json.Marshal(facts)
	if err != nil {
		return capacityAnswer{}, fmt.Errorf("keying pod placement: %w", err)
	}
	if answer, ok := c.memo[string(key)]; ok {
		return answer, nil
	}
	if c.pol == nil {
		if c.pol, err = c.policies(ctx); err != nil {
			return capacityAnswer{}, err
		}
	}
	answer := capacityAnswer{}
	v := engine.PlacePod(c.pol, pod.Labels)
	terms := v.Terms
	if !v.Constrained() { // an exception lifts the other stores: this store's terms still apply
		if terms, err = engine.RequirementFor(c.store).Terms(nil); err != nil {
			v.TermsErr = err
		}
	}
	switch {
	case v.TermsErr != nil:
		answer.why = fmt.Sprintf("its replacement could not be placed: %v", v.TermsErr)
	case len(terms) == 0:
		answer.why = "the stores that select it permit no common node"
	default:
		answer.terms = terms
		answer.jurisdictions = engine.CandidateJurisdictions(terms)
		tally := map[string]int{}
		seen := 0
	search:
		for _, j := range answer.jurisdictions {
			var nodes corev1.NodeList
			// Read-only: only PlaceableOn looks at them.
			if err := c.r.List(ctx, &nodes, client.MatchingFields{nodeJurisdictionIndex: j}, client.UnsafeDisableDeepCopy); err != nil {
				return capacityAnswer{}, fmt.Errorf("listing nodes of jurisdiction %s: %w", j, err)
			}
			for i := range nodes.Items {
				seen++
				why := engine.PlaceableOn(&nodes.Items[i], &facts, terms)
				if why == engine.Placeable {
					answer.placeable, answer.node = true, nodes.Items[i].Name
					break search
				}
				tally[why]++
			}
		}
		if !answer.placeable {
			answer.why = noCapacityReason(answer.jurisdictions, seen, tally)
		}
	}
	c.memo[string(key)] = answer
	return answer, nil
}

// policies are the namespace's stores and exceptions, which decide what a replacement pod is held
// to at admission.
func (c *capacityCheck) policies(ctx context.Context) (*engine.Policies, error) {
	var stores v1alpha1.PersonalDataStoreList
	if err := c.r.List(ctx, &stores, client.InNamespace(c.store.Namespace), client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing stores: %w", err)
	}
	var exceptions v1alpha1.ResidencyExceptionList
	if err := c.r.List(ctx, &exceptions, client.InNamespace(c.store.Namespace), client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing exceptions: %w", err)
	}
	pol := policiesOf(stores.Items)
	for i := range exceptions.Items {
		pol.Exceptions = append(pol.Exceptions, &exceptions.Items[i])
	}
	pol.Now = c.now
	return pol, nil
}

// noCapacityReason says why no node of the permitted jurisdictions can take a pod.
func noCapacityReason(jurisdictions []string, seen int, tally map[string]int) string {
	if seen == 0 {
		return fmt.Sprintf("no node is in %s", strings.Join(jurisdictions, " or "))
	}
	reasons := make([]string, 0, len(tally))
	for _, why := range slices.Sorted(maps.Keys(tally)) {
		reasons = append(reasons, fmt.Sprintf("%d %s", tally[why], why))
	}
	return fmt.Sprintf("none of the %d nodes in %s can take it (%s)", seen, strings.Join(jurisdictions, " or "), strings.Join(reasons, ", "))
}

var evictions = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "residency_evictions_total",
	Help: "Evictions of pods outside their permitted jurisdictions, by store and result (evicted, blocked, error).",
}, []string{"namespace", "store", "result"})
