package controllers

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// +kubebuilder:rbac:groups="",namespace=system,resources=configmaps,verbs=get;create;update

// The eviction brake's ConfigMap, in the operator's namespace, is its state: it survives restarts
// and is where a person resumes evictions.
const (
	BrakeConfigMap = "residency-eviction-brake"
	// BrakeResumeAnnotation set to "true" on the ConfigMap resumes evictions.
	BrakeResumeAnnotation = "dataresidency.io/resume"
	brakeStateKey         = "state"
	brakeEngaged          = "Engaged"
	brakeResumed          = "Resumed"
	// brakeReadEvery bounds how often enforcing reads the ConfigMap from the API server.
	brakeReadEvery = 2 * time.Second
)

var brakeGauge = prometheus.NewGauge(prometheus.GaugeOpts{
	Name: "residency_eviction_brake_engaged",
	Help: "1 while the eviction brake pauses every eviction of the cluster, until a person resumes them.",
})

func init() { metrics.Registry.MustRegister(brakeGauge) }

// Brake pauses every eviction of the cluster when a large share of the governed pods became
// violations at once (within Window): a Jurisdiction edited wrongly, a changed node label format,
// a trust change. Evicting then would take applications down for what is more likely a mistake in
// the policy than in the placement; like kube-controller-manager's node lifecycle controller,
// which stops evicting when a whole zone looks unhealthy, it stops and says so. It stays engaged
// until a person resumes it; violations first seen before the resumption do not engage it again.
type Brake struct {
	// Share of governed pods, above which evictions pause; MinPods is the least number of new
	// violations that can engage it (two of three pods is no fleet-wide event). The same share of
	// a Jurisdiction's nodes losing its label within the window engages it too, from MinNodes
	// nodes: few pods may run there, but their stores' whole capacity is moving.
	Share    float64
	MinPods  int
	MinNodes int
	Window   time.Duration
	// Namespace is the operator's: where the ConfigMap is.
	Namespace string
	Client    client.Client
	// Reader reads the ConfigMap from the API server (no cache of ConfigMaps).
	Reader client.Reader

	mu       sync.Mutex
	governed map[types.NamespacedName]int
	// recent counts each store's pods first seen violating within the window, after the last
	// resumption, as of its last audit: the fleet sum costs one addition per store.
	recent map[types.NamespacedName]int
	// lostNodes are, per Jurisdiction, the nodes that lost its label within the window (after the
	// last resumption), and when. Bounded by the nodes.
	lostNodes map[string]map[string]time.Time
	// engagements counts engagements in this process: a read of the ConfigMap that began before
	// one must not switch the brake off.
	engagements int
	engaged     bool
	reason      string
	resumed     time.Time
	readAt      time.Time
}

// Observe records a store's governed pods and when each of its violating pods was first seen,
// and engages the brake when the cluster-wide share of pods first seen violating within the
// window, since the last resumption, exceeds Share.
func (b *Brake) Observe(ctx context.Context, store types.NamespacedName, governed int, since []time.Time, now time.Time) error {
	if b == nil {
		return nil
	}
	if err := b.load(ctx, now); err != nil {
		return err
	}
	b.mu.Lock()
	if b.governed == nil {
		b.governed, b.recent = map[types.NamespacedName]int{}, map[types.NamespacedName]int{}
	}
	n := 0
	for _, t := range since {
		if now.Sub(t) <= b.Window && t.After(b.resumed) {
			n++
		}
	}
	b.governed[store], b.recent[store] = governed, n
	total, recent := 0, 0
	for s, g := range b.governed {
		total += g
		recent += b.recent[s]
	}
	engage := !b.engaged && recent >= b.MinPods && total > 0 && float64(recent) > b.Share*float64(total)
	b.mu.Unlock()
	if !engage {
		return nil
	}
	reason := fmt.Sprintf("%d of %d governed pods became violations within %s (more than %.0f%%)", recent, total, b.Window, b.Share*100)
	return b.engage(ctx, reason, now)
}

// ObserveNodeLabels records which jurisdiction labels a node lost and gained, and engages the
// brake when, within the window and since the last resumption, more than Share of a
// Jurisdiction's nodes (and at least MinNodes) lost its label. labelled counts the nodes that
// carry the jurisdiction's label now, by jurisdiction.
func (b *Brake) ObserveNodeLabels(ctx context.Context, node string, lost, gained []string, labelled func(jurisdiction string) (int, error), now time.Time) error {
	if b == nil || (len(lost) == 0 && len(gained) == 0) {
		return nil
	}
	if err := b.load(ctx, now); err != nil {
		return err
	}
	b.mu.Lock()
	if b.lostNodes == nil {
		b.lostNodes = map[string]map[string]time.Time{}
	}
	for _, j := range gained {
		delete(b.lostNodes[j], node)
	}
	var counts = map[string]int{}
	for _, j := range lost {
		if b.lostNodes[j] == nil {
			b.lostNodes[j] = map[string]time.Time{}
		}
		b.lostNodes[j][node] = now
		for n, at := range b.lostNodes[j] {
			if now.Sub(at) > b.Window || !at.After(b.resumed) {
				delete(b.lostNodes[j], n)
			}
		}
		counts[j] = len(b.lostNodes[j])
	}
	engaged := b.engaged
	b.mu.Unlock()
	if engaged {
		return nil
	}
	for _, j := range lost {
		n := counts[j]
		if n < b.MinNodes {
			continue
		}
		still, err := labelled(j)
		if err != nil {
			return err
		}
		if total := n + still; float64(n) > b.Share*float64(total) {
			return b.engage(ctx, fmt.Sprintf("%d of the %d nodes or member clusters of Jurisdiction %s lost its label within %s (more than %.0f%%)", n, total, j, b.Window, b.Share*100), now)
		}
	}
	return nil
}

// load learns, once, the state (and the last resumption) a previous run left in the ConfigMap.
func (b *Brake) load(ctx context.Context, now time.Time) error {
	b.mu.Lock()
	loaded := !b.readAt.IsZero()
	b.mu.Unlock()
	if loaded {
		return nil
	}
	_, _, err := b.Engaged(ctx, now)
	return err
}

// Forget drops a deleted store's counts. An engaged brake stays engaged: a person resumes it.
func (b *Brake) Forget(store types.NamespacedName) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.governed, store)
	delete(b.recent, store)
}

func (b *Brake) engage(ctx context.Context, reason string, now time.Time) error {
	// Paused first, recorded second: if the ConfigMap cannot be written, evictions stay paused.
	b.mu.Lock()
	b.engaged, b.reason, b.readAt = true, reason, now
	b.engagements++
	b.mu.Unlock()
	brakeGauge.Set(1)
	cm := &corev1.ConfigMap{}
	err := b.Reader.Get(ctx, client.ObjectKey{Namespace: b.Namespace, Name: BrakeConfigMap}, cm)
	switch {
	case apierrors.IsNotFound(err):
		cm = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: b.Namespace, Name: BrakeConfigMap}}
		setBrakeData(cm, reason, now)
		if err := b.Client.Create(ctx, cm); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("recording the engaged eviction brake: %w", err)
		}
	case err != nil:
		return fmt.Errorf("reading the eviction brake: %w", err)
	default:
		setBrakeData(cm, reason, now)
		delete(cm.Annotations, BrakeResumeAnnotation)
		if err := b.Client.Update(ctx, cm); err != nil {
			return fmt.Errorf("recording the engaged eviction brake: %w", err)
		}
	}
	return nil
}

func setBrakeData(cm *corev1.ConfigMap, reason string, now time.Time) {
	cm.Data = map[string]string{brakeStateKey: brakeEngaged, "reason": reason, "engagedAt": now.UTC().Format(time.RFC3339),
		"resume": fmt.Sprintf("kubectl -n %s annotate configmap %s %s=true", cm.Namespace, BrakeConfigMap, BrakeResumeAnnotation)}
}

// Engaged reports whether evictions are paused, and why. It reads the ConfigMap at most every
// brakeReadEvery; a resume annotation on it resumes evictions, recorded in the ConfigMap.
func (b *Brake) Engaged(ctx context.Context, now time.Time) (bool, string, error) {
	if b == nil {
		return false, "", nil
	}
	b.mu.Lock()
	if now.Sub(b.readAt) < brakeReadEvery && !b.readAt.IsZero() {
		defer b.mu.Unlock()
		return b.engaged, b.reason, nil
	}
	wasEngaged, engagements := b.engaged, b.engagements
	b.mu.Unlock()
	cm := &corev1.ConfigMap{}
	err := b.Reader.Get(ctx, client.ObjectKey{Namespace: b.Namespace, Name: BrakeConfigMap}, cm)
	if apierrors.IsNotFound(err) && !wasEngaged {
		return b.set(false, "", time.Time{}, now, engagements)
	}
	if apierrors.IsNotFound(err) {
		// Engaged but not recorded (the write failed): stay paused, and record it.
		b.mu.Lock()
		reason := b.reason
		b.mu.Unlock()
		return true, reason, b.engage(ctx, reason, now)
	}
	if err != nil {
		return false, "", fmt.Errorf("reading the eviction brake: %w", err)
	}
	resumedAt, _ := time.Parse(time.RFC3339, cm.Data["resumedAt"])
	if cm.Data[brakeStateKey] != brakeEngaged {
		return b.set(false, "", resumedAt, now, engagements)
	}
	if cm.Annotations[BrakeResumeAnnotation] == "true" {
		cm.Data[brakeStateKey], cm.Data["resumedAt"] = brakeResumed, now.UTC().Format(time.RFC3339)
		delete(cm.Annotations, BrakeResumeAnnotation)
		if err := b.Client.Update(ctx, cm); err != nil {
			return true, cm.Data["reason"], fmt.Errorf("resuming evictions: %w", err)
		}
		return b.set(false, "", now, now, engagements)
	}
	return b.set(true, cm.Data["reason"], resumedAt, now, engagements)
}

// set records what a read of the ConfigMap found, unless the brake engaged in this process since
// the read began (engagements was the count then): that engagement stands. It returns the state.
func (b *Brake) set(engaged bool, reason string, resumed, now time.Time, engagements int) (bool, string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.engagements != engagements {
		return b.engaged, b.reason, nil
	}
	b.engaged, b.reason, b.readAt = engaged, reason, now
	if resumed.After(b.resumed) {
		b.resumed = resumed
		clear(b.recent) // counted before the resumption: each store counts again at its next audit
		clear(b.lostNodes)
	}
	if engaged {
		brakeGauge.Set(1)
	} else {
		brakeGauge.Set(0)
	}
	return engaged, reason, nil
}
