package controllers

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// A rollout's pod events reach the store's queue once per batch, not once per pod, and a later
// event does not postpone the audit an earlier one asked for.
func TestPodEventsAreBatched(t *testing.T) {
	const delay = 300 * time.Millisecond
	store := reconcile.Request{NamespacedName: client.ObjectKey{Namespace: "shop", Name: "db"}}
	h := batched{handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request {
		return []reconcile.Request{store}
	}), delay}
	q := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[reconcile.Request]())
	var audits []time.Duration
	done := make(chan struct{})
	first := time.Now()
	go func() { // the controller's worker
		defer close(done)
		for {
			item, shutdown := q.Get()
			if shutdown {
				return
			}
			if item != store {
				t.Errorf("queued %v, want %v", item, store)
			}
			audits = append(audits, time.Since(first))
			q.Done(item)
		}
	}()

	// A rollout: pod events every 10 ms for five delays.
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "db-0"}}
	events := 0
	for time.Since(first) < 5*delay {
		h.Create(context.Background(), event.CreateEvent{Object: pod}, q)
		h.Update(context.Background(), event.UpdateEvent{ObjectOld: pod, ObjectNew: pod}, q)
		h.Delete(context.Background(), event.DeleteEvent{Object: pod}, q)
		events += 3
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(2 * delay)
	q.ShutDown()
	<-done

	if len(audits) == 0 || audits[0] < delay || audits[0] > 2*delay {
		t.Fatalf("audits at %v: the first must come one delay (%v) after the first event, not postponed by later ones", audits, delay)
	}
	if len(audits) < 3 || len(audits) > 7 {
		t.Fatalf("%d events came to %d audits (at %v), want about one per delay", events, len(audits), audits)
	}
}
