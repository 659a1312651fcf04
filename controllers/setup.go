// Package controllers holds the operator's reconcilers, each a thin caller of the engine
// (internal/engine) with one status write per reconcile:
//
//   - NodeReconciler: locates each node and keeps its jurisdiction and country labels in line.
//   - JurisdictionReconciler: a Jurisdiction's status (nodes, countries, untrusted claimants) and,
//     on deletion, the removal of its labels before it goes.
//   - StoreReconciler: audits a PersonalDataStore's pods and volumes, announces and evicts
//     violations, checks its processors and keeps its egress NetworkPolicy; PolicyReports merges
//     the audits of a namespace's stores into its PolicyReport.
//   - EvidenceReconciler: stamps where a governed pod ran once it is bound.
//   - ProcessorReconciler: a DataProcessor's status (the stores naming it, its jurisdictions).
//   - ExceptionReconciler: a ResidencyException's Active condition, announced at start and expiry.
//   - NamespaceReconciler: the governed label on namespaces that hold a store.
//   - AdmissionPolicyReconciler: each governed namespace's compiled admission policies.
package controllers

import (
	"context"
	"fmt"
	"k8s.io/client-go/tools/events"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/residency-operator/residency-operator/internal/engine"
	"github.com/residency-operator/residency-operator/internal/history"
	"github.com/residency-operator/residency-operator/internal/lookup"
)

// EventReporter is the name the operator's Events carry as their reporting controller.
const EventReporter = "residency-operator"

// Options tune the controllers.
type Options struct {
	// EvictionsPerSecond and EvictionBurst bound evictions across all stores.
	EvictionsPerSecond float64
	EvictionBurst      int
	// Clock is the time grace periods and exception windows are judged by; tests pass a fake one.
	Clock clock.Clock
	// AdmissionPolicies compiles each namespace's policies into admission policies that
	// kube-apiserver evaluates (admission mode policies or both); false removes them (webhook).
	AdmissionPolicies bool
	// OperatorNamespace is never given admission policies, nor is kube-system.
	OperatorNamespace string
	// BrakeShare, BrakeMinPods, BrakeMinNodes and BrakeWindow set the eviction brake: evictions
	// pause cluster-wide when more than BrakeShare of the governed pods (and at least
	// BrakeMinPods) became violations within BrakeWindow, or as large a share of a Jurisdiction's
	// nodes (and at least BrakeMinNodes) lost its label. A share of 0 disables it.
	BrakeShare    float64
	BrakeMinPods  int
	BrakeMinNodes int
	BrakeWindow   time.Duration
	// ExcludedNamespaces are never given admission policies either, like OperatorNamespace
	// (--excluded-namespaces: the chart passes webhook.excludedNamespaces, which its webhooks skip
	// too). Benchmarks use it to serve one namespace through the webhooks alone.
	ExcludedNamespaces []string
	// Trust says which node location claims are believed without a person vouching for them
	// (--trust-registration-topology).
	Trust engine.Trust
	// DNS is where governed pods may send DNS queries when their store restricts egress.
	DNS DNSPeer
	// History cuts and keeps the stores' residency history; a Period of 0 writes none.
	History history.Options
	// PolicyReports is the report API each namespace's results are written to (--policy-reports):
	// wgpolicyk8s.io PolicyReports by default, openreports.io Reports, or none.
	PolicyReports ReportFormat
	// PolicyReportMaxResults bounds a report's results (--policy-report-max-results).
	PolicyReportMaxResults int
	// PolicyReportRecheck is how often a missing report CRD is looked for again and failed
	// writes are retried.
	PolicyReportRecheck time.Duration
	// MultiCluster locates Karmada Clusters and OCM ManagedClusters and audits where governed
	// templates were placed, once their APIs are served (--multicluster); MultiClusterRecheck
	// is how often their APIs are looked for until then.
	MultiCluster        bool
	MultiClusterRecheck time.Duration
}

// DefaultOptions are the options the manager runs with unless flags say otherwise.
func DefaultOptions() Options {
	return Options{EvictionsPerSecond: 2, EvictionBurst: 5, Clock: clock.RealClock{}, AdmissionPolicies: true, OperatorNamespace: "residency-system",
		BrakeShare: 0.2, BrakeMinPods: 10, BrakeMinNodes: 3, BrakeWindow: 10 * time.Minute, DNS: DefaultDNSPeer(),
		History:       history.DefaultOptions(),
		PolicyReports: PolicyReportFormat, PolicyReportMaxResults: DefaultMaxReportResults, PolicyReportRecheck: DefaultReportRecheck,
		MultiCluster: true, MultiClusterRecheck: DefaultMultiClusterRecheck}
}

// SetupWithManager registers the field indexers and every reconciler with mgr. main.go and the
// envtest suites both call it, so tests run exactly the wiring that ships.
func SetupWithManager(ctx context.Context, mgr ctrl.Manager, options ...Options) error {
	opts := DefaultOptions()
	if len(options) > 0 {
		opts = options[0]
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if err := setupIndexers(ctx, mgr); err != nil {
		return fmt.Errorf("setting up field indexers: %w", err)
	}
	recorder := mgr.GetEventRecorder(EventReporter)
	var brake *Brake
	if opts.BrakeShare > 0 {
		brake = &Brake{Share: opts.BrakeShare, MinPods: opts.BrakeMinPods, MinNodes: opts.BrakeMinNodes, Window: opts.BrakeWindow,
			Namespace: opts.OperatorNamespace, Client: mgr.GetClient(), Reader: mgr.GetAPIReader()}
	}
	if err := (&NodeReconciler{Client: mgr.GetClient(), Recorder: recorder, Brake: brake, Clock: opts.Clock, Trust: opts.Trust}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up node controller: %w", err)
	}
	// Discovery runs in the background (report CRDs, Karmada's and OCM's APIs): bound each call, so
	// that an unanswering aggregated API server never stalls it.
	discoCfg := rest.CopyConfig(mgr.GetConfig())
	discoCfg.Timeout = 15 * time.Second
	disco, err := discovery.NewDiscoveryClientForConfig(discoCfg)
	if err != nil {
		return fmt.Errorf("creating discovery client: %w", err)
	}
	multicluster := NewMultiCluster(mgr, disco, recorder, brake, opts.MultiClusterRecheck, opts.MultiCluster)
	if multicluster != nil {
		if err := mgr.Add(multicluster); err != nil {
			return fmt.Errorf("adding multi-cluster discovery: %w", err)
		}
	}
	if err := (&JurisdictionReconciler{Client: mgr.GetClient(), Recorder: recorder, MultiCluster: multicluster}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up jurisdiction controller: %w", err)
	}
	if err := setupStoreIndexers(ctx, mgr); err != nil {
		return fmt.Errorf("setting up store field indexers: %w", err)
	}
	reports := NewPolicyReports(mgr.GetClient(), mgr.GetAPIReader(), disco, opts.PolicyReports, opts.PolicyReportMaxResults, opts.PolicyReportRecheck)
	if reports != nil {
		if err := mgr.Add(reports); err != nil {
			return fmt.Errorf("adding report writer: %w", err)
		}
	}
	evictor := NewEvictor(mgr.GetClient(), opts.EvictionsPerSecond, opts.EvictionBurst)
	evictor.Brake = brake
	if err := (&StoreReconciler{
		Client: mgr.GetClient(), Recorder: recorder, Clock: opts.Clock,
		Evictor:      evictor,
		Providers:    &lookup.ClusterProvider{Reader: mgr.GetClient(), Every: lookup.ProviderRefresh},
		DNS:          opts.DNS,
		History:      newHistoryRecorder(mgr, recorder, opts.History),
		Reports:      reports,
		MultiCluster: multicluster, APIReader: mgr.GetAPIReader(),
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up store controller: %w", err)
	}
	if err := (&EvidenceReconciler{Client: mgr.GetClient(), Clock: opts.Clock}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up evidence controller: %w", err)
	}
	if err := (&ProcessorReconciler{Client: mgr.GetClient()}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up processor controller: %w", err)
	}
	if err := (&ExceptionReconciler{Client: mgr.GetClient(), Recorder: recorder, Clock: opts.Clock}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up exception controller: %w", err)
	}
	if err := (&NamespaceReconciler{Client: mgr.GetClient()}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up namespace controller: %w", err)
	}
	if err := (&AdmissionPolicyReconciler{
		Client: mgr.GetClient(), Recorder: recorder, Clock: opts.Clock, Enabled: opts.AdmissionPolicies,
		Excluded: append([]string{metav1.NamespaceSystem, opts.OperatorNamespace}, opts.ExcludedNamespaces...),
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up admission policy controller: %w", err)
	}
	return nil
}

// newHistoryRecorder returns the recorder of the stores' history, or nil when it is switched off.
func newHistoryRecorder(mgr ctrl.Manager, recorder events.EventRecorder, opts history.Options) *HistoryRecorder {
	if opts.Period <= 0 {
		return nil
	}
	if opts.Flush <= 0 {
		opts.Flush = history.DefaultOptions().Flush
	}
	if opts.MaxGap < 2*opts.Flush {
		opts.MaxGap = 3 * opts.Flush // a reconcile a little late is not the operator being down
	}
	return &HistoryRecorder{Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Recorder: recorder, Options: opts}
}
