package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
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
}

var _ reconcile.Reconciler = (*JurisdictionReconciler)(nil)

// +kubebuilder:rbac:groups=dataresidency.io,resources=jurisdictions,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=dataresidency.io,resources=jurisdictions/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=dataresidency.io,resources=jurisdictions/finalizers,verbs=update

// Reconcile follows the skeleton get, delete, finalizer, status.
func (r *JurisdictionReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	jur := &v1alpha1.Jurisdiction{}
	if err := r.Get(ctx, req.NamespacedName, jur); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !jur.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, r.reconcileDelete(ctx, jur)
	}
	if controllerutil.AddFinalizer(jur, v1alpha1.JurisdictionFinalizer) {
		if err := r.Update(ctx, jur); err != nil {
			return ctrl.Result{}, fmt.Errorf("adding finalizer: %w", err)
		}
	}
	return ctrl.Result{}, r.reconcileStatus(ctx, jur)
}

// reconcileDelete removes the jurisdiction's label from every node that carries it, then the
// finalizer, so no node keeps claiming membership of a jurisdiction that is gone.
func (r *JurisdictionReconciler) reconcileDelete(ctx context.Context, jur *v1alpha1.Jurisdiction) error {
	if !controllerutil.ContainsFinalizer(jur, v1alpha1.JurisdictionFinalizer) {
		return nil
	}
	var nodes corev1.NodeList
	if err := r.List(ctx, &nodes, client.MatchingFields{nodeJurisdictionIndex: jur.Name}); err != nil {
		return fmt.Errorf("listing labelled nodes: %w", err)
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
			return fmt.Errorf("removing label %s from node %s: %w", key, node.Name, err)
		}
		nodeLabelPatches.Inc()
	}
	controllerutil.RemoveFinalizer(jur, v1alpha1.JurisdictionFinalizer)
	if err := r.Update(ctx, jur); err != nil {
		return fmt.Errorf("removing finalizer: %w", client.IgnoreNotFound(err))
	}
	log.FromContext(ctx).Info("jurisdiction deleted, labels removed", "nodes", len(nodes.Items))
	return nil
}

func (r *JurisdictionReconciler) reconcileStatus(ctx context.Context, jur *v1alpha1.Jurisdiction) error {
	var members corev1.NodeList
	if err := r.List(ctx, &members, client.MatchingFields{nodeJurisdictionIndex: jur.Name}); err != nil {
		return fmt.Errorf("listing member nodes: %w", err)
	}
	status := v1alpha1.JurisdictionStatus{
		ObservedGeneration: jur.Generation,
		NodeCount:          int32(len(members.Items)),
		Conditions:         slices.Clone(jur.Status.Conditions),
	}
	countries, regions := map[string]bool{}, map[string]bool{}
	for i := range members.Items {
		node := &members.Items[i]
		if c := node.Labels[v1alpha1.CountryLabel]; c != "" {
			countries[c] = true
		}
		if reg := engine.LocateNode(node, false).Region; reg != "" {
			regions[reg] = true
		}
	}
	status.Countries = sortedKeys(countries)
	status.Regions = sortedKeys(regions)

	untrusted, err := r.untrustedClaimants(ctx, jur)
	if err != nil {
		return err
	}
	status.UntrustedNodeCount = int32(len(untrusted))
	if len(untrusted) > maxListedUntrustedNodes {
		untrusted = untrusted[:maxListedUntrustedNodes]
	}
	status.UntrustedNodes = untrusted

	meta.SetStatusCondition(&status.Conditions, metav1.Condition{
		Type: v1alpha1.ReadyCondition, Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonNodesLabelled,
		Message:            fmt.Sprintf("%d nodes labelled %s=true", status.NodeCount, v1alpha1.JurisdictionLabel(jur.Name)),
		ObservedGeneration: jur.Generation,
	})
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

	if equality.Semantic.DeepEqual(status, jur.Status) {
		return nil
	}
	old := jur.Status
	jur.Status = status
	return patchWholeStatus(ctx, r.Client, jur, old, status)
}

// untrustedClaimants returns the untrusted nodes whose own claim would place them in jur.
func (r *JurisdictionReconciler) untrustedClaimants(ctx context.Context, jur *v1alpha1.Jurisdiction) ([]v1alpha1.UntrustedNode, error) {
	var nodes corev1.NodeList
	if err := r.List(ctx, &nodes, client.MatchingFields{nodeLocationProblemIndex: engine.ProblemUntrusted}); err != nil {
		return nil, fmt.Errorf("listing untrusted nodes: %w", err)
	}
	if len(nodes.Items) == 0 {
		return nil, nil
	}
	matcher, err := engine.NewJurisdictionMatcher(jur.Name, &jur.Spec)
	if err != nil {
		return nil, reconcile.TerminalError(err)
	}
	var out []v1alpha1.UntrustedNode
	for i := range nodes.Items {
		node := &nodes.Items[i]
		loc := engine.LocateNode(node, node.Annotations[v1alpha1.CountrySourceAnnotation] == "")
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
	return ctrl.NewControllerManagedBy(mgr).
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
