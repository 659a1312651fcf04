package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
	"github.com/residency-operator/residency-operator/internal/engine"
	"github.com/residency-operator/residency-operator/internal/rules"
)

// ReportFormat says which policy report API the operator writes (--policy-reports).
type ReportFormat string

const (
	// PolicyReportFormat writes wgpolicyk8s.io/v1alpha2 PolicyReports, which Kyverno installs and
	// Policy Reporter reads.
	PolicyReportFormat ReportFormat = "policyreport"
	// OpenReportsFormat writes openreports.io/v1alpha1 Reports, the successor API.
	OpenReportsFormat ReportFormat = "openreports"
	// NoReports writes none.
	NoReports ReportFormat = "off"
)

const (
	// PolicyReportName is the name of the one report per namespace that holds the results of all
	// its stores.
	PolicyReportName = "residency"
	// OmittedResultsAnnotation on a report says how many results were left out to keep it within
	// --policy-report-max-results; the summary counts them all.
	OmittedResultsAnnotation = "dataresidency.io/omitted-results"
	// ManagedByLabel marks the reports the operator writes (and alone may remove).
	ManagedByLabel = "app.kubernetes.io/managed-by"
	// DefaultMaxReportResults bounds a report's results: etcd objects are limited to about 1.5 MiB
	// and a result is about 600 bytes.
	DefaultMaxReportResults = 1000
	// DefaultReportRecheck is how often the operator looks for a report CRD it did not find, and
	// retries writes that failed.
	DefaultReportRecheck = time.Minute

	reportSource   = "residency-operator"
	reportCategory = "Data residency"
)

// Result values of a report, as both APIs spell them.
const (
	resultPass = "pass"
	resultFail = "fail"
	resultWarn = "warn"
	resultSkip = "skip"
)

// ParseReportFormat reads a --policy-reports value.
func ParseReportFormat(s string) (ReportFormat, error) {
	switch f := ReportFormat(s); f {
	case PolicyReportFormat, OpenReportsFormat, NoReports:
		return f, nil
	}
	return "", fmt.Errorf("unknown report format %q: want %s, %s or %s", s, PolicyReportFormat, OpenReportsFormat, NoReports)
}

// gvk is the kind the format writes.
func (f ReportFormat) gvk() schema.GroupVersionKind {
	if f == OpenReportsFormat {
		return schema.GroupVersionKind{Group: "openreports.io", Version: "v1alpha1", Kind: "Report"}
	}
	return schema.GroupVersionKind{Group: "wgpolicyk8s.io", Version: "v1alpha2", Kind: "PolicyReport"}
}

// crdName is the CustomResourceDefinition that serves the format's kind.
func (f ReportFormat) crdName() string {
	if f == OpenReportsFormat {
		return "reports.openreports.io"
	}
	return "policyreports.wgpolicyk8s.io"
}

// The few fields of wgpolicyk8s.io/v1alpha2 PolicyReport and openreports.io/v1alpha1 Report the
// operator writes. Both APIs spell results and summaries alike (openreports grew out of
// wgpolicyk8s.io); a Report adds a top-level source and its limits. Local types rather than a
// dependency: the reports are written as unstructured objects, so neither CRD need be known when
// the manager starts.

// reportResult is one result: one governed pod or claim of one store.
type reportResult struct {
	Source     string                   `json:"source,omitempty"`
	Policy     string                   `json:"policy"`
	Rule       string                   `json:"rule,omitempty"`
	Category   string                   `json:"category,omitempty"`
	Severity   string                   `json:"severity,omitempty"`
	Result     string                   `json:"result"`
	Resources  []corev1.ObjectReference `json:"resources,omitempty"`
	Message    string                   `json:"message,omitempty"`
	Properties map[string]string        `json:"properties,omitempty"`
}

// reportSummary counts results by value.
type reportSummary struct {
	Pass  int64 `json:"pass"`
	Fail  int64 `json:"fail"`
	Warn  int64 `json:"warn"`
	Error int64 `json:"error"`
	Skip  int64 `json:"skip"`
}

// reportContent is what the operator owns in a report, besides its label and annotation.
type reportContent struct {
	// Source is openreports.io's top-level source; empty for wgpolicyk8s.io.
	Source string `json:"source,omitempty"`
	// Configuration is openreports.io's limits; nil for wgpolicyk8s.io.
	Configuration *reportConfiguration `json:"configuration,omitempty"`
	Summary       reportSummary        `json:"summary"`
	Results       []reportResult       `json:"results,omitempty"`
	// omitted is how many results were left out (the annotation).
	omitted int
}

type reportConfiguration struct {
	Limits reportLimits `json:"limits"`
}

type reportLimits struct {
	MaxResults int64 `json:"maxResults"`
}

// contentKeys are the top-level fields of reportContent: the fields compared with what is stored.
var contentKeys = []string{"source", "configuration", "summary", "results"}

// PolicyReports keeps one report per namespace with the results of every store's latest audit.
// Stores hand it their results after each reconcile; it merges them, bounds them and writes the
// report only when it changes (stores reconcile on every pod change, the report does not). When
// the report CRD is not installed it logs one line and keeps the results; it looks for the CRD
// again every Recheck and writes once it appears, without a restart.
type PolicyReports struct {
	Client client.Client
	// Reader lists the reports' metadata from the API server (uncached, for the sweep).
	Reader client.Reader
	// Discovery says whether the report CRD is served.
	Discovery  discovery.DiscoveryInterface
	Format     ReportFormat
	MaxResults int
	Recheck    time.Duration

	mu sync.Mutex
	// stores holds each store's latest results by namespace and name; a namespace is written
	// once every store it holds has results here (no partial reports after a restart).
	stores map[string]map[string][]reportResult
	// written is what the namespace's report holds, as last written or read: a write that would
	// change nothing costs no request.
	written map[string]string
	// dirty are namespaces whose report could not be written yet (no CRD, a failed request).
	dirty     map[string]bool
	available bool
	// told is true once the missing CRD was logged.
	told bool
}

var _ manager.Runnable = (*PolicyReports)(nil)

// +kubebuilder:rbac:groups=wgpolicyk8s.io,resources=policyreports,verbs=get;list;create;update;delete
// +kubebuilder:rbac:groups=openreports.io,resources=reports,verbs=get;list;create;update;delete

// NewPolicyReports returns a writer of reports in format, or nil (which writes nothing) when the
// format is off.
func NewPolicyReports(c client.Client, r client.Reader, d discovery.DiscoveryInterface, format ReportFormat, maxResults int, recheck time.Duration) *PolicyReports {
	if format == NoReports || format == "" {
		return nil
	}
	if maxResults <= 0 {
		maxResults = DefaultMaxReportResults
	}
	if recheck <= 0 {
		recheck = DefaultReportRecheck
	}
	return &PolicyReports{Client: c, Reader: r, Discovery: d, Format: format, MaxResults: maxResults, Recheck: recheck,
		stores: map[string]map[string][]reportResult{}, written: map[string]string{}, dirty: map[string]bool{}}
}

// Start looks for the report CRD now and every Recheck, and retries the namespaces that could not
// be written. It runs on the leader only, like the reconcilers that feed it.
func (w *PolicyReports) Start(ctx context.Context) error {
	logger := log.FromContext(ctx).WithName("policyreports")
	ctx = log.IntoContext(ctx, logger)
	tick := time.NewTicker(w.Recheck)
	defer tick.Stop()
	for {
		w.recheck(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// recheck looks for the CRD when it was missing, then writes what is dirty.
func (w *PolicyReports) recheck(ctx context.Context) {
	w.mu.Lock()
	available := w.available
	w.mu.Unlock()
	if !available {
		served, err := w.served()
		if err != nil {
			log.FromContext(ctx).Error(err, "looking for the report CRD", "crd", w.Format.crdName())
			return
		}
		if !served {
			w.mu.Lock()
			if !w.told {
				w.told = true
				log.FromContext(ctx).Info("report CRD not installed: not writing reports until it is", "crd", w.Format.crdName(), "recheck", w.Recheck.String())
			}
			w.mu.Unlock()
			return
		}
		log.FromContext(ctx).Info("report CRD found: writing reports", "crd", w.Format.crdName(), "kind", w.Format.gvk().Kind)
		w.mu.Lock()
		w.available = true
		for ns := range w.stores {
			w.dirty[ns] = true
		}
		w.mu.Unlock()
	}
	if err := w.sweep(ctx); err != nil {
		log.FromContext(ctx).Error(err, "removing reports of namespaces without stores")
	}
	w.mu.Lock()
	dirty := make([]string, 0, len(w.dirty))
	for ns := range w.dirty {
		dirty = append(dirty, ns)
	}
	w.mu.Unlock()
	slices.Sort(dirty)
	for _, ns := range dirty {
		if err := w.sync(ctx, ns); err != nil {
			log.FromContext(ctx).Error(err, "writing report", "namespace", ns)
		}
	}
}

// served asks discovery whether the report kind is served. Discovery, not the RESTMapper: a
// mapper may remember that a group was missing.
func (w *PolicyReports) served() (bool, error) {
	gvk := w.Format.gvk()
	list, err := w.Discovery.ServerResourcesForGroupVersion(gvk.GroupVersion().String())
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("discovering %s: %w", gvk.GroupVersion(), err)
	}
	for _, r := range list.APIResources {
		if r.Kind == gvk.Kind {
			return true, nil
		}
	}
	return false, nil
}

// absent records that the CRD is not served, saying so once per disappearance. The caller holds mu.
func (w *PolicyReports) absent(ctx context.Context, namespace string) {
	w.dirty[namespace] = true
	if w.available {
		w.available, w.told = false, true
		log.FromContext(ctx).Info("report CRD not installed: not writing reports until it is", "crd", w.Format.crdName(), "recheck", w.Recheck.String())
	}
}

// observe takes a store's results from its reconcile and writes its namespace's report. Errors are
// logged, not returned: the store's own status does not depend on the report, and the namespace
// is retried on the next recheck.
func (w *PolicyReports) observe(ctx context.Context, store *v1alpha1.PersonalDataStore, run *storeRun) {
	if w == nil {
		return
	}
	w.mu.Lock()
	byStore := w.stores[store.Namespace]
	if byStore == nil {
		byStore = map[string][]reportResult{}
		w.stores[store.Namespace] = byStore
	}
	if run.audit != nil {
		byStore[store.Name] = storeResults(store, run.audit, run.violations)
	} else if _, known := byStore[store.Name]; !known {
		byStore[store.Name] = nil // not audited (a spec to fix): it holds up no report
	}
	w.mu.Unlock()
	if err := w.sync(ctx, store.Namespace); err != nil {
		log.FromContext(ctx).Error(err, "writing report; retrying on the next recheck", "namespace", store.Namespace, "every", w.Recheck.String())
	}
}

// forget drops a deleted store's results and rewrites, or removes, its namespace's report.
func (w *PolicyReports) forget(ctx context.Context, namespace, name string) {
	if w == nil {
		return
	}
	w.mu.Lock()
	delete(w.stores[namespace], name)
	w.mu.Unlock()
	if err := w.sync(ctx, namespace); err != nil {
		log.FromContext(ctx).Error(err, "writing report; retrying on the next recheck", "namespace", namespace, "every", w.Recheck.String())
	}
}

// sync writes the namespace's report from its stores' latest results, deletes it when the
// namespace has no store left, and does nothing when the report would not change.
func (w *PolicyReports) sync(ctx context.Context, namespace string) (err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.available {
		w.dirty[namespace] = true
		return nil
	}
	defer func() {
		if err != nil {
			w.dirty[namespace] = true
		} else {
			delete(w.dirty, namespace)
		}
	}()
	var stores v1alpha1.PersonalDataStoreList
	if err := w.Client.List(ctx, &stores, client.InNamespace(namespace)); err != nil {
		return fmt.Errorf("listing stores: %w", err)
	}
	var results []reportResult
	live := map[string]bool{}
	for i := range stores.Items {
		s := &stores.Items[i]
		if !s.DeletionTimestamp.IsZero() {
			continue
		}
		live[s.Name] = true
		own, known := w.stores[namespace][s.Name]
		if !known {
			return nil // its first reconcile writes the report; until then the report stays as it is
		}
		results = append(results, own...)
	}
	for name := range w.stores[namespace] {
		if !live[name] {
			delete(w.stores[namespace], name) // deleted between its reconcile and this list
		}
	}
	if len(live) == 0 {
		delete(w.stores, namespace)
		return w.remove(ctx, namespace)
	}
	content := w.content(results)
	desired, err := json.Marshal(struct {
		reportContent
		Omitted int
	}{content, content.omitted})
	if err != nil {
		return fmt.Errorf("encoding report: %w", err)
	}
	if w.written[namespace] == string(desired) {
		return nil
	}
	if err := w.write(ctx, namespace, content); err != nil {
		if meta.IsNoMatchError(err) {
			w.absent(ctx, namespace)
			return nil
		}
		return err
	}
	w.written[namespace] = string(desired)
	return nil
}

// content merges, orders and bounds results: failures first, so that what is cut is passes.
func (w *PolicyReports) content(results []reportResult) reportContent {
	var c reportContent
	for _, r := range results {
		switch r.Result {
		case resultPass:
			c.Summary.Pass++
		case resultFail:
			c.Summary.Fail++
		case resultWarn:
			c.Summary.Warn++
		case resultSkip:
			c.Summary.Skip++
		}
	}
	slices.SortFunc(results, func(a, b reportResult) int {
		if d := resultRank[a.Result] - resultRank[b.Result]; d != 0 {
			return d
		}
		if c := strings.Compare(a.Policy, b.Policy); c != 0 {
			return c
		}
		ra, rb := a.Resources[0], b.Resources[0]
		if c := strings.Compare(ra.Kind, rb.Kind); c != 0 {
			return c
		}
		return strings.Compare(ra.Name, rb.Name)
	})
	if len(results) > w.MaxResults {
		c.omitted = len(results) - w.MaxResults
		results = results[:w.MaxResults]
	}
	c.Results = results
	if w.Format == OpenReportsFormat {
		c.Source = reportSource
		c.Configuration = &reportConfiguration{Limits: reportLimits{MaxResults: int64(w.MaxResults)}}
	}
	return c
}

var resultRank = map[string]int{resultFail: 0, resultWarn: 1, resultSkip: 2, resultPass: 3}

// write creates or updates the report when what is stored differs from content.
func (w *PolicyReports) write(ctx context.Context, namespace string, content reportContent) error {
	fields, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&content)
	if err != nil {
		return fmt.Errorf("converting report: %w", err)
	}
	report := &unstructured.Unstructured{}
	report.SetGroupVersionKind(w.Format.gvk())
	err = w.Client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: PolicyReportName}, report)
	create := apierrors.IsNotFound(err)
	if err != nil && !create {
		return fmt.Errorf("getting report: %w", err)
	}
	if create {
		report = &unstructured.Unstructured{Object: map[string]any{}}
		report.SetGroupVersionKind(w.Format.gvk())
		report.SetNamespace(namespace)
		report.SetName(PolicyReportName)
	}
	changed := create
	labels := report.GetLabels()
	if labels[ManagedByLabel] != reportSource {
		if labels == nil {
			labels = map[string]string{}
		}
		labels[ManagedByLabel] = reportSource
		report.SetLabels(labels)
		changed = true
	}
	annotations := report.GetAnnotations()
	omitted := ""
	if content.omitted > 0 {
		omitted = fmt.Sprint(content.omitted)
	}
	if annotations[OmittedResultsAnnotation] != omitted {
		if omitted == "" {
			delete(annotations, OmittedResultsAnnotation)
		} else {
			if annotations == nil {
				annotations = map[string]string{}
			}
			annotations[OmittedResultsAnnotation] = omitted
		}
		report.SetAnnotations(annotations)
		changed = true
	}
	for _, key := range contentKeys {
		want, has := fields[key]
		if !equality.Semantic.DeepEqual(report.Object[key], want) {
			if has {
				report.Object[key] = want
			} else {
				delete(report.Object, key)
			}
			changed = true
		}
	}
	switch {
	case !changed:
		return nil
	case create:
		if err := w.Client.Create(ctx, report, client.FieldOwner(FieldOwner)); err != nil {
			return fmt.Errorf("creating report: %w", err)
		}
	default:
		if err := w.Client.Update(ctx, report, client.FieldOwner(FieldOwner)); err != nil {
			return fmt.Errorf("updating report: %w", err)
		}
	}
	log.FromContext(ctx).V(1).Info("report written", "namespace", namespace, "kind", w.Format.gvk().Kind,
		"pass", content.Summary.Pass, "fail", content.Summary.Fail, "warn", content.Summary.Warn, "skip", content.Summary.Skip)
	return nil
}

// remove deletes the namespace's report, if the operator wrote it.
func (w *PolicyReports) remove(ctx context.Context, namespace string) error {
	delete(w.written, namespace)
	report := &unstructured.Unstructured{}
	report.SetGroupVersionKind(w.Format.gvk())
	if err := w.Client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: PolicyReportName}, report); err != nil {
		if apierrors.IsNotFound(err) || meta.IsNoMatchError(err) {
			return nil
		}
		return fmt.Errorf("getting report: %w", err)
	}
	if report.GetLabels()[ManagedByLabel] != reportSource {
		return nil // someone else's report of that name
	}
	if err := w.Client.Delete(ctx, report, client.Preconditions{UID: ptrTo(report.GetUID())}); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("deleting report: %w", err)
	}
	return nil
}

// sweep removes the operator's reports in namespaces that hold no store any more: their last store
// was deleted while the operator was down, or while the report could not be deleted. It reads the
// reports' metadata only, uncached, once per recheck.
func (w *PolicyReports) sweep(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.available {
		return nil
	}
	list := &metav1.PartialObjectMetadataList{}
	list.SetGroupVersionKind(w.Format.gvk().GroupVersion().WithKind(w.Format.gvk().Kind + "List"))
	if err := w.Reader.List(ctx, list, client.MatchingLabels{ManagedByLabel: reportSource}); err != nil {
		if meta.IsNoMatchError(err) {
			return nil // the next write says so
		}
		return fmt.Errorf("listing reports: %w", err)
	}
	for _, report := range list.Items {
		if report.Name != PolicyReportName {
			continue
		}
		var stores v1alpha1.PersonalDataStoreList
		if err := w.Client.List(ctx, &stores, client.InNamespace(report.Namespace)); err != nil {
			return fmt.Errorf("listing stores: %w", err)
		}
		if len(stores.Items) == 0 {
			if err := w.remove(ctx, report.Namespace); err != nil {
				return err
			}
		}
	}
	return nil
}

func ptrTo[T any](v T) *T { return &v }

// storeResults turns a store's audit into one result per governed pod and claim. The rule of a
// result is the RES rule of its first finding; a pass or skip carries the rule the object was
// checked against: RES010 (the pod's node, the rule NodeNotPermitted maps to) for pods and
// RES014 (the claim's volume) for claims, so that a pod's pass and its later failure share a rule.
func storeResults(store *v1alpha1.PersonalDataStore, a *auditResult, violations []v1alpha1.Violation) []reportResult {
	eviction := map[string]string{}
	for _, v := range violations {
		if v.EvictionTime != nil {
			eviction[v.Object.Kind+"/"+v.Object.Name] = v.EvictionTime.UTC().Format(time.RFC3339)
		}
	}
	mode := engine.ModeOf(store)
	allowed := engine.Names(store.Spec.AllowedJurisdictions)
	out := make([]reportResult, 0, len(a.observed))
	for _, o := range a.observed {
		r := reportResult{
			Source: reportSource, Policy: store.Name, Category: reportCategory, Rule: checkedRule(o.Ref.Kind).ID,
			Resources:  []corev1.ObjectReference{{APIVersion: "v1", Kind: o.Ref.Kind, Namespace: store.Namespace, Name: o.Ref.Name, UID: o.Ref.UID}},
			Properties: map[string]string{"enforcement": string(mode)},
		}
		where := "node"
		if o.Ref.Kind != "Pod" {
			where = "volume"
		}
		if o.Where != "" {
			r.Properties[where] = o.Where
		}
		if l := o.Location; l != nil {
			for k, v := range map[string]string{"region": l.Region, "zone": l.Zone, "country": l.Country, "jurisdictions": strings.Join(l.Jurisdictions, ",")} {
				if v != "" {
					r.Properties[k] = v
				}
			}
		}
		failing := slices.Concat(o.Denied, o.Reported)
		switch {
		case o.ExemptedBy != "":
			r.Result = resultSkip
			r.Properties["exception"] = o.ExemptedBy
			r.Message = fmt.Sprintf("exempted from store %s by ResidencyException %s", store.Name, o.ExemptedBy)
		case len(failing) > 0:
			r.Result, r.Severity = resultFail, "high"
			r.Rule, r.Message = findingsRule(o.Ref.Kind, failing), findingsMessage(failing)
		case len(o.Warned) > 0:
			r.Result, r.Severity = resultWarn, "medium"
			r.Rule, r.Message = findingsRule(o.Ref.Kind, o.Warned), findingsMessage(o.Warned)
		default:
			r.Result = resultPass
			r.Message = passMessage(o, where, allowed)
		}
		if at, ok := eviction[o.Ref.Kind+"/"+o.Ref.Name]; ok && r.Result == resultFail {
			r.Properties["evictionTime"] = at
		}
		out = append(out, r)
	}
	return out
}

// checkedRule is the rule a governed object is checked against when nothing is found.
func checkedRule(kind string) rules.Rule {
	if kind == "Pod" {
		return rules.NodeName
	}
	return rules.Volume
}

func findingsRule(kind string, fs []engine.Finding) string {
	if r, ok := rules.ForReason(fs[0].Reason); ok {
		return r.ID
	}
	return checkedRule(kind).ID
}

func findingsMessage(fs []engine.Finding) string {
	msgs := make([]string, 0, len(fs))
	for _, f := range fs {
		msgs = append(msgs, f.Message)
	}
	return strings.Join(msgs, "; ")
}

func passMessage(o auditedObject, where, allowed string) string {
	switch {
	case o.Where == "" && o.Ref.Kind == "Pod":
		return fmt.Sprintf("not scheduled yet; its placement keeps it in %s", allowed)
	case o.Where == "":
		return fmt.Sprintf("not bound yet; its volume must be in %s", allowed)
	case o.Location == nil:
		return fmt.Sprintf("on %s %s, permitted (%s)", where, o.Where, allowed)
	}
	return fmt.Sprintf("on %s %s in %s, region %s: inside %s", where, o.Where, o.Location.Country, o.Location.Region, allowed)
}
