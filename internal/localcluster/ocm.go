package localcluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// The OCM placement controller's binary and the folder of OCM's cluster API CRDs in the assets
// folder (`make tools` builds and copies both; see hack/tools/build.sh).
const (
	ocmPlacement = "ocm-placement"
	ocmCRDDir    = "multicluster-crds/ocm"
	// OCMHubNamespace is where the placement controller runs (its --namespace).
	OCMHubNamespace = "open-cluster-management-hub"
	// OCMClusterSetLabel puts a ManagedCluster in a ManagedClusterSet (the sets' default,
	// exclusive selector).
	OCMClusterSetLabel = "cluster.open-cluster-management.io/clusterset"
	// OCMPlacementLabel names, on a PlacementDecision, the Placement it belongs to.
	OCMPlacementLabel = "cluster.open-cluster-management.io/placement"
)

// GVRs of OCM's cluster API kinds, for dynamic clients (the operator's module does not depend on
// OCM's Go types).
var (
	OCMManagedClusterGVR           = schema.GroupVersionResource{Group: "cluster.open-cluster-management.io", Version: "v1", Resource: "managedclusters"}
	OCMManagedClusterSetGVR        = schema.GroupVersionResource{Group: "cluster.open-cluster-management.io", Version: "v1beta2", Resource: "managedclustersets"}
	OCMManagedClusterSetBindingGVR = schema.GroupVersionResource{Group: "cluster.open-cluster-management.io", Version: "v1beta2", Resource: "managedclustersetbindings"}
	OCMPlacementGVR                = schema.GroupVersionResource{Group: "cluster.open-cluster-management.io", Version: "v1beta1", Resource: "placements"}
	OCMPlacementDecisionGVR        = schema.GroupVersionResource{Group: "cluster.open-cluster-management.io", Version: "v1beta1", Resource: "placementdecisions"}
)

// OCMOptions configure StartOCMPlacement.
type OCMOptions struct {
	// AssetsDir holds ocm-placement and multicluster-crds/ocm. Empty means $KUBEBUILDER_ASSETS.
	AssetsDir string
	// Log receives the placement controller's output, prefixed. Nil discards it.
	Log io.Writer
	// Hub is the running cluster to install OCM's cluster API on and run the placement
	// controller against (typically ControlPlaneOnly). Stop leaves it running.
	Hub *Cluster
}

// OCMPlacement is the OCM placement controller running against a hub. Stop it when done.
type OCMPlacement struct {
	Hub *Cluster
	// StartupTime is how long StartOCMPlacement took.
	StartupTime time.Duration

	dynamic  dynamic.Interface
	child    *child
	dir      string
	stopOnce sync.Once
	stopErr  error
}

// StartOCMPlacement installs OCM's cluster API CRDs (ManagedCluster, ManagedClusterSet,
// ManagedClusterSetBinding, Placement, PlacementDecision, ClusterClaim, AddOnPlacementScore) on
// the hub and starts OCM's real placement controller. There is no registration controller: the
// helpers below do its part (binding status, cluster claims).
func StartOCMPlacement(ctx context.Context, opts OCMOptions) (*OCMPlacement, error) {
	began := time.Now()
	if opts.Hub == nil {
		return nil, errors.New("OCMOptions.Hub is required")
	}
	assets := opts.AssetsDir
	if assets == "" {
		assets = os.Getenv("KUBEBUILDER_ASSETS")
	}
	if assets == "" {
		return nil, errors.New("no binaries: set OCMOptions.AssetsDir or KUBEBUILDER_ASSETS (`make tools` builds them)")
	}
	for _, name := range []string{ocmPlacement, ocmCRDDir} {
		if _, err := os.Stat(filepath.Join(assets, name)); err != nil {
			return nil, fmt.Errorf("%s is missing from %s (run `make tools`): %w", name, assets, err)
		}
	}
	if _, err := envtest.InstallCRDs(opts.Hub.Config, envtest.CRDInstallOptions{
		Paths: []string{filepath.Join(assets, ocmCRDDir)}, ErrorIfPathMissing: true}); err != nil {
		return nil, fmt.Errorf("installing OCM's CRDs: %w", err)
	}
	cs, err := kubernetes.NewForConfig(opts.Hub.Config)
	if err != nil {
		return nil, err
	}
	if err := createNamespace(ctx, cs, OCMHubNamespace); err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(opts.Hub.Config)
	if err != nil {
		return nil, err
	}
	logw := opts.Log
	if logw == nil {
		logw = io.Discard
	}
	log := &syncWriter{w: logw}
	// library-go's controller command serves health and metrics on 0.0.0.0:8443 unless its config
	// file says otherwise: a free loopback port lets several run side by side.
	dir, err := os.MkdirTemp("", "residency-ocm-")
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	config := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(config, []byte(fmt.Sprintf(
		"apiVersion: operator.openshift.io/v1alpha1\nkind: GenericOperatorConfig\nservingInfo:\n  bindAddress: 127.0.0.1:%d\n", port)), 0o600); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	ch, err := startChild(ocmPlacement, filepath.Join(assets, ocmPlacement), []string{"controller", "--config=" + config,
		"--kubeconfig=" + opts.Hub.Kubeconfig, "--namespace=" + OCMHubNamespace, "--disable-leader-election"},
		log.prefixed(ocmPlacement))
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	p := &OCMPlacement{Hub: opts.Hub, dynamic: dyn, child: ch, dir: dir, StartupTime: time.Since(began)}
	_, _ = fmt.Fprintf(log.prefixed("ocm"), "placement controller started after %s\n", p.StartupTime.Round(time.Millisecond))
	return p, nil
}

// Dynamic returns a dynamic client of the hub.
func (p *OCMPlacement) Dynamic() dynamic.Interface { return p.dynamic }

// Exited returns an error if the placement controller has exited.
func (p *OCMPlacement) Exited() error { return p.child.exited() }

// Stop stops the placement controller. It is safe to call more than once.
func (p *OCMPlacement) Stop() error {
	if p == nil {
		return nil
	}
	p.stopOnce.Do(func() {
		p.stopErr = errors.Join(p.child.stop(childStopTimeout), os.RemoveAll(p.dir))
	})
	return p.stopErr
}

// ManagedCluster describes a ManagedCluster for CreateManagedCluster.
type ManagedCluster struct {
	Name string
	// Labels are set on the hub's object (OCMClusterSetLabel puts it in a set).
	Labels map[string]string
	// ClusterClaims go to status.clusterClaims, where the registration agent would report the
	// managed cluster's ClusterClaims (name to value).
	ClusterClaims map[string]string
}

// CreateManagedCluster creates an accepted ManagedCluster and, if it has claims, writes them to
// its status as the registration agent would.
func (p *OCMPlacement) CreateManagedCluster(ctx context.Context, mc ManagedCluster) error {
	labels := map[string]any{}
	for k, v := range mc.Labels {
		labels[k] = v
	}
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "cluster.open-cluster-management.io/v1",
		"kind":       "ManagedCluster",
		"metadata":   map[string]any{"name": mc.Name, "labels": labels},
		"spec":       map[string]any{"hubAcceptsClient": true},
	}}
	created, err := p.dynamic.Resource(OCMManagedClusterGVR).Create(ctx, obj, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("creating ManagedCluster %s: %w", mc.Name, err)
	}
	if len(mc.ClusterClaims) == 0 {
		return nil
	}
	names := make([]string, 0, len(mc.ClusterClaims))
	for n := range mc.ClusterClaims {
		names = append(names, n)
	}
	sort.Strings(names)
	claims := make([]any, len(names))
	for i, n := range names {
		claims[i] = map[string]any{"name": n, "value": mc.ClusterClaims[n]}
	}
	// Something else (the operator labelling it) may have written the cluster since: a merge
	// patch of the status, as the registration agent's, does not conflict with that.
	body, err := json.Marshal(map[string]any{"status": map[string]any{"clusterClaims": claims}})
	if err != nil {
		return err
	}
	if _, err := p.dynamic.Resource(OCMManagedClusterGVR).Patch(ctx, created.GetName(), types.MergePatchType, body, metav1.PatchOptions{}, "status"); err != nil {
		return fmt.Errorf("writing ManagedCluster %s's claims: %w", mc.Name, err)
	}
	return nil
}

// BindClusterSet creates the ManagedClusterSet set (selecting clusters labelled
// OCMClusterSetLabel=set) if it does not exist, binds it to namespace and marks the binding Bound,
// as the registration controller would, so Placements in namespace can use it.
func (p *OCMPlacement) BindClusterSet(ctx context.Context, set, namespace string) error {
	cs, err := kubernetes.NewForConfig(p.Hub.Config)
	if err != nil {
		return err
	}
	if err := createNamespace(ctx, cs, namespace); err != nil {
		return err
	}
	setObj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "cluster.open-cluster-management.io/v1beta2",
		"kind":       "ManagedClusterSet",
		"metadata":   map[string]any{"name": set},
		"spec":       map[string]any{"clusterSelector": map[string]any{"selectorType": "ExclusiveClusterSetLabel"}},
	}}
	if _, err := p.dynamic.Resource(OCMManagedClusterSetGVR).Create(ctx, setObj, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating ManagedClusterSet %s: %w", set, err)
	}
	binding := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "cluster.open-cluster-management.io/v1beta2",
		"kind":       "ManagedClusterSetBinding",
		"metadata":   map[string]any{"name": set, "namespace": namespace},
		"spec":       map[string]any{"clusterSet": set},
	}}
	created, err := p.dynamic.Resource(OCMManagedClusterSetBindingGVR).Namespace(namespace).Create(ctx, binding, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("creating ManagedClusterSetBinding %s/%s: %w", namespace, set, err)
	}
	cond := map[string]any{
		"type": "Bound", "status": "True", "reason": "ClusterSetBound", "message": "bound by the test harness",
		"lastTransitionTime": time.Now().UTC().Format(time.RFC3339),
	}
	if err := unstructured.SetNestedSlice(created.Object, []any{cond}, "status", "conditions"); err != nil {
		return err
	}
	if _, err := p.dynamic.Resource(OCMManagedClusterSetBindingGVR).Namespace(namespace).UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("marking ManagedClusterSetBinding %s/%s Bound: %w", namespace, set, err)
	}
	return nil
}

// PlacementDecisions returns the names of the clusters the PlacementDecisions of a Placement
// list, sorted.
func (p *OCMPlacement) PlacementDecisions(ctx context.Context, namespace, placement string) ([]string, error) {
	list, err := p.dynamic.Resource(OCMPlacementDecisionGVR).Namespace(namespace).List(ctx, metav1.ListOptions{
		LabelSelector: OCMPlacementLabel + "=" + placement})
	if err != nil {
		return nil, err
	}
	var names []string
	for _, d := range list.Items {
		decisions, _, _ := unstructured.NestedSlice(d.Object, "status", "decisions")
		for _, dec := range decisions {
			if m, ok := dec.(map[string]any); ok {
				if n, ok := m["clusterName"].(string); ok {
					names = append(names, n)
				}
			}
		}
	}
	sort.Strings(names)
	return names, nil
}
