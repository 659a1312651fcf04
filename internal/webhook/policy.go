// Package webhook holds the admission webhooks: a pod mutator that injects the permitted-node
// affinity, and validators for pods and PersistentVolumeClaims. They are thin: every decision is
// the engine's.
package webhook

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
	"github.com/residency-operator/residency-operator/internal/engine"
)

// policy is what governs one object at admission: its stores by enforcement mode, with the stores
// an active exception lifts for it taken out.
type policy struct {
	enforce, warn []v1alpha1.PersonalDataStore
	audit         []string
	exempted      map[string]string // store -> exception name
	jurisdictions map[string]*v1alpha1.JurisdictionSpec
}

// governed reports whether any Enforce or Warn store constrains the object.
func (p *policy) governed() bool { return len(p.enforce)+len(p.warn) > 0 }

// constraining returns the Enforce and Warn stores, the ones whose placement is injected.
func (p *policy) constraining() []v1alpha1.PersonalDataStore {
	return append(slices.Clone(p.enforce), p.warn...)
}

// selectorFor picks the selector of a store that applies to a kind of object, and names it.
type selectorFor func(*v1alpha1.PersonalDataStore) (*metav1.LabelSelector, string)

func workloadSelector(s *v1alpha1.PersonalDataStore) (*metav1.LabelSelector, string) {
	return &s.Spec.WorkloadSelector, "workload"
}
func volumeSelector(s *v1alpha1.PersonalDataStore) (*metav1.LabelSelector, string) {
	return s.Spec.VolumeSelector, "volume"
}

// loadPolicy reads, from the manager's cache, the stores of namespace whose selector matches
// objLabels, and the exceptions that apply to the object now. It lists without deep copies (a
// copy of every store, exception and Jurisdiction per review was a quarter of a decision): the
// policy shares the cache's objects, so nothing that reads a policy may change it.
func loadPolicy(ctx context.Context, r client.Reader, namespace string, objLabels map[string]string, sel selectorFor, now time.Time) (*policy, error) {
	var stores v1alpha1.PersonalDataStoreList
	if err := r.List(ctx, &stores, client.InNamespace(namespace), client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing PersonalDataStores: %w", err)
	}
	p := &policy{}
	var matched []v1alpha1.PersonalDataStore
	for i := range stores.Items {
		s := &stores.Items[i]
		selector, which := sel(s)
		if s.DeletionTimestamp.IsZero() && admissionSelectors.selects(s, which, selector, objLabels) {
			matched = append(matched, *s)
		}
	}
	if len(matched) == 0 {
		return p, nil
	}

	var exceptions v1alpha1.ResidencyExceptionList
	if err := r.List(ctx, &exceptions, client.InNamespace(namespace), client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing ResidencyExceptions: %w", err)
	}
	p.exempted = map[string]string{}
	for i := range exceptions.Items {
		ex := &exceptions.Items[i]
		if !engine.ExceptionActive(&ex.Spec, ex.CreationTimestamp.Time, now) {
			continue
		}
		if !admissionSelectors.selects(ex, "exception", &ex.Spec.Selector, objLabels) {
			continue
		}
		for _, s := range ex.Spec.Stores {
			p.exempted[string(s)] = ex.Name
		}
	}

	for _, s := range matched {
		if _, ok := p.exempted[s.Name]; ok {
			continue
		}
		switch s.Spec.Enforcement {
		case v1alpha1.Audit:
			p.audit = append(p.audit, s.Name)
		case v1alpha1.Warn:
			p.warn = append(p.warn, s)
		default: // Enforce, and unset on objects that bypassed defaulting: fail closed
			p.enforce = append(p.enforce, s)
		}
	}
	if !p.governed() {
		return p, nil
	}

	var jurs v1alpha1.JurisdictionList
	if err := r.List(ctx, &jurs, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing Jurisdictions: %w", err)
	}
	p.jurisdictions = make(map[string]*v1alpha1.JurisdictionSpec, len(jurs.Items))
	for i := range jurs.Items {
		if jurs.Items[i].DeletionTimestamp.IsZero() {
			p.jurisdictions[jurs.Items[i].Name] = &jurs.Items[i].Spec
		}
	}
	return p, nil
}

// decide turns a check into an admission answer: what the Enforce stores fail is denied; what the
// Enforce and Warn stores together fail, when Warn stores govern too, is admitted with warnings.
func decide(pol *policy, kind string, resource schema.GroupResource, name string, check func([]v1alpha1.PersonalDataStore) field.ErrorList) (admission.Warnings, error) {
	if !pol.governed() {
		return nil, nil
	}
	if errs := check(pol.enforce); len(errs) > 0 {
		admissionDecisions.WithLabelValues(kind, "denied").Inc()
		return nil, apierrors.NewForbidden(resource, name, errors.New(errs.ToAggregate().Error()))
	}
	var warnings admission.Warnings
	if len(pol.warn) > 0 {
		for _, e := range check(pol.constraining()) {
			warnings = append(warnings, e.Error()+" (enforcement: Warn, so it is admitted)")
		}
	}
	decision := "allowed"
	if len(warnings) > 0 {
		decision = "warned"
	}
	admissionDecisions.WithLabelValues(kind, decision).Inc()
	return warnings, nil
}

// permittedTerms computes the permitted node terms of the stores that govern an object, or the
// error list that says why there are none: too many terms, or stores with no common place.
func permittedTerms(stores []v1alpha1.PersonalDataStore, jurs map[string]*v1alpha1.JurisdictionSpec, object, fix string) (engine.Requirement, []corev1.NodeSelectorTerm, field.ErrorList) {
	req := engine.RequirementFor(stores)
	terms, err := req.Terms(jurs)
	if err != nil {
		return req, nil, field.ErrorList{field.Forbidden(field.NewPath("metadata", "labels"), err.Error())}
	}
	if len(terms) == 0 {
		return req, nil, field.ErrorList{field.Forbidden(field.NewPath("metadata", "labels"), fmt.Sprintf(
			"the %s is governed by stores that permit no common node: %s; no node can be in an allowed jurisdiction of every store. Fix: %s",
			object, req, fix))}
	}
	return req, terms, nil
}
