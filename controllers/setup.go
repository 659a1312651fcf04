// Package controllers holds the operator's reconcilers: node location and labels, Jurisdiction
// status, and governed namespaces.
package controllers

import (
	"context"
	"encoding/json"
	"fmt"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
)

// EventReporter is the name the operator's Events carry as their reporting controller.
const EventReporter = "residency-operator"

// Options tune the controllers.
type Options struct {
	// EvictionsPerSecond and EvictionBurst bound evictions across all stores.
	EvictionsPerSecond float64
	EvictionBurst      int
}

// DefaultOptions are the options the manager runs with unless flags say otherwise.
func DefaultOptions() Options { return Options{EvictionsPerSecond: 2, EvictionBurst: 5} }

// SetupWithManager registers the field indexers and every reconciler with mgr. main.go and the
// envtest suites both call it, so tests run exactly the wiring that ships.
func SetupWithManager(ctx context.Context, mgr ctrl.Manager, options ...Options) error {
	opts := DefaultOptions()
	if len(options) > 0 {
		opts = options[0]
	}
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
	if err := setupStoreIndexers(ctx, mgr); err != nil {
		return fmt.Errorf("setting up store field indexers: %w", err)
	}
	if err := (&StoreReconciler{
		Client: mgr.GetClient(), Recorder: recorder, Clock: clock.RealClock{},
		Evictor: NewEvictor(mgr.GetClient(), opts.EvictionsPerSecond, opts.EvictionBurst),
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up store controller: %w", err)
	}
	if err := (&EvidenceReconciler{Client: mgr.GetClient(), Clock: clock.RealClock{}}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up evidence controller: %w", err)
	}
	if err := (&ProcessorReconciler{Client: mgr.GetClient()}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up processor controller: %w", err)
	}
	if err := (&ExceptionReconciler{Client: mgr.GetClient(), Recorder: recorder, Clock: clock.RealClock{}}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up exception controller: %w", err)
	}
	if err := (&NamespaceReconciler{Client: mgr.GetClient()}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up namespace controller: %w", err)
	}
	return nil
}

// patchWholeStatus writes status with a JSON merge patch that carries every field, zero counts
// included, and null for fields that went away: a diff-based patch leaves a count that never left
// zero unset (kubectl's printer columns then show an empty cell instead of 0), and a plain merge
// patch of the new status would leave emptied lists (omitempty) in place. It needs no
// resourceVersion, so it cannot conflict.
func patchWholeStatus(ctx context.Context, c client.Client, obj client.Object, oldStatus, newStatus any) error {
	fields, err := toMap(newStatus)
	if err != nil {
		return err
	}
	old, err := toMap(oldStatus)
	if err != nil {
		return err
	}
	for k := range old {
		if _, kept := fields[k]; !kept {
			fields[k] = nil
		}
	}
	body, err := json.Marshal(map[string]any{"status": fields})
	if err != nil {
		return fmt.Errorf("encoding status: %w", err)
	}
	if err := c.Status().Patch(ctx, obj, client.RawPatch(types.MergePatchType, body)); err != nil {
		return fmt.Errorf("patching status: %w", client.IgnoreNotFound(err))
	}
	return nil
}

func toMap(v any) (map[string]any, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encoding status: %w", err)
	}
	out := map[string]any{}
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("decoding status: %w", err)
	}
	return out, nil
}
