package webhook

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/residency-operator/residency-operator/internal/engine"
	"github.com/residency-operator/residency-operator/internal/lookup"
)

// +kubebuilder:webhook:path=/mutate--v1-pod,mutating=true,failurePolicy=fail,sideEffects=None,groups="",resources=pods,verbs=create,versions=v1,name=placement.pods.dataresidency.io,admissionReviewVersions=v1,reinvocationPolicy=IfNeeded,timeoutSeconds=3
// +kubebuilder:webhook:path=/validate--v1-pod,mutating=false,failurePolicy=fail,sideEffects=None,groups="",resources=pods,verbs=create,versions=v1,name=residency.pods.dataresidency.io,admissionReviewVersions=v1,timeoutSeconds=3
// The placement-conflict webhook refuses pods that could never run. It fails open: such a pod is
// no residency breach (the injected affinity keeps it off every node), so an operator outage must
// not block it; it is then reported in its store's status (PlacementConflict) instead.
// config/webhook's patches send it only pods not pinned to a node whose nodeSelector or required
// affinity names a location (engine.LocationKeys).
// +kubebuilder:webhook:path=/validate--v1-pod-placement-conflicts,mutating=false,failurePolicy=ignore,sideEffects=None,groups="",resources=pods,verbs=create,versions=v1,name=unplaceable.pods.dataresidency.io,admissionReviewVersions=v1,timeoutSeconds=2

// +kubebuilder:rbac:groups=dataresidency.io,resources=personaldatastores;residencyexceptions;jurisdictions,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=nodes;persistentvolumes,verbs=get;list;watch
// +kubebuilder:rbac:groups=storage.k8s.io,resources=storageclasses,verbs=get;list;watch

var podResource = schema.GroupResource{Resource: "pods"}

// PodPlacement injects, at pod creation, the required node affinity that keeps a governed pod on
// permitted nodes, ANDed with the pod's own, and annotations naming its stores and jurisdictions.
// It reads only engine.PodFacts: what placement may depend on.
type PodPlacement struct {
	Reader client.Reader
	Now    func() time.Time
}

// escapeJSONPointer escapes a map key for a JSON patch path (RFC 6901).
func escapeJSONPointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// Place ANDs the permitted terms into pod.Affinity and returns the placement annotations to set
// (nil when the pod is left alone): pods that no Enforce or Warn store governs, that an active
// exception covers, and whose stores disagree (the validator reports those).
func (p *PodPlacement) Place(ctx context.Context, namespace, name string, pod *engine.PodFacts) (map[string]string, error) {
	pol, selected, err := loadPolicies(ctx, p.Reader, namespace, engine.Workload, pod.Labels, p.Now())
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	if !selected {
		return nil, nil
	}
	a := engine.MutatePod(pol, pod)
	if len(a.Denied) > 0 {
		admissionDecisions.WithLabelValues("Pod", "denied").Inc()
		return nil, apierrors.NewForbidden(podResource, name, errors.New(a.Denied[0].Message))
	}
	if a.Affinity == nil {
		return nil, nil
	}
	pod.Affinity = a.Affinity
	admissionDecisions.WithLabelValues("Pod", "mutated").Inc()
	return a.Annotations, nil
}

// PodResidency denies (Enforce) or warns about (Warn) a governed pod whose stores permit no node,
// that is pinned by nodeName to a node outside its permitted jurisdictions, or whose required
// affinity does not keep it on permitted nodes. It reads only engine.PodFacts.
type PodResidency struct {
	Reader client.Reader
	Now    func() time.Time
	// ConflictsOnly keeps only the PlacementConflict findings (the fail-open placement-conflict
	// webhook, which must not refuse on a rule that the other admission paths own); without it,
	// they are dropped.
	ConflictsOnly bool
	// Providers says which cloud the cluster runs in (nil: unknown).
	Providers *lookup.ClusterProvider
}

// Validate checks a pod being created, after every mutation.
func (v *PodResidency) Validate(ctx context.Context, namespace, name string, pod *engine.PodFacts) (admission.Warnings, error) {
	pol, selected, err := loadPolicies(ctx, v.Reader, namespace, engine.Workload, pod.Labels, v.Now())
	if err != nil || !selected {
		return nil, internalError(err)
	}
	verdict, err := engine.DecidePod(pol, pod, admissionContext(ctx, v.Reader, pol, v.Providers))
	if err != nil {
		return nil, internalError(err)
	}
	// PlacementConflict is the fail-open webhook's alone, in every mode: this fail-closed one must
	// not refuse (or warn twice about) a pod that breaches nothing.
	keep := func(f engine.Finding) bool { return (f.Reason == engine.PlacementConflict) == v.ConflictsOnly }
	verdict.Denied = slices.DeleteFunc(verdict.Denied, func(f engine.Finding) bool { return !keep(f) })
	verdict.Warned = slices.DeleteFunc(verdict.Warned, func(f engine.Finding) bool { return !keep(f) })
	return answer(verdict, "Pod", podResource, name)
}
