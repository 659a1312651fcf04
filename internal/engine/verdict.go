package engine

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
	"github.com/residency-operator/residency-operator/internal/catalog"
)

// Reason names what a finding is about. Callers map reasons, never messages: the webhook to a
// denial or warning, the CLI to a rule ID, the audit to a violation reason.
type Reason string

// Finding reasons.
const (
	// StoresDisagree: the governing stores have no allowed jurisdiction in common.
	StoresDisagree Reason = "StoresDisagree"
	// TooManyTerms: the permitted set needs more node selector terms than MaxTerms.
	TooManyTerms Reason = "TooManyTerms"
	// PlacementConflict: the pod's own nodeSelector and required affinity allow no permitted place.
	PlacementConflict Reason = "PlacementConflict"
	// PlacesUnknown: the pod's own constraints name places that nothing locates.
	PlacesUnknown Reason = "PlacesUnknown"
	// AffinityLoosened: the pod's required affinity no longer keeps it on permitted nodes.
	AffinityLoosened Reason = "AffinityLoosened"
	// PlacementMissing: a pending pod lacks the permitted-node affinity of its Enforce and Warn
	// stores: it was created before their policies were in force.
	PlacementMissing Reason = "PlacementMissing"
	// NodeNotFound: the pod is pinned to, or bound to, a node that does not exist.
	NodeNotFound Reason = "NodeNotFound"
	// NodeNotPermitted: the pod's node is outside the permitted jurisdictions.
	NodeNotPermitted Reason = "NodeNotPermitted"
	// NodeLocationUnknown: the pod's node is untrusted or has no known location.
	NodeLocationUnknown Reason = "NodeLocationUnknown"
	// NodeUnchecked: the pod's node cannot be looked up (offline).
	NodeUnchecked Reason = "NodeUnchecked"
	// VolumeNotFound: the claim is pre-bound to a PersistentVolume that does not exist.
	VolumeNotFound Reason = "VolumeNotFound"
	// VolumeUnchecked: the claim's PersistentVolume cannot be looked up (offline).
	VolumeUnchecked Reason = "VolumeUnchecked"
	// VolumeLocationUnknown: the claim's PersistentVolume has no known location.
	VolumeLocationUnknown Reason = "VolumeLocationUnknown"
	// VolumeNotPermitted: the claim's PersistentVolume is outside the permitted jurisdictions.
	VolumeNotPermitted Reason = "VolumeNotPermitted"
	// StorageClassNotFound: the claim names a StorageClass that does not exist.
	StorageClassNotFound Reason = "StorageClassNotFound"
	// StorageClassUnchecked: the claim's StorageClass cannot be looked up (offline).
	StorageClassUnchecked Reason = "StorageClassUnchecked"
	// StorageNotConfined: an Immediate StorageClass may provision outside the permitted jurisdictions.
	StorageNotConfined Reason = "StorageNotConfined"
	// ExemptedByRelabel: a label change would make an exception lift a store that constrains an
	// existing pod.
	ExemptedByRelabel Reason = "ExemptedByRelabel"
	// MountsGovernedClaim: a pod mounts a claim a store governs without the labels that make the
	// store place it.
	MountsGovernedClaim Reason = "MountsGovernedClaim"
)

// Severity says whether a finding is a breach (denied in Enforce mode, a violation in the audit)
// or something that cannot be told from what the decision could see.
type Severity string

const (
	// Breach: the object is, or would be, outside its permitted jurisdictions.
	Breach Severity = "Breach"
	// Unverifiable: whether the object is permitted cannot be told here.
	Unverifiable Severity = "Unverifiable"
)

// Finding is one thing a decision found: why, where in the object, and a message that says what
// is wrong and how to fix it. The message is the same whoever shows it.
type Finding struct {
	Reason   Reason
	Severity Severity
	// Field is the path of the offending field in a pod or claim, such as "spec.nodeName".
	Field string
	// Subject is the node or volume concerned, when there is one.
	Subject string
	// Place is where the offending node or volume is, when it is known.
	Place   *corev1.Node
	Message string
}

// Stage says when a decision is taken: some rules belong to one moment only.
type Stage int

const (
	// Admission: a pod or claim being created, after mutation (the validating webhook).
	Admission Stage = iota
	// Offline: manifests before they are applied; pod templates are not mutated yet.
	Offline
	// Running: an object that exists (the audit, explain); unbound objects are not placed yet.
	Running
)

// ErrNotKnown is returned by a Lookup that cannot tell whether an object exists, such as an
// offline check whose manifests do not include it.
var ErrNotKnown = errors.New("not known here")

// Lookup finds the cluster objects a decision reads. Each returns nil and no error when the object
// does not exist, ErrNotKnown when that cannot be told, or another error when the lookup failed.
type Lookup interface {
	Node(name string) (*corev1.Node, error)
	Volume(name string) (*corev1.PersistentVolume, error)
	// StorageClass returns the class named name, or the default class when name is nil.
	StorageClass(name *string) (*storagev1.StorageClass, error)
}

// Context is what a decision knows besides the policies and the object.
type Context struct {
	Stage  Stage
	Lookup Lookup
	// Matchers are the compiled Jurisdictions, for locating volumes and offline places.
	Matchers []*JurisdictionMatcher
	// Provider is the cloud the objects run in, when known: it locates shared region names.
	Provider catalog.Provider
}

// Verdict is the decision about one object.
type Verdict struct {
	Governance
	// Requirement and Terms are the permitted set of the Enforce and Warn stores: what admission
	// injects. Terms is nil when no such store governs, empty when they permit no node.
	Requirement Requirement
	Terms       []corev1.NodeSelectorTerm
	// TermsErr is set when the permitted set needs too many terms.
	TermsErr error
	// Denied are what the Enforce stores object to; Warned what the Warn stores add; Reported what
	// the Audit stores add. Admission denies Denied and warns about Warned; the audit and the CLI
	// report all three.
	Denied, Warned, Reported []Finding
}

// Findings returns every finding, whichever mode raised it.
func (v *Verdict) Findings() []Finding {
	return slices.Concat(v.Denied, v.Warned, v.Reported)
}

// PodFacts are the facts about a pod (or pod template) that placement reads: nothing else of a pod
// can change a verdict.
type PodFacts struct {
	Labels   map[string]string
	NodeName string
	// NodeSelector and Affinity (required node affinity only is read) as the pod has them.
	NodeSelector map[string]string
	Affinity     *corev1.Affinity
	// Tolerations decide which tainted nodes a replacement could run on (PlaceableOn, which
	// judges running pods). The admission review parser does not decode them: a rule that reads
	// them at the Admission stage must teach internal/webhook/podreview.go to.
	Tolerations []corev1.Toleration
	// Gated: the pod has scheduling gates, so it cannot be bound anywhere until they are removed.
	Gated bool
}

// FactsOf reads the placement facts of a pod spec and its labels.
func FactsOf(labels map[string]string, spec *corev1.PodSpec) PodFacts {
	return PodFacts{Labels: labels, NodeName: spec.NodeName, NodeSelector: spec.NodeSelector, Affinity: spec.Affinity,
		Tolerations: spec.Tolerations, Gated: len(spec.SchedulingGates) > 0}
}

func (f *PodFacts) spec() *corev1.PodSpec {
	return &corev1.PodSpec{NodeName: f.NodeName, NodeSelector: f.NodeSelector, Affinity: f.Affinity}
}

// PlacePod is the first half of DecidePod, all that the mutating webhook needs: the governing
// stores and the permitted set to inject, without judging the pod.
func PlacePod(p *Policies, labels map[string]string) *Verdict {
	v := &Verdict{Governance: Govern(p, Workload, labels)}
	v.permit(p)
	return v
}

// DecidePod is the one decision about a pod: which stores govern it, what is permitted, and what
// is wrong, by mode. mountedStores are the stores of claims it mounts (DecideMounts): they govern it
// whatever its labels. An error means a lookup failed: nothing can be decided.
func DecidePod(p *Policies, pod *PodFacts, c *Context, mountedStores ...*v1alpha1.PersonalDataStore) (*Verdict, error) {
	v := &Verdict{Governance: Govern(p, Workload, pod.Labels, mountedStores...)}
	v.permit(p)
	err := v.byMode(p, func(stores []*v1alpha1.PersonalDataStore) ([]Finding, error) {
		return podFindings(p, pod, c, stores)
	})
	return v, err
}

// DecideRelabel is the one decision about a change of an existing pod's labels, from old to
// pod.Labels. Exceptions and placement take effect when a pod is created, so a relabel must not
// make an exception lift a store that constrains the pod (the approver approved a selector for the
// pods to come, not a way out for running ones), nor bring the pod under a store whose placement
// it was not given, or whose jurisdictions its node is outside. The pod is judged as the audit
// judges existing pods.
func DecideRelabel(p *Policies, old map[string]string, pod *PodFacts, c *Context) (*Verdict, error) {
	before := Govern(p, Workload, old)
	v := &Verdict{Governance: Govern(p, Workload, pod.Labels)}
	governedBefore := map[*v1alpha1.PersonalDataStore]bool{}
	for _, s := range before.All() {
		governedBefore[s] = true
	}
	for _, l := range before.Lifted {
		governedBefore[l.Store] = true
	}
	constrainedBefore := before.Constraining()
	for _, l := range v.Lifted {
		if !slices.Contains(constrainedBefore, l.Store) {
			continue
		}
		f := Finding{Reason: ExemptedByRelabel, Severity: Breach, Field: "metadata.labels", Message: fmt.Sprintf(
			"the new labels would make ResidencyException %s lift store %q for a pod that already exists; an exception covers the pods created to match it, not running pods relabelled into it. "+
				"Fix: keep the labels, or create a new pod with them (its controller's template)", l.Exception, l.Store.Name)}
		if ModeOf(l.Store) == v1alpha1.Warn {
			v.Warned = append(v.Warned, f)
		} else {
			v.Denied = append(v.Denied, f)
		}
	}
	running := *c
	running.Stage = Running
	for _, mode := range []struct {
		stores []*v1alpha1.PersonalDataStore
		into   *[]Finding
	}{{v.Enforce, &v.Denied}, {v.Warn, &v.Warned}} {
		var added []*v1alpha1.PersonalDataStore
		for _, s := range mode.stores {
			if !governedBefore[s] {
				added = append(added, s)
			}
		}
		if len(added) == 0 {
			continue
		}
		found, err := podFindings(p, pod, &running, added)
		if err != nil {
			return nil, err
		}
		*mode.into = append(*mode.into, found...)
	}
	return v, nil
}

// DecideMounts is the one decision about a pod that mounts claims: a store that governs a claim
// governs every pod that mounts it, labelled or not (a copy made with kubectl debug --copy-to keeps
// the volumes and drops the labels). Admission places pods by their labels, so a pod that mounts a
// claim of an Enforce or Warn store its labels do not select is refused (Enforce) or warned about
// (Warn) rather than admitted unplaced; exceptions lift stores for it by its labels, as for any pod.
// claimStores maps each mounted claim to the stores whose volumeSelector selects it.
func DecideMounts(p *Policies, podLabels map[string]string, claimStores map[string][]*v1alpha1.PersonalDataStore) *Verdict {
	var also []*v1alpha1.PersonalDataStore
	for _, stores := range claimStores {
		also = append(also, stores...)
	}
	v := &Verdict{Governance: Govern(p, Workload, podLabels, also...)}
	byLabels := Matching(p, Workload, podLabels)
	for _, mode := range []struct {
		stores []*v1alpha1.PersonalDataStore
		into   *[]Finding
	}{{v.Enforce, &v.Denied}, {v.Warn, &v.Warned}} {
		for _, s := range mode.stores {
			if slices.Contains(byLabels, s) {
				continue
			}
			var claims []string
			for claim, stores := range claimStores {
				if slices.Contains(stores, s) {
					claims = append(claims, claim)
				}
			}
			slices.Sort(claims)
			*mode.into = append(*mode.into, Finding{Reason: MountsGovernedClaim, Severity: Breach, Field: "spec.volumes", Subject: strings.Join(claims, ","), Message: fmt.Sprintf(
				"the pod mounts PersistentVolumeClaim %s, which store %q governs, but its labels are not selected by the store's workloadSelector, so admission would not keep it in %v. "+
					"Fix: give the pod (its template) the labels %s selects, or do not mount the claim", strings.Join(claims, ", "), s.Name, Names(s.Spec.AllowedJurisdictions), metav1.FormatLabelSelector(&s.Spec.WorkloadSelector))})
		}
	}
	return v
}

// ClaimFacts are the facts about a PersistentVolumeClaim that residency reads.
type ClaimFacts struct {
	Labels           map[string]string
	VolumeName       string
	StorageClassName *string
}

// ClaimFactsOf reads the facts of a claim.
func ClaimFactsOf(claim *corev1.PersistentVolumeClaim) ClaimFacts {
	return ClaimFacts{Labels: claim.Labels, VolumeName: claim.Spec.VolumeName, StorageClassName: claim.Spec.StorageClassName}
}

// DecideClaim is the one decision about a claim: governed by the stores whose volumeSelector
// selects it and by mountedBy (the stores of the pods that mount it).
func DecideClaim(p *Policies, claim *ClaimFacts, c *Context, mountedBy ...*v1alpha1.PersonalDataStore) (*Verdict, error) {
	v := &Verdict{Governance: Govern(p, Volume, claim.Labels, mountedBy...)}
	v.permit(p)
	err := v.byMode(p, func(stores []*v1alpha1.PersonalDataStore) ([]Finding, error) {
		return claimFindings(p, claim, c, stores)
	})
	return v, err
}

func (v *Verdict) permit(p *Policies) {
	if !v.Constrained() {
		return
	}
	v.Requirement, v.Terms, v.TermsErr = p.permitted(v.Constraining())
}

// byMode runs check on the Enforce stores, then on Enforce and Warn, then on all, keeping at each
// step only the reasons the previous steps did not raise.
func (v *Verdict) byMode(p *Policies, check func([]*v1alpha1.PersonalDataStore) ([]Finding, error)) error {
	seen := map[Reason]bool{}
	run := func(stores []*v1alpha1.PersonalDataStore, into *[]Finding) error {
		if len(stores) == 0 {
			return nil
		}
		found, err := check(stores)
		if err != nil {
			return err
		}
		for _, f := range found {
			if !seen[f.Reason] {
				seen[f.Reason] = true
				*into = append(*into, f)
			}
		}
		return nil
	}
	if err := run(v.Enforce, &v.Denied); err != nil {
		return err
	}
	if len(v.Warn) > 0 {
		if err := run(v.Constraining(), &v.Warned); err != nil {
			return err
		}
	}
	if len(v.Audit) > 0 {
		return run(v.All(), &v.Reported)
	}
	return nil
}
