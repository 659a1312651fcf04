package controllers

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	crcache "sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
	"github.com/residency-operator/residency-operator/internal/engine"
)

// The multi-cluster engines' kinds, read as unstructured objects: neither project's Go module is a
// dependency of the operator.
var (
	karmadaClusterGVK    = schema.GroupVersionKind{Group: "cluster.karmada.io", Version: "v1alpha1", Kind: "Cluster"}
	karmadaBindingGVK    = schema.GroupVersionKind{Group: "work.karmada.io", Version: "v1alpha2", Kind: "ResourceBinding"}
	ocmManagedClusterGVK = schema.GroupVersionKind{Group: "cluster.open-cluster-management.io", Version: "v1", Kind: "ManagedCluster"}
	ocmDecisionGVK       = schema.GroupVersionKind{Group: "cluster.open-cluster-management.io", Version: "v1beta1", Kind: "PlacementDecision"}
)

// ocmPlacementLabel names a PlacementDecision's Placement.
const ocmPlacementLabel = "cluster.open-cluster-management.io/placement"

// DefaultMultiClusterRecheck is how often the operator looks for Karmada's and OCM's APIs when
// they are not served yet.
const DefaultMultiClusterRecheck = time.Minute

var clusterLabelPatches = prometheus.NewCounter(prometheus.CounterOpts{
	Name: "residency_cluster_label_patches_total",
	Help: "Patches of the jurisdiction and country labels of member clusters (Karmada Clusters, OCM ManagedClusters).",
})

func init() { metrics.Registry.MustRegister(clusterLabelPatches) }

// MultiCluster is the operator's part in a hub: it locates member clusters (labels them as nodes
// are labelled) and audits where governed templates were placed. It starts each engine's part once
// that engine's API is served, looking again every Recheck, so Karmada or OCM installed after the
// operator needs no restart.
type MultiCluster struct {
	mgr      ctrl.Manager
	disco    discovery.DiscoveryInterface
	recorder events.EventRecorder
	recheck  time.Duration
	brake    *Brake
	// storeEvents brings a namespace's stores back when a binding or decision of it changes.
	storeEvents chan event.GenericEvent
	// jurisdictionEvents brings a Jurisdiction back when a member cluster gains or loses its label.
	jurisdictionEvents chan event.GenericEvent

	// namespaceReports remembers, by store, the clusters outside its namespace was last reported
	// copied to, so that the Event fires once per change.
	namespaceReports sync.Map
	// refused remembers, by UID, the resource version of each policy admission refused to
	// narrow, so that it is announced once per change.
	refused sync.Map

	mu      sync.RWMutex
	karmada bool // Cluster and ResourceBinding watched
	ocm     bool // ManagedCluster and PlacementDecision watched
}

// NewMultiCluster returns the hub part; nil when switched off.
func NewMultiCluster(mgr ctrl.Manager, disco discovery.DiscoveryInterface, recorder events.EventRecorder, brake *Brake, recheck time.Duration, enabled bool) *MultiCluster {
	if !enabled {
		return nil
	}
	if recheck <= 0 {
		recheck = DefaultMultiClusterRecheck
	}
	return &MultiCluster{mgr: mgr, disco: disco, recorder: recorder, brake: brake, recheck: recheck, storeEvents: make(chan event.GenericEvent, 256),
		jurisdictionEvents: make(chan event.GenericEvent, 256)}
}

// +kubebuilder:rbac:groups=cluster.karmada.io,resources=clusters,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=work.karmada.io,resources=resourcebindings,verbs=get;list;watch
// +kubebuilder:rbac:groups=cluster.open-cluster-management.io,resources=managedclusters,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=cluster.open-cluster-management.io,resources=placementdecisions;placements,verbs=get;list;watch
// +kubebuilder:rbac:groups=apps,resources=deployments;statefulsets;daemonsets;replicasets,verbs=get
// +kubebuilder:rbac:groups=batch,resources=jobs;cronjobs,verbs=get

// Start looks for the engines' APIs until both are served or ctx ends.
func (m *MultiCluster) Start(ctx context.Context) error {
	tick := time.NewTicker(m.recheck)
	defer tick.Stop()
	for {
		if karmada, ocm := m.discover(ctx); karmada && ocm {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// NeedLeaderElection: the labels are written by the leader only.
func (m *MultiCluster) NeedLeaderElection() bool { return true }

// engineSyncTimeout bounds the wait for an engine's informers. Karmada's Cluster API is served by
// an aggregated API server: a controller whose informer never syncs would stop the manager, and
// take pod enforcement down with it, so the operator syncs them first and tries again later.
const engineSyncTimeout = 30 * time.Second

// discover starts the part of each engine whose API is now served. Discovery and the informers'
// first sync happen without the lock, which store and Jurisdiction reconciles read.
func (m *MultiCluster) discover(ctx context.Context) (karmada, ocm bool) {
	logger := log.FromContext(ctx).WithName("multicluster")
	served := func(gvks ...schema.GroupVersionKind) bool {
		for _, gvk := range gvks {
			list, err := m.disco.ServerResourcesForGroupVersion(gvk.GroupVersion().String())
			if err != nil {
				return false
			}
			if !slices.ContainsFunc(list.APIResources, func(r metav1.APIResource) bool { return r.Kind == gvk.Kind }) {
				return false
			}
		}
		return true
	}
	karmada, ocm = m.enabled()
	start := func(name string, clusterGVK, placedGVK schema.GroupVersionKind, locate func(*unstructured.Unstructured) engine.NodeLocation, found string) bool {
		if !served(clusterGVK, placedGVK) {
			return false
		}
		if err := m.syncInformers(ctx, clusterGVK, placedGVK); err != nil {
			logger.Error(err, "the API is served but its objects cannot be watched yet; trying again later", "engine", name)
			return false
		}
		if err := m.startEngine(clusterGVK, placedGVK, locate); err != nil {
			logger.Error(err, "starting the controllers", "engine", name)
			return false
		}
		logger.Info(found)
		return true
	}
	if !karmada && start("Karmada", karmadaClusterGVK, karmadaBindingGVK, karmadaLocation, "Karmada found: locating its Clusters and auditing ResourceBindings") {
		m.mu.Lock()
		m.karmada, karmada = true, true
		m.mu.Unlock()
	}
	if !ocm && start("Open Cluster Management", ocmManagedClusterGVK, ocmDecisionGVK, ocmLocation, "Open Cluster Management found: locating its ManagedClusters and auditing PlacementDecisions") {
		m.mu.Lock()
		m.ocm, ocm = true, true
		m.mu.Unlock()
	}
	return karmada, ocm
}

// syncInformers starts the cache's informers of an engine's kinds and waits, bounded, until they
// have synced.
func (m *MultiCluster) syncInformers(ctx context.Context, gvks ...schema.GroupVersionKind) error {
	ctx, cancel := context.WithTimeout(ctx, engineSyncTimeout)
	defer cancel()
	for _, gvk := range gvks {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(gvk)
		inf, err := m.mgr.GetCache().GetInformer(ctx, u, crcache.BlockUntilSynced(false))
		if err != nil {
			return fmt.Errorf("watching %s: %w", gvk.Kind, err)
		}
		if !toolscache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
			return fmt.Errorf("%s did not sync within %s", gvk.Kind, engineSyncTimeout)
		}
	}
	return nil
}

// startEngine adds the cluster location controller of one engine, and the watch that brings a
// namespace's stores back when one of its bindings or decisions changes where it placed things.
func (m *MultiCluster) startEngine(clusterGVK, placedGVK schema.GroupVersionKind, locate func(*unstructured.Unstructured) engine.NodeLocation) error {
	r := &ClusterLocationReconciler{Client: m.mgr.GetClient(), Reader: m.mgr.GetCache(), Recorder: m.recorder, GVK: clusterGVK, Locate: locate,
		Jurisdictions: m.jurisdictionEvents, Brake: m.brake}
	if err := r.SetupWithManager(m.mgr); err != nil {
		return err
	}
	placed := &unstructured.Unstructured{}
	placed.SetGroupVersionKind(placedGVK)
	return ctrl.NewControllerManagedBy(m.mgr).
		Named(strings.ToLower(placedGVK.Kind)+"-stores").
		For(placed, builder.WithPredicates(placementChanged)).
		Complete(reconcile.Func(func(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
			var stores v1alpha1.PersonalDataStoreList
			if err := m.mgr.GetClient().List(ctx, &stores, client.InNamespace(req.Namespace)); err != nil {
				return reconcile.Result{}, err
			}
			for i := range stores.Items {
				select {
				case m.storeEvents <- event.GenericEvent{Object: &stores.Items[i]}:
				case <-ctx.Done():
					return reconcile.Result{}, nil
				}
			}
			return reconcile.Result{}, nil
		}))
}

// placementChanged passes binding and decision events that change where things are placed, or
// whether they could be: Karmada updates a binding's aggregated status far more often.
var placementChanged = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		return !equality.Semantic.DeepEqual(placedOn(e.ObjectOld), placedOn(e.ObjectNew))
	},
}

// placedOn is what the audit reads of a ResourceBinding or PlacementDecision.
func placedOn(obj client.Object) []any {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return nil
	}
	clusters, _, _ := unstructured.NestedSlice(u.Object, "spec", "clusters")
	decisions, _, _ := unstructured.NestedSlice(u.Object, "status", "decisions")
	return []any{clusters, decisions, bindingScheduleFailed(u), u.GetLabels()[ocmPlacementLabel]}
}

// storeSource is the store controller's watch of bindings and decisions; nil without multicluster.
func (m *MultiCluster) storeSource() source.Source {
	return source.Channel(m.storeEvents, &handler.EnqueueRequestForObject{})
}

func (m *MultiCluster) enabled() (karmada, ocm bool) {
	if m == nil {
		return false, false
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.karmada, m.ocm
}

// karmadaLocation reads where a Karmada Cluster is: spec.provider, spec.region and its first zone,
// which the hub's administrator sets when joining it.
func karmadaLocation(u *unstructured.Unstructured) engine.NodeLocation {
	provider, _, _ := unstructured.NestedString(u.Object, "spec", "provider")
	region, _, _ := unstructured.NestedString(u.Object, "spec", "region")
	zone, _, _ := unstructured.NestedString(u.Object, "spec", "zone")
	if zones, _, _ := unstructured.NestedStringSlice(u.Object, "spec", "zones"); zone == "" && len(zones) > 0 {
		zone = zones[0]
	}
	return engine.LocateCluster("clusters.cluster.karmada.io", u.GetName(), provider, region, zone, u.GetLabels())
}

// ocmLocation reads where an OCM ManagedCluster is: the topology region label set on the hub, or
// the country a person set. Its ClusterClaims are the managed cluster's own word and never count.
func ocmLocation(u *unstructured.Unstructured) engine.NodeLocation {
	l := u.GetLabels()
	return engine.LocateCluster("managedclusters.cluster.open-cluster-management.io", u.GetName(), "", l[engine.RegionLabel], l[engine.ZoneLabel], l)
}

// ClusterLocationReconciler keeps a member cluster's jurisdiction and country labels in the hub in
// line with the Jurisdictions, by the nodes' rule (desiredPlaceMetadata).
type ClusterLocationReconciler struct {
	client.Client
	// Reader reads the watched clusters from the cache (the client reads unstructured objects
	// from the API server).
	Reader   client.Reader
	Recorder events.EventRecorder
	GVK      schema.GroupVersionKind
	Locate   func(*unstructured.Unstructured) engine.NodeLocation
	// Jurisdictions receives the Jurisdictions a cluster joined or left, for their status.
	Jurisdictions chan<- event.GenericEvent
	// Brake counts the jurisdiction labels clusters lose towards the eviction brake. A cluster
	// losing its label is an eviction: Karmada and OCM take what they placed by that label away
	// at once. So while the brake is engaged (a Jurisdiction deleted or mis-edited, a mass
	// relabelling), clusters keep the labels they would lose, until a person resumes it. Nil
	// never holds.
	Brake *Brake
}

// HeldLabelsAnnotation lists the jurisdictions whose labels a cluster keeps only because the
// eviction brake is engaged.
const HeldLabelsAnnotation = "dataresidency.io/jurisdiction-labels-held"

// Reconcile labels one member cluster.
func (r *ClusterLocationReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(r.GVK)
	if err := r.Reader.Get(ctx, req.NamespacedName, u); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	matchers, err := activeJurisdictionMatchers(ctx, r.Client)
	if err != nil {
		return ctrl.Result{}, err
	}
	loc := r.Locate(u)
	desired := desiredPlaceMetadata(u.GetLabels(), u.GetAnnotations(), loc, matchers, "cluster")
	if desired.annotations == nil {
		desired.annotations = map[string]string{}
	}
	delete(desired.annotations, HeldLabelsAnnotation)
	if held := r.holdLosses(ctx, u, &desired); len(held) > 0 {
		desired.annotations[HeldLabelsAnnotation] = strings.Join(held, ",")
		if u.GetAnnotations()[HeldLabelsAnnotation] != desired.annotations[HeldLabelsAnnotation] {
			r.Recorder.Eventf(u, nil, corev1.EventTypeWarning, "JurisdictionLabelsHeld", actionLocate,
				"keeps the labels of [%s], which it would lose, while the eviction brake is engaged: removing them would make Karmada or OCM take governed workloads off this cluster at once. Resume the brake once the change is intended", strings.Join(held, " "))
		}
	}
	if len(desired.annotations) == 0 && u.GetAnnotations() == nil {
		desired.annotations = nil
	}
	previousProblem := u.GetAnnotations()[engine.LocationProblemAnnotation]
	if !maps.Equal(desired.labels, u.GetLabels()) || !maps.Equal(desired.annotations, u.GetAnnotations()) {
		changed := engine.LabelledJurisdictions(u.GetLabels())
		for _, j := range desired.jurisdictions {
			if !slices.Contains(changed, j) {
				changed = append(changed, j)
			}
		}
		patch := client.MergeFrom(u.DeepCopy())
		u.SetLabels(desired.labels)
		u.SetAnnotations(desired.annotations)
		if err := r.Patch(ctx, u, patch); err != nil {
			if apierrors.IsNotFound(err) {
				return ctrl.Result{}, nil
			}
			return ctrl.Result{}, fmt.Errorf("patching %s labels: %w", r.GVK.Kind, err)
		}
		clusterLabelPatches.Inc()
		for _, j := range changed {
			jur := &v1alpha1.Jurisdiction{}
			jur.Name = j
			select {
			case r.Jurisdictions <- event.GenericEvent{Object: jur}:
			default: // a full channel already brings every Jurisdiction back soon
			}
		}
		log.FromContext(ctx).V(1).Info("cluster labels updated", "kind", r.GVK.Kind, "jurisdictions", desired.jurisdictions, "country", loc.Country)
	}
	if desired.problem != previousProblem && desired.problem != "" {
		r.Recorder.Eventf(u, nil, corev1.EventTypeWarning, locationEvents[desired.problem], actionLocate,
			"member cluster belongs to no jurisdiction, so no governed workload may be placed on it: %s", desired.detail)
	}
	return ctrl.Result{}, nil
}

// holdLosses reports the jurisdiction labels the cluster would lose to the brake, and, while it is
// engaged, keeps them in desired and returns them.
func (r *ClusterLocationReconciler) holdLosses(ctx context.Context, u *unstructured.Unstructured, desired *nodeMetadata) []string {
	if r.Brake == nil {
		return nil
	}
	before := engine.LabelledJurisdictions(u.GetLabels())
	lost := slices.DeleteFunc(slices.Clone(before), func(j string) bool { return slices.Contains(desired.jurisdictions, j) })
	if len(lost) == 0 {
		return nil
	}
	gained := slices.DeleteFunc(slices.Clone(desired.jurisdictions), func(j string) bool { return slices.Contains(before, j) })
	now := time.Now()
	logger := log.FromContext(ctx)
	if err := r.Brake.ObserveNodeLabels(ctx, strings.ToLower(r.GVK.Kind)+"/"+u.GetName(), lost, gained, r.labelled(ctx), now); err != nil {
		logger.Error(err, "eviction brake")
	}
	engaged, _, err := r.Brake.Engaged(ctx, now)
	if err != nil {
		logger.Error(err, "eviction brake") // cannot tell: keep the labels, as an engaged brake would
		engaged = true
	}
	if !engaged {
		return nil
	}
	for _, j := range lost {
		desired.labels[v1alpha1.JurisdictionLabel(j)] = v1alpha1.JurisdictionLabelValue
	}
	return lost
}

// labelled counts, in the cache, the clusters of this kind that carry a jurisdiction's label.
func (r *ClusterLocationReconciler) labelled(ctx context.Context) func(string) (int, error) {
	return func(jurisdiction string) (int, error) {
		list := &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(r.GVK.GroupVersion().WithKind(r.GVK.Kind + "List"))
		err := r.Reader.List(ctx, list, client.MatchingLabels{v1alpha1.JurisdictionLabel(jurisdiction): v1alpha1.JurisdictionLabelValue})
		return len(list.Items), err
	}
}

// SetupWithManager watches the engine's clusters and every Jurisdiction.
func (r *ClusterLocationReconciler) SetupWithManager(mgr ctrl.Manager) error {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(r.GVK)
	return ctrl.NewControllerManagedBy(mgr).
		Named(strings.ToLower(r.GVK.Kind)+"-location").
		For(u).
		Watches(&v1alpha1.Jurisdiction{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, _ client.Object) []reconcile.Request {
			list := &unstructured.UnstructuredList{}
			list.SetGroupVersionKind(r.GVK.GroupVersion().WithKind(r.GVK.Kind + "List"))
			if err := r.Reader.List(ctx, list); err != nil {
				log.FromContext(ctx).Error(err, "listing member clusters", "kind", r.GVK.Kind)
				return nil
			}
			out := make([]reconcile.Request, 0, len(list.Items))
			for _, c := range list.Items {
				out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&c)})
			}
			return out
		})).
		Complete(r)
}

// auditPlacements adds to a store's audit the member clusters its templates were placed on:
// Karmada ResourceBindings of templates the store governs, and the decisions of the OCM Placements
// of its namespace (every Placement of a namespace with stores serves them: see
// engine.DecideClusterPolicy). A cluster outside the permitted jurisdictions, or of unknown
// location, is a violation; a governed template placed nowhere is one too, as Karmada may have
// removed it from where it ran. These are reported, never evicted: the operator does not delete
// workloads.
func (m *MultiCluster) auditPlacements(ctx context.Context, reader client.Reader, store *v1alpha1.PersonalDataStore, pol *engine.Policies, res *auditResult) error {
	karmada, ocm := m.enabled()
	if m == nil || !karmada && !ocm {
		return nil
	}
	terms, err := engine.RequirementFor(store).Terms(nil)
	if err != nil {
		return nil // resolve stalls the store on it
	}
	req := engine.RequirementFor(store)
	// The engines' kinds are watched (startEngine), so read them from the cache: the manager's
	// client would send every read of an unstructured object to the API server.
	c := m.mgr.GetCache()
	getCluster := func(gvk schema.GroupVersionKind, name string) (*unstructured.Unstructured, error) {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(gvk)
		if err := c.Get(ctx, client.ObjectKey{Name: name}, u); err != nil {
			if apierrors.IsNotFound(err) {
				return nil, nil
			}
			return nil, err
		}
		return u, nil
	}
	judge := func(obj client.Object, kind string, gvk schema.GroupVersionKind, clusters []string) error {
		for _, name := range clusters {
			cluster, err := getCluster(gvk, name)
			if err != nil {
				return err
			}
			if cluster != nil && engine.ClusterPermitted(cluster.GetLabels(), terms) {
				continue
			}
			v := v1alpha1.Violation{Object: v1alpha1.ObjectReference{Kind: kind, Name: obj.GetName(), UID: obj.GetUID()}, Cluster: name}
			if cluster == nil {
				v.Reason = v1alpha1.ClusterLocationUnknown
				v.Message = fmt.Sprintf("placed on member cluster %s, which the hub does not know; %s", name, req)
				res.violations = append(res.violations, v)
				res.objects[templateKey(kind, obj.GetName())] = obj
				continue
			}
			l := cluster.GetLabels()
			problem, detail := cluster.GetAnnotations()[engine.LocationProblemAnnotation], cluster.GetAnnotations()[engine.LocationDetailAnnotation]
			switch {
			case problem != "":
				v.Reason = v1alpha1.ClusterLocationUnknown
				v.Location = v1alpha1.ObservedLocation{Region: l[engine.RegionLabel]}
				v.Message = fmt.Sprintf("placed on member cluster %s, whose location is %s (%s); %s. Keep the workload off it until its location is settled",
					name, strings.ToLower(problem), detail, req)
			case len(engine.LabelledJurisdictions(l)) == 0 && l[v1alpha1.CountryLabel] == "":
				where := "its spec.region"
				if gvk == ocmManagedClusterGVK {
					where = "its " + engine.RegionLabel + " label in the hub"
				}
				v.Reason = v1alpha1.ClusterLocationUnknown
				v.Message = fmt.Sprintf("placed on member cluster %s, whose location is not known yet; %s. Set %s or the country label %s, or keep the workload off it",
					name, req, where, v1alpha1.CountryLabel)
			default:
				v.Reason = v1alpha1.ClusterNotPermitted
				v.Location = v1alpha1.ObservedLocation{Country: l[v1alpha1.CountryLabel], Jurisdictions: engine.LabelledJurisdictions(l)}
				v.Message = fmt.Sprintf("placed on member cluster %s (%s, in [%s]), outside the permitted jurisdictions: %s. Narrow the policy that placed it (kubectl residency check), or remove the workload from that cluster",
					name, l[v1alpha1.CountryLabel], strings.Join(v.Location.Jurisdictions, " "), req)
			}
			res.violations = append(res.violations, v)
			res.objects[templateKey(kind, obj.GetName())] = obj
		}
		return nil
	}
	if karmada {
		if err := m.reportNamespacePropagation(ctx, store, terms, req); err != nil {
			return err
		}
		bindings := &unstructured.UnstructuredList{}
		bindings.SetGroupVersionKind(karmadaBindingGVK.GroupVersion().WithKind("ResourceBindingList"))
		if err := c.List(ctx, bindings, client.InNamespace(store.Namespace)); err != nil {
			return fmt.Errorf("listing ResourceBindings: %w", err)
		}
		for i := range bindings.Items {
			b := &bindings.Items[i]
			template, err := bindingTemplate(ctx, reader, b)
			if err != nil || template == nil {
				if err != nil {
					return err
				}
				continue
			}
			g := engine.Govern(pol, engine.Workload, engine.TemplatePodLabels(template.Object))
			if !g.Governed() || len(g.Lifted) > 0 {
				continue
			}
			res.governedTemplates++
			var clusters []string
			targets, _, _ := unstructured.NestedSlice(b.Object, "spec", "clusters")
			for _, t := range targets {
				if name, _ := t.(map[string]any)["name"].(string); name != "" {
					clusters = append(clusters, name)
				}
			}
			if len(clusters) == 0 && bindingScheduleFailed(b) {
				res.violations = append(res.violations, v1alpha1.Violation{
					Object: v1alpha1.ObjectReference{Kind: template.GetKind(), Name: template.GetName(), UID: template.GetUID()},
					Reason: v1alpha1.NoPermittedCluster,
					Message: fmt.Sprintf("Karmada schedules %s %s on no member cluster: none in the permitted jurisdictions (%s) fits its policy. "+
						"Join or relabel a cluster in a permitted jurisdiction; with failover purgeMode other than Never Karmada may already have removed it from where it ran (karmada#7455)",
						template.GetKind(), template.GetName(), req),
				})
				res.objects[templateKey(template.GetKind(), template.GetName())] = template
				if res.noPermittedCluster == "" {
					res.noPermittedCluster = fmt.Sprintf("%s %s has no permitted member cluster to run in", template.GetKind(), template.GetName())
				}
				continue
			}
			if err := judge(template, template.GetKind(), karmadaClusterGVK, clusters); err != nil {
				return err
			}
		}
	}
	if ocm {
		decisions := &unstructured.UnstructuredList{}
		decisions.SetGroupVersionKind(ocmDecisionGVK.GroupVersion().WithKind("PlacementDecisionList"))
		if err := c.List(ctx, decisions, client.InNamespace(store.Namespace)); err != nil {
			return fmt.Errorf("listing PlacementDecisions: %w", err)
		}
		for i := range decisions.Items {
			d := &decisions.Items[i]
			placement := d.GetLabels()[ocmPlacementLabel]
			if placement == "" {
				continue
			}
			list, _, _ := unstructured.NestedSlice(d.Object, "status", "decisions")
			var clusters []string
			for _, item := range list {
				if name, _ := item.(map[string]any)["clusterName"].(string); name != "" {
					clusters = append(clusters, name)
				}
			}
			ref := &unstructured.Unstructured{}
			ref.SetName(placement)
			ref.SetNamespace(d.GetNamespace())
			ref.SetAPIVersion("cluster.open-cluster-management.io/v1beta1")
			ref.SetKind(engine.KindPlacement)
			for _, o := range d.GetOwnerReferences() {
				if o.Kind == engine.KindPlacement && o.Name == placement {
					ref.SetUID(o.UID)
				}
			}
			if err := judge(ref, engine.KindPlacement, ocmManagedClusterGVK, clusters); err != nil {
				return err
			}
		}
	}
	return nil
}

// bindingTemplate reads the resource template a ResourceBinding propagates; nil when it is gone.
func bindingTemplate(ctx context.Context, reader client.Reader, b *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	apiVersion, _, _ := unstructured.NestedString(b.Object, "spec", "resource", "apiVersion")
	kind, _, _ := unstructured.NestedString(b.Object, "spec", "resource", "kind")
	name, _, _ := unstructured.NestedString(b.Object, "spec", "resource", "name")
	if apiVersion == "" || kind == "" || name == "" {
		return nil, nil
	}
	t := &unstructured.Unstructured{}
	t.SetAPIVersion(apiVersion)
	t.SetKind(kind)
	if err := reader.Get(ctx, client.ObjectKey{Namespace: b.GetNamespace(), Name: name}, t); err != nil {
		if apierrors.IsNotFound(err) || apierrors.IsForbidden(err) || meta.IsNoMatchError(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("reading the template of ResourceBinding %s: %w", b.GetName(), err)
	}
	return t, nil
}

// bindingScheduleFailed reports whether Karmada's scheduler found no cluster for a binding.
func bindingScheduleFailed(b *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(b.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == "Scheduled" && m["status"] == "False" {
			return true
		}
	}
	return false
}

// countClusters counts the member clusters labelled as in a jurisdiction; 0 outside a hub.
func (m *MultiCluster) countClusters(ctx context.Context, jurisdiction string) (int, error) {
	karmada, ocm := m.enabled()
	n := 0
	for _, c := range []struct {
		on  bool
		gvk schema.GroupVersionKind
	}{{karmada, karmadaClusterGVK}, {ocm, ocmManagedClusterGVK}} {
		if !c.on {
			continue
		}
		list := &metav1.PartialObjectMetadataList{}
		list.SetGroupVersionKind(c.gvk.GroupVersion().WithKind(c.gvk.Kind + "List"))
		if err := m.mgr.GetAPIReader().List(ctx, list, client.MatchingLabels{v1alpha1.JurisdictionLabel(jurisdiction): v1alpha1.JurisdictionLabelValue}); err != nil {
			return 0, fmt.Errorf("counting %s members: %w", c.gvk.Kind, err)
		}
		n += len(list.Items)
	}
	return n, nil
}

// Readmission of placement policies admitted before their namespace's stores: GitOps tools apply
// custom resources in no set order, so a PropagationPolicy or Placement may reach the API server
// before the store that governs its templates, and then passes admission unnarrowed. The operator
// sends each such policy through admission again, by stamping an annotation, so that the
// webhook narrows it as it would have; one it refuses stays as it is and is announced.
var (
	karmadaPolicyGVK = schema.GroupVersionKind{Group: engine.KarmadaPolicyGroup, Version: "v1alpha1", Kind: engine.KindPropagationPolicy}
	ocmPlacementGVK  = schema.GroupVersionKind{Group: engine.OCMClusterGroup, Version: "v1beta1", Kind: engine.KindPlacement}
)

// readmitRetry is how soon a store comes back while one of its namespace's placement policies
// waits to be narrowed (its namespace becomes governed within moments of the store).
const readmitRetry = 3 * time.Second

// ReadmittedAnnotation is stamped on a placement policy the operator sent through admission again,
// with the permitted set it was narrowed to.
const ReadmittedAnnotation = "dataresidency.io/readmitted-for"

// EventPolicyNotNarrowed is the reason of the Warning Event on a policy admission refuses to narrow.
const EventPolicyNotNarrowed = "PlacementPolicyOutside"

// +kubebuilder:rbac:groups=policy.karmada.io,resources=propagationpolicies,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=cluster.open-cluster-management.io,resources=placements,verbs=patch

// readmitPolicies narrows the namespace's placement policies that the stores would narrow now. It
// reports pending when a policy still needs narrowing after its patch (the namespace is not yet
// labelled governed, so the webhook did not see it): the store then comes back in seconds.
func (m *MultiCluster) readmitPolicies(ctx context.Context, namespace string) (pending bool, err error) {
	karmada, ocm := m.enabled()
	if !karmada && !ocm {
		return false, nil
	}
	c := m.mgr.GetClient()
	var stores v1alpha1.PersonalDataStoreList
	if err := c.List(ctx, &stores, client.InNamespace(namespace)); err != nil {
		return false, err
	}
	var jurisdictions v1alpha1.JurisdictionList
	if err := c.List(ctx, &jurisdictions); err != nil {
		return false, err
	}
	pol := &engine.Policies{Jurisdictions: map[string]*v1alpha1.JurisdictionSpec{}}
	for i := range jurisdictions.Items {
		pol.Jurisdictions[jurisdictions.Items[i].Name] = &jurisdictions.Items[i].Spec
	}
	for i := range stores.Items {
		pol.Stores = append(pol.Stores, &stores.Items[i])
	}
	for _, k := range []struct {
		on       bool
		gvk      schema.GroupVersionKind
		clusters schema.GroupVersionKind
	}{{karmada, karmadaPolicyGVK, karmadaClusterGVK}, {ocm, ocmPlacementGVK, ocmManagedClusterGVK}} {
		if !k.on {
			continue
		}
		list := &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(k.gvk.GroupVersion().WithKind(k.gvk.Kind + "List"))
		if err := m.mgr.GetAPIReader().List(ctx, list, client.InNamespace(namespace)); err != nil {
			return pending, fmt.Errorf("listing %s: %w", k.gvk.Kind, err)
		}
		var clusterLabels []map[string]string
		for i := range list.Items {
			p := &list.Items[i]
			d, err := engine.DecideClusterPolicy(pol, k.gvk.Kind, p.Object)
			if err != nil || (d.Narrowed == nil && len(d.Denied) == 0) {
				continue
			}
			if rv, done := m.refused.Load(p.GetUID()); done && rv == p.GetResourceVersion() {
				continue // announced already; a person must change it
			}
			if len(d.Denied) == 0 {
				if clusterLabels == nil {
					if clusterLabels, err = m.clusterLabels(ctx, k.clusters); err != nil {
						return pending, err
					}
				}
				if !engine.SelectsAnyCluster(k.gvk.Kind, d.Narrowed, clusterLabels) {
					// Narrowed, it would select no cluster, and Karmada would take what it placed away.
					m.refused.Store(p.GetUID(), p.GetResourceVersion())
					m.recorder.Eventf(p, nil, corev1.EventTypeWarning, EventPolicyNotNarrowed, "Readmit",
						"admitted before the stores of its namespace (%s), and narrowed to them it would select no member cluster; left as it is: join a cluster in a permitted jurisdiction, or change the policy", d.Requirement)
					continue
				}
			}
			patch := client.MergeFrom(p.DeepCopy())
			ann := p.GetAnnotations()
			if ann == nil {
				ann = map[string]string{}
			}
			ann[ReadmittedAnnotation] = d.Requirement.AnnotationValue()
			p.SetAnnotations(ann)
			err = c.Patch(ctx, p, patch)
			switch {
			case err == nil:
				if after, err := engine.DecideClusterPolicy(pol, k.gvk.Kind, p.Object); err == nil && after.Narrowed != nil {
					pending = true // the webhook did not see it: its namespace is not labelled governed yet
					continue
				}
				log.FromContext(ctx).Info("placement policy admitted before its stores narrowed through admission", "kind", k.gvk.Kind, "name", p.GetName())
			case apierrors.IsForbidden(err) || apierrors.IsInvalid(err) || strings.Contains(err.Error(), "denied the request"):
				m.refused.Store(p.GetUID(), p.GetResourceVersion())
				m.recorder.Eventf(p, nil, corev1.EventTypeWarning, EventPolicyNotNarrowed, "Readmit",
					"admitted before the stores of its namespace, and cannot be narrowed to them now: %s", engine.DenialMessage(d.Denied))
			case apierrors.IsNotFound(err) || apierrors.IsConflict(err):
			default:
				return pending, fmt.Errorf("sending %s %s through admission again: %w", k.gvk.Kind, p.GetName(), err)
			}
		}
	}
	return pending, nil
}

// clusterLabels lists, from the cache, the labels of every member cluster of one engine.
func (m *MultiCluster) clusterLabels(ctx context.Context, gvk schema.GroupVersionKind) ([]map[string]string, error) {
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
	if err := m.mgr.GetCache().List(ctx, list); err != nil {
		return nil, fmt.Errorf("listing %s: %w", gvk.Kind, err)
	}
	out := make([]map[string]string, 0, len(list.Items))
	for i := range list.Items {
		out = append(out, list.Items[i].GetLabels())
	}
	return out, nil
}

// EventNamespacePropagated is the reason of the Warning Event on a store whose namespace Karmada
// copies to member clusters outside its permitted jurisdictions.
const EventNamespacePropagated = "NamespacePropagated"

// reportNamespacePropagation announces, once per change, that Karmada copies the store's namespace
// (and so whatever is created in it there) to member clusters outside the permitted jurisdictions.
func (m *MultiCluster) reportNamespacePropagation(ctx context.Context, store *v1alpha1.PersonalDataStore, terms []corev1.NodeSelectorTerm, req engine.Requirement) error {
	key := store.Namespace + "/" + store.Name
	ns := &corev1.Namespace{}
	if err := m.mgr.GetClient().Get(ctx, client.ObjectKey{Name: store.Namespace}, ns); err != nil {
		return client.IgnoreNotFound(err)
	}
	var outside []string
	if ns.Labels[engine.KarmadaSkipPropagationLabel] != "true" {
		list := &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(karmadaClusterGVK.GroupVersion().WithKind(karmadaClusterGVK.Kind + "List"))
		if err := m.mgr.GetCache().List(ctx, list); err != nil {
			return fmt.Errorf("listing Karmada Clusters: %w", err)
		}
		for i := range list.Items {
			if !engine.ClusterPermitted(list.Items[i].GetLabels(), terms) {
				outside = append(outside, list.Items[i].GetName())
			}
		}
		slices.Sort(outside)
	}
	said, _ := m.namespaceReports.Load(key)
	now := strings.Join(outside, ",")
	if said == now || (said == nil && now == "") {
		return nil
	}
	m.namespaceReports.Store(key, now)
	if now != "" {
		m.recorder.Eventf(store, nil, corev1.EventTypeWarning, EventNamespacePropagated, actionAudit,
			"Karmada copies namespace %s to every member cluster, also to %s, outside the permitted jurisdictions (%s): label the namespace %s=true and propagate it with a policy of its own (docs/multicluster.md)",
			store.Namespace, strings.Join(outside, ", "), req, engine.KarmadaSkipPropagationLabel)
	}
	return nil
}
