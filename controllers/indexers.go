package controllers

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
	"github.com/residency-operator/residency-operator/internal/engine"
)

// Field index keys. Reconcilers list through these so their work grows with the objects
// concerned, not with the size of the cluster.
const (
	// nodeJurisdictionIndex maps a node to the jurisdictions whose label it carries.
	nodeJurisdictionIndex = "residency.node.jurisdiction"
	// nodeLocationProblemIndex maps a node to its location problem (Untrusted, Unknown), if any.
	nodeLocationProblemIndex = "residency.node.locationProblem"
	// podPlacementGateIndex is "true" for pods held by the placement gate.
	podPlacementGateIndex = "residency.pod.placementGate"
)

func setupIndexers(ctx context.Context, mgr manager.Manager) error {
	indexer := mgr.GetFieldIndexer()
	if err := indexer.IndexField(ctx, &corev1.Node{}, nodeJurisdictionIndex, func(obj client.Object) []string {
		return engine.LabelledJurisdictions(obj.GetLabels())
	}); err != nil {
		return err
	}
	if err := indexer.IndexField(ctx, &corev1.Node{}, nodeLocationProblemIndex, func(obj client.Object) []string {
		if p := obj.GetAnnotations()[engine.LocationProblemAnnotation]; p != "" {
			return []string{p}
		}
		return nil
	}); err != nil {
		return err
	}
	return indexer.IndexField(ctx, &corev1.Pod{}, podPlacementGateIndex, func(obj client.Object) []string {
		for _, g := range obj.(*corev1.Pod).Spec.SchedulingGates {
			if g.Name == v1alpha1.PlacementGate {
				return []string{"true"}
			}
		}
		return nil
	})
}
