package controllers

import (
	"context"
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

	mu     sync.Mutex
	recent map[types.UID]time.Time // pods evicted lately, whose deletion the cache may not show yet
}

// recentEvictionWindow is how long an evicted pod is not evicted again while the informer cache
// catches up with its deletion.
const recentEvictionWindow = 30 * time.Second

// NewEvictor returns an Evictor allowing perSecond evictions with the given burst.
func NewEvictor(c client.Client, perSecond float64, burst int) *Evictor {
	return &Evictor{Client: c, Limiter: rate.NewLimiter(rate.Limit(perSecond), burst), recent: map[types.UID]time.Time{}}
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

// enforce evicts the violating pods whose eviction time has come and returns when the store
// should be looked at again (the next eviction time, or a retry).
func (r *StoreReconciler) enforce(ctx context.Context, store *v1alpha1.PersonalDataStore, violations []v1alpha1.Violation, a *auditResult, now time.Time) time.Duration {
	var requeue time.Duration
	for i := range violations {
		v := &violations[i]
		if v.EvictionTime == nil {
			continue
		}
		if wait := v.EvictionTime.Sub(now); wait > 0 {
			requeue = minPositive(requeue, wait)
			continue
		}
		shared, ok := a.objects[objectKey("Pod", v.Object.Name)].(*corev1.Pod)
		if !ok || r.Evictor.evictedLately(shared, now) {
			continue
		}
		pod := shared.DeepCopy() // the audit's pods are the cache's own objects

		if !r.Evictor.Limiter.Allow() {
			requeue = minPositive(requeue, evictionRateRetry)
			continue
		}
		err := r.Evictor.SubResource("eviction").Create(ctx, pod, &policyv1.Eviction{
			ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace},
		})
		switch {
		case err == nil:
			r.Evictor.remember(pod, now)
			evictions.WithLabelValues(store.Namespace, store.Name, "evicted").Inc()
			r.Recorder.Eventf(store, nil, corev1.EventTypeWarning, EventEvicted, actionEvict,
				"evicted pod %s: %s; its controller recreates it on a permitted node", pod.Name, v.Message)
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
	return requeue
}

var evictions = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "residency_evictions_total",
	Help: "Evictions of pods outside their permitted jurisdictions, by store and result (evicted, blocked, error).",
}, []string{"namespace", "store", "result"})
