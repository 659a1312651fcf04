package engine

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/equality"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
	"github.com/residency-operator/residency-operator/internal/catalog"
)

// The rules. Each returns findings with their message written once: the webhook, the CLI and the
// audit show these words, adding only where the object is (a field path, a file and line).

// maxPlacesListed bounds the places a message lists; the rest are counted.
const maxPlacesListed = 5

// PlacementFailure is the finding for a permitted set that cannot be written as node affinity
// (ErrTooManyTerms), alone or ANDed with the pod's own: admission cannot place the object.
func PlacementFailure(object string, err error) Finding {
	return Finding{Reason: TooManyTerms, Severity: Breach, Field: "metadata.labels",
		Message: fmt.Sprintf("cannot place the %s: %v", object, err)}
}

// noCommonPlace is the finding for stores that permit no common node.
func noCommonPlace(object string, req Requirement, fix string) Finding {
	return Finding{Reason: StoresDisagree, Severity: Breach, Field: "metadata.labels", Message: fmt.Sprintf(
		"the %s is governed by stores that permit no common node: %s; no node can be in an allowed jurisdiction of every store. Fix: %s",
		object, req, fix)}
}

// placingRequirement is the requirement of the stores that admission places pods for (Enforce
// and Warn): what a running pod's affinity must imply.
func placingRequirement(stores []*v1alpha1.PersonalDataStore) Requirement {
	placing := placingStores(stores)
	if len(placing) == 0 {
		return Requirement{}
	}
	return RequirementFor(placing...)
}

// placingStores are the stores admission places pods for: Enforce and Warn.
func placingStores(stores []*v1alpha1.PersonalDataStore) []*v1alpha1.PersonalDataStore {
	var out []*v1alpha1.PersonalDataStore
	for _, s := range stores {
		if ModeOf(s) != v1alpha1.Audit {
			out = append(out, s)
		}
	}
	return out
}

// locatedByPlaceOnly reports whether every jurisdiction req names is defined by countries and
// regions alone: one with a nodeSelector may take nodes anywhere its labels are, which a place
// named by region cannot tell.
func locatedByPlaceOnly(matchers []*JurisdictionMatcher, req Requirement) bool {
	for _, g := range req.Groups {
		for _, name := range g.Jurisdictions {
			i := slices.IndexFunc(matchers, func(m *JurisdictionMatcher) bool { return m.Name == name })
			if i < 0 || matchers[i].selector != nil {
				return false
			}
		}
	}
	return true
}

// permittedPodFindings are the findings about a pod that its stores alone decide, whatever the
// pod: stores that permit no common node, or a permitted set too large to write. None means the
// permitted terms can be injected.
func permittedPodFindings(p *Policies, stores []*v1alpha1.PersonalDataStore) (Requirement, []corev1.NodeSelectorTerm, []Finding) {
	req, terms, err := p.permitted(stores)
	if err != nil {
		return req, nil, []Finding{PlacementFailure("pod", err)}
	}
	if len(terms) == 0 {
		return req, terms, []Finding{noCommonPlace("pod", req, "give the stores a common allowed jurisdiction, or change the pod's labels so fewer stores select it")}
	}
	return req, terms, nil
}

// AffinityLoosenedFinding is the finding for a pod whose required node affinity, after every mutation,
// does not keep it on the nodes req permits.
func AffinityLoosenedFinding(req Requirement) Finding {
	return Finding{Reason: AffinityLoosened, Severity: Breach,
		Field:   "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution",
		Message: fmt.Sprintf("the pod's required node affinity does not keep it on permitted nodes (%s); another mutating webhook may have replaced the affinity residency-operator injected. Fix: keep the injected jurisdiction terms", req)}
}

func podFindings(p *Policies, pod *PodFacts, c *Context, stores []*v1alpha1.PersonalDataStore) ([]Finding, error) {
	req, terms, found := permittedPodFindings(p, stores)
	if len(found) > 0 {
		return found, nil
	}
	spec := pod.spec()
	var out []Finding
	if c.Stage == Running && pod.NodeName == "" {
		if pod.Gated {
			return nil, nil // held (by the placement gate, say): it cannot be bound anywhere yet
		}
		// Admission injects the Enforce and Warn stores' placement; a pending pod without it was
		// created before their policies were in force, and nothing keeps it inside: it is a
		// violation at once, evicted without grace (it never ran). A pod that already runs
		// outside is judged by its node, with the grace period that announces the eviction.
		var missing []Finding
		switch placed := placingRequirement(stores); {
		case placed.IsZero():
		case !AffinityImplies(spec, placed):
			missing = append(missing, Finding{Reason: PlacementMissing, Severity: Breach,
				Field: "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution", Message: fmt.Sprintf(
					"the pod was created without the permitted-node affinity (%s), before its stores' admission policies were in force, so the scheduler may place it anywhere. "+
						"Fix: label its Namespace %s=true in the same manifests, so that such pods wait for their policies; the operator evicts it so that its controller recreates it placed",
					placed, v1alpha1.AwaitPoliciesLabel)})
		default:
			// Placed and pending: nothing else says why it never runs (the scheduler's message
			// is generic).
			missing = append(missing, placementConflicts(p, spec, c, stores)...)
		}
		return missing, nil
	}
	if c.Stage == Admission && pod.NodeName == "" {
		out = append(out, placementConflicts(p, spec, c, stores)...)
	}
	if c.Stage == Offline {
		out = append(out, placeFindings(p, spec, c, req, terms)...)
	}
	if pod.NodeName != "" {
		f, err := nodeFindings(c, pod.NodeName, req, terms)
		if err != nil {
			return nil, err
		}
		out = append(out, f...)
	}
	if c.Stage == Admission && !AffinityImplies(spec, req) {
		out = append(out, AffinityLoosenedFinding(req))
	}
	return out, nil
}

// placeFindings judges a pod's own nodeSelector and required affinity before admission ANDs the
// permitted affinity with them.
func placeFindings(p *Policies, spec *corev1.PodSpec, c *Context, req Requirement, terms []corev1.NodeSelectorTerm) []Finding {
	pp := PlacesOfPod(spec, c.Matchers, p.Jurisdictions, c.Provider)
	var out []Finding
	if !pp.Open && len(pp.Unknown) == 0 && !slices.ContainsFunc(pp.Places, func(n *corev1.Node) bool { return NodePermitted(n, terms) }) {
		what := "with the pod's required node affinity, it only allows %s, none of which is permitted: %s; admission would add the permitted-node affinity and the pods would stay Pending. "
		switch c.Stage {
		case Admission:
			what = "the pod's own nodeSelector and required node affinity allow only %s, none of which is permitted: %s; with the permitted-node affinity no node could take it, so it would stay Pending forever. "
		case Running:
			what = "the pod's own nodeSelector and required node affinity allow only %s, none of which is permitted: %s; with the permitted-node affinity admission added, no node can take it, so it stays Pending (evicting it would not help: its replacement would be the same). "
		}
		out = append(out, Finding{Reason: PlacementConflict, Severity: Breach, Field: "spec.nodeSelector", Message: fmt.Sprintf(
			what+"Fix: point them at a region of an allowed jurisdiction, or remove them and let residency-operator place the pods",
			describePlaces(pp.Places), req)})
	}
	if len(pp.Unknown) > 0 {
		out = append(out, Finding{Reason: PlacesUnknown, Severity: Unverifiable, Field: "spec.nodeSelector", Message: fmt.Sprintf(
			"it or the pod's required node affinity names %s, which neither the region catalog nor a Jurisdiction locates, so whether it is permitted cannot be told (%s)%s. "+
				"Fix: use a region the catalog knows, or add it to a Jurisdiction's regions",
			strings.Join(pp.Unknown, ", "), req, ambiguityHint(pp.Unknown))})
	}
	return out
}

// placementConflicts is the PlacementConflict finding, if any, of a pod that admission placed (or
// is placing) for the Enforce and Warn stores among stores: its own nodeSelector and required
// affinity allow no place those stores permit, so it can never run. Only stores whose
// jurisdictions are all located by place are judged: a jurisdiction defined by a nodeSelector may
// take nodes anywhere its labels are, which a place named by region cannot tell.
func placementConflicts(p *Policies, spec *corev1.PodSpec, c *Context, stores []*v1alpha1.PersonalDataStore) []Finding {
	placing := placingStores(stores)
	if len(placing) == 0 {
		return nil
	}
	req, terms, found := permittedPodFindings(p, placing)
	if len(found) > 0 || !locatedByPlaceOnly(c.Matchers, req) {
		return nil
	}
	var out []Finding
	for _, f := range placeFindings(p, ownPlacement(spec), c, req, terms) {
		if f.Reason == PlacementConflict {
			out = append(out, f)
		}
	}
	return out
}

// ownPlacement returns the pod's spec without the jurisdiction requirements admission added to
// its required node affinity terms: where the pod itself asks to run.
func ownPlacement(spec *corev1.PodSpec) *corev1.PodSpec {
	a := spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return spec
	}
	var terms []corev1.NodeSelectorTerm
	for _, t := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		t.MatchExpressions = slices.DeleteFunc(slices.Clone(t.MatchExpressions), func(r corev1.NodeSelectorRequirement) bool {
			return strings.HasPrefix(r.Key, v1alpha1.JurisdictionLabelPrefix)
		})
		// The product of own and permitted terms repeats each own term once per permitted one.
		if !slices.ContainsFunc(terms, func(u corev1.NodeSelectorTerm) bool { return equality.Semantic.DeepEqual(u, t) }) {
			terms = append(terms, t)
		}
	}
	nodeAffinity := *a.NodeAffinity
	nodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution = &corev1.NodeSelector{NodeSelectorTerms: terms}
	affinity := *a
	affinity.NodeAffinity = &nodeAffinity
	own := *spec
	own.Affinity = &affinity
	return &own
}

// nodeFindings judges the node a pod is pinned or bound to.
func nodeFindings(c *Context, name string, req Requirement, terms []corev1.NodeSelectorTerm) ([]Finding, error) {
	var node *corev1.Node
	err := ErrNotKnown
	if c.Lookup != nil {
		node, err = c.Lookup.Node(name)
	}
	switch {
	case errors.Is(err, ErrNotKnown):
		return []Finding{{Reason: NodeUnchecked, Severity: Unverifiable, Field: "spec.nodeName", Subject: name, Message: fmt.Sprintf(
			"the pod is pinned to node %q, whose location cannot be checked offline (%s). Fix: remove spec.nodeName and let the scheduler place the pod, or run the check with --cluster",
			name, req)}}, nil
	case err != nil:
		return nil, fmt.Errorf("getting node %s: %w", name, err)
	case node == nil:
		return []Finding{{Reason: NodeNotFound, Severity: Breach, Field: "spec.nodeName", Subject: name, Message: fmt.Sprintf(
			"node %q does not exist, so where the pod runs is unknown; %s. Fix: remove spec.nodeName and let the scheduler place the pod",
			name, req)}}, nil
	case NodePermitted(node, terms):
		return nil, nil
	}
	f := Finding{Reason: NodeNotPermitted, Severity: Breach, Field: "spec.nodeName", Subject: name, Place: node, Message: fmt.Sprintf(
		"%s is outside the permitted jurisdictions: %s. Fix: let the scheduler place the pod (no spec.nodeName), or use a node labelled %s<jurisdiction>=true",
		Describe(node), req, v1alpha1.JurisdictionLabelPrefix)}
	if problem := node.Annotations[LocationProblemAnnotation]; problem != "" {
		f.Reason = NodeLocationUnknown
		f.Message = fmt.Sprintf("node %s is in no jurisdiction: its location is %s (%s); %s. Fix: correct the node's location, or let the scheduler place the pod on a permitted node",
			name, strings.ToLower(problem), node.Annotations[LocationDetailAnnotation], req)
	}
	return []Finding{f}, nil
}

func claimFindings(p *Policies, claim *ClaimFacts, c *Context, stores []*v1alpha1.PersonalDataStore) ([]Finding, error) {
	req, terms, err := p.permitted(stores)
	if err != nil {
		return []Finding{PlacementFailure("claim's volume", err)}, nil
	}
	if len(terms) == 0 {
		return []Finding{noCommonPlace("claim", req, "give the stores a common allowed jurisdiction")}, nil
	}
	if claim.VolumeName != "" {
		return volumeFindings(c, claim.VolumeName, req, terms)
	}
	if c.Stage == Running {
		return nil, nil // unbound: admission checked its StorageClass, the audit comes back when it binds
	}
	return storageFindings(claim, c, req, terms)
}

// volumeFindings judges the PersistentVolume a claim is (pre-)bound to.
func volumeFindings(c *Context, name string, req Requirement, terms []corev1.NodeSelectorTerm) ([]Finding, error) {
	var pv *corev1.PersistentVolume
	err := ErrNotKnown
	if c.Lookup != nil {
		pv, err = c.Lookup.Volume(name)
	}
	switch {
	case errors.Is(err, ErrNotKnown):
		return []Finding{{Reason: VolumeUnchecked, Severity: Unverifiable, Field: "spec.volumeName", Subject: name, Message: fmt.Sprintf(
			"the claim is pre-bound to PersistentVolume %q, which is not in the checked manifests, so its location cannot be checked; %s. Fix: add the volume's manifest to the checked files, or make sure it is in a permitted region",
			name, req)}}, nil
	case err != nil:
		return nil, fmt.Errorf("getting volume %s: %w", name, err)
	case pv == nil:
		if c.Stage == Running {
			return nil, nil // binding in progress: the volume watch brings the store back
		}
		return []Finding{{Reason: VolumeNotFound, Severity: Breach, Field: "spec.volumeName", Subject: name, Message: fmt.Sprintf(
			"the claim is pre-bound to PersistentVolume %q, which does not exist, so its location is unknown; %s. Fix: create the volume first, or remove spec.volumeName",
			name, req)}}, nil
	}
	places, disagreement, ok := VolumePlaces(pv, c.Provider, c.Matchers, c.nodeByName)
	if disagreement != "" {
		return []Finding{{Reason: VolumeLocationUnknown, Severity: Breach, Field: "spec.volumeName", Subject: name, Message: fmt.Sprintf(
			"PersistentVolume %q is in no trusted place: %s; %s. Fix: correct the volume's labels (node affinity is what the scheduler obeys), or bind the claim to another volume",
			name, disagreement, req)}}, nil
	}
	if !ok {
		return []Finding{{Reason: VolumeLocationUnknown, Severity: Breach, Field: "spec.volumeName", Subject: name, Message: fmt.Sprintf(
			"PersistentVolume %q: its location is unknown (no region or zone label, no node affinity on region, zone or hostname); %s. Fix: label the volume with %s",
			name, req, RegionLabel)}}, nil
	}
	for _, place := range places {
		if !NodePermitted(place, terms) {
			return []Finding{{Reason: VolumeNotPermitted, Severity: Breach, Field: "spec.volumeName", Subject: name, Place: place, Message: fmt.Sprintf(
				"PersistentVolume %q is stored at %s, outside the permitted jurisdictions: %s. Fix: bind the claim to a volume in a permitted region",
				name, Describe(place), req)}}, nil
		}
	}
	return nil, nil
}

// storageFindings judges where the StorageClass of an unbound claim may provision its volume.
func storageFindings(claim *ClaimFacts, c *Context, req Requirement, terms []corev1.NodeSelectorTerm) ([]Finding, error) {
	name := claim.StorageClassName
	if name != nil && *name == "" {
		return nil, nil // static binding: the audit finds where it binds
	}
	var class *storagev1.StorageClass
	err := ErrNotKnown
	if c.Lookup != nil {
		class, err = c.Lookup.StorageClass(name)
	}
	switch {
	case errors.Is(err, ErrNotKnown) && name != nil:
		return []Finding{{Reason: StorageClassUnchecked, Severity: Unverifiable, Field: "spec.storageClassName", Subject: *name, Message: fmt.Sprintf(
			"StorageClass %q is not in the checked manifests, so where the volume would be provisioned cannot be checked; %s. Fix: add the StorageClass's manifest to the checked files, or run the check with --cluster",
			*name, req)}}, nil
	case errors.Is(err, ErrNotKnown):
		return nil, nil // the default class is not known: nothing to judge
	case err != nil:
		return nil, fmt.Errorf("getting StorageClass: %w", err)
	case class == nil && name != nil:
		return []Finding{{Reason: StorageClassNotFound, Severity: Breach, Field: "spec.storageClassName", Subject: *name, Message: fmt.Sprintf(
			"StorageClass %q does not exist, so where the volume would be provisioned is unknown; %s. Fix: create the StorageClass first",
			*name, req)}}, nil
	case class == nil:
		return nil, nil // no default class: static binding, the audit finds where it binds
	case class.VolumeBindingMode != nil && *class.VolumeBindingMode == storagev1.VolumeBindingWaitForFirstConsumer:
		return nil, nil // provisioned where the placement-constrained pod is scheduled
	}
	notConfined := func(format string, args ...any) []Finding {
		return []Finding{{Reason: StorageNotConfined, Severity: Breach, Field: "spec.storageClassName", Subject: class.Name, Message: fmt.Sprintf(format, args...) +
			fmt.Sprintf(" Fix: use a StorageClass with volumeBindingMode: WaitForFirstConsumer, or allowedTopologies limited to regions of the permitted jurisdictions (%s)", req)}}
	}
	if len(class.AllowedTopologies) == 0 {
		return notConfined("StorageClass %q binds Immediate without allowedTopologies, so the provisioner may create the volume in any region.", class.Name), nil
	}
	// The provisioner says which cloud the volume is in, which locates region names that
	// several clouds share; else the cloud the context knows (--provider, the cluster's nodes).
	provider := c.Provider
	if p, ok := catalog.ProviderOfDriver(class.Provisioner); ok {
		provider = p
	}
	places, ok := TopologyPlaces(class.AllowedTopologies, provider, c.Matchers, c.nodeByName)
	if !ok {
		return notConfined("StorageClass %q binds Immediate and its allowedTopologies name no region or zone the operator can locate.", class.Name), nil
	}
	for _, place := range places {
		if !NodePermitted(place, terms) {
			return notConfined("StorageClass %q binds Immediate and its allowedTopologies include %s, outside the permitted jurisdictions%s.",
				class.Name, Describe(place), sharedRegionHint(place, class.Provisioner)), nil
		}
	}
	return nil, nil
}

// sharedRegionHint explains a place whose region several clouds use for different countries, so
// that its country is unknown: which clouds, and how to say which one is meant.
func sharedRegionHint(place *corev1.Node, provisioner string) string {
	region := place.Labels[RegionLabel]
	if region == "" || place.Labels[v1alpha1.CountryLabel] != "" {
		return ""
	}
	at := countriesAt(region)
	if len(at) < 2 {
		return ""
	}
	return fmt.Sprintf(" (region %s is %s, and provisioner %q does not say which cloud it is: use the cloud's CSI provisioner, run `kubectl residency check --provider`, or add the region to a Jurisdiction's regions)",
		region, strings.Join(at, ", "), provisioner)
}

// nodeByName resolves a hostname in volume topology; a node that cannot be found has no place.
func (c *Context) nodeByName(name string) *corev1.Node {
	if c.Lookup == nil {
		return nil
	}
	node, err := c.Lookup.Node(name)
	if err != nil {
		return nil
	}
	return node
}

// countriesAt says where each cloud that has a region of that name puts it, such as
// ["IE at aws", "GB at alibaba"]: the clouds that share a name and what that name means there.
func countriesAt(region string) []string {
	var at []string
	for _, p := range catalog.Providers() {
		if r, ok := catalog.Lookup(p, region); ok {
			at = append(at, fmt.Sprintf("%s at %s", r.Country, p))
		}
	}
	return at
}

// unquotedRegion reads the region out of a PlacesOfPod description such as `region "mars-1"`.
func unquotedRegion(what string) (string, bool) {
	quoted, ok := strings.CutPrefix(what, "region ")
	if !ok {
		return "", false
	}
	region, err := strconv.Unquote(quoted)
	return region, err == nil
}

// describePlaces lists stand-in places for a message, at most maxPlacesListed of them.
func describePlaces(places []*corev1.Node) string {
	if len(places) == 0 {
		return "no node at all (they contradict each other)"
	}
	var parts []string
	for i, p := range places {
		if i == maxPlacesListed {
			parts = append(parts, fmt.Sprintf("and %d more", len(places)-maxPlacesListed))
			break
		}
		parts = append(parts, Describe(p))
	}
	return strings.Join(parts, ", ")
}

// ambiguityHint explains region names that the catalog leaves unlocated because several clouds
// use them for different countries, and how to say which cloud is meant.
func ambiguityHint(unknown []string) string {
	var hints []string
	for _, u := range unknown {
		region, ok := unquotedRegion(u)
		if !ok {
			continue
		}
		if at := countriesAt(region); len(at) > 1 {
			hints = append(hints, fmt.Sprintf("%s is %s", region, strings.Join(at, ", ")))
		}
	}
	if len(hints) == 0 {
		return ""
	}
	return "; " + strings.Join(hints, "; ") + ": pass --provider to say which cloud the pods run in"
}

// VolumeLocation returns where PersistentVolume name is, as the volume rules locate it (places
// are stand-in nodes carrying the location's labels); ok is false when that is not known.
func (c *Context) VolumeLocation(name string) (places []*corev1.Node, ok bool) {
	if c.Lookup == nil || name == "" {
		return nil, false
	}
	pv, err := c.Lookup.Volume(name)
	if err != nil || pv == nil {
		return nil, false
	}
	places, disagreement, ok := VolumePlaces(pv, c.Provider, c.Matchers, c.nodeByName)
	return places, ok && disagreement == ""
}

// NodeLocation returns node name as the placement rules read it, or nil when it is not known.
func (c *Context) NodeLocation(name string) *corev1.Node {
	if name == "" {
		return nil
	}
	return c.nodeByName(name)
}
