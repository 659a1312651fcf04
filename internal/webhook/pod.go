package webhook

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
	"github.com/residency-operator/residency-operator/internal/engine"
)

// +kubebuilder:webhook:path=/mutate--v1-pod,mutating=true,failurePolicy=fail,sideEffects=None,groups="",resources=pods,verbs=create,versions=v1,name=placement.pods.dataresidency.io,admissionReviewVersions=v1,reinvocationPolicy=IfNeeded,timeoutSeconds=3
// +kubebuilder:webhook:path=/validate--v1-pod,mutating=false,failurePolicy=fail,sideEffects=None,groups="",resources=pods,verbs=create,versions=v1,name=residency.pods.dataresidency.io,admissionReviewVersions=v1,timeoutSeconds=3

// +kubebuilder:rbac:groups=dataresidency.io,resources=personaldatastores;residencyexceptions;jurisdictions,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=nodes;persistentvolumes,verbs=get;list;watch
// +kubebuilder:rbac:groups=storage.k8s.io,resources=storageclasses,verbs=get;list;watch

var podResource = schema.GroupResource{Resource: "pods"}

// PodPlacement injects, at pod creation, the required node affinity that keeps a governed pod on
// permitted nodes, ANDed with the pod's own, and annotations naming its stores and jurisdictions.
type PodPlacement struct {
	Reader client.Reader
	Now    func() time.Time
}

var _ admission.Defaulter[*corev1.Pod] = (*PodPlacement)(nil)

// escapeJSONPointer escapes a map key for a JSON patch path (RFC 6901).
func escapeJSONPointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// Default mutates the pod. It leaves pods alone that no Enforce or Warn store governs, that an
// active exception covers, and whose stores disagree (the validator reports those).
func (p *PodPlacement) Default(ctx context.Context, pod *corev1.Pod) error {
	pol, err := loadPolicy(ctx, p.Reader, requestNamespace(ctx, pod), pod.Labels, workloadSelector, p.Now())
	if err != nil {
		return apierrors.NewInternalError(err)
	}
	if !pol.governed() {
		return nil
	}
	req := engine.RequirementFor(pol.constraining())
	terms, err := req.Terms(pol.jurisdictions)
	if err == nil && len(terms) > 0 {
		err = engine.IntersectPlacement(&pod.Spec, terms)
	}
	if err != nil {
		if errors.Is(err, engine.ErrTooManyTerms) && len(pol.enforce) == 0 {
			return nil // Warn only: the validator admits with a warning
		}
		admissionDecisions.WithLabelValues("Pod", "denied").Inc()
		return apierrors.NewForbidden(podResource, podName(pod), fmt.Errorf("cannot place the pod: %w", err))
	}
	if len(terms) == 0 {
		return nil
	}
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	pod.Annotations[v1alpha1.StoresAnnotation] = strings.Join(req.StoreNames(), ",")
	pod.Annotations[v1alpha1.AllowedJurisdictionsAnnotation] = req.AnnotationValue()
	admissionDecisions.WithLabelValues("Pod", "mutated").Inc()
	return nil
}

// PodResidency denies (Enforce) or warns about (Warn) a governed pod whose stores permit no node,
// that is pinned by nodeName to a node outside its permitted jurisdictions, or whose required
// affinity does not keep it on permitted nodes.
type PodResidency struct {
	Reader client.Reader
	Now    func() time.Time
}

var _ admission.Validator[*corev1.Pod] = (*PodResidency)(nil)

// ValidateCreate checks a new pod.
func (v *PodResidency) ValidateCreate(ctx context.Context, pod *corev1.Pod) (admission.Warnings, error) {
	pol, err := loadPolicy(ctx, v.Reader, requestNamespace(ctx, pod), pod.Labels, workloadSelector, v.Now())
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	return decide(pol, "Pod", podResource, podName(pod), func(stores []v1alpha1.PersonalDataStore) field.ErrorList {
		return v.check(ctx, pod, stores, pol.jurisdictions)
	})
}

func (v *PodResidency) check(ctx context.Context, pod *corev1.Pod, stores []v1alpha1.PersonalDataStore, jurs map[string]*v1alpha1.JurisdictionSpec) field.ErrorList {
	if len(stores) == 0 {
		return nil
	}
	req, terms, errs := permittedTerms(stores, jurs, "pod",
		"give the stores a common allowed jurisdiction, or change the pod's labels so fewer stores select it")
	if len(errs) > 0 {
		return errs
	}
	if pod.Spec.NodeName != "" {
		node := &corev1.Node{}
		err := v.Reader.Get(ctx, client.ObjectKey{Name: pod.Spec.NodeName}, node)
		switch {
		case apierrors.IsNotFound(err):
			errs = append(errs, field.Forbidden(field.NewPath("spec", "nodeName"), fmt.Sprintf(
				"pinned to node %q, which does not exist, so its location is unknown; %s. Fix: remove spec.nodeName and let the scheduler place the pod",
				pod.Spec.NodeName, req)))
		case err != nil:
			errs = append(errs, field.InternalError(field.NewPath("spec", "nodeName"), err))
		case !engine.NodePermitted(node, terms):
			errs = append(errs, field.Forbidden(field.NewPath("spec", "nodeName"), fmt.Sprintf(
				"pinned to %s, which is outside the permitted jurisdictions: %s. Fix: remove spec.nodeName, or pin the pod to a node labelled %s<jurisdiction>=true",
				engine.Describe(node), req, v1alpha1.JurisdictionLabelPrefix)))
		}
	}
	if !engine.AffinityImplies(&pod.Spec, req) {
		errs = append(errs, field.Forbidden(field.NewPath("spec", "affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution"),
			fmt.Sprintf("the pod's required node affinity does not keep it on permitted nodes (%s); another mutating webhook may have replaced the affinity residency-operator injected. Fix: keep the injected jurisdiction terms", req)))
	}
	return errs
}

// ValidateUpdate allows updates: a pod's placement cannot change after creation.
func (v *PodResidency) ValidateUpdate(context.Context, *corev1.Pod, *corev1.Pod) (admission.Warnings, error) {
	return nil, nil
}

// ValidateDelete allows deletion.
func (v *PodResidency) ValidateDelete(context.Context, *corev1.Pod) (admission.Warnings, error) {
	return nil, nil
}

// requestNamespace returns the namespace of the admission request: pods created by controllers
// reach the webhook without metadata.namespace.
func requestNamespace(ctx context.Context, obj client.Object) string {
	if req, err := admission.RequestFromContext(ctx); err == nil && req.Namespace != "" {
		return req.Namespace
	}
	return obj.GetNamespace()
}

func podName(pod *corev1.Pod) string {
	if pod.Name != "" {
		return pod.Name
	}
	return pod.GenerateName
}
