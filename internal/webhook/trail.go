package webhook

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
	"github.com/residency-operator/residency-operator/internal/engine"
)

// The trail webhook never refuses and fails open: it records who loosened a policy, and must not
// stand between a person and a fix while the operator is down (the trail then has a gap, which the
// API server's audit log covers if enabled). It judges stores in every namespace.
// +kubebuilder:webhook:path=/validate-dataresidency-io-v1alpha1-personaldatastore,mutating=false,failurePolicy=ignore,sideEffects=NoneOnDryRun,groups=dataresidency.io,resources=personaldatastores,verbs=update;delete,versions=v1alpha1,name=writes.personaldatastores.dataresidency.io,admissionReviewVersions=v1,timeoutSeconds=2
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// EventPolicyLoosened is the reason of the Event recorded on a store someone loosened or deleted.
const EventPolicyLoosened = "PolicyLoosened"

// policyLoosened counts changes that weakened a store, by namespace and store.
var policyLoosened = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "residency_policy_loosened_total",
	Help: "Changes that weakened a PersonalDataStore (weaker mode, more jurisdictions, changed selectors, longer grace, egress unrestricted, more processors) or deleted it.",
}, []string{"namespace", "store"})

func init() { metrics.Registry.MustRegister(policyLoosened) }

// StoreTrail records, as a Warning Event on the store and a metric, who weakened a store and how
// (engine.Loosening), or deleted it.
type StoreTrail struct {
	Recorder events.EventRecorder
	decoder  admission.Decoder
}

// Handle records and allows.
func (t *StoreTrail) Handle(_ context.Context, req admission.Request) admission.Response {
	if req.DryRun != nil && *req.DryRun {
		return admission.Allowed("")
	}
	old := &v1alpha1.PersonalDataStore{}
	if err := t.decoder.DecodeRaw(req.OldObject, old); err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	var note string
	switch req.Operation {
	case admissionv1.Delete:
		note = fmt.Sprintf("%s deleted the store: its pods and claims are no longer governed by it", req.UserInfo.Username)
	case admissionv1.Update:
		store := &v1alpha1.PersonalDataStore{}
		if err := t.decoder.DecodeRaw(req.Object, store); err != nil {
			return admission.Errored(http.StatusBadRequest, err)
		}
		changes := engine.Loosening(&old.Spec, &store.Spec)
		if len(changes) == 0 {
			return admission.Allowed("")
		}
		note = fmt.Sprintf("%s loosened the store: %s", req.UserInfo.Username, strings.Join(changes, "; "))
	default:
		return admission.Allowed("")
	}
	policyLoosened.WithLabelValues(old.Namespace, old.Name).Inc()
	t.Recorder.Eventf(old, nil, corev1.EventTypeWarning, EventPolicyLoosened, "Loosen", "%s", note)
	return admission.Allowed("")
}
