package controllers

import (
	"context"
	"encoding/json"
	"fmt"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
)

// FieldOwner is the field manager of everything the operator writes, so managedFields say which
// fields are the operator's.
const FieldOwner = "residency-operator"

// blocker is a spec problem that retrying cannot fix: the object is Stalled until a person acts.
type blocker struct {
	reason, message string
}

// summary is what a reconcile concluded, for the conditions every kind carries (see
// api/v1alpha1/conditions.go): a failed step (err, retried), a spec problem (stalled), or ready.
type summary struct {
	readyReason, readyMessage string
	stalled                   *blocker
	// reconciling, when set, says the operator is still at work without an error (a deletion).
	reconciling *blocker
}

// setSummary writes Ready, Reconciling and Stalled into conds for generation from the outcome of
// a reconcile: err is the step that failed, if any.
func setSummary(conds *[]metav1.Condition, generation int64, s summary, err error) {
	set := func(t string, status metav1.ConditionStatus, reason, message string) {
		meta.SetStatusCondition(conds, metav1.Condition{Type: t, Status: status, Reason: reason, Message: message, ObservedGeneration: generation})
	}
	// Set what holds, then remove the abnormal-true conditions that do not: removing first would
	// reset their transition time, and so rewrite status, on every reconcile.
	defer func() {
		if s.stalled == nil {
			meta.RemoveStatusCondition(conds, v1alpha1.StalledCondition)
		}
		if s.stalled != nil || (err == nil && s.reconciling == nil) {
			meta.RemoveStatusCondition(conds, v1alpha1.ReconcilingCondition)
		}
	}()
	switch {
	case s.stalled != nil:
		// What a person must fix comes first: retrying an error will not make the object Ready.
		msg := s.stalled.message
		if err != nil {
			msg += fmt.Sprintf("; also retrying after an error: %v", err)
		}
		set(v1alpha1.StalledCondition, metav1.ConditionTrue, s.stalled.reason, msg)
		set(v1alpha1.ReadyCondition, metav1.ConditionFalse, s.stalled.reason, msg)
	case err != nil:
		msg := fmt.Sprintf("retrying after an error: %v", err)
		set(v1alpha1.ReconcilingCondition, metav1.ConditionTrue, v1alpha1.ReasonReconcileError, msg)
		set(v1alpha1.ReadyCondition, metav1.ConditionFalse, v1alpha1.ReasonReconcileError, msg)
	case s.reconciling != nil:
		set(v1alpha1.ReconcilingCondition, metav1.ConditionTrue, s.reconciling.reason, s.reconciling.message)
		set(v1alpha1.ReadyCondition, metav1.ConditionFalse, s.reconciling.reason, s.reconciling.message)
	default:
		set(v1alpha1.ReadyCondition, metav1.ConditionTrue, s.readyReason, s.readyMessage)
	}
}

// writeStatus writes a new status once, when it differs from the old one, with a JSON merge patch
// that carries every field, zero counts included, and null for fields that went away: a
// diff-based patch leaves a count that never left zero unset (kubectl's printer columns then show
// an empty cell instead of 0), and a plain merge patch of the new status would leave emptied lists
// (omitempty) in place. It needs no resourceVersion, so it cannot conflict.
func writeStatus(ctx context.Context, c client.Client, obj client.Object, oldStatus, newStatus any) error {
	if equality.Semantic.DeepEqual(oldStatus, newStatus) {
		return nil
	}
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
	if err := c.Status().Patch(ctx, obj, client.RawPatch(types.MergePatchType, body), client.FieldOwner(FieldOwner)); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("patching status: %w", err)
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

// missingObjects returns the names, among names, of the objects that do not exist or are being
// deleted (in namespace, "" for cluster-scoped kinds): the Jurisdictions a store or processor names,
// the stores an exception names. A Terminating Jurisdiction has already begun taking its label off
// the nodes, so counting it as present would turn its pods into violations with eviction clocks.
// newObj makes an empty object of the kind.
func missingObjects[T ~string](ctx context.Context, c client.Reader, namespace string, names []T, newObj func() client.Object) ([]string, error) {
	var out []string
	for _, name := range names {
		obj := newObj()
		err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: string(name)}, obj)
		switch {
		case apierrors.IsNotFound(err):
			out = append(out, string(name))
		case err != nil:
			return nil, fmt.Errorf("getting %T %s: %w", obj, name, err)
		case !obj.GetDeletionTimestamp().IsZero():
			out = append(out, string(name))
		}
	}
	return out, nil
}
