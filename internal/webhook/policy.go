// Package webhook holds the admission webhooks: a pod mutator that injects the permitted-node
// affinity, and validators for pods and PersistentVolumeClaims. They are thin: every decision is
// the engine's (engine.PlacePod, engine.DecidePod, engine.DecideClaim); the webhooks read the
// policies from the manager's cache and turn findings into admission answers.
package webhook

import (
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
	"github.com/residency-operator/residency-operator/internal/engine"
	"github.com/residency-operator/residency-operator/internal/lookup"
)

// loadPolicies reads, from the manager's cache, the stores of namespace and, when one of them
// selects an object labelled objLabels, the namespace's exceptions and the Jurisdictions. It lists
// without deep copies (a copy of every store, exception and Jurisdiction per review was a quarter
// of a decision): the policies share the cache's objects, so nothing that reads them may change
// them. selected is false when no store selects the object: nothing else was read.
func loadPolicies(ctx context.Context, r client.Reader, namespace string, which engine.SelectorKind, objLabels map[string]string, now time.Time) (pol *engine.Policies, selected bool, err error) {
	if pol, err = loadStores(ctx, r, namespace, now); err != nil {
		return nil, false, err
	}
	if len(engine.Matching(pol, which, objLabels)) == 0 {
		return pol, false, nil
	}
	return pol, true, loadTheRest(ctx, r, namespace, pol)
}

// loadStores reads the stores of namespace, without deep copies (see loadPolicies).
func loadStores(ctx context.Context, r client.Reader, namespace string, now time.Time) (*engine.Policies, error) {
	var stores v1alpha1.PersonalDataStoreList
	if err := r.List(ctx, &stores, client.InNamespace(namespace), client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing PersonalDataStores: %w", err)
	}
	pol := &engine.Policies{Now: now, Select: admissionSelectors.selects}
	for i := range stores.Items {
		pol.Stores = append(pol.Stores, &stores.Items[i])
	}
	return pol, nil
}

// loadTheRest adds the namespace's exceptions and the Jurisdictions to policies of its stores.
func loadTheRest(ctx context.Context, r client.Reader, namespace string, pol *engine.Policies) error {
	var exceptions v1alpha1.ResidencyExceptionList
	if err := r.List(ctx, &exceptions, client.InNamespace(namespace), client.UnsafeDisableDeepCopy); err != nil {
		return fmt.Errorf("listing ResidencyExceptions: %w", err)
	}
	for i := range exceptions.Items {
		pol.Exceptions = append(pol.Exceptions, &exceptions.Items[i])
	}
	var jurs v1alpha1.JurisdictionList
	if err := r.List(ctx, &jurs, client.UnsafeDisableDeepCopy); err != nil {
		return fmt.Errorf("listing Jurisdictions: %w", err)
	}
	pol.Jurisdictions = make(map[string]*v1alpha1.JurisdictionSpec, len(jurs.Items))
	for i := range jurs.Items {
		if jurs.Items[i].DeletionTimestamp.IsZero() {
			pol.Jurisdictions[jurs.Items[i].Name] = &jurs.Items[i].Spec
		}
	}
	return nil
}

// admissionContext returns what an admission decision knows: the cache, the compiled Jurisdictions
// to locate places with, and the cloud the cluster runs in (nil providers: unknown).
func admissionContext(ctx context.Context, r client.Reader, pol *engine.Policies, providers *lookup.ClusterProvider) *engine.Context {
	// A Jurisdiction whose selector does not compile matches nothing; the schema rejects those.
	matchers, _ := engine.NewJurisdictionMatchers(pol.Jurisdictions)
	return &engine.Context{Stage: engine.Admission, Lookup: lookup.Reader(ctx, r), Matchers: matchers, Provider: providers.Get(ctx)}
}

// answer turns a verdict into an admission answer: what the Enforce stores object to is denied;
// what the Warn stores add is admitted with warnings; what only Audit stores object to is the
// audit's to report.
func answer(v *engine.Verdict, kind string, resource schema.GroupResource, name string) (admission.Warnings, error) {
	if !v.Constrained() && len(v.Denied)+len(v.Warned) == 0 {
		return nil, nil
	}
	if len(v.Denied) > 0 {
		admissionDecisions.WithLabelValues(kind, "denied").Inc()
		return nil, apierrors.NewForbidden(resource, name, errors.New(engine.DenialMessage(v.Denied)))
	}
	warnings := admission.Warnings(engine.WarningMessages(v.Warned))
	decision := "allowed"
	if len(warnings) > 0 {
		decision = "warned"
	}
	admissionDecisions.WithLabelValues(kind, decision).Inc()
	return warnings, nil
}

// requestNamespace returns the namespace of the admission request: pods created by controllers
// reach the webhook without metadata.namespace.
func requestNamespace(ctx context.Context, obj metav1.Object) string {
	if req, err := admission.RequestFromContext(ctx); err == nil && req.Namespace != "" {
		return req.Namespace
	}
	return obj.GetNamespace()
}
