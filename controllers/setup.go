// Package controllers holds the operator's reconcilers: node location and labels, Jurisdiction
// status, and governed namespaces.
package controllers

import (
	"context"
	"fmt"

	ctrl "sigs.k8s.io/controller-runtime"
)

// EventReporter is the name the operator's Events carry as their reporting controller.
const EventReporter = "residency-operator"

// SetupWithManager registers the field indexers and every reconciler with mgr. main.go and the
// envtest suites both call it, so tests run exactly the wiring that ships.
func SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	if err := setupIndexers(ctx, mgr); err != nil {
		return fmt.Errorf("setting up field indexers: %w", err)
	}
	recorder := mgr.GetEventRecorder(EventReporter)
	if err := (&NodeReconciler{Client: mgr.GetClient(), Recorder: recorder}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up node controller: %w", err)
	}
	if err := (&JurisdictionReconciler{Client: mgr.GetClient(), Recorder: recorder}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up jurisdiction controller: %w", err)
	}
	if err := (&NamespaceReconciler{Client: mgr.GetClient()}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up namespace controller: %w", err)
	}
	return nil
}
