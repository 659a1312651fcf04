package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
	"github.com/residency-operator/residency-operator/internal/engine"
)

// Bounds on what a store's status lists; the counts are always complete.
const (
	maxListedViolations = 50
	maxListedExemptions = 50
)

// StoreReconciler audits a PersonalDataStore: it finds the store's governed pods and volumes,
// locates them, writes status, announces violations with Events and, in Enforce mode, evicts
// violating pods through the Eviction API once the grace period has passed.
type StoreReconciler struct {
	client.Client
	Recorder events.EventRecorder
	Clock    clock.PassiveClock
	Evictor  *Evictor
}

var _ reconcile.Reconciler = (*StoreReconciler)(nil)

// +kubebuilder:rbac:groups=dataresidency.io,resources=personaldatastores,verbs=get;list;watch
// +kubebuilder:rbac:groups=dataresidency.io,resources=personaldatastores/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=dataresidency.io,resources=residencyexceptions;jurisdictions,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups="",resources=pods/eviction,verbs=create
// +kubebuilder:rbac:groups="",resources=persistentvolumeclaims;persistentvolumes;nodes,verbs=get;list;watch

// Reconcile follows the skeleton: get, resolve the policy, audit, enforce, write status once.
func (r *StoreReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	store := &v1alpha1.PersonalDataStore{}
	if err := r.Get(ctx, req.NamespacedName, store); err != nil {
		if apierrors.IsNotFound(err) {
			forgetStoreMetrics(req.Namespace, req.Name)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, fmt.Errorf("getting store: %w", err)
	}
	if !store.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	now := r.Clock.Now()

	missing, err := r.missingJurisdictions(ctx, store)
	if err != nil {
		return ctrl.Result{}, err
	}
	audit, err := r.audit(ctx, store, now)
	if err != nil {
		return ctrl.Result{}, err
	}

	processors, err := r.checkProcessors(ctx, store)
	if err != nil {
		return ctrl.Result{}, err
	}
	egressConflict, err := r.reconcileEgress(ctx, store, processors.permitted)
	if err != nil {
		return ctrl.Result{}, err
	}

	status := r.buildStatus(store, audit, missing, now)
	r.setProcessorStatus(store, &status, processors.findings, egressConflict)
	var requeue time.Duration
	if len(missing) == 0 && store.Spec.Enforcement == v1alpha1.Enforce {
		requeue = r.enforce(ctx, store, status.Violations, audit, now)
	}
	if next := audit.nextExceptionChange; !next.IsZero() {
		requeue = minPositive(requeue, next.Sub(now))
	}
	r.announce(store, status, audit)
	recordStoreMetrics(store, status)

	if err := r.patchStatus(ctx, store, status); err != nil {
		return ctrl.Result{}, err
	}

	if requeue > 0 {
		return ctrl.Result{RequeueAfter: requeue}, nil
	}
	return ctrl.Result{}, nil
}

// missingJurisdictions returns the allowed jurisdictions that do not exist.
func (r *StoreReconciler) missingJurisdictions(ctx context.Context, store *v1alpha1.PersonalDataStore) ([]string, error) {
	var missing []string
	for _, name := range store.Spec.AllowedJurisdictions {
		err := r.Get(ctx, client.ObjectKey{Name: string(name)}, &v1alpha1.Jurisdiction{})
		switch {
		case apierrors.IsNotFound(err):
			missing = append(missing, string(name))
		case err != nil:
			return nil, fmt.Errorf("getting jurisdiction %s: %w", name, err)
		}
	}
	return missing, nil
}

// buildStatus turns an audit into the store's status, keeping when each violation was first seen.
func (r *StoreReconciler) buildStatus(store *v1alpha1.PersonalDataStore, a *auditResult, missing []string, now time.Time) v1alpha1.PersonalDataStoreStatus {
	status := v1alpha1.PersonalDataStoreStatus{
		ObservedGeneration: store.Generation,
		GovernedPods:       int32(a.governedPods),
		GovernedVolumes:    int32(a.governedVolumes),
		ViolationCount:     int32(len(a.violations)),
		Conditions:         slices.Clone(store.Status.Conditions),
	}
	previous := map[string]metav1.Time{}
	for _, v := range store.Status.Violations {
		previous[violationKey(v)] = v.Since
	}
	grace := 10 * time.Minute
	if store.Spec.EvictionGracePeriod != nil {
		grace = store.Spec.EvictionGracePeriod.Duration
	}
	for _, v := range a.violations {
		if since, ok := previous[violationKey(v)]; ok {
			v.Since = since
		} else if v.Since.IsZero() {
			v.Since = metav1.NewTime(now)
		}
		if store.Spec.Enforcement == v1alpha1.Enforce && len(missing) == 0 && v.Object.Kind == "Pod" {
			at := metav1.NewTime(v.Since.Add(grace))
			v.EvictionTime = &at
		}
		status.Violations = append(status.Violations, v)
	}
	slices.SortFunc(status.Violations, func(x, y v1alpha1.Violation) int {
		if c := x.Since.Compare(y.Since.Time); c != 0 {
			return c
		}
		return strings.Compare(violationKey(x), violationKey(y))
	})
	a.allViolations = status.Violations
	if len(status.Violations) > maxListedViolations {
		status.Violations = status.Violations[:maxListedViolations]
	}
	status.Exemptions = a.exemptions
	if len(status.Exemptions) > maxListedExemptions {
		status.Exemptions = status.Exemptions[:maxListedExemptions]
	}

	if len(missing) > 0 {
		meta.SetStatusCondition(&status.Conditions, metav1.Condition{
			Type: v1alpha1.ReadyCondition, Status: metav1.ConditionFalse, Reason: v1alpha1.ReasonJurisdictionNotFound,
			Message: fmt.Sprintf("Jurisdiction %s not found: create it or fix spec.allowedJurisdictions; until then no node is permitted and nothing is evicted",
				strings.Join(missing, ", ")),
			ObservedGeneration: store.Generation,
		})
	} else {
		meta.SetStatusCondition(&status.Conditions, metav1.Condition{
			Type: v1alpha1.ReadyCondition, Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonResolved,
			Message:            fmt.Sprintf("allowed jurisdictions %s resolved; enforcement %s", joinNames(store.Spec.AllowedJurisdictions), engine.ModeOf(store)),
			ObservedGeneration: store.Generation,
		})
	}
	if n := len(a.violations); n > 0 {
		meta.SetStatusCondition(&status.Conditions, metav1.Condition{
			Type: v1alpha1.CompliantCondition, Status: metav1.ConditionFalse, Reason: v1alpha1.ReasonViolations,
			Message:            fmt.Sprintf("%d of %d governed objects are outside %s; see status.violations", n, a.governedPods+a.governedVolumes, joinNames(store.Spec.AllowedJurisdictions)),
			ObservedGeneration: store.Generation,
		})
	} else {
		meta.SetStatusCondition(&status.Conditions, metav1.Condition{
			Type: v1alpha1.CompliantCondition, Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonAllCompliant,
			Message:            fmt.Sprintf("%d pods and %d volumes, all in %s or exempted", a.governedPods, a.governedVolumes, joinNames(store.Spec.AllowedJurisdictions)),
			ObservedGeneration: store.Generation,
		})
	}
	return status
}

// setProcessorStatus records processor findings (which make the store not Compliant) and the
// state of egress restriction, with Events for findings and conflicts that are new.
func (r *StoreReconciler) setProcessorStatus(store *v1alpha1.PersonalDataStore, status *v1alpha1.PersonalDataStoreStatus, findings []v1alpha1.ProcessorFinding, egressConflict string) {
	status.ProcessorFindings = findings
	known := map[string]bool{}
	for _, f := range store.Status.ProcessorFindings {
		known[f.Processor+"/"+string(f.Reason)] = true
	}
	for _, f := range findings {
		if !known[f.Processor+"/"+string(f.Reason)] {
			r.Recorder.Eventf(store, nil, corev1.EventTypeWarning, string(f.Reason), "CheckProcessors", "%s", f.Message)
		}
	}
	if len(findings) > 0 && status.ViolationCount == 0 {
		names := make([]string, 0, len(findings))
		for _, f := range findings {
			names = append(names, f.Processor)
		}
		meta.SetStatusCondition(&status.Conditions, metav1.Condition{
			Type: v1alpha1.CompliantCondition, Status: metav1.ConditionFalse, Reason: v1alpha1.ReasonProcessorFindings,
			Message:            fmt.Sprintf("processors %s fail the sharing checks; see status.processorFindings", strings.Join(names, ", ")),
			ObservedGeneration: store.Generation,
		})
	}
	switch {
	case store.Spec.Egress != v1alpha1.EgressRestrict:
		meta.RemoveStatusCondition(&status.Conditions, v1alpha1.EgressRestrictedCondition)
	case egressConflict != "":
		if c := meta.FindStatusCondition(store.Status.Conditions, v1alpha1.EgressRestrictedCondition); c == nil || c.Reason != v1alpha1.ReasonNetworkPolicyConflict {
			r.Recorder.Eventf(store, nil, corev1.EventTypeWarning, v1alpha1.ReasonNetworkPolicyConflict, "RestrictEgress", "%s", egressConflict)
		}
		meta.SetStatusCondition(&status.Conditions, metav1.Condition{
			Type: v1alpha1.EgressRestrictedCondition, Status: metav1.ConditionFalse, Reason: v1alpha1.ReasonNetworkPolicyConflict,
			Message: egressConflict, ObservedGeneration: store.Generation,
		})
	default:
		meta.SetStatusCondition(&status.Conditions, metav1.Condition{
			Type: v1alpha1.EgressRestrictedCondition, Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonNetworkPolicyApplied,
			Message: fmt.Sprintf("NetworkPolicy %s lets governed pods reach only DNS, this namespace and %d permitted processors",
				networkPolicyName(store), len(store.Spec.Processors)-len(findings)),
			ObservedGeneration: store.Generation,
		})
	}
}

func (r *StoreReconciler) patchStatus(ctx context.Context, store *v1alpha1.PersonalDataStore, status v1alpha1.PersonalDataStoreStatus) error {
	if equality.Semantic.DeepEqual(status, store.Status) {
		return nil
	}
	old := store.Status
	store.Status = status
	return patchWholeStatus(ctx, r.Client, store, old, status)
}

// announce records Events on transitions only: a new violation (on the store and the object,
// saying when eviction will happen), and the return to compliance.
func (r *StoreReconciler) announce(store *v1alpha1.PersonalDataStore, status v1alpha1.PersonalDataStoreStatus, a *auditResult) {
	before := map[string]bool{}
	for _, v := range store.Status.Violations {
		before[violationKey(v)] = true
	}
	for i := range a.allViolations {
		v := &a.allViolations[i]
		if before[violationKey(*v)] {
			continue
		}
		when := "it is reported only (enforcement " + string(engine.ModeOf(store)) + ")"
		if v.EvictionTime != nil {
			when = "it will be evicted at " + v.EvictionTime.UTC().Format(time.RFC3339) + " unless it moves or is exempted"
		}
		r.Recorder.Eventf(store, nil, corev1.EventTypeWarning, "ViolationDetected", "Audit",
			"%s %s: %s; %s", v.Object.Kind, v.Object.Name, v.Message, when)
		if obj := a.objects[objectKey(v.Object.Kind, v.Object.Name)]; obj != nil {
			r.Recorder.Eventf(obj, store, corev1.EventTypeWarning, "ResidencyViolation", "Audit",
				"store %s: %s; %s", store.Name, v.Message, when)
		}
	}
	wasCompliant := meta.IsStatusConditionTrue(store.Status.Conditions, v1alpha1.CompliantCondition)
	if len(a.violations) == 0 && !wasCompliant && len(store.Status.Violations) > 0 {
		r.Recorder.Eventf(store, nil, corev1.EventTypeNormal, "Compliant", "Audit",
			"all %d governed pods and %d volumes are in %s", a.governedPods, a.governedVolumes, joinNames(store.Spec.AllowedJurisdictions))
	}
}

func violationKey(v v1alpha1.Violation) string {
	return v.Object.Kind + "/" + v.Object.Name + "/" + string(v.Reason)
}

func objectKey(kind, name string) string { return kind + "/" + name }

func joinNames(names []v1alpha1.JurisdictionName) string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = string(n)
	}
	return "[" + strings.Join(out, " ") + "]"
}

// minPositive returns the smaller of two durations, ignoring values that are not positive.
func minPositive(a, b time.Duration) time.Duration {
	switch {
	case a <= 0:
		return b
	case b <= 0:
		return a
	case a < b:
		return a
	}
	return b
}
