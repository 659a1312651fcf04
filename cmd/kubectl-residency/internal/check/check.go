package check

import (
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
	"github.com/residency-operator/residency-operator/internal/catalog"
	"github.com/residency-operator/residency-operator/internal/engine"
	"github.com/residency-operator/residency-operator/internal/lookup"
	"github.com/residency-operator/residency-operator/internal/manifest"
	"github.com/residency-operator/residency-operator/internal/rules"
)

// Options say what to check against.
type Options struct {
	// Now is the time exceptions are judged at.
	Now time.Time
	// Provider is the cloud the workloads run in, when known: it locates region names that
	// several providers use for different countries.
	Provider catalog.Provider
	// Policies holds the Jurisdictions, stores, processors, exceptions and StorageClasses to
	// check against; nil means those of the checked set itself.
	Policies *manifest.Set
	// Live says that Policies were read from a live cluster: a StorageClass missing there is
	// missing (an error, as the webhook would deny), and the policy objects themselves are the
	// operator's to report (`kubectl residency status`), not this check's.
	Live bool
	// NodeByName returns a node of the live cluster, or nil; nil offline, where the location of a
	// node named by spec.nodeName cannot be known.
	NodeByName func(name string) *corev1.Node
	// VolumeByName returns a PersistentVolume of the live cluster, or nil; nil offline, where a
	// volume that is not in the checked files cannot be known.
	VolumeByName func(name string) *corev1.PersistentVolume
}

// Run checks the objects of set. It never fails: everything it finds is a Finding.
func Run(set *manifest.Set, opts Options) *Result {
	pol := opts.Policies
	if pol == nil {
		pol = set
	}
	c := newChecker(pol, opts)
	res := &Result{Objects: len(set.Objects), Files: set.Files}
	first := map[manifest.Ref]*manifest.Object{}
	for _, o := range set.Objects {
		if o.Typed == nil {
			continue
		}
		switch o.Typed.(type) {
		case *v1alpha1.ResidencyRecord, *v1alpha1.RecordOfProcessing:
			continue // history and the record of processing: read by report, nothing to check
		}
		res.Checked = append(res.Checked, o)
		key := o.Ref
		key.APIVersion = groupOf(key.APIVersion)
		if prev, ok := first[key]; ok {
			c.report(o, RuleDuplicate, Warning,
				"also defined at %s; in the cluster whichever is applied last wins, and a policy defined twice is checked with its later definition. Fix: check one rendering of each object (an overlay, not also its base), or remove the duplicate",
				prev.Source)
			continue
		}
		first[key] = o
	}
	if !opts.Live {
		c.checkPolicies(pol)
	}
	for _, w := range set.Workloads {
		c.checkWorkload(w)
	}
	for _, claim := range set.Claims {
		c.checkClaim(set.ObjectOf(claim), claim, "")
	}
	c.checkApplyOrder(set)
	c.checkClusterPolicies(set)
	res.Findings = sortFindings(c.findings)
	return res
}

// checker holds the policies indexed for the checks, and collects findings.
type checker struct {
	opts          Options
	policies      *manifest.Set
	jurisdictions map[string]*v1alpha1.JurisdictionSpec
	matchers      []*engine.JurisdictionMatcher
	stores        map[string][]*v1alpha1.PersonalDataStore  // by namespace
	exceptions    map[string][]*v1alpha1.ResidencyException // by namespace
	processors    map[string]*v1alpha1.DataProcessor
	classes       map[string]*storagev1.StorageClass
	defaultClass  *storagev1.StorageClass
	volumes       map[string]*corev1.PersistentVolume
	// mounts are the stores that govern the pods mounting a claim, by namespace/claim name: a claim
	// mounted by a governed pod is governed too.
	mounts   map[string][]*v1alpha1.PersonalDataStore
	findings []Finding
	// pols are the engine's policies by namespace, kept so that each selector is compiled and
	// each permitted set computed once for the whole check.
	pols map[string]*engine.Policies
}

func newChecker(pol *manifest.Set, opts Options) *checker {
	c := &checker{
		opts:          opts,
		policies:      pol,
		jurisdictions: map[string]*v1alpha1.JurisdictionSpec{},
		stores:        map[string][]*v1alpha1.PersonalDataStore{},
		exceptions:    map[string][]*v1alpha1.ResidencyException{},
		processors:    map[string]*v1alpha1.DataProcessor{},
		classes:       map[string]*storagev1.StorageClass{},
		volumes:       map[string]*corev1.PersistentVolume{},
		mounts:        map[string][]*v1alpha1.PersonalDataStore{},
		pols:          map[string]*engine.Policies{},
	}
	for _, j := range pol.Jurisdictions {
		c.jurisdictions[j.Name] = &j.Spec
	}
	// A Jurisdiction whose selector does not compile is reported by checkPolicies; the others
	// still place nodes.
	c.matchers, _ = engine.NewJurisdictionMatchers(c.jurisdictions)
	// A policy defined twice counts once, with its later definition, as maps of names do for
	// Jurisdictions and processors (RES017 reports the duplicate).
	for _, s := range pol.Stores {
		c.stores[s.Namespace] = replaceNamed(c.stores[s.Namespace], s)
	}
	for _, e := range pol.Exceptions {
		if o := pol.ObjectOf(e); o != nil && !o.Source.IsZero() && e.Status.Approval != nil {
			// A decision written in a file is no decision: only the cluster's webhook records one.
			e = e.DeepCopy()
			e.Status.Approval = nil
		}
		c.exceptions[e.Namespace] = replaceNamed(c.exceptions[e.Namespace], e)
	}
	for _, p := range pol.Processors {
		c.processors[p.Name] = p
	}
	for _, sc := range pol.StorageClasses {
		c.classes[sc.Name] = sc
		if sc.Annotations[lookup.DefaultClassAnnotation] == "true" && c.defaultClass == nil {
			c.defaultClass = sc
		}
	}
	for _, pv := range pol.Volumes {
		c.volumes[pv.Name] = pv
	}
	if c.opts.Provider == "" {
		c.opts.Provider = providerOfClasses(pol.StorageClasses)
	}
	return c
}

// providerOfClasses is the cloud the checked StorageClasses' provisioners all belong to (those
// that name one), else "": without --provider, the classes shipped with the workloads say which
// cloud they run in, and so where a shared region name (eu-west-1) is.
func providerOfClasses(classes []*storagev1.StorageClass) catalog.Provider {
	providers := make([]catalog.Provider, len(classes))
	for i, sc := range classes {
		providers[i], _ = catalog.ProviderOfDriver(sc.Provisioner)
	}
	return catalog.OneProvider(providers)
}

// groupOf is the API group of an apiVersion: the same object can be written as apps/v1 and
// apps/v1beta2.
func groupOf(apiVersion string) string {
	if group, _, found := strings.Cut(apiVersion, "/"); found {
		return group
	}
	return ""
}

// report adds a finding about obj.
func (c *checker) report(obj *manifest.Object, rule Rule, sev Severity, format string, args ...any) {
	if obj == nil {
		return
	}
	c.findings = append(c.findings, Finding{
		Severity: sev, Rule: rule.ID, Name: rule.Name, Message: fmt.Sprintf(format, args...),
		Object: obj.Ref, File: obj.Source.File, Line: obj.Source.Line,
	})
}

// policiesOf are the engine's policies of a namespace.
func (c *checker) policiesOf(namespace string) *engine.Policies {
	if p, ok := c.pols[namespace]; ok {
		return p
	}
	p := &engine.Policies{Stores: c.stores[namespace], Exceptions: c.exceptions[namespace], Jurisdictions: c.jurisdictions, Now: c.opts.Now}
	c.pols[namespace] = p
	return p
}

// context is what the engine knows offline: the manifests, and the live cluster's nodes when
// checking against one.
func (c *checker) context() *engine.Context {
	return &engine.Context{Stage: engine.Offline, Lookup: c, Matchers: c.matchers, Provider: c.opts.Provider}
}

// Node finds a node of the live cluster; offline, where a node is cannot be known.
func (c *checker) Node(name string) (*corev1.Node, error) {
	if c.opts.NodeByName == nil {
		return nil, engine.ErrNotKnown
	}
	return c.opts.NodeByName(name), nil
}

// Volume finds a PersistentVolume of the checked set, else of the live cluster; offline, one that
// is not in the checked files cannot be known.
func (c *checker) Volume(name string) (*corev1.PersistentVolume, error) {
	if pv := c.volumes[name]; pv != nil {
		return pv, nil
	}
	if c.opts.VolumeByName == nil {
		return nil, engine.ErrNotKnown
	}
	return c.opts.VolumeByName(name), nil
}

// StorageClass finds a StorageClass of the checked set (or the live cluster), or its default one.
func (c *checker) StorageClass(name *string) (*storagev1.StorageClass, error) {
	if name == nil {
		return c.defaultClass, nil
	}
	if sc := c.classes[*name]; sc != nil {
		return sc, nil
	}
	return nil, c.missing()
}

// missing says what an object absent from the policies means: it does not exist in a live
// cluster; offline it may exist where the manifests are applied.
func (c *checker) missing() error {
	if c.opts.Live {
		return nil
	}
	return engine.ErrNotKnown
}

// reportVerdict reports what the engine found about obj. Findings of Enforce stores keep their
// severity (a breach is an error); what only Warn or Audit stores object to is a warning, since
// admission lets it through and the operator reports it. where places a finding's field in obj.
func (c *checker) reportVerdict(obj *manifest.Object, v *engine.Verdict, where func(engine.Finding) string) {
	for _, f := range v.Denied {
		c.reportFinding(obj, f, severityOf(f), where(f)+f.Message)
	}
	lenient := slices.Concat(v.Warned, v.Reported)
	if len(lenient) == 0 {
		return
	}
	var modes []string
	for _, s := range slices.Concat(v.Warn, v.Audit) {
		modes = append(modes, fmt.Sprintf("%s is %s", s.Name, engine.ModeOf(s)))
	}
	note := fmt.Sprintf(" (store %s, so admission lets it through and the operator reports it)", strings.Join(modes, ", store "))
	for _, f := range lenient {
		msg := f.Message
		if f.Severity == engine.Breach {
			msg = withNote(msg, note)
		}
		c.reportFinding(obj, f, Warning, where(f)+msg)
	}
}

func (c *checker) reportFinding(obj *manifest.Object, f engine.Finding, sev Severity, msg string) {
	rule, _ := rules.ForReason(f.Reason)
	c.report(obj, rule, sev, "%s", msg)
}

func severityOf(f engine.Finding) Severity {
	if f.Severity == engine.Breach {
		return Error
	}
	return Warning
}

// withNote puts note at the end of what a message says is wrong, before its "Fix:".
func withNote(msg, note string) string {
	if i := strings.Index(msg, ". Fix:"); i >= 0 {
		return msg[:i] + note + msg[i:]
	}
	return msg + note
}

// replaceNamed appends obj to list, or replaces the element of the same name.
func replaceNamed[T interface{ GetName() string }](list []T, obj T) []T {
	for i, o := range list {
		if o.GetName() == obj.GetName() {
			list[i] = obj
			return list
		}
	}
	return append(list, obj)
}

// checkApplyOrder reports each store of the checked files that governs workloads of the same
// files in a Namespace, also in the files, not labelled to wait for its policies (RES018): tools
// that apply built-in kinds before custom resources create those workloads' pods before the
// store's policies are in force. A namespace created elsewhere (Argo CD's CreateNamespace with
// managedNamespaceMetadata, say) cannot be judged here, so it is not reported.
func (c *checker) checkApplyOrder(set *manifest.Set) {
	awaiting := map[string]bool{}
	for _, ns := range set.Namespaces {
		awaiting[ns.Name] = ns.Labels[v1alpha1.AwaitPoliciesLabel] == "true"
	}
	for _, s := range set.Stores {
		if waits, inFiles := awaiting[s.Namespace]; !inFiles || waits || engine.ModeOf(s) == v1alpha1.Audit {
			continue
		}
		var governed []string
		for _, w := range set.Workloads {
			if w.Template.Namespace == s.Namespace && engine.Selects(&s.Spec.WorkloadSelector, w.Template.Labels) {
				governed = append(governed, w.Object.Ref.Kind+" "+w.Object.Ref.Name)
			}
		}
		if len(governed) == 0 {
			continue
		}
		c.report(set.ObjectOf(s), RuleApplyOrder, Warning,
			"store %q is applied with the workloads it governs (%s) in namespace %q, whose Namespace does not wait for its policies: GitOps tools apply built-in kinds first, so their first pods can be scheduled before the store's policies are in force. "+
				"Fix: add the Namespace to these manifests labelled %s: \"true\", or apply the store first (Argo CD sync-wave, Flux dependsOn)",
			s.Name, strings.Join(governed, ", "), s.Namespace, v1alpha1.AwaitPoliciesLabel)
	}
}
