package controllers

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
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

// NodeReconciler keeps each node's jurisdiction labels and country label exactly in line with the
// Jurisdictions, and reports nodes whose location is untrusted or unknown.
type NodeReconciler struct {
	client.Client
	Recorder events.EventRecorder
	// Brake is told which jurisdiction labels nodes lose: a Jurisdiction losing a large share of
	// its nodes at once pauses evictions. Nil disables it.
	Brake *Brake
	Clock clock.PassiveClock
	// Trust says which location claims are believed without a person vouching for them.
	Trust engine.Trust

	mu       sync.Mutex
	problems map[string]string // node name -> location problem, for the gauge
}

var _ reconcile.Reconciler = (*NodeReconciler)(nil)

// +kubebuilder:rbac:groups="",resources=nodes,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=dataresidency.io,resources=jurisdictions,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile computes one node's labels and patches the node only when they change.
func (r *NodeReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	node := &corev1.Node{}
	if err := r.Get(ctx, req.NamespacedName, node); err != nil {
		if apierrors.IsNotFound(err) {
			r.setProblem(req.Name, "")
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, fmt.Errorf("getting node: %w", err)
	}
	matchers, err := activeJurisdictionMatchers(ctx, r.Client)
	if err != nil {
		return ctrl.Result{}, err
	}

	desired := desiredNodeMetadata(node, matchers, r.Trust)
	previousProblem := node.Annotations[engine.LocationProblemAnnotation]
	if !maps.Equal(desired.labels, node.Labels) || !maps.Equal(desired.annotations, node.Annotations) {
		before := engine.LabelledJurisdictions(node.Labels)
		patch := client.MergeFrom(node.DeepCopy())
		node.Labels, node.Annotations = desired.labels, desired.annotations
		if err := r.Patch(ctx, node, patch); err != nil {
			return ctrl.Result{}, fmt.Errorf("patching node labels: %w", err)
		}
		nodeLabelPatches.Inc()
		log.FromContext(ctx).V(1).Info("node labels updated", "jurisdictions", desired.jurisdictions, "country", desired.location.Country)
		after := engine.LabelledJurisdictions(desired.labels)
		// A Jurisdiction deleted takes its label off every node; its stores stop evicting anyway
		// (it counts as missing), so only the labels of live Jurisdictions count as lost.
		lost := slices.DeleteFunc(slices.Clone(before), func(j string) bool {
			return slices.Contains(after, j) || !slices.ContainsFunc(matchers, func(m *engine.JurisdictionMatcher) bool { return m.Name == j })
		})
		gained := slices.DeleteFunc(slices.Clone(after), func(j string) bool { return slices.Contains(before, j) })
		if err := r.Brake.ObserveNodeLabels(ctx, node.Name, lost, gained, r.labelledNodes(ctx), r.now()); err != nil {
			log.FromContext(ctx).Error(err, "eviction brake") // it pauses evictions even when it cannot be recorded
		}
	}
	if desired.problem != previousProblem && desired.problem != "" {
		r.Recorder.Eventf(node, nil, corev1.EventTypeWarning, locationEvents[desired.problem], actionLocate,
			"node belongs to no jurisdiction, so no governed pod may run on it: %s", desired.detail)
	}
	r.setProblem(node.Name, desired.problem)
	return ctrl.Result{}, nil
}

// labelledNodes counts, through the index, the nodes that carry a jurisdiction's label.
func (r *NodeReconciler) labelledNodes(ctx context.Context) func(string) (int, error) {
	return func(jurisdiction string) (int, error) {
		var nodes corev1.NodeList
		if err := r.List(ctx, &nodes, client.MatchingFields{nodeJurisdictionIndex: jurisdiction}); err != nil {
			return 0, fmt.Errorf("listing the nodes of %s: %w", jurisdiction, err)
		}
		return len(nodes.Items), nil
	}
}

func (r *NodeReconciler) now() time.Time {
	if r.Clock == nil {
		return time.Now()
	}
	return r.Clock.Now()
}

// nodeMetadata is what a node's labels and annotations should be.
type nodeMetadata struct {
	labels, annotations map[string]string
	location            engine.NodeLocation
	jurisdictions       []string
	problem, detail     string
}

// desiredNodeMetadata is the pure part of the node controller: from a node and the jurisdictions,
// the labels and annotations the node should carry.
func desiredNodeMetadata(node *corev1.Node, matchers []*engine.JurisdictionMatcher, trust engine.Trust) nodeMetadata {
	return desiredPlaceMetadata(node.Labels, node.Annotations, engine.LocateNode(node, trust), matchers, "node")
}

// desiredPlaceMetadata is the labels and annotations of a place (a node, or a member cluster in
// the hub) at location loc: one rule for both, so that the permitted terms select clusters as
// they select nodes.
func desiredPlaceMetadata(placeLabels, placeAnnotations map[string]string, loc engine.NodeLocation, matchers []*engine.JurisdictionMatcher, noun string) nodeMetadata {
	// A country the operator wrote goes whenever it is not derived again (an untrusted or unknown
	// location), even when LocateNode has no country to derive.
	derivedCountry := loc.CountrySource == engine.CountryFromCatalog || placeLabels[v1alpha1.CountrySourceLabel] == string(engine.CountryFromCatalog)

	// Jurisdiction membership is decided on the place's labels as a person or cloud set them,
	// never on labels the operator itself wrote.
	own := make(labels.Set, len(placeLabels))
	for k, v := range placeLabels {
		if strings.HasPrefix(k, v1alpha1.JurisdictionLabelPrefix) || k == v1alpha1.CountrySourceLabel ||
			(k == v1alpha1.CountryLabel && derivedCountry) {
			continue
		}
		own[k] = v
	}
	names := engine.JurisdictionsOf(matchers, loc, own)

	out := nodeMetadata{
		labels:        maps.Clone(own),
		annotations:   maps.Clone(placeAnnotations),
		location:      loc,
		jurisdictions: names,
	}
	if out.annotations == nil {
		out.annotations = map[string]string{}
	}
	for _, name := range names {
		out.labels[v1alpha1.JurisdictionLabel(name)] = v1alpha1.JurisdictionLabelValue
	}
	delete(out.annotations, v1alpha1.LegacyCountrySourceAnnotation)
	switch {
	case loc.CountrySource == engine.CountryFromCatalog && loc.Trusted():
		out.labels[v1alpha1.CountryLabel] = loc.Country
		out.labels[v1alpha1.CountrySourceLabel] = string(engine.CountryFromCatalog)
	case loc.CountrySource == engine.CountryFromLabel:
		out.labels[v1alpha1.CountrySourceLabel] = engine.CountryFromPerson
	}
	// Pinned at first sight: from now on another region makes the node Untrusted until a person
	// confirms the move (see engine.LocateNode).
	if loc.Trusted() && loc.Region != "" && placeLabels[v1alpha1.ConfirmedRegionLabel] == "" {
		out.labels[v1alpha1.ConfirmedRegionLabel] = loc.Region
	}

	switch {
	case !loc.Trusted():
		out.problem, out.detail = engine.ProblemUntrusted, loc.Untrusted
	case len(names) == 0 && loc.Country == "":
		out.problem = engine.ProblemUnknown
		out.detail = unknownLocationDetail(loc, noun)
	}
	delete(out.annotations, engine.LocationProblemAnnotation)
	delete(out.annotations, engine.LocationDetailAnnotation)
	if out.problem != "" {
		out.annotations[engine.LocationProblemAnnotation] = out.problem
		out.annotations[engine.LocationDetailAnnotation] = out.detail
	}
	if len(out.annotations) == 0 && placeAnnotations == nil {
		out.annotations = nil
	}
	return out
}

// unknownLocationDetail says why a place ("node" or "cluster") is located nowhere, and what to set.
func unknownLocationDetail(loc engine.NodeLocation, noun string) string {
	if loc.Region == "" {
		return fmt.Sprintf("no %s label, no country label %s, and no Jurisdiction nodeSelector matches; label the %s with its region or country",
			engine.RegionLabel, v1alpha1.CountryLabel, noun)
	}
	return fmt.Sprintf("region %q is not in the region catalog and in no Jurisdiction's regions; set %s on the %s or add the region to a Jurisdiction",
		loc.Region, v1alpha1.CountryLabel, noun)
}

func (r *NodeReconciler) setProblem(node, problem string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.problems == nil {
		r.problems = map[string]string{}
	}
	if problem == "" {
		delete(r.problems, node)
	} else {
		r.problems[node] = problem
	}
	counts := map[string]float64{engine.ProblemUntrusted: 0, engine.ProblemUnknown: 0}
	for _, p := range r.problems {
		counts[p]++
	}
	for p, n := range counts {
		nodesWithLocationProblem.WithLabelValues(p).Set(n)
	}
}

// activeJurisdictionMatchers compiles every Jurisdiction that is not being deleted. A deleted
// Jurisdiction's labels must go, so it matches nothing from the moment it is marked for deletion.
// It runs for every node reconcile, so it reads the cache without copies; matchers only read.
func activeJurisdictionMatchers(ctx context.Context, c client.Reader) ([]*engine.JurisdictionMatcher, error) {
	var list v1alpha1.JurisdictionList
	if err := c.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing jurisdictions: %w", err)
	}
	active := make(map[string]*v1alpha1.JurisdictionSpec, len(list.Items))
	for i := range list.Items {
		if list.Items[i].DeletionTimestamp.IsZero() {
			active[list.Items[i].Name] = &list.Items[i].Spec
		}
	}
	matchers, err := engine.NewJurisdictionMatchers(active)
	if err != nil {
		// The schema validates selectors; one that still fails to compile matches nothing
		// rather than blocking every other jurisdiction.
		log.FromContext(ctx).Error(err, "ignoring jurisdictions with an invalid nodeSelector")
	}
	return matchers, nil
}

// SetupWithManager watches nodes (only changes that can move labels) and Jurisdictions (a spec
// change or deletion re-evaluates every node: membership may have changed anywhere).
func (r *NodeReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("node-location").
		// Node reconciles are independent, and a Jurisdiction change enqueues every node: a few
		// workers keep the round trips to the API server overlapping.
		WithOptions(controller.Options{MaxConcurrentReconciles: 4}).
		For(&corev1.Node{}, builder.WithPredicates(nodeLocationChanged)).
		Watches(&v1alpha1.Jurisdiction{}, handler.EnqueueRequestsFromMapFunc(r.allNodes),
			builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, deletionStarted))).
		Complete(r)
}

func (r *NodeReconciler) allNodes(ctx context.Context, _ client.Object) []reconcile.Request {
	var nodes corev1.NodeList
	// Names only: no copy of every node.
	if err := r.List(ctx, &nodes, client.UnsafeDisableDeepCopy); err != nil {
		log.FromContext(ctx).Error(err, "listing nodes after a jurisdiction change")
		return nil
	}
	reqs := make([]reconcile.Request, len(nodes.Items))
	for i := range nodes.Items {
		reqs[i] = reconcile.Request{NamespacedName: types.NamespacedName{Name: nodes.Items[i].Name}}
	}
	return reqs
}

// nodeLocationChanged drops node updates that cannot change location or labels, such as the
// status heartbeats that make up nearly all node updates.
var nodeLocationChanged = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		oldNode, okOld := e.ObjectOld.(*corev1.Node)
		newNode, okNew := e.ObjectNew.(*corev1.Node)
		if !okOld || !okNew {
			return true
		}
		return !maps.Equal(oldNode.Labels, newNode.Labels) ||
			!maps.Equal(oldNode.Annotations, newNode.Annotations) ||
			oldNode.Spec.ProviderID != newNode.Spec.ProviderID
	},
}

// deletionStarted passes updates that set a deletionTimestamp.
var deletionStarted = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		return e.ObjectOld.GetDeletionTimestamp().IsZero() && !e.ObjectNew.GetDeletionTimestamp().IsZero()
	},
	CreateFunc:  func(event.CreateEvent) bool { return false },
	DeleteFunc:  func(event.DeleteEvent) bool { return false },
	GenericFunc: func(event.GenericEvent) bool { return false },
}
