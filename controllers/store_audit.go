package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
	"github.com/residency-operator/residency-operator/internal/engine"
)

// auditResult is what one audit of a store found.
type auditResult struct {
	governedPods, governedVolumes int
	violations                    []v1alpha1.Violation // Since is zero for violations not seen before
	allViolations                 []v1alpha1.Violation // with Since and EvictionTime, set by buildStatus
	exemptions                    []v1alpha1.Exemption
	objects                       map[string]client.Object // offending or exempted objects by kind/name
	nextExceptionChange           time.Time                // when an exception starts or expires next
}

// activeExemption is an exception in force for a store, with its selector compiled.
type activeExemption struct {
	name      string
	selector  labels.Selector
	expiresAt metav1.Time
}

// audit finds the store's governed pods (workloadSelector) and volumes (volumeSelector and claims
// its pods mount), and checks each against the store's permitted jurisdictions. It reads only the
// store's namespace from the cache: work grows with the store, not with the cluster.
func (r *StoreReconciler) audit(ctx context.Context, store *v1alpha1.PersonalDataStore, now time.Time) (*auditResult, error) {
	res := &auditResult{objects: map[string]client.Object{}}
	terms, err := engine.RequirementOf(store).Terms(nil)
	if err != nil {
		return nil, fmt.Errorf("computing permitted terms: %w", err)
	}
	exemptions, next, err := r.activeExemptions(ctx, store, now)
	if err != nil {
		return nil, err
	}
	res.nextExceptionChange = next
	exemptedBy := func(objLabels map[string]string) *activeExemption {
		for i := range exemptions {
			if exemptions[i].selector.Matches(labels.Set(objLabels)) {
				return &exemptions[i]
			}
		}
		return nil
	}

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
	for i := range pods.Items {
		pod := &pods.Items[i]
		if !pod.DeletionTimestamp.IsZero() || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
			continue
		}
		res.governedPods++
		for _, claim := range podClaimNames(pod) {
			claims[claim] = true
		}
		if ex := exemptedBy(pod.Labels); ex != nil {
			res.exemptions = append(res.exemptions, v1alpha1.Exemption{
				Object: v1alpha1.ObjectReference{Kind: "Pod", Name: pod.Name}, Exception: ex.name, ExpiresAt: ex.expiresAt})
			continue
		}
		if pod.Spec.NodeName == "" {
			continue // not placed yet: the injected affinity decides where it goes
		}
		v, err := r.checkPod(ctx, store, pod, terms)
		if err != nil {
			return nil, err
		}
		if v != nil {
			res.violations = append(res.violations, *v)
			res.objects[objectKey("Pod", pod.Name)] = pod
		}
	}

	if volSelector, ok := engine.SelectorFor(store.Spec.VolumeSelector); ok {
		var pvcs corev1.PersistentVolumeClaimList
		if err := r.List(ctx, &pvcs, client.InNamespace(store.Namespace), client.MatchingLabelsSelector{Selector: volSelector}); err != nil {
			return nil, fmt.Errorf("listing governed claims: %w", err)
		}
		for i := range pvcs.Items {
			claims[pvcs.Items[i].Name] = true
		}
	}
	if len(claims) == 0 {
		return res, nil
	}
	matchers, err := activeJurisdictionMatchers(ctx, r.Client)
	if err != nil {
		return nil, err
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
		if ex := exemptedBy(pvc.Labels); ex != nil {
			res.exemptions = append(res.exemptions, v1alpha1.Exemption{
				Object: v1alpha1.ObjectReference{Kind: "PersistentVolumeClaim", Name: pvc.Name}, Exception: ex.name, ExpiresAt: ex.expiresAt})
			continue
		}
		v, err := r.checkClaim(ctx, store, pvc, terms, matchers)
		if err != nil {
			return nil, err
		}
		if v != nil {
			res.violations = append(res.violations, *v)
			res.objects[objectKey("PersistentVolumeClaim", pvc.Name)] = pvc
		}
	}
	return res, nil
}

// checkPod locates a bound pod through its node and returns the violation, if any.
func (r *StoreReconciler) checkPod(ctx context.Context, store *v1alpha1.PersonalDataStore, pod *corev1.Pod, terms []corev1.NodeSelectorTerm) (*v1alpha1.Violation, error) {
	ref := v1alpha1.ObjectReference{Kind: "Pod", Name: pod.Name}
	node := &corev1.Node{}
	if err := r.Get(ctx, client.ObjectKey{Name: pod.Spec.NodeName}, node); err != nil {
		if !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("getting node %s: %w", pod.Spec.NodeName, err)
		}
		return &v1alpha1.Violation{Object: ref, Node: pod.Spec.NodeName, Reason: v1alpha1.NodeLocationUnknown,
			Message: fmt.Sprintf("runs on node %s, which does not exist, so where it runs is unknown", pod.Spec.NodeName)}, nil
	}
	if engine.NodePermitted(node, terms) {
		return nil, nil
	}
	loc := observedLocation(node)
	if problem := node.Annotations[locationProblemAnnotation]; problem != "" {
		return &v1alpha1.Violation{Object: ref, Node: node.Name, Location: loc, Reason: v1alpha1.NodeLocationUnknown,
			Message: fmt.Sprintf("runs on node %s, whose location is %s (%s)", node.Name, strings.ToLower(problem), node.Annotations[locationDetailAnnotation])}, nil
	}
	return &v1alpha1.Violation{Object: ref, Node: node.Name, Location: loc, Reason: v1alpha1.NodeNotPermitted,
		Message: fmt.Sprintf("runs on %s, outside %s", engine.Describe(node), joinNames(store.Spec.AllowedJurisdictions))}, nil
}

// checkClaim locates a bound claim through its PersistentVolume.
func (r *StoreReconciler) checkClaim(ctx context.Context, store *v1alpha1.PersonalDataStore, pvc *corev1.PersistentVolumeClaim, terms []corev1.NodeSelectorTerm, matchers []*engine.JurisdictionMatcher) (*v1alpha1.Violation, error) {
	if pvc.Spec.VolumeName == "" {
		return nil, nil // unbound: admission checked its StorageClass
	}
	ref := v1alpha1.ObjectReference{Kind: "PersistentVolumeClaim", Name: pvc.Name}
	pv := &corev1.PersistentVolume{}
	if err := r.Get(ctx, client.ObjectKey{Name: pvc.Spec.VolumeName}, pv); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil // binding in progress; the PV watch brings the store back
		}
		return nil, fmt.Errorf("getting volume %s: %w", pvc.Spec.VolumeName, err)
	}
	nodeByName := func(name string) *corev1.Node {
		node := &corev1.Node{}
		if err := r.Get(ctx, client.ObjectKey{Name: name}, node); err != nil {
			return nil
		}
		return node
	}
	places, ok := engine.VolumePlaces(pv, matchers, nodeByName)
	if !ok {
		return &v1alpha1.Violation{Object: ref, Volume: pv.Name, Reason: v1alpha1.VolumeLocationUnknown,
			Message: fmt.Sprintf("volume %s has no region or zone label and no node affinity on region, zone or hostname, so where the data is stored is unknown; label it with %s", pv.Name, engine.RegionLabel)}, nil
	}
	for _, place := range places {
		if !engine.NodePermitted(place, terms) {
			return &v1alpha1.Violation{Object: ref, Volume: pv.Name, Location: observedLocation(place), Reason: v1alpha1.VolumeNotPermitted,
				Message: fmt.Sprintf("volume %s is stored at %s, outside %s", pv.Name, engine.Describe(place), joinNames(store.Spec.AllowedJurisdictions))}, nil
		}
	}
	return nil, nil
}

// activeExemptions returns the exceptions of the store's namespace that name the store and are in
// force now, and when the next one starts or expires.
func (r *StoreReconciler) activeExemptions(ctx context.Context, store *v1alpha1.PersonalDataStore, now time.Time) ([]activeExemption, time.Time, error) {
	var list v1alpha1.ResidencyExceptionList
	if err := r.List(ctx, &list, client.InNamespace(store.Namespace), client.MatchingFields{exceptionStoreIndex: store.Name}); err != nil {
		return nil, time.Time{}, fmt.Errorf("listing exceptions: %w", err)
	}
	var out []activeExemption
	var next time.Time
	for i := range list.Items {
		ex := &list.Items[i]
		for _, t := range exceptionTransitions(ex) {
			if t.After(now) && (next.IsZero() || t.Before(next)) {
				next = t
			}
		}
		if !engine.ExceptionActive(&ex.Spec, ex.CreationTimestamp.Time, now) {
			continue
		}
		sel, ok := engine.SelectorFor(&ex.Spec.Selector)
		if !ok {
			continue
		}
		out = append(out, activeExemption{name: ex.Name, selector: sel, expiresAt: ex.Spec.ExpiresAt})
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
