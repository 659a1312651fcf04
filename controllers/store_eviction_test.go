package controllers

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/event"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
)

// TestHeldEvictions checks the bookkeeping behind the EvictionHeld Events (on transitions only)
// and the node watch (only stores that need a node in the node's jurisdictions come back).
func TestHeldEvictions(t *testing.T) {
	e := NewEvictor(nil, 1, 1)
	pod := func(uid string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: uid, UID: types.UID(uid)}}
	}
	orders := types.NamespacedName{Namespace: "shop", Name: "orders"}
	web := types.NamespacedName{Namespace: "shop", Name: "web"}

	newly := e.setHeld(orders, []heldPod{{pod: pod("a"), jurisdictions: []string{"eu"}}, {pod: pod("b"), jurisdictions: []string{"eu"}}})
	if len(newly) != 2 {
		t.Fatalf("first hold: %d newly held, want 2", len(newly))
	}
	newly = e.setHeld(orders, []heldPod{{pod: pod("b"), jurisdictions: []string{"eu"}}, {pod: pod("c"), jurisdictions: []string{"ch"}}})
	if len(newly) != 1 || newly[0].pod.Name != "c" {
		t.Fatalf("second hold: newly held %v, want only c", newly)
	}
	e.setHeld(web, []heldPod{{pod: pod("d"), jurisdictions: []string{"us"}}})

	if got := e.storesHolding([]string{"eu"}); len(got) != 1 || got[0] != orders {
		t.Errorf("a node in eu brings back %v, want only %v", got, orders)
	}
	if got := e.storesHolding([]string{"uk"}); len(got) != 0 {
		t.Errorf("a node in uk brings back %v, want none", got)
	}
	if got := e.storesHolding(nil); len(got) != 0 {
		t.Errorf("a node in no jurisdiction brings back %v, want none", got)
	}
	e.setHeld(orders, nil)
	if got := e.storesHolding([]string{"eu", "ch"}); len(got) != 0 {
		t.Errorf("a store that holds nothing is still brought back: %v", got)
	}
	if newly := e.setHeld(orders, []heldPod{{pod: pod("b")}}); len(newly) != 1 {
		t.Errorf("a pod held again after a release is newly held: got %d", len(newly))
	}
}

func TestNodeCapacityChanged(t *testing.T) {
	node := func(edit func(*corev1.Node)) *corev1.Node {
		n := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: "fra", Labels: map[string]string{v1alpha1.JurisdictionLabel("eu"): v1alpha1.JurisdictionLabelValue}},
			Status:     corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionFalse}}},
		}
		if edit != nil {
			edit(n)
		}
		return n
	}
	outside := func(n *corev1.Node) { n.Labels = nil }
	ready := func(n *corev1.Node) { n.Status.Conditions[0].Status = corev1.ConditionTrue }
	heartbeat := func(n *corev1.Node) { n.Status.Conditions[0].LastHeartbeatTime = metav1.Now() }
	for _, c := range []struct {
		name     string
		old, new *corev1.Node
		want     bool
	}{
		{"turns Ready", node(nil), node(ready), true},
		{"uncordoned", node(func(n *corev1.Node) { n.Spec.Unschedulable = true }), node(nil), true},
		{"loses a taint", node(func(n *corev1.Node) { n.Spec.Taints = []corev1.Taint{{Key: "x", Effect: corev1.TaintEffectNoSchedule}} }), node(nil), true},
		{"gains a jurisdiction label", node(outside), node(nil), true},
		{"heartbeat only", node(nil), node(heartbeat), false},
		{"turns Ready outside every jurisdiction", node(outside), node(func(n *corev1.Node) { outside(n); ready(n) }), false},
	} {
		if got := nodeCapacityChanged.Update(event.UpdateEvent{ObjectOld: c.old, ObjectNew: c.new}); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
	if !nodeCapacityChanged.Create(event.CreateEvent{Object: node(nil)}) {
		t.Error("a new node in a jurisdiction does not pass")
	}
	if nodeCapacityChanged.Create(event.CreateEvent{Object: node(outside)}) {
		t.Error("a new node in no jurisdiction passes")
	}
	if nodeCapacityChanged.Delete(event.DeleteEvent{Object: node(nil)}) {
		t.Error("a deleted node passes: it adds no capacity")
	}
}

// TestAnnouncedEvictions: a pod is evicted only once the stored status announced its eviction;
// an in-memory clock whose status write failed does not count.
func TestAnnouncedEvictions(t *testing.T) {
	at := metav1.Now()
	pod := func(name string, evict *metav1.Time) v1alpha1.Violation {
		return v1alpha1.Violation{Object: v1alpha1.ObjectReference{Kind: "Pod", Name: name, UID: types.UID("uid-" + name)}, EvictionTime: evict}
	}
	legacy := pod("legacy", &at)
	legacy.Object.UID = ""
	store := &v1alpha1.PersonalDataStore{Status: v1alpha1.PersonalDataStoreStatus{
		ViolationCount: 4, Violations: []v1alpha1.Violation{pod("announced", &at), pod("reported-only", nil), legacy},
		UnlistedViolations: []v1alpha1.ViolationClock{{UID: "uid-recorded", Since: at}}}}
	announced := announcedEvictions(store)
	for name, want := range map[string]bool{"announced": true, "reported-only": false, "never-written": false, "recorded": true, "legacy": true} {
		if got := announced(pod(name, &at)); got != want {
			t.Errorf("%s: announced = %v, want %v", name, got, want)
		}
	}
	renamed := pod("announced", &at)
	renamed.Object.UID = "uid-recreated"
	if announced(renamed) {
		t.Error("a pod re-created under a listed name must not inherit its predecessor's announcement")
	}
	store.Status.ViolationCount = 1100 // beyond the 50 listed and 1,000 recorded: the count alone
	if !announcedEvictions(store)(pod("uncounted", &at)) {
		t.Error("a violation beyond every record of a status that counts it must be evictable")
	}
}
