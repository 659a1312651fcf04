package check

import (
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
	"github.com/residency-operator/residency-operator/internal/catalog"
	"github.com/residency-operator/residency-operator/internal/engine"
	"github.com/residency-operator/residency-operator/internal/manifest"
)

// defaultClassAnnotation marks the cluster's default StorageClass, which claims without
// storageClassName get.
const defaultClassAnnotation = "storageclass.kubernetes.io/is-default-class"

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
	terms    map[string]termsResult
	findings []Finding
}

type termsResult struct {
	req   engine.Requirement
	terms []corev1.NodeSelectorTerm
	err   error
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
		terms:         map[string]termsResult{},
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
		c.exceptions[e.Namespace] = replaceNamed(c.exceptions[e.Namespace], e)
	}
	for _, p := range pol.Processors {
		c.processors[p.Name] = p
	}
	for _, sc := range pol.StorageClasses {
		c.classes[sc.Name] = sc
		if sc.Annotations[defaultClassAnnotation] == "true" && c.defaultClass == nil {
			c.defaultClass = sc
		}
	}
	for _, pv := range pol.Volumes {
		c.volumes[pv.Name] = pv
	}
	return c
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

// governing returns the stores of namespace whose selector (workload or volume) matches lbls,
// without those an active exception lifts for lbls, as the webhook's loadPolicy does.
func (c *checker) governing(namespace string, lbls map[string]string, volume bool) []*v1alpha1.PersonalDataStore {
	set := labels.Set(lbls)
	return c.exempt(namespace, set, c.matching(namespace, set, volume))
}

// matching returns the stores of namespace whose workload (or volume) selector matches set. A
// missing, empty or invalid selector matches nothing: it never governs a whole namespace.
func (c *checker) matching(namespace string, set labels.Set, volume bool) []*v1alpha1.PersonalDataStore {
	var out []*v1alpha1.PersonalDataStore
	for _, s := range c.stores[namespace] {
		sel := &s.Spec.WorkloadSelector
		if volume {
			sel = s.Spec.VolumeSelector
		}
		if selector, ok := engine.SelectorFor(sel); ok && selector.Matches(set) {
			out = append(out, s)
		}
	}
	return out
}

// exempt removes the stores that an exception active now lifts for objects labelled set.
func (c *checker) exempt(namespace string, set labels.Set, stores []*v1alpha1.PersonalDataStore) []*v1alpha1.PersonalDataStore {
	if len(stores) == 0 {
		return nil
	}
	exempted := map[string]string{}
	for _, ex := range c.exceptions[namespace] {
		if !engine.ExceptionActive(&ex.Spec, ex.CreationTimestamp.Time, c.opts.Now) {
			continue
		}
		if selector, ok := engine.SelectorFor(&ex.Spec.Selector); ok && selector.Matches(set) {
			for _, s := range ex.Spec.Stores {
				exempted[string(s)] = ex.Name
			}
		}
	}
	if len(exempted) == 0 {
		return stores
	}
	out := stores[:0:0]
	for _, s := range stores {
		if _, ok := exempted[s.Name]; !ok {
			out = append(out, s)
		}
	}
	return out
}

// modes splits governing stores the way admission treats them: Enforce stores deny; Enforce,
// Warn and Audit stores together are what the audit reports on. Audit stores are given as Warn
// so that RequirementFor, which skips Audit stores because admission injects nothing for them,
// still counts them here.
func modes(stores []*v1alpha1.PersonalDataStore) (enforce, all []v1alpha1.PersonalDataStore) {
	for _, s := range stores {
		cp := *s
		switch s.Spec.Enforcement {
		case v1alpha1.Warn:
		case v1alpha1.Audit:
			cp.Spec.Enforcement = v1alpha1.Warn
		default: // Enforce, and unset (the CRD defaults it to Enforce): fail closed
			enforce = append(enforce, cp)
		}
		all = append(all, cp)
	}
	return enforce, all
}

// permitted returns the requirement and permitted terms of a set of stores, computed once per
// distinct set.
func (c *checker) permitted(stores []v1alpha1.PersonalDataStore) termsResult {
	keys := make([]string, len(stores))
	for i := range stores {
		keys[i] = stores[i].Namespace + "/" + stores[i].Name
	}
	slices.Sort(keys)
	key := strings.Join(keys, ",")
	if r, ok := c.terms[key]; ok {
		return r
	}
	r := termsResult{req: engine.RequirementFor(stores)}
	r.terms, r.err = r.req.Terms(c.jurisdictions)
	c.terms[key] = r
	return r
}

// problem is a finding before it is attached to an object and given its final severity.
type problem struct {
	rule     Rule
	severity Severity
	message  string
}

// reportModes evaluates fn for the Enforce stores (findings keep their severity) and then for all
// governing stores (what only Warn or Audit stores object to becomes a warning: admission lets it
// through and the audit reports it).
func (c *checker) reportModes(obj *manifest.Object, stores []*v1alpha1.PersonalDataStore, fn func([]v1alpha1.PersonalDataStore) []problem) {
	enforce, all := modes(stores)
	seen := map[string]bool{}
	if len(enforce) > 0 {
		for _, p := range fn(enforce) {
			seen[p.rule.ID] = true
			c.report(obj, p.rule, p.severity, "%s", p.message)
		}
	}
	if len(all) == len(enforce) {
		return
	}
	var lenient []string
	for _, s := range stores {
		if s.Spec.Enforcement == v1alpha1.Warn || s.Spec.Enforcement == v1alpha1.Audit {
			lenient = append(lenient, fmt.Sprintf("%s is %s", s.Name, s.Spec.Enforcement))
		}
	}
	for _, p := range fn(all) {
		if seen[p.rule.ID] {
			continue
		}
		msg := p.message
		if p.severity == Error {
			msg = withNote(msg, fmt.Sprintf(" (store %s, so admission lets it through and the operator reports it)", strings.Join(lenient, ", store ")))
		}
		c.report(obj, p.rule, Warning, "%s", msg)
	}
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
