package controllers

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/residency-operator/residency-operator/internal/engine"
)

// Field index keys. Reconcilers list through these so their work grows with the objects
// concerned, not with the size of the cluster.
const (
	// nodeJurisdictionIndex maps a node to the jurisdictions whose label it carries.
	nodeJurisdictionIndex = "residency.node.jurisdiction"
	// nodeLocationProblemIndex maps a node to its location problem (Untrusted, Unknown), if any.
	nodeLocationProblemIndex = "residency.node.locationProblem"
)

// Annotations the node controller writes to remember what it decided, so Events fire on changes
// only and the person-set country label can be told from the one the operator derived.
const (
	// locationProblemAnnotation is Untrusted or Unknown for nodes that belong to no jurisdiction
	// because their location cannot be believed or resolved.
	locationProblemAnnotation = "dataresidency.io/location-problem"
	// locationDetailAnnotation says why, in words.
	locationDetailAnnotation = "dataresidency.io/location-detail"
)

// Location problems.
const (
	problemUntrusted = "Untrusted"
	problemUnknown   = "Unknown"
)

func setupIndexers(ctx context.Context, mgr manager.Manager) error {
	indexer := mgr.GetFieldIndexer()
	if err := indexer.IndexField(ctx, &corev1.Node{}, nodeJurisdictionIndex, func(obj client.Object) []string {
		return engine.LabelledJurisdictions(obj.GetLabels())
	}); err != nil {
		return err
	}
	return indexer.IndexField(ctx, &corev1.Node{}, nodeLocationProblemIndex, func(obj client.Object) []string {
		if p := obj.GetAnnotations()[locationProblemAnnotation]; p != "" {
			return []string{p}
		}
		return nil
	})
}
