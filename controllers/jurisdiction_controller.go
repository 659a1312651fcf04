package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
	"github.com/residency-operator/residency-operator/internal/engine"
)

// maxListedUntrustedNodes bounds the untrusted nodes a Jurisdiction's status lists.
const maxListedUntrustedNodes = 50

// JurisdictionReconciler writes a Jurisdiction's status (its nodes, countries, regions and
// untrusted claimants) and, when it is deleted, removes its label from every node first.
type JurisdictionReconciler struct {
	client.Client
	Recorder events.EventRecorder
	// MultiCluster counts the member clusters of a hub; nil counts none.
	MultiCluster *MultiCluster
}

var _ reconcile.Reconciler = (*JurisdictionReconciler)(nil)

// +kubebuilder:rbac:groups=dataresidency.io,resources=jurisdictions,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=dataresidency.io,resources=jurisdictions/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=dataresidency.io,resources=jurisdictions/finalizers,verbs=update

// Reconcile follows the skeleton: get, one deferred status write, deletion, finalizer, status.
func (r *JurisdictionReconciler) Reconcile(ctx context.Context, req ctrl.Request) (_ ctrl.Result, retErr error) {
	jur := &v1alpha1.Jurisdiction{}
	if err := r.Get(ctx, req.NamespacedName, jur); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	old := *jur.Status.DeepCopy()
	status := *jur.Status.DeepCopy()
	status.ObservedGeneration = jur.Generation
	var s summary
	gone := false
	defer func() {
		if gone {
			return
		}
		setSummary(&status.Conditions, jur.Generation, s, retErr)
		if err := writeStatus(ctx, r.Client, jur, old, status); err != nil {
			retErr = errors.Join(retErr, err)
		}
	}()

	if !jur.DeletionTimestamp.IsZero() {
		s.reconciling = &blocker{v1alpha1.ReasonDeleting, fmt.Sprintf(
			"removing %s from every node before the Jurisdiction goes; pods allowed only here can no longer be placed", v1alpha1.JurisdictionLabel(jur.Name))}
		removed, err := r.reconcileDelete(ctx, jur)
		gone = removed
		return ctrl.Result{}, err
	}
	if controllerutil.AddFinalizer(jur, v1alpha1.JurisdictionFinalizer) {
		if err := r.Update(ctx, jur); err != nil {
			return ctrl.Result{}, fmt.Errorf("adding finalizer: %w", err)
		}
	}
	return ctrl.Result{}, r.reconcileStatus(ctx, jur, &status, &s)
}

// reconcileDelete removes the jurisdiction's label from every node that carries it, then the
// finalizer, so no node keeps claiming membership of a jurisdiction that is gone.
// It reports whether the finalizer was removed, after which the object is gone.
func (r *JurisdictionReconciler) reconcileDelete(ctx context.Context, jur *v1alpha1.Jurisdiction) (bool, error) {
	if !controllerutil.ContainsFinalizer(jur, v1alpha1.JurisdictionFinalizer) {
		return true, nil
	}
	var nodes corev1.NodeList
	if err := r.List(ctx, &nodes, client.MatchingFields{nodeJurisdictionIndex: jur.Name}); err != nil {
		return false, fmt.Errorf("listing labelled nodes: %w", err)
	}
	key := v1alpha1.JurisdictionLabel(jur.Name)
	for i := range nodes.Items {
		node := &nodes.Items[i]
		if _, ok := node.Labels[key]; !ok {
			continue
		}
		patch := client.MergeFrom(node.DeepCopy())
		delete(node.Labels, key)
		if err := r.Patch(ctx, node, patch); client.IgnoreNotFound(err) != nil {
			return false, fmt.Errorf("removing label %s from node %s: %w", key, node.Name, err)
		}
		nodeLabelPatches.Inc()
	}
	controllerutil.RemoveFinalizer(jur, v1alpha1.JurisdictionFinalizer)
	if err := r.Update(ctx, jur); client.IgnoreNotFound(err) != nil {
		return false, fmt.Errorf("removing finalizer: %w", err)
	}
	log.FromContext(ctx).Info("jurisdiction deleted, labels removed", "nodes", len(nodes.Items))
	return true, nil
}

// reconcileStatus fills status with the Jurisdiction's nodes, countries, regions and untrusted
// claimants, and s with whether it is Ready: its nodeSelector compiles, and how many nodes it has.
func (r *JurisdictionReconciler) reconcileStatus(ctx context.Context, jur *v1alpha1.Jurisdiction, status *v1alpha1.JurisdictionStatus, s *summary) error {
	matcher, err := engine.NewJurisdictionMatcher(jur.Name, &jur.Spec)
	if err != nil {
		// Stored before the schema rejected it: it matches no node, and no node is labelled.
		s.stalled = &blocker{v1alpha1.ReasonInvalidSelector, fmt.Sprintf("%v; no node is labelled as in this jurisdiction until spec.nodeSelector is fixed", err)}
	}
	var members corev1.NodeList
	if err := r.List(ctx, &members, client.MatchingFields{nodeJurisdictionIndex: jur.Name}); err != nil {
		return fmt.Errorf("listing member nodes: %w", err)
	}
	status.NodeCount = int32(len(members.Items))
	clusters, err := r.MultiCluster.countClusters(ctx, jur.Name)
	if err != nil {
		return err
	}
	status.ClusterCount = int32(clusters)
	countries, regions := map[string]bool{}, map[string]bool{}
	for i := range members.Items {
		node := &members.Items[i]
		if c := node.Labels[v1alpha1.CountryLabel]; c != "" {
			countries[c] = true
		}
		if reg := engine.LocateNode(node, engine.Trust{}).Region; reg != "" {
			regions[reg] = true
		}
	}
	status.Countries = sortedKeys(countries)
	status.Regions = sortedKeys(regions)

	var untrusted []v1alpha1.UntrustedNode
	if matcher != nil {
		if untrusted, err = r.untrustedClaimants(ctx, matcher); err != nil {
			return err
		}
	}
	status.UntrustedNodeCount = int32(len(untrusted))
	status.UntrustedNodes = untrusted[:min(len(untrusted), maxListedUntrustedNodes)]

	s.readyReason = v1alpha1.ReasonNodesLabelled
	s.readyMessage = fmt.Sprintf("%d nodes labelled %s=true", status.NodeCount, v1alpha1.JurisdictionLabel(jur.Name))
	if status.NodeCount == 0 {
		s.readyReason = v1alpha1.ReasonNoNodes
		s.readyMessage = "no node is in this jurisdiction: pods allowed only here stay Pending until one is"
	}
	if keys := engine.KubeletSettableSelectorKeys(jur.Spec.NodeSelector); len(keys) > 0 {
		meta.SetStatusCondition(&status.Conditions, metav1.Condition{
			Type: v1alpha1.SelectorTrustedCondition, Status: metav1.ConditionFalse, Reason: v1alpha1.ReasonKubeletSettableKeys,
			Message: fmt.Sprintf("nodeSelector uses %s, which a kubelet may set on its own Node, so a compromised node could join this jurisdiction; use keys under the node-restriction.kubernetes.io/ prefix (such as %s)",
				strings.Join(keys, ", "), v1alpha1.CountryLabel),
			ObservedGeneration: jur.Generation,
		})
	} else {
		meta.SetStatusCondition(&status.Conditions, metav1.Condition{
			Type: v1alpha1.SelectorTrustedCondition, Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonRestrictedKeys,
			Message:            "nodeSelector is absent or uses only keys that kubelets cannot set",
			ObservedGeneration: jur.Generation,
		})
	}
	return nil
}

// untrustedClaimants returns the untrusted nodes whose own claim would place them in jur.
func (r *JurisdictionReconciler) untrustedClaimants(ctx context.Context, matcher *engine.JurisdictionMatcher) ([]v1alpha1.UntrustedNode, error) {
	var nodes corev1.NodeList
	if err := r.List(ctx, &nodes, client.MatchingFields{nodeLocationProblemIndex: engine.ProblemUntrusted}); err != nil {
		return nil, fmt.Errorf("listing untrusted nodes: %w", err)
	}
	if len(nodes.Items) == 0 {
		return nil, nil
	}
	var out []v1alpha1.UntrustedNode
	for i := range nodes.Items {
		node := &nodes.Items[i]
		// What the node claims: the operator's own trust option only matters at first sight, which
		// pins the region into a label every reader sees.
		loc := engine.LocateNode(node, engine.Trust{})
		if matcher.Claims(loc, labels.Set(node.Labels)) {
			out = append(out, v1alpha1.UntrustedNode{Name: node.Name, Reason: loc.Untrusted})
		}
	}
	slices.SortFunc(out, func(a, b v1alpha1.UntrustedNode) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// SetupWithManager watches Jurisdictions and maps node changes to the jurisdictions they were or
// are labelled with, plus every jurisdiction for untrusted nodes (rare), which may claim any.
func (r *JurisdictionReconciler) SetupWithManager(mgr ctrl.Manager) error {
	b := ctrl.NewControllerManagedBy(mgr)
	if r.MultiCluster != nil {
		// Member clusters gaining or losing a jurisdiction's label (see ClusterLocationReconciler).
		b = b.WatchesRawSource(source.Channel(r.MultiCluster.jurisdictionEvents, &handler.EnqueueRequestForObject{}))
	}
	return b.
		Named("jurisdiction").
		For(&v1alpha1.Jurisdiction{}).
		Watches(&corev1.Node{}, handler.EnqueueRequestsFromMapFunc(r.jurisdictionsOfNode),
			builder.WithPredicates(nodeLocationChanged)).
		Complete(r)
}

func (r *JurisdictionReconciler) jurisdictionsOfNode(ctx context.Context, obj client.Object) []reconcile.Request {
	var reqs []reconcile.Request
	if obj.GetAnnotations()[engine.LocationProblemAnnotation] == engine.ProblemUntrusted {
		var list v1alpha1.JurisdictionList
		if err := r.List(ctx, &list); err != nil {
			log.FromContext(ctx).Error(err, "listing jurisdictions for an untrusted node")
			return nil
		}
		for i := range list.Items {
			reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Name: list.Items[i].Name}})
		}
		return reqs
	}
	for _, name := range engine.LabelledJurisdictions(obj.GetLabels()) {
		reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Name: name}})
	}
	return reqs
}

func sortedKeys(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
