package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
	"github.com/residency-operator/residency-operator/internal/engine"
)

// +kubebuilder:rbac:groups=dataresidency.io,resources=dataprocessors,verbs=get;list;watch
// +kubebuilder:rbac:groups=networking.k8s.io,resources=networkpolicies,verbs=get;list;watch;create;update;delete

// networkPolicyName is the name of the NetworkPolicy the operator owns for a store.
func networkPolicyName(store *v1alpha1.PersonalDataStore) string { return "residency-" + store.Name }

// processorCheck is what the checks found about the processors a store names.
type processorCheck struct {
	findings  []v1alpha1.ProcessorFinding
	permitted []*v1alpha1.DataProcessor // passed every check: their endpoints may be reached
	recorded  []v1alpha1.RecordedProcessor
}

// checkProcessors applies the policy's sharing rules to each processor a store names: it must
// exist, process in one of the store's allowed jurisdictions, and be allowed every data category
// the store holds (data minimisation).
func (r *StoreReconciler) checkProcessors(ctx context.Context, store *v1alpha1.PersonalDataStore) (processorCheck, error) {
	var out processorCheck
	for _, name := range store.Spec.Processors {
		p := &v1alpha1.DataProcessor{}
		if err := r.Get(ctx, client.ObjectKey{Name: string(name)}, p); err != nil {
			if !apierrors.IsNotFound(err) {
				return out, fmt.Errorf("getting processor %s: %w", name, err)
			}
			out.findings = append(out.findings, v1alpha1.ProcessorFinding{Processor: string(name), Reason: v1alpha1.ProcessorNotFound,
				Message: fmt.Sprintf("DataProcessor %s does not exist: create it or remove it from spec.processors", name)})
			out.recorded = append(out.recorded, v1alpha1.RecordedProcessor{Name: string(name)})
			continue
		}
		rec := v1alpha1.RecordedProcessor{Name: p.Name, Role: p.Spec.Role}
		for _, j := range p.Spec.Jurisdictions {
			rec.Jurisdictions = append(rec.Jurisdictions, string(j))
		}
		if finding := engine.ProcessorProblem(&store.Spec, p); finding != nil {
			out.findings = append(out.findings, *finding)
			out.recorded = append(out.recorded, rec)
			continue
		}
		rec.Permitted = true
		out.recorded = append(out.recorded, rec)
		out.permitted = append(out.permitted, p)
	}
	return out, nil
}

// DNSPeer is where governed pods may send DNS queries under egress: Restrict: the cluster DNS pods.
type DNSPeer struct {
	Namespace   string
	PodSelector metav1.LabelSelector
}

// DefaultDNSPeer is CoreDNS (and kube-dns) as kubeadm, EKS, GKE and AKS deploy it.
func DefaultDNSPeer() DNSPeer {
	return DNSPeer{Namespace: "kube-system", PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"k8s-app": "kube-dns"}}}
}

// desiredNetworkPolicy is the egress policy of a store: governed pods may reach the cluster DNS on
// port 53, the other pods of the same store, and the endpoints of the processors that passed the
// checks; nothing else (not other pods of the namespace, which may run anywhere).
func desiredNetworkPolicy(store *v1alpha1.PersonalDataStore, permitted []*v1alpha1.DataProcessor, dnsPeer DNSPeer) networkingv1.NetworkPolicySpec {
	udp, tcp := corev1.ProtocolUDP, corev1.ProtocolTCP
	dns := intstr.FromInt32(53)
	spec := networkingv1.NetworkPolicySpec{
		PodSelector: *store.Spec.WorkloadSelector.DeepCopy(),
		PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
		Egress: []networkingv1.NetworkPolicyEgressRule{
			{
				To: []networkingv1.NetworkPolicyPeer{{
					NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: dnsPeer.Namespace}},
					PodSelector:       dnsPeer.PodSelector.DeepCopy(),
				}},
				Ports: []networkingv1.NetworkPolicyPort{{Protocol: &udp, Port: &dns}, {Protocol: &tcp, Port: &dns}},
			},
			{To: []networkingv1.NetworkPolicyPeer{{PodSelector: store.Spec.WorkloadSelector.DeepCopy()}}},
		},
	}
	sorted := slices.Clone(permitted)
	slices.SortFunc(sorted, func(a, b *v1alpha1.DataProcessor) int { return strings.Compare(a.Name, b.Name) })
	for _, p := range sorted {
		for _, ep := range p.Spec.Endpoints {
			rule := networkingv1.NetworkPolicyEgressRule{To: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: ep.CIDR}}}}
			for _, port := range ep.Ports {
				proto := corev1.Protocol(port.Protocol)
				if proto == "" {
					proto = corev1.ProtocolTCP
				}
				num := intstr.FromInt32(port.Port)
				rule.Ports = append(rule.Ports, networkingv1.NetworkPolicyPort{Protocol: &proto, Port: &num, EndPort: port.EndPort})
			}
			spec.Egress = append(spec.Egress, rule)
		}
	}
	return spec
}

// reconcileEgress keeps the store's owned NetworkPolicy in line with egress: Restrict. It never
// touches a NetworkPolicy it does not own; a conflicting one is returned as a message, and so is
// another policy that lets governed pods reach more (NetworkPolicies add up: ours cannot hold then).
func (r *StoreReconciler) reconcileEgress(ctx context.Context, store *v1alpha1.PersonalDataStore, permitted []*v1alpha1.DataProcessor) (reason, conflict string, err error) {
	reason = v1alpha1.ReasonNetworkPolicyConflict
	desired := desiredNetworkPolicy(store, permitted, r.DNS)
	conflict, err = r.ownEgressPolicy(ctx, store, desired)
	if err != nil || conflict != "" || store.Spec.Egress != v1alpha1.EgressRestrict {
		return reason, conflict, err
	}
	widened, err := r.egressWidenedBy(ctx, store, desired.Egress)
	return v1alpha1.ReasonEgressWidened, widened, err
}

// egressWidenedBy names another NetworkPolicy of the namespace that selects a governed pod and has
// an egress rule that ours does not: what ours forbids, that one then allows. A policy with no
// egress rules (a deny-all), or only rules ours has too, widens nothing. It reads the namespace's
// policies and the store's pods from the cache, once each.
func (r *StoreReconciler) egressWidenedBy(ctx context.Context, store *v1alpha1.PersonalDataStore, ours []networkingv1.NetworkPolicyEgressRule) (string, error) {
	var policies networkingv1.NetworkPolicyList
	if err := r.List(ctx, &policies, client.InNamespace(store.Namespace)); err != nil {
		return "", fmt.Errorf("listing NetworkPolicies: %w", err)
	}
	var widening []*networkingv1.NetworkPolicy
	for i := range policies.Items {
		np := &policies.Items[i]
		if metav1.IsControlledBy(np, store) || !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress) {
			continue // the API server fills in policyTypes: Egress whenever there are egress rules
		}
		if slices.ContainsFunc(np.Spec.Egress, func(rule networkingv1.NetworkPolicyEgressRule) bool {
			return !slices.ContainsFunc(ours, func(own networkingv1.NetworkPolicyEgressRule) bool { return equality.Semantic.DeepEqual(rule, own) })
		}) {
			widening = append(widening, np)
		}
	}
	governed, ok := engine.SelectorFor(&store.Spec.WorkloadSelector)
	if len(widening) == 0 || !ok {
		return "", nil
	}
	var pods corev1.PodList
	if err := r.List(ctx, &pods, client.InNamespace(store.Namespace), client.MatchingLabelsSelector{Selector: governed}, client.UnsafeDisableDeepCopy); err != nil {
		return "", fmt.Errorf("listing governed pods: %w", err)
	}
	for _, np := range widening {
		selects, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
		if err != nil {
			continue // the API server refuses such selectors
		}
		for j := range pods.Items {
			if selects.Matches(labels.Set(pods.Items[j].Labels)) {
				return fmt.Sprintf("NetworkPolicy %s also selects governed pod %s and allows it egress that %s does not (NetworkPolicies add up), so egress is not restricted: exclude the store's pods from its podSelector, or remove its egress rules",
					np.Name, pods.Items[j].Name, networkPolicyName(store)), nil
			}
		}
	}
	return "", nil
}

// ownEgressPolicy creates, updates or deletes the store's own NetworkPolicy.
func (r *StoreReconciler) ownEgressPolicy(ctx context.Context, store *v1alpha1.PersonalDataStore, spec networkingv1.NetworkPolicySpec) (conflict string, err error) {
	existing := &networkingv1.NetworkPolicy{}
	key := client.ObjectKey{Namespace: store.Namespace, Name: networkPolicyName(store)}
	getErr := r.Get(ctx, key, existing)
	if getErr != nil && !apierrors.IsNotFound(getErr) {
		return "", fmt.Errorf("getting NetworkPolicy: %w", getErr)
	}
	found := getErr == nil
	owned := found && metav1.IsControlledBy(existing, store)

	if store.Spec.Egress != v1alpha1.EgressRestrict {
		if owned {
			if err := r.Delete(ctx, existing); client.IgnoreNotFound(err) != nil {
				return "", fmt.Errorf("deleting NetworkPolicy: %w", err)
			}
		}
		return "", nil
	}
	if found && !owned {
		return fmt.Sprintf("NetworkPolicy %s already exists and is not owned by this store; it was left alone, so egress is not restricted: rename or delete it", key.Name), nil
	}
	if owned {
		if equality.Semantic.DeepEqual(existing.Spec, spec) {
			return "", nil
		}
		existing.Spec = spec
		if err := r.Update(ctx, existing); err != nil {
			return "", fmt.Errorf("updating NetworkPolicy: %w", err)
		}
		return "", nil
	}
	np := &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: key.Name, Namespace: key.Namespace,
			Labels: map[string]string{"app.kubernetes.io/managed-by": "residency-operator", "dataresidency.io/store": store.Name}},
		Spec: spec,
	}
	if err := controllerutil.SetControllerReference(store, np, r.Scheme()); err != nil {
		return "", fmt.Errorf("owning NetworkPolicy: %w", err)
	}
	if err := r.Create(ctx, np); err != nil {
		return "", fmt.Errorf("creating NetworkPolicy: %w", err)
	}
	return "", nil
}
