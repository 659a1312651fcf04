package controllers

import (
	"context"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
	"github.com/residency-operator/residency-operator/internal/engine"
	"github.com/residency-operator/residency-operator/internal/lookup"
)

// auditResult is what one audit of a store found.
type auditResult struct {
	governedPods, governedVolumes int
	hostPathPods                  []string             // governed pods that mount hostPath volumes: name, and why
	violations                    []v1alpha1.Violation // Since is zero: trackViolations sets it
	exemptions                    []v1alpha1.Exemption
	objects                       map[string]client.Object // offending or exempted objects by kind/name
	nextExceptionChange           time.Time                // when an exception starts or expires next
	// observed is every governed object with where it is and what the engine decided about it:
	// the residency history and the PolicyReports are written from it, never from a second look.
	observed []auditedObject
	// governedTemplates counts the resource templates a multi-cluster engine propagates that the
	// store governs; noPermittedCluster says why one of them has no permitted cluster, if any does.
	governedTemplates  int
	noPermittedCluster string
	// readmitPending: a placement policy still waits to be narrowed; the store comes back soon.
	readmitPending bool
}

// auditedObject is one governed pod or claim as the audit saw it.
type auditedObject struct {
	Ref v1alpha1.ObjectReference
	// Where is the node of a bound pod or the volume of a bound claim; empty while unbound.
	Where string
	// Location is where it is; nil while unbound or when the location is not known.
	Location *v1alpha1.ObservedLocation
	// Denied, Warned and Reported are the engine's findings by the store's mode (see Verdict).
	Denied, Warned, Reported []engine.Finding
	// ExemptedBy names the ResidencyException that lifts the store's rules for it, if any.
	ExemptedBy string
}

// audit finds the store's governed pods (workloadSelector) and volumes (volumeSelector and claims
// its pods mount), and asks the engine about each, as the webhook and the CLI do. It reads only the
// store's namespace from the cache: work grows with the store, not with the cluster.
func (r *StoreReconciler) audit(ctx context.Context, store *v1alpha1.PersonalDataStore, now time.Time) (*auditResult, error) {
	res := &auditResult{objects: map[string]client.Object{}}
	exceptions, next, err := r.storeExceptions(ctx, store, now)
	if err != nil {
		return nil, err
	}
	res.nextExceptionChange = next
	// Only this store: its verdict is the store's, whatever other stores of the namespace say.
	pol := &engine.Policies{Stores: []*v1alpha1.PersonalDataStore{store}, Exceptions: exceptions, Now: now}
	matchers, err := activeJurisdictionMatchers(ctx, r.Client)
	if err != nil {
		return nil, err
	}
	decision := &engine.Context{Stage: engine.Running, Lookup: lookup.Reader(ctx, r.Client), Matchers: matchers, Provider: r.Providers.Get(ctx)}

	podSelector, ok := engine.SelectorFor(&store.Spec.WorkloadSelector)
	if !ok {
		return res, nil // the schema rejects both; never govern every pod
	}
	var pods corev1.PodList
	// Read-only: the audit never writes to these pods, so skip the cache's deep copy of each.
	if err := r.List(ctx, &pods, client.InNamespace(store.Namespace), client.MatchingLabelsSelector{Selector: podSelector}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing governed pods: %w", err)
	}
	claims := map[string]bool{}
	audited := map[string]bool{}
	auditPod := func(pod *corev1.Pod, mounted ...*v1alpha1.PersonalDataStore) error {
		if audited[pod.Name] || !pod.DeletionTimestamp.IsZero() || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
			return nil
		}
		audited[pod.Name] = true
		res.governedPods++
		for _, claim := range podClaimNames(pod) {
			claims[claim] = true
		}
		facts := engine.FactsOf(pod.Labels, &pod.Spec)
		v, err := engine.DecidePod(pol, &facts, decision, mounted...)
		if err != nil {
			return err
		}
		res.record(v, "Pod", pod)
		res.observe(v, "Pod", pod, pod.Spec.NodeName, locate(decision.NodeLocation(pod.Spec.NodeName)))
		if note := engine.HostPathNote(&pod.Spec); note != "" {
			res.hostPathPods = append(res.hostPathPods, fmt.Sprintf("pod %s: %s", pod.Name, note))
		}
		return nil
	}
	for i := range pods.Items {
		if err := auditPod(&pods.Items[i]); err != nil {
			return nil, err
		}
	}

	if volSelector, ok := engine.SelectorFor(store.Spec.VolumeSelector); ok {
		var pvcs corev1.PersistentVolumeClaimList
		if err := r.List(ctx, &pvcs, client.InNamespace(store.Namespace), client.MatchingLabelsSelector{Selector: volSelector}); err != nil {
			return nil, fmt.Errorf("listing governed claims: %w", err)
		}
		// A pod that mounts a claim the store governs is the store's, labelled or not.
		for i := range pvcs.Items {
			var mounting corev1.PodList
			if err := r.List(ctx, &mounting, client.InNamespace(store.Namespace), client.MatchingFields{podClaimIndex: pvcs.Items[i].Name}, client.UnsafeDisableDeepCopy); err != nil {
				return nil, fmt.Errorf("listing pods of claim %s: %w", pvcs.Items[i].Name, err)
			}
			for j := range mounting.Items {
				if err := auditPod(&mounting.Items[j], store); err != nil {
					return nil, err
				}
			}
		}
		for i := range pvcs.Items {
			claims[pvcs.Items[i].Name] = true
		}
	}
	names := make([]string, 0, len(claims))
	for name := range claims {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		pvc := &corev1.PersistentVolumeClaim{}
		if err := r.Get(ctx, client.ObjectKey{Namespace: store.Namespace, Name: name}, pvc); err != nil {
			if apierrors.IsNotFound(err) {
				continue // a pod mounts a claim that does not exist yet
			}
			return nil, fmt.Errorf("getting claim %s: %w", name, err)
		}
		if !pvc.DeletionTimestamp.IsZero() {
			continue
		}
		res.governedVolumes++
		facts := engine.ClaimFactsOf(pvc)
		// The store governs the claim (its selector or one of its pods): the engine is told so.
		v, err := engine.DecideClaim(pol, &facts, decision, store)
		if err != nil {
			return nil, err
		}
		res.record(v, "PersistentVolumeClaim", pvc)
		places, _ := decision.VolumeLocation(pvc.Spec.VolumeName)
		res.observe(v, "PersistentVolumeClaim", pvc, pvc.Spec.VolumeName, locate(places...))
	}
	// A failed readmission must not cost the store its audit: it is logged and tried again.
	if pending, err := r.MultiCluster.readmitPolicies(ctx, store.Namespace); err != nil {
		log.FromContext(ctx).Error(err, "sending placement policies admitted before their stores through admission again")
		res.readmitPending = true
	} else {
		res.readmitPending = pending
	}
	if err := r.MultiCluster.auditPlacements(ctx, r.APIReader, store, pol, res); err != nil {
		return nil, err
	}
	return res, nil
}

// observe keeps what the engine decided about one governed object, and where it is.
func (a *auditResult) observe(v *engine.Verdict, kind string, obj client.Object, where string, loc *v1alpha1.ObservedLocation) {
	// The same findings record counts as violations, so that a PolicyReport never fails what the
	// store's status calls compliant.
	o := auditedObject{
		Ref:   v1alpha1.ObjectReference{Kind: kind, Name: obj.GetName(), UID: obj.GetUID()},
		Where: where, Location: loc, Denied: violationsOf(v.Denied), Warned: violationsOf(v.Warned), Reported: violationsOf(v.Reported),
	}
	if len(v.Lifted) > 0 {
		o.ExemptedBy = v.Lifted[0].Exception
	}
	a.observed = append(a.observed, o)
}

// locate reads the location of a node or of a volume's places; nil when there is none. A volume
// in several places (a multi-zone disk) is reported at its first: they share the country.
func locate(places ...*corev1.Node) *v1alpha1.ObservedLocation {
	if len(places) == 0 || places[0] == nil {
		return nil
	}
	loc := observedLocation(places[0])
	return &loc
}

// record adds what the engine decided about one governed object: an exemption, or violations.
func (a *auditResult) record(v *engine.Verdict, kind string, obj client.Object) {
	ref := v1alpha1.ObjectReference{Kind: kind, Name: obj.GetName(), UID: obj.GetUID()}
	if len(v.Lifted) > 0 {
		a.exemptions = append(a.exemptions, v1alpha1.Exemption{Object: ref, Exception: v.Lifted[0].Exception, ExpiresAt: v.Lifted[0].ExpiresAt})
		return
	}
	for _, f := range violationsOf(v.Findings()) {
		violation := v1alpha1.Violation{Object: ref, Reason: violationReasons[f.Reason], Message: f.Message}
		if kind == "Pod" {
			violation.Node = f.Subject
		} else {
			violation.Volume = f.Subject
		}
		if f.Place != nil {
			violation.Location = observedLocation(f.Place)
		}
		a.violations = append(a.violations, violation)
		a.objects[objectKey(kind, obj.GetName())] = obj
	}
}

// objectOf is the object a violation is about, as the audit found it; nil when not kept.
func (a *auditResult) objectOf(v v1alpha1.Violation) client.Object {
	if clusterViolation(v) {
		return a.objects[templateKey(v.Object.Kind, v.Object.Name)]
	}
	return a.objects[objectKey(v.Object.Kind, v.Object.Name)]
}

// violationsOf keeps the findings that are violations of a running object (violationReasons).
func violationsOf(fs []engine.Finding) []engine.Finding {
	var out []engine.Finding
	for _, f := range fs {
		if violationReasons[f.Reason] != "" {
			out = append(out, f)
		}
	}
	return out
}

// violationReasons maps the engine's findings about running objects to the status API's reasons.
var violationReasons = map[engine.Reason]v1alpha1.ViolationReason{
	engine.NodeNotPermitted:       v1alpha1.NodeNotPermitted,
	engine.NodeNotFound:           v1alpha1.NodeLocationUnknown,
	engine.NodeLocationUnknown:    v1alpha1.NodeLocationUnknown,
	engine.PlacementMissing:       v1alpha1.PlacementMissing,
	engine.PlacementConflict:      v1alpha1.PlacementConflict,
	engine.VolumeNotPermitted:     v1alpha1.VolumeNotPermitted,
	engine.VolumeLocationUnknown:  v1alpha1.VolumeLocationUnknown,
	engine.ClusterNotPermitted:    v1alpha1.ClusterNotPermitted,
	engine.ClusterLocationUnknown: v1alpha1.ClusterLocationUnknown,
	engine.NoPermittedCluster:     v1alpha1.NoPermittedCluster,
}

// storeExceptions returns the exceptions of the store's namespace that name the store, and when
// the next one starts or expires.
func (r *StoreReconciler) storeExceptions(ctx context.Context, store *v1alpha1.PersonalDataStore, now time.Time) ([]*v1alpha1.ResidencyException, time.Time, error) {
	var list v1alpha1.ResidencyExceptionList
	if err := r.List(ctx, &list, client.InNamespace(store.Namespace), client.MatchingFields{exceptionStoreIndex: store.Name}); err != nil {
		return nil, time.Time{}, fmt.Errorf("listing exceptions: %w", err)
	}
	var out []*v1alpha1.ResidencyException
	var next time.Time
	for i := range list.Items {
		ex := &list.Items[i]
		for _, t := range exceptionTransitions(ex) {
			if t.After(now) && (next.IsZero() || t.Before(next)) {
				next = t
			}
		}
		out = append(out, ex)
	}
	return out, next, nil
}

func exceptionTransitions(ex *v1alpha1.ResidencyException) []time.Time {
	out := []time.Time{ex.Spec.ExpiresAt.Time}
	if ex.Spec.StartsAt != nil {
		out = append(out, ex.Spec.StartsAt.Time)
	}
	return out
}

// observedLocation reads a node's (or a volume place's) location from its labels.
func observedLocation(node *corev1.Node) v1alpha1.ObservedLocation {
	loc := v1alpha1.ObservedLocation{
		Region:        firstLabel(node.Labels, engine.RegionLabel, engine.LegacyRegionLabel),
		Zone:          firstLabel(node.Labels, engine.ZoneLabel, engine.LegacyZoneLabel),
		Country:       node.Labels[v1alpha1.CountryLabel],
		Jurisdictions: engine.LabelledJurisdictions(node.Labels),
	}
	return loc
}

func firstLabel(l map[string]string, keys ...string) string {
	for _, k := range keys {
		if v := l[k]; v != "" {
			return v
		}
	}
	return ""
}

// podClaimNames returns the claims a pod mounts, generic ephemeral volumes included.
func podClaimNames(pod *corev1.Pod) []string {
	var out []string
	for _, v := range pod.Spec.Volumes {
		switch {
		case v.PersistentVolumeClaim != nil:
			out = append(out, v.PersistentVolumeClaim.ClaimName)
		case v.Ephemeral != nil:
			out = append(out, pod.Name+"-"+v.Name)
		}
	}
	return out
}
