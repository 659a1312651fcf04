package engine

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
	"github.com/residency-operator/residency-operator/internal/catalog"
)

// Multi-cluster placement: Karmada's PropagationPolicies and Open Cluster Management's Placements
// decide which member clusters receive a workload. Member clusters carry the same jurisdiction and
// country labels as nodes (written by the operator in the hub), so "is this cluster permitted" is
// NodePermitted over the same terms, and a policy is kept inside by ANDing the permitted terms into
// its cluster label selectors. The engine works on the objects' JSON (unstructured content) so that
// neither project's Go module pins the operator's dependencies.

// Multi-cluster finding reasons.
const (
	// ClusterPolicyOutside: a PropagationPolicy or Placement of a governed namespace could place
	// governed templates on clusters outside the permitted jurisdictions, and cannot be narrowed.
	ClusterPolicyOutside Reason = "ClusterPolicyOutside"
	// ClusterPolicyPurge: a PropagationPolicy's failover deletes the workload from its cluster even
	// when no permitted cluster can take it over (karmada#7455).
	ClusterPolicyPurge Reason = "ClusterPolicyPurge"
	// ClusterNotPermitted: a ResourceBinding or PlacementDecision names a cluster outside.
	ClusterNotPermitted Reason = "ClusterNotPermitted"
	// ClusterLocationUnknown: it names a cluster whose location is unknown or untrusted.
	ClusterLocationUnknown Reason = "ClusterLocationUnknown"
	// NoPermittedCluster: a governed workload is scheduled nowhere because no permitted cluster
	// fits; Karmada may already have removed it from the cluster it ran in.
	NoPermittedCluster Reason = "NoPermittedCluster"
)

// KarmadaSkipPropagationLabel keeps Karmada's namespace controller from copying a namespace to
// every member cluster.
const KarmadaSkipPropagationLabel = "namespace.karmada.io/skip-auto-propagation"

// The kinds of multi-cluster placement objects the engine narrows.
const (
	KarmadaPolicyGroup = "policy.karmada.io"
	OCMClusterGroup    = "cluster.open-cluster-management.io"

	KindPropagationPolicy        = "PropagationPolicy"
	KindClusterPropagationPolicy = "ClusterPropagationPolicy"
	KindPlacement                = "Placement"
)

// MultiClusterPolicyKind reports whether apiVersion/kind is a placement object the engine narrows.
func MultiClusterPolicyKind(apiVersion, kind string) bool {
	group, _, _ := strings.Cut(apiVersion, "/")
	switch group {
	case KarmadaPolicyGroup:
		return kind == KindPropagationPolicy || kind == KindClusterPropagationPolicy
	case OCMClusterGroup:
		return kind == KindPlacement
	}
	return false
}

// LocateCluster resolves a member cluster's location (resource/name, such as
// clusters.cluster.karmada.io/eu-frankfurt, for the messages) from what the hub controls: the region and
// zone Karmada's Cluster spec gives (or a region label a person set on an OCM ManagedCluster), its
// provider, and the operator's own labels on it (the person-set country, the region pinned at first
// sight). It is LocateNode's rule, with the hub-set region believed as a providerID is for nodes:
// members cannot set it, but a region that changes after first sight still makes the cluster
// Untrusted until a person confirms the move. Nothing a member reports about itself (OCM
// ClusterClaims, Karmada's status) takes part.
func LocateCluster(resource, name, provider, region, zone string, labels map[string]string) NodeLocation {
	node := &corev1.Node{}
	node.Name = name
	node.Labels = maps.Clone(labels)
	if node.Labels == nil {
		node.Labels = map[string]string{}
	}
	delete(node.Labels, LegacyRegionLabel)
	delete(node.Labels, LegacyZoneLabel)
	node.Labels[RegionLabel], node.Labels[ZoneLabel] = region, zone
	if region == "" {
		delete(node.Labels, RegionLabel)
	}
	if zone == "" {
		delete(node.Labels, ZoneLabel)
	}
	// Nothing on a cluster's spec or labels is kubelet-settable, so its region is registration
	// topology the hub vouches for; the pin and the person-set country work as for nodes.
	loc := locate(node, Trust{RegistrationTopology: true}, placeWords{noun: "cluster", resource: resource})
	if p := ClusterProvider(provider); p != "" && loc.Trusted() {
		loc.Provider = p
		if loc.CountrySource == CountryFromCatalog || loc.Country == "" && loc.CountrySource == "" {
			byProvider := ProviderLocation(p, loc.Region, "")
			if byProvider.Country != "" {
				loc.Country, loc.CountrySource = byProvider.Country, byProvider.CountrySource
			}
		}
	}
	return loc
}

// clusterProviders maps the provider names Karmada clusters commonly carry to the catalog's.
var clusterProviders = map[string]catalog.Provider{
	"aws": catalog.AWS, "amazon": catalog.AWS, "eks": catalog.AWS,
	"gcp": catalog.GoogleCloud, "gce": catalog.GoogleCloud, "google": catalog.GoogleCloud, "gke": catalog.GoogleCloud,
	"azure": catalog.Azure, "aks": catalog.Azure, "microsoft": catalog.Azure,
	"oracle": catalog.Oracle, "oci": catalog.Oracle,
	"ibm": catalog.IBM, "alibaba": catalog.Alibaba, "alicloud": catalog.Alibaba, "aliyun": catalog.Alibaba,
	"digitalocean": catalog.DigitalOcean, "hetzner": catalog.Hetzner, "ovhcloud": catalog.OVHcloud, "ovh": catalog.OVHcloud,
	"scaleway": catalog.Scaleway,
}

// ClusterProvider maps a cluster's provider name (Karmada spec.provider, an OCM "cloud" label) to
// the catalog's provider; empty when unknown, and the region is then looked up across providers.
func ClusterProvider(name string) catalog.Provider {
	return clusterProviders[strings.ToLower(strings.TrimSpace(name))]
}

// ClusterPermitted reports whether a member cluster with these labels satisfies the permitted
// terms: the same evaluation as for nodes.
func ClusterPermitted(clusterLabels map[string]string, permitted []corev1.NodeSelectorTerm) bool {
	node := &corev1.Node{}
	node.Labels = clusterLabels
	return NodePermitted(node, permitted)
}

// ClusterPolicyDecision is what the engine decided about a PropagationPolicy,
// ClusterPropagationPolicy or Placement.
type ClusterPolicyDecision struct {
	// Requirement is the permitted set of the stores that constrain the policy; zero when none does.
	Requirement Requirement
	// Narrowed is the object with the permitted terms ANDed into its cluster selectors, when that
	// changed it; nil otherwise.
	Narrowed map[string]any
	// Denied are breaches in Enforce mode, Warned in Warn mode or ones that never deny (purge mode).
	Denied, Warned []Finding
}

// DecideClusterPolicy narrows, or refuses, a multi-cluster placement object governed by stores. Every
// store of p governs it (p holds the stores of the namespace, or of every namespace a
// ClusterPropagationPolicy may select): label selectors cannot be compared, and templates may arrive
// after their policy, so the policy is held to every store it could serve. Audit-mode stores only
// report, through the audit of the bindings. obj is not changed.
func DecideClusterPolicy(p *Policies, kind string, obj map[string]any) (ClusterPolicyDecision, error) {
	var d ClusterPolicyDecision
	var enforce []string
	var constraining = p.Stores[:0:0]
	for _, s := range p.Stores {
		if !s.DeletionTimestamp.IsZero() {
			continue
		}
		switch ModeOf(s) {
		case v1alpha1.Enforce:
			enforce = append(enforce, s.Name)
			constraining = append(constraining, s)
		case v1alpha1.Warn:
			constraining = append(constraining, s)
		}
	}
	if len(constraining) == 0 {
		return d, nil
	}
	req, terms, err := p.permitted(constraining)
	d.Requirement = req
	addFinding := func(f Finding) {
		if len(enforce) > 0 {
			d.Denied = append(d.Denied, f)
		} else {
			d.Warned = append(d.Warned, f)
		}
	}
	if err != nil {
		addFinding(Finding{Reason: TooManyTerms, Severity: Breach, Field: "spec", Message: err.Error()})
		return d, nil
	}
	if len(terms) == 0 {
		addFinding(Finding{Reason: StoresDisagree, Severity: Breach, Field: "spec",
			Message: fmt.Sprintf("no cluster can be permitted: %s, and no cluster is in a jurisdiction of every store; give the stores a common jurisdiction", req)})
		return d, nil
	}
	out := runtime.DeepCopyJSON(obj)
	var changed bool
	switch kind {
	case KindPropagationPolicy, KindClusterPropagationPolicy:
		changed, err = narrowKarmada(out, req, terms, addFinding)
		if f := karmadaPurge(out, req); f != nil {
			d.Warned = append(d.Warned, *f)
		}
	case KindPlacement:
		changed, err = narrowOCM(out, req, terms, addFinding)
	default:
		return d, fmt.Errorf("%s is not a multi-cluster placement kind", kind)
	}
	if err != nil {
		return d, err
	}
	if changed && len(d.Denied) == 0 {
		d.Narrowed = out
	}
	return d, nil
}

// narrowKarmada ANDs the permitted terms into spec.placement.clusterAffinity, or into each term of
// spec.placement.clusterAffinities. A Karmada cluster affinity is one AND of requirements, so it can
// be narrowed only to one permitted term: with several (stores allowing [eu us]), a policy that does
// not already require one of them is refused, naming the labels that would choose one.
func narrowKarmada(obj map[string]any, req Requirement, terms []corev1.NodeSelectorTerm, add func(Finding)) (bool, error) {
	placement, _ := getMap(obj, "spec", "placement")
	if placement == nil {
		placement = map[string]any{}
	}
	type affinityAt struct {
		field string
		aff   map[string]any
	}
	var affinities []affinityAt
	if list, ok := placement["clusterAffinities"].([]any); ok && len(list) == 0 {
		delete(placement, "clusterAffinities") // Karmada refuses clusterAffinity next to an empty list
	}
	if list, ok := placement["clusterAffinities"].([]any); ok && len(list) > 0 {
		for i, item := range list {
			if m, ok := item.(map[string]any); ok {
				affinities = append(affinities, affinityAt{fmt.Sprintf("spec.placement.clusterAffinities[%d]", i), m})
			}
		}
	} else {
		aff, _ := placement["clusterAffinity"].(map[string]any)
		if aff == nil {
			aff = map[string]any{}
		}
		affinities = append(affinities, affinityAt{"spec.placement.clusterAffinity", aff})
		placement["clusterAffinity"] = aff
	}
	changed := false
	for _, a := range affinities {
		sel, err := selectorOf(a.aff["labelSelector"])
		if err != nil {
			return false, fmt.Errorf("%s.labelSelector: %w", a.field, err)
		}
		if f := foreignJurisdictions(sel, terms, req, a.field+".labelSelector"); f != nil {
			add(*f)
			continue
		}
		if slices.ContainsFunc(terms, func(t corev1.NodeSelectorTerm) bool { return selectorImplies(sel, t) }) {
			continue
		}
		if len(terms) > 1 {
			add(Finding{Reason: ClusterPolicyOutside, Severity: Breach, Field: a.field + ".labelSelector",
				Message: fmt.Sprintf("this policy could place personal data on clusters outside the permitted jurisdictions (%s), "+
					"and a Karmada cluster affinity can require only one set of labels: add %s to %s.labelSelector.matchLabels",
					req, orTerms(terms), a.field)})
			continue
		}
		narrowed, err := andTerm(sel, terms[0])
		if err != nil {
			return false, fmt.Errorf("%s: %w", a.field, err)
		}
		a.aff["labelSelector"] = narrowed
		changed = true
	}
	if changed {
		spec, _ := obj["spec"].(map[string]any)
		if spec == nil {
			spec = map[string]any{}
			obj["spec"] = spec
		}
		spec["placement"] = placement
	}
	return changed, nil
}

// karmadaPurge warns about an application failover that purges the workload from its cluster: when
// the permitted clusters drop to none, Karmada removes it anyway (karmada#7455).
func karmadaPurge(obj map[string]any, req Requirement) *Finding {
	app, _ := getMap(obj, "spec", "failover", "application")
	if app == nil {
		return nil
	}
	mode, _ := app["purgeMode"].(string)
	if mode == "Never" {
		return nil
	}
	if mode == "" {
		mode = "Gracefully (the default)"
	}
	return &Finding{Reason: ClusterPolicyPurge, Severity: Unverifiable, Field: "spec.failover.application.purgeMode",
		Message: fmt.Sprintf("purgeMode %s removes the workload from its cluster on failover even when no permitted cluster can take it over (%s; karmada#7455): "+
			"set spec.failover.application.purgeMode: Never, so that a person decides", mode, req)}
}

// narrowOCM narrows spec.predicates of an OCM Placement. Predicates are ORed, so each one that does
// not already require a permitted term becomes one predicate per term (its own label selector ANDed
// with the term), as the pod's node affinity terms are crossed with the permitted terms; no
// predicate at all (every cluster of the bound sets) becomes one predicate per term.
func narrowOCM(obj map[string]any, req Requirement, terms []corev1.NodeSelectorTerm, add func(Finding)) (bool, error) {
	spec, _ := obj["spec"].(map[string]any)
	if spec == nil {
		spec = map[string]any{}
		obj["spec"] = spec
	}
	own, _ := spec["predicates"].([]any)
	if len(own) == 0 {
		own = []any{map[string]any{}}
	}
	var out []any
	changed := false
	for i, item := range own {
		pred, _ := item.(map[string]any)
		if pred == nil {
			pred = map[string]any{}
		}
		rcs, _ := pred["requiredClusterSelector"].(map[string]any)
		if rcs == nil {
			rcs = map[string]any{}
		}
		sel, err := selectorOf(rcs["labelSelector"])
		if err != nil {
			return false, fmt.Errorf("spec.predicates[%d].requiredClusterSelector.labelSelector: %w", i, err)
		}
		if f := foreignJurisdictions(sel, terms, req, fmt.Sprintf("spec.predicates[%d].requiredClusterSelector.labelSelector", i)); f != nil {
			add(*f)
			return false, nil
		}
		if slices.ContainsFunc(terms, func(t corev1.NodeSelectorTerm) bool { return selectorImplies(sel, t) }) {
			out = append(out, pred)
			continue
		}
		changed = true
		for _, t := range terms {
			narrowed, err := andTerm(sel, t)
			if err != nil {
				return false, fmt.Errorf("spec.predicates[%d]: %w", i, err)
			}
			p := runtime.DeepCopyJSON(pred)
			r := runtime.DeepCopyJSON(rcs)
			r["labelSelector"] = narrowed
			p["requiredClusterSelector"] = r
			out = append(out, p)
		}
	}
	if len(out) > MaxTerms {
		add(Finding{Reason: TooManyTerms, Severity: Breach, Field: "spec.predicates",
			Message: fmt.Sprintf("keeping this Placement inside its permitted jurisdictions needs %d predicates, more than %d: %s", len(out), MaxTerms, permTooManyHint)})
		return false, nil
	}
	if changed {
		spec["predicates"] = out
	}
	return changed, nil
}

// foreignJurisdictions refuses a selector that requires a jurisdiction no permitted term names:
// ANDing the permitted terms onto it would select no cluster, and Karmada then removes what it
// placed (a store whose allowed jurisdictions changed after its policies were narrowed, say).
func foreignJurisdictions(sel *metav1.LabelSelector, terms []corev1.NodeSelectorTerm, req Requirement, field string) *Finding {
	if sel == nil {
		return nil
	}
	permitted := map[string]bool{}
	for _, t := range terms {
		for _, r := range t.MatchExpressions {
			if name, ok := strings.CutPrefix(r.Key, v1alpha1.JurisdictionLabelPrefix); ok {
				permitted[name] = true
			}
		}
	}
	var foreign []string
	for k, v := range sel.MatchLabels {
		if name, ok := strings.CutPrefix(k, v1alpha1.JurisdictionLabelPrefix); ok && v == v1alpha1.JurisdictionLabelValue && !permitted[name] {
			foreign = append(foreign, name)
		}
	}
	for _, e := range sel.MatchExpressions {
		name, ok := strings.CutPrefix(e.Key, v1alpha1.JurisdictionLabelPrefix)
		requires := e.Operator == metav1.LabelSelectorOpExists || e.Operator == metav1.LabelSelectorOpIn && slices.Equal(e.Values, []string{v1alpha1.JurisdictionLabelValue})
		if ok && requires && !permitted[name] {
			foreign = append(foreign, name)
		}
	}
	if len(foreign) == 0 {
		return nil
	}
	slices.Sort(foreign)
	return &Finding{Reason: ClusterPolicyOutside, Severity: Breach, Field: field,
		Message: fmt.Sprintf("requires clusters in [%s], which the stores do not permit (%s): remove that requirement, and admission narrows the policy to the permitted jurisdictions",
			strings.Join(slices.Compact(foreign), " "), req)}
}

// selectorOf converts an unstructured label selector; nil when absent.
func selectorOf(v any) (*metav1.LabelSelector, error) {
	m, ok := v.(map[string]any)
	if !ok || m == nil {
		return nil, nil
	}
	sel := &metav1.LabelSelector{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(m, sel); err != nil {
		return nil, err
	}
	return sel, nil
}

// selectorImplies reports whether sel already requires everything term requires, requirement by
// requirement: then ANDing the term changes nothing, and narrowing is idempotent.
func selectorImplies(sel *metav1.LabelSelector, term corev1.NodeSelectorTerm) bool {
	if sel == nil || len(term.MatchFields) > 0 {
		return false
	}
	for _, r := range term.MatchExpressions {
		if r.Operator == corev1.NodeSelectorOpIn && len(r.Values) == 1 && sel.MatchLabels[r.Key] == r.Values[0] {
			continue
		}
		if !slices.ContainsFunc(sel.MatchExpressions, func(e metav1.LabelSelectorRequirement) bool {
			return e.Key == r.Key && string(e.Operator) == string(r.Operator) && slices.Equal(sortedCopy(e.Values), sortedCopy(r.Values))
		}) {
			return false
		}
	}
	return true
}

func sortedCopy(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

// andTerm returns sel ANDed with a permitted term, as unstructured JSON: single-value In
// requirements (the jurisdiction labels) become matchLabels, so that the result reads as a person
// would write it.
func andTerm(sel *metav1.LabelSelector, term corev1.NodeSelectorTerm) (map[string]any, error) {
	if len(term.MatchFields) > 0 {
		return nil, fmt.Errorf("a permitted term with matchFields cannot select clusters")
	}
	out := &metav1.LabelSelector{}
	if sel != nil {
		out = sel.DeepCopy()
	}
	for _, r := range term.MatchExpressions {
		switch r.Operator {
		case corev1.NodeSelectorOpIn, corev1.NodeSelectorOpNotIn, corev1.NodeSelectorOpExists, corev1.NodeSelectorOpDoesNotExist:
		default:
			return nil, fmt.Errorf("operator %s of a permitted term has no label selector equivalent", r.Operator)
		}
		if v, set := out.MatchLabels[r.Key]; r.Operator == corev1.NodeSelectorOpIn && len(r.Values) == 1 && (!set || v == r.Values[0]) {
			if out.MatchLabels == nil {
				out.MatchLabels = map[string]string{}
			}
			out.MatchLabels[r.Key] = r.Values[0]
			continue
		}
		out.MatchExpressions = append(out.MatchExpressions, metav1.LabelSelectorRequirement{
			Key: r.Key, Operator: metav1.LabelSelectorOperator(r.Operator), Values: slices.Clone(r.Values)})
	}
	return runtime.DefaultUnstructuredConverter.ToUnstructured(out)
}

// orTerms describes terms for a message: `{"k": "true"}` or `{"k1": "true"}`.
func orTerms(terms []corev1.NodeSelectorTerm) string {
	parts := make([]string, 0, len(terms))
	for _, t := range terms {
		var reqs []string
		for _, r := range t.MatchExpressions {
			reqs = append(reqs, fmt.Sprintf("%q: %q", r.Key, strings.Join(r.Values, ",")))
		}
		parts = append(parts, "{"+strings.Join(reqs, ", ")+"}")
	}
	return strings.Join(parts, " or ")
}

func getMap(obj map[string]any, path ...string) (map[string]any, bool) {
	cur := obj
	for _, p := range path {
		next, ok := cur[p].(map[string]any)
		if !ok {
			return nil, false
		}
		cur = next
	}
	return cur, true
}

// TemplatePodLabels are the labels a store's workloadSelector is matched against for a resource
// template a multi-cluster engine propagates: its pod template's (Deployments, StatefulSets,
// DaemonSets, ReplicaSets, Jobs, and CronJobs' job template), else its own, as for a bare pod.
func TemplatePodLabels(obj map[string]any) map[string]string {
	for _, path := range [][]string{
		{"spec", "template", "metadata", "labels"},
		{"spec", "jobTemplate", "spec", "template", "metadata", "labels"},
	} {
		if m, ok := getMap(obj, path...); ok {
			out := make(map[string]string, len(m))
			for k, v := range m {
				if s, ok := v.(string); ok {
					out[k] = s
				}
			}
			return out
		}
	}
	out := map[string]string{}
	if m, ok := getMap(obj, "metadata", "labels"); ok {
		for k, v := range m {
			if s, ok := v.(string); ok {
				out[k] = s
			}
		}
	}
	return out
}

// clusterScopedKinds are the cluster-scoped kinds ClusterPropagationPolicies commonly propagate:
// a selector of one serves no namespace's stores.
var clusterScopedKinds = map[string]bool{
	"rbac.authorization.k8s.io/v1/ClusterRole":                       true,
	"rbac.authorization.k8s.io/v1/ClusterRoleBinding":                true,
	"apiextensions.k8s.io/v1/CustomResourceDefinition":               true,
	"v1/PersistentVolume":                                            true,
	"storage.k8s.io/v1/StorageClass":                                 true,
	"scheduling.k8s.io/v1/PriorityClass":                             true,
	"admissionregistration.k8s.io/v1/ValidatingWebhookConfiguration": true,
	"admissionregistration.k8s.io/v1/MutatingWebhookConfiguration":   true,
	"networking.k8s.io/v1/IngressClass":                              true,
	"node.k8s.io/v1/RuntimeClass":                                    true,
}

// ClusterPolicyNamespaces says whose stores a policy could serve: its own namespace's, or, for a
// ClusterPropagationPolicy, those of the namespaces its resource selectors name (a selector of a
// Namespace by name names that namespace), and every namespace's (all) when one of them names none. The webhook and the CLI ask it alike.
func ClusterPolicyNamespaces(kind, namespace string, obj map[string]any) (namespaces []string, all bool) {
	if kind != KindClusterPropagationPolicy {
		return []string{namespace}, false
	}
	spec, _ := obj["spec"].(map[string]any)
	selectors, _ := spec["resourceSelectors"].([]any)
	if len(selectors) == 0 {
		return nil, true
	}
	for _, s := range selectors {
		m, _ := s.(map[string]any)
		ns, _ := m["namespace"].(string)
		kind, _ := m["kind"].(string)
		apiVersion, _ := m["apiVersion"].(string)
		if kind == "Namespace" && apiVersion == "v1" {
			ns, _ = m["name"].(string) // the namespace itself: its stores, and only its
		} else if clusterScopedKinds[apiVersion+"/"+kind] {
			continue // no namespace's templates
		}
		if ns == "" {
			return nil, true
		}
		namespaces = append(namespaces, ns)
	}
	slices.Sort(namespaces)
	return slices.Compact(namespaces), false
}

// SelectsAnyCluster reports whether a placement policy's cluster label selectors (each Karmada
// affinity term, each OCM predicate) select at least one of the clusters, by their labels. The
// readmission of a policy uses it not to narrow one into selecting nothing, which would make
// Karmada take its workloads away everywhere.
func SelectsAnyCluster(kind string, obj map[string]any, clusters []map[string]string) bool {
	var raw []any
	switch kind {
	case KindPlacement:
		preds, _ := nested(obj, "spec", "predicates").([]any)
		if len(preds) == 0 {
			return len(clusters) > 0
		}
		for _, p := range preds {
			raw = append(raw, nested(p, "requiredClusterSelector", "labelSelector"))
		}
	default:
		if terms, _ := nested(obj, "spec", "placement", "clusterAffinities").([]any); len(terms) > 0 {
			for _, t := range terms {
				raw = append(raw, nested(t, "labelSelector"))
			}
		} else {
			raw = append(raw, nested(obj, "spec", "placement", "clusterAffinity", "labelSelector"))
		}
	}
	for _, r := range raw {
		sel, err := selectorOf(r)
		if err != nil {
			continue
		}
		s := labels.Everything()
		if sel != nil {
			if s, err = metav1.LabelSelectorAsSelector(sel); err != nil {
				continue
			}
		}
		for _, c := range clusters {
			if s.Matches(labels.Set(c)) {
				return true
			}
		}
	}
	return false
}

func nested(obj any, path ...string) any {
	cur := obj
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[p]
	}
	return cur
}
