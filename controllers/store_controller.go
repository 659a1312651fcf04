package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
	"github.com/residency-operator/residency-operator/internal/engine"
	"github.com/residency-operator/residency-operator/internal/lookup"
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
	// Providers says which cloud the cluster runs in, for region names several clouds use.
	Providers *lookup.ClusterProvider
	// DNS is where governed pods may send DNS queries when their store restricts egress.
	DNS DNSPeer
	// History writes the store's residency history from each audit; nil writes none.
	History *HistoryRecorder
	// Reports writes each namespace's PolicyReport from its stores' audits; nil writes none.
	Reports *PolicyReports
	// MultiCluster audits where Karmada and OCM placed the store's templates, in a hub; nil
	// audits nothing of the kind. APIReader reads those templates (uncached: the operator does
	// not cache every Deployment of the hub).
	MultiCluster *MultiCluster
	APIReader    client.Reader
}

var _ reconcile.Reconciler = (*StoreReconciler)(nil)

// +kubebuilder:rbac:groups=dataresidency.io,resources=personaldatastores,verbs=get;list;watch
// +kubebuilder:rbac:groups=dataresidency.io,resources=personaldatastores/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=dataresidency.io,resources=residencyexceptions;jurisdictions,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups="",resources=pods/eviction,verbs=create
// +kubebuilder:rbac:groups="",resources=persistentvolumeclaims;persistentvolumes;nodes,verbs=get;list;watch

// Reconcile follows the skeleton: get, then one deferred status write, then the steps (resolve
// the policy, audit, check processors, keep egress, enforce, say which evictions are held,
// announce), then the namespace's PolicyReport and the store's history from the audit. A failed
// step still lands in status: Ready=False and Reconciling=True with the error, at the current
// observedGeneration.
func (r *StoreReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	store := &v1alpha1.PersonalDataStore{}
	if err := r.Get(ctx, req.NamespacedName, store); err != nil {
		if apierrors.IsNotFound(err) {
			forgetStoreMetrics(req.Namespace, req.Name)
			r.Evictor.forget(req.NamespacedName)
			r.History.forget(req.NamespacedName)
			r.Reports.forget(ctx, req.Namespace, req.Name)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, fmt.Errorf("getting store: %w", err)
	}
	if !store.DeletionTimestamp.IsZero() {
		r.Evictor.forget(req.NamespacedName)
		r.Reports.forget(ctx, req.Namespace, req.Name)
		return ctrl.Result{}, nil
	}
	run := &storeRun{now: r.Clock.Now(), status: *store.Status.DeepCopy()}
	run.status.ObservedGeneration = store.Generation
	defer func() {
		r.summarise(store, run, retErr)
		recordStoreMetrics(store, run.status)
		r.Reports.observe(ctx, store, run)
		if err := writeStatus(ctx, r.Client, store, store.Status, run.status); err != nil {
			retErr = errors.Join(retErr, err)
		}
		if err := r.History.observe(ctx, store, run); err != nil {
			retErr = errors.Join(retErr, err)
		}
		if r.History != nil {
			// The history samples where the store's objects are: at least once a flush interval.
			result.RequeueAfter = minPositive(result.RequeueAfter, r.History.Options.Flush)
		}
	}()

	if err := r.resolve(ctx, store, run); err != nil {
		return ctrl.Result{}, err
	}
	if err := r.auditStore(ctx, store, run); err != nil {
		return ctrl.Result{}, err
	}
	if err := r.checkSharing(ctx, store, run); err != nil {
		return ctrl.Result{}, err
	}
	if run.stalled == nil && engine.ModeOf(store) == v1alpha1.Enforce {
		requeue, err := r.enforce(ctx, store, run)
		run.requeue = minPositive(run.requeue, requeue)
		if err != nil {
			return ctrl.Result{}, err
		}
	}
	r.holdEvictions(store, run)
	// After enforce: a template with no permitted cluster stalls the store without holding the
	// evictions of its pods.
	if run.audit != nil && run.audit.readmitPending {
		run.requeue = minPositive(run.requeue, readmitRetry)
	}
	if run.stalled == nil && run.audit != nil && run.audit.noPermittedCluster != "" {
		run.stalled = &blocker{v1alpha1.ReasonNoPermittedCluster, run.audit.noPermittedCluster +
			": join or relabel a member cluster in a permitted jurisdiction, or change the policy that places it"}
	}
	r.announce(store, run)
	return ctrl.Result{RequeueAfter: run.requeue}, nil
}

// storeRun is what one reconcile of a store has found so far, and the status it will write.
type storeRun struct {
	now    time.Time
	status v1alpha1.PersonalDataStoreStatus
	// stalled is a spec problem a person must fix; set by resolve.
	stalled *blocker
	audit   *auditResult
	// violations are all of the store's violations, with when each was first seen and when it is
	// evicted; status lists the first maxListedViolations.
	violations []v1alpha1.Violation
	// held are the violating pods past their eviction time that enforce did not evict, because no
	// node could take their replacements.
	held []heldPod
	// evicted are the pods this reconcile evicted, for the history.
	evicted []v1alpha1.RecordedEviction
	// processors are the store's processors as checked, for the history; nil when not checked.
	processors []v1alpha1.RecordedProcessor
	// braked is why the eviction brake holds every eviction, when it does.
	braked  string
	requeue time.Duration
}

// resolve checks that the policy can be enforced: its Jurisdictions exist and its selectors
// compile. What it finds stalls the store; the audit still reports what runs where.
func (r *StoreReconciler) resolve(ctx context.Context, store *v1alpha1.PersonalDataStore, run *storeRun) error {
	for _, sel := range []struct {
		field string
		sel   *metav1.LabelSelector
	}{{"spec.workloadSelector", &store.Spec.WorkloadSelector}, {"spec.volumeSelector", store.Spec.VolumeSelector}} {
		if sel.sel == nil && sel.field == "spec.volumeSelector" {
			continue
		}
		if _, ok := engine.SelectorFor(sel.sel); !ok {
			run.stalled = &blocker{v1alpha1.ReasonInvalidSelector, fmt.Sprintf(
				"%s is empty or does not compile (%s), so the store would govern nothing; fix the selector", sel.field, selectorError(sel.sel))}
			return nil
		}
	}
	if _, err := engine.RequirementFor(store).Terms(nil); err != nil {
		run.stalled = &blocker{v1alpha1.ReasonTooManyTerms, err.Error()}
		return nil
	}
	missing, err := missingObjects(ctx, r.Client, "", store.Spec.AllowedJurisdictions, func() client.Object { return &v1alpha1.Jurisdiction{} })
	if err != nil {
		return err
	}
	if len(missing) > 0 {
		run.stalled = &blocker{v1alpha1.ReasonJurisdictionNotFound, fmt.Sprintf(
			"Jurisdiction %s not found or being deleted: create it or fix spec.allowedJurisdictions; until then no node is permitted and nothing is evicted",
			strings.Join(missing, ", "))}
	}
	return nil
}

// selectorError says why a selector selects nothing.
func selectorError(sel *metav1.LabelSelector) string {
	if _, err := metav1.LabelSelectorAsSelector(sel); err != nil {
		return err.Error()
	}
	return "it selects everything, which a store never does"
}

// auditStore audits the store's objects and tracks its violations.
func (r *StoreReconciler) auditStore(ctx context.Context, store *v1alpha1.PersonalDataStore, run *storeRun) error {
	if run.stalled != nil && run.stalled.reason != v1alpha1.ReasonJurisdictionNotFound {
		return nil // nothing it governs can be told
	}
	a, err := r.audit(ctx, store, run.now)
	if err != nil {
		return err
	}
	run.audit = a
	run.violations = r.trackViolations(store, a, run.stalled == nil, run.now)
	var since []time.Time
	for _, v := range run.violations {
		if v.EvictionTime != nil { // pods an Enforce store would evict
			since = append(since, v.Since.Time)
		}
	}
	if err := r.Evictor.Brake.Observe(ctx, client.ObjectKeyFromObject(store), a.governedPods, since, run.now); err != nil {
		log.FromContext(ctx).Error(err, "eviction brake") // it pauses evictions even when it cannot be recorded
	}
	run.status.GovernedPods = int32(a.governedPods)
	run.status.GovernedTemplates = int32(a.governedTemplates)
	run.status.GovernedVolumes = int32(a.governedVolumes)
	if len(a.hostPathPods) > int(store.Status.HostPathPods) { // on the way up only: Events fire on transitions
		r.Recorder.Eventf(store, nil, corev1.EventTypeWarning, EventHostPathData, actionAudit, "%d governed pods mount hostPath volumes; %s",
			len(a.hostPathPods), strings.Join(a.hostPathPods[:min(len(a.hostPathPods), 3)], "; "))
	}
	run.status.HostPathPods = int32(len(a.hostPathPods))
	run.status.ViolationCount = int32(len(run.violations))
	run.status.Violations = run.violations[:min(len(run.violations), maxListedViolations)]
	run.status.UnlistedViolations = unlistedClocks(run.violations)
	run.status.Exemptions = a.exemptions[:min(len(a.exemptions), maxListedExemptions)]
	if next := a.nextExceptionChange; !next.IsZero() {
		run.requeue = minPositive(run.requeue, next.Sub(run.now))
	}
	return nil
}

// checkSharing applies the sharing rules to the store's processors and keeps its egress policy.
func (r *StoreReconciler) checkSharing(ctx context.Context, store *v1alpha1.PersonalDataStore, run *storeRun) error {
	processors, err := r.checkProcessors(ctx, store)
	if err != nil {
		return err
	}
	egressReason, egressConflict, err := r.reconcileEgress(ctx, store, processors.permitted)
	if err != nil {
		return err
	}
	r.setProcessorStatus(store, &run.status, processors.findings, egressReason, egressConflict)
	run.processors = processors.recorded
	return nil
}

// trackViolations returns the audit's violations, each with when it was first seen (carried over
// from status) and, in Enforce mode with the policy resolved, when the pod is evicted.
func (r *StoreReconciler) trackViolations(store *v1alpha1.PersonalDataStore, a *auditResult, resolved bool, now time.Time) []v1alpha1.Violation {
	// What status recorded survives restarts: listed violations by UID (or by kind and name,
	// written before UIDs were), the others by UID.
	previous := map[string]metav1.Time{}
	for _, v := range store.Status.Violations {
		previous[clockKey(v)] = v.Since
	}
	for _, c := range store.Status.UnlistedViolations {
		previous[string(c.UID)] = c.Since
	}
	grace := 10 * time.Minute
	if store.Spec.EvictionGracePeriod != nil {
		grace = store.Spec.EvictionGracePeriod.Duration
	}
	var uids []types.UID
	for _, v := range a.violations {
		if obj := a.objectOf(v); obj != nil {
			uids = append(uids, obj.GetUID())
		}
	}
	seen := r.Evictor.sinceOf(client.ObjectKeyFromObject(store), uids, metav1.NewTime(now))
	out := make([]v1alpha1.Violation, 0, len(a.violations))
	for _, v := range a.violations {
		// Status survives restarts; the Evictor's clocks are the same while the operator runs.
		first, listed := previous[string(v.Object.UID)]
		if !listed {
			first, listed = previous[violationKey(v)]
		}
		if obj := a.objectOf(v); obj != nil {
			if at, ok := seen[obj.GetUID()]; ok && (!listed || at.Before(&first)) {
				first, listed = at, true
			}
		}
		if listed {
			v.Since = first
		} else if v.Since.IsZero() {
			v.Since = metav1.NewTime(now)
		}
		if engine.ModeOf(store) == v1alpha1.Enforce && resolved && v.Object.Kind == "Pod" && v.Reason != v1alpha1.PlacementConflict && !clusterViolation(v) {
			at := metav1.NewTime(v.Since.Add(grace))
			if v.Reason == v1alpha1.PlacementMissing {
				// Admitted unplaced: the grace period is for pods whose node moved, not for these.
				at = v.Since
			}
			v.EvictionTime = &at
		}
		out = append(out, v)
	}
	slices.SortFunc(out, func(x, y v1alpha1.Violation) int {
		if c := x.Since.Compare(y.Since.Time); c != 0 {
			return c
		}
		return strings.Compare(violationKey(x), violationKey(y))
	})
	return out
}

// summarise sets the store's conditions from what the reconcile found: Ready, Reconciling and
// Stalled (see setSummary), and Compliant, which is True only when the audit ran and found
// nothing wrong, processors included.
func (r *StoreReconciler) summarise(store *v1alpha1.PersonalDataStore, run *storeRun, err error) {
	conds := &run.status.Conditions
	setSummary(conds, store.Generation, summary{
		readyReason:  v1alpha1.ReasonResolved,
		readyMessage: fmt.Sprintf("allowed jurisdictions %s resolved; enforcement %s", engine.Names(store.Spec.AllowedJurisdictions), engine.ModeOf(store)),
		stalled:      run.stalled,
	}, err)
	compliant := func(status metav1.ConditionStatus, reason, message string) {
		meta.SetStatusCondition(conds, metav1.Condition{Type: v1alpha1.CompliantCondition, Status: status, Reason: reason, Message: message, ObservedGeneration: store.Generation})
	}
	a := run.audit
	switch {
	case a == nil && run.stalled != nil:
		compliant(metav1.ConditionUnknown, run.stalled.reason, "cannot tell until the spec is fixed: "+run.stalled.message)
	case a == nil:
		// The audit did not finish: keep what was known, at the new generation.
		if c := meta.FindStatusCondition(*conds, v1alpha1.CompliantCondition); c != nil {
			c.ObservedGeneration = store.Generation
		} else {
			compliant(metav1.ConditionUnknown, v1alpha1.ReasonReconcileError, "not audited yet")
		}
	case len(run.violations) > 0:
		held := ""
		if len(run.held) > 0 {
			held = fmt.Sprintf("; eviction of %d pods held, as no permitted node can take them (see EvictionHeld)", len(run.held))
			if run.braked != "" {
				held = fmt.Sprintf("; eviction of %d pods held by the cluster-wide eviction brake (see EvictionHeld)", len(run.held))
			}
		}
		compliant(metav1.ConditionFalse, v1alpha1.ReasonViolations, fmt.Sprintf("%d of %d governed objects are outside %s; see status.violations%s",
			len(run.violations), a.governedPods+a.governedVolumes+a.governedTemplates, engine.Names(store.Spec.AllowedJurisdictions), held))
	case len(run.status.ProcessorFindings) > 0:
		names := make([]string, 0, len(run.status.ProcessorFindings))
		for _, f := range run.status.ProcessorFindings {
			names = append(names, f.Processor)
		}
		compliant(metav1.ConditionFalse, v1alpha1.ReasonProcessorFindings, fmt.Sprintf("processors %s fail the sharing checks; see status.processorFindings", strings.Join(names, ", ")))
	default:
		templates := ""
		if a.governedTemplates > 0 {
			templates = fmt.Sprintf(" and %d propagated templates", a.governedTemplates)
		}
		compliant(metav1.ConditionTrue, v1alpha1.ReasonAllCompliant, fmt.Sprintf("%d pods and %d volumes%s, all in %s or exempted",
			a.governedPods, a.governedVolumes, templates, engine.Names(store.Spec.AllowedJurisdictions)))
	}
}

// maxHeldListed bounds the pods the EvictionHeld message names; status.evictionsHeld counts all.
const maxHeldListed = 5

// holdEvictions says which evictions are held: status.evictionsHeld, the EvictionHeld condition
// (removed when nothing is held), an Event on each pod whose eviction is newly held and on the store
// when it starts holding, and what the node watch needs to bring the store back.
func (r *StoreReconciler) holdEvictions(store *v1alpha1.PersonalDataStore, run *storeRun) {
	run.status.EvictionsHeld = int32(len(run.held))
	newly := r.Evictor.setHeld(client.ObjectKeyFromObject(store), run.held)
	if len(run.held) == 0 {
		meta.RemoveStatusCondition(&run.status.Conditions, v1alpha1.EvictionHeldCondition)
		return
	}
	var parts []string
	for i, h := range run.held {
		if i == maxHeldListed {
			parts = append(parts, fmt.Sprintf("and %d more", len(run.held)-maxHeldListed))
			break
		}
		parts = append(parts, fmt.Sprintf("%s (%s)", h.pod.Name, h.why))
	}
	message := fmt.Sprintf("eviction of %d violating pods held: evicting them would not help, as no Ready, schedulable node is permitted for them: %s. "+
		"They are evicted once such a node appears; fix the nodes or the Jurisdiction, or exempt the pods",
		len(run.held), strings.Join(parts, "; "))
	reason := v1alpha1.ReasonNoPermittedCapacity
	if run.braked != "" {
		reason = v1alpha1.ReasonEvictionBrake
		message = fmt.Sprintf("eviction of %d violating pods held: evictions are paused cluster-wide by the eviction brake, because %s. "+
			"Check the Jurisdictions and node labels; to resume: kubectl -n %s annotate configmap %s %s=true",
			len(run.held), run.braked, r.Evictor.Brake.Namespace, BrakeConfigMap, BrakeResumeAnnotation)
	}
	meta.SetStatusCondition(&run.status.Conditions, metav1.Condition{Type: v1alpha1.EvictionHeldCondition, Status: metav1.ConditionTrue,
		Reason: reason, Message: message, ObservedGeneration: store.Generation})
	if store.Status.EvictionsHeld == 0 {
		r.Recorder.Eventf(store, nil, corev1.EventTypeWarning, EventEvictionHeld, actionEvict, "%s", message)
	}
	for _, h := range newly {
		if run.braked != "" {
			r.Recorder.Eventf(h.pod, store, corev1.EventTypeWarning, EventEvictionHeld, actionEvict, "eviction for store %s held: %s", store.Name, h.why)
			continue
		}
		r.Recorder.Eventf(h.pod, store, corev1.EventTypeWarning, EventEvictionHeld, actionEvict,
			"eviction for store %s held: no Ready, schedulable node is permitted for this pod's replacement (%s); it is evicted once one appears",
			store.Name, h.why)
	}
}

// setProcessorStatus records processor findings (which make the store not Compliant) and the
// state of egress restriction, with Events for findings and conflicts that are new.
func (r *StoreReconciler) setProcessorStatus(store *v1alpha1.PersonalDataStore, status *v1alpha1.PersonalDataStoreStatus, findings []v1alpha1.ProcessorFinding, egressReason, egressConflict string) {
	status.ProcessorFindings = findings
	known := map[string]bool{}
	for _, f := range store.Status.ProcessorFindings {
		known[f.Processor+"/"+string(f.Reason)] = true
	}
	for _, f := range findings {
		if !known[f.Processor+"/"+string(f.Reason)] {
			r.Recorder.Eventf(store, nil, corev1.EventTypeWarning, string(f.Reason), actionCheckProcessors, "%s", f.Message)
		}
	}
	switch {
	case store.Spec.Egress != v1alpha1.EgressRestrict:
		meta.RemoveStatusCondition(&status.Conditions, v1alpha1.EgressRestrictedCondition)
	case egressConflict != "":
		if c := meta.FindStatusCondition(store.Status.Conditions, v1alpha1.EgressRestrictedCondition); c == nil || c.Reason != egressReason {
			r.Recorder.Eventf(store, nil, corev1.EventTypeWarning, egressReason, actionRestrictEgress, "%s", egressConflict)
		}
		meta.SetStatusCondition(&status.Conditions, metav1.Condition{
			Type: v1alpha1.EgressRestrictedCondition, Status: metav1.ConditionFalse, Reason: egressReason,
			Message: egressConflict, ObservedGeneration: store.Generation,
		})
	default:
		meta.SetStatusCondition(&status.Conditions, metav1.Condition{
			Type: v1alpha1.EgressRestrictedCondition, Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonNetworkPolicyApplied,
			Message: fmt.Sprintf("NetworkPolicy %s lets governed pods reach only the cluster DNS, the store's other pods and %d permitted processors, and no other NetworkPolicy widens it",
				networkPolicyName(store), len(store.Spec.Processors)-len(findings)),
			ObservedGeneration: store.Generation,
		})
	}
}

// announce records Events on transitions only: a new violation (on the store and the object,
// saying when eviction will happen), and the return to compliance.
func (r *StoreReconciler) announce(store *v1alpha1.PersonalDataStore, run *storeRun) {
	a := run.audit
	if a == nil {
		return
	}
	before := map[string]bool{}
	for _, v := range store.Status.Violations {
		before[violationKey(v)] = true
	}
	for i := range run.violations {
		v := &run.violations[i]
		if before[violationKey(*v)] {
			continue
		}
		when := "it is reported only (enforcement " + string(engine.ModeOf(store)) + ")"
		if clusterViolation(*v) {
			when = "it is reported; the operator never removes workloads from member clusters"
		}
		if v.EvictionTime != nil {
			when = "it will be evicted at " + v.EvictionTime.UTC().Format(time.RFC3339) + " unless it moves or is exempted"
		}
		r.Recorder.Eventf(store, nil, corev1.EventTypeWarning, EventViolationDetected, actionAudit,
			"%s %s: %s; %s", v.Object.Kind, v.Object.Name, v.Message, when)
		if obj := a.objectOf(*v); obj != nil {
			r.Recorder.Eventf(obj, store, corev1.EventTypeWarning, EventResidencyViolation, actionAudit,
				"store %s: %s; %s", store.Name, v.Message, when)
		}
	}
	wasCompliant := meta.IsStatusConditionTrue(store.Status.Conditions, v1alpha1.CompliantCondition)
	if len(a.violations) == 0 && !wasCompliant && len(store.Status.Violations) > 0 {
		r.Recorder.Eventf(store, nil, corev1.EventTypeNormal, EventCompliant, actionAudit,
			"all %d governed pods and %d volumes are in %s", a.governedPods, a.governedVolumes, engine.Names(store.Spec.AllowedJurisdictions))
	}
}

// violationKey identifies a violation by its object only: the audit finds at most one per
// object, and a node whose location flips between untrusted and not permitted must not restart
// the eviction clock (or announce the violation again).
func violationKey(v v1alpha1.Violation) string {
	if v.Cluster != "" {
		// A template may be placed on several clusters outside: one violation each.
		return v.Object.Kind + "/" + v.Object.Name + "@" + v.Cluster
	}
	return v.Object.Kind + "/" + v.Object.Name
}

func objectKey(kind, name string) string { return kind + "/" + name }

// clusterViolation reports whether v is about a multi-cluster placement: reported, never evicted.
func clusterViolation(v v1alpha1.Violation) bool {
	switch v.Reason {
	case v1alpha1.ClusterNotPermitted, v1alpha1.ClusterLocationUnknown, v1alpha1.NoPermittedCluster:
		return true
	}
	return false
}

// templateKey keys a propagated resource template in auditResult.objects apart from a pod of the
// same name in the hub, which only the eviction code looks up (by "Pod/<name>").
func templateKey(kind, name string) string { return "template:" + objectKey(kind, name) }

// maxUnlistedClocks bounds status.unlistedViolations; beyond it, a restart of the operator restarts
// the clocks of the newest violations (later evictions, never earlier).
const maxUnlistedClocks = 1000

// unlistedClocks returns the clocks of the violations status does not list (they are sorted
// oldest first), for status.unlistedViolations.
func unlistedClocks(violations []v1alpha1.Violation) []v1alpha1.ViolationClock {
	if len(violations) <= maxListedViolations {
		return nil
	}
	rest := violations[maxListedViolations:min(len(violations), maxListedViolations+maxUnlistedClocks)]
	out := make([]v1alpha1.ViolationClock, 0, len(rest))
	for _, v := range rest {
		if v.Object.UID != "" {
			out = append(out, v1alpha1.ViolationClock{UID: v.Object.UID, Since: v.Since})
		}
	}
	return out
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
