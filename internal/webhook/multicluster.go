package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
	"github.com/residency-operator/residency-operator/internal/engine"
)

// +kubebuilder:webhook:path=/mutate-multicluster-placement,mutating=true,failurePolicy=fail,sideEffects=None,groups=policy.karmada.io;cluster.open-cluster-management.io,resources=propagationpolicies;clusterpropagationpolicies;placements,verbs=create;update,versions=v1alpha1;v1beta1,name=selectors.multicluster.dataresidency.io,admissionReviewVersions=v1,reinvocationPolicy=IfNeeded,timeoutSeconds=3

// ClusterPlacement keeps multi-cluster placement inside the permitted jurisdictions at admission in
// a hub: it narrows Karmada PropagationPolicies and ClusterPropagationPolicies and OCM Placements
// that could place a governed namespace's templates (engine.DecideClusterPolicy), and refuses those
// it cannot narrow. The namespaced kinds are sent only from governed namespaces (the configuration's
// namespaceSelector); ClusterPropagationPolicies, being cluster-scoped, always are.
type ClusterPlacement struct {
	Reader client.Reader
}

// Handle narrows, denies or allows one policy.
func (h *ClusterPlacement) Handle(ctx context.Context, req admission.Request) admission.Response {
	if req.Operation != admissionv1.Create && req.Operation != admissionv1.Update {
		return admission.Allowed("")
	}
	var obj map[string]any
	if err := json.Unmarshal(req.Object.Raw, &obj); err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	kind := req.Kind.Kind
	if !engine.MultiClusterPolicyKind(req.Kind.Group+"/"+req.Kind.Version, kind) {
		return admission.Allowed("")
	}
	stores, err := h.storesFor(ctx, req.Namespace, kind, obj)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, err)
	}
	if len(stores) == 0 {
		return admission.Allowed("")
	}
	jurisdictions, err := jurisdictionSpecs(ctx, h.Reader)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, err)
	}
	d, err := engine.DecideClusterPolicy(&engine.Policies{Stores: stores, Jurisdictions: jurisdictions}, kind, obj)
	if err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	what := fmt.Sprintf("%s %q", kind, req.Name)
	if len(d.Denied) > 0 {
		admissionDecisions.WithLabelValues(kind, "denied").Inc()
		return admission.Denied(fmt.Sprintf("%s: %s", what, engine.DenialMessage(d.Denied)))
	}
	warnings := engine.WarningMessages(d.Warned)
	if d.Narrowed == nil {
		admissionDecisions.WithLabelValues(kind, "allowed").Inc()
		return admission.Allowed("").WithWarnings(warnings...)
	}
	raw, err := json.Marshal(d.Narrowed)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, err)
	}
	admissionDecisions.WithLabelValues(kind, "mutated").Inc()
	warnings = append(warnings, fmt.Sprintf("%s: cluster selectors narrowed to the jurisdictions its namespace's stores permit (%s)", what, d.Requirement))
	return admission.PatchResponseFromRaw(req.Object.Raw, raw).WithWarnings(warnings...)
}

// storesFor returns the stores a policy could serve: those of its namespace, or, for a
// ClusterPropagationPolicy, those of the namespaces its resource selectors name, and of every
// namespace when one of them names none.
func (h *ClusterPlacement) storesFor(ctx context.Context, namespace, kind string, obj map[string]any) ([]*v1alpha1.PersonalDataStore, error) {
	namespaces, all := engine.ClusterPolicyNamespaces(kind, namespace, obj)
	var out []*v1alpha1.PersonalDataStore
	list := func(opts ...client.ListOption) error {
		var stores v1alpha1.PersonalDataStoreList
		if err := h.Reader.List(ctx, &stores, opts...); err != nil {
			return fmt.Errorf("listing stores: %w", err)
		}
		for i := range stores.Items {
			if stores.Items[i].DeletionTimestamp.IsZero() {
				out = append(out, &stores.Items[i])
			}
		}
		return nil
	}
	if all {
		if err := list(); err != nil {
			return nil, err
		}
	} else {
		for _, ns := range namespaces {
			if err := list(client.InNamespace(ns)); err != nil {
				return nil, err
			}
		}
	}
	// Stores of several namespaces may share a name: keep them apart in messages.
	if all || len(namespaces) > 1 {
		for i, s := range out {
			c := s.DeepCopy()
			c.Name = s.Namespace + "/" + s.Name
			out[i] = c
		}
	}
	slices.SortFunc(out, func(a, b *v1alpha1.PersonalDataStore) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func jurisdictionSpecs(ctx context.Context, r client.Reader) (map[string]*v1alpha1.JurisdictionSpec, error) {
	var list v1alpha1.JurisdictionList
	if err := r.List(ctx, &list); err != nil {
		return nil, fmt.Errorf("listing jurisdictions: %w", err)
	}
	out := make(map[string]*v1alpha1.JurisdictionSpec, len(list.Items))
	for i := range list.Items {
		out[list.Items[i].Name] = &list.Items[i].Spec
	}
	return out, nil
}
