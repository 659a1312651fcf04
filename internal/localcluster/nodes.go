package localcluster

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
)

// kwokStagesFile is the file in the assets folder that holds kwok's node and pod stages.
const kwokStagesFile = "kwok-stages.yaml"

// Kwok's conventional marker of the nodes it simulates.
const (
	KwokNodeAnnotation = "kwok.x-k8s.io/node"
	KwokNodeValue      = "fake"
)

// AffiliateSiteLabel marks on-prem nodes at an affiliate's facility, as in the affiliate-sites
// sample Jurisdiction. It lives under a node-restriction prefix, so kubelets cannot set it.
const AffiliateSiteLabel = "site.dataresidency.node-restriction.kubernetes.io/affiliate"

// NodeSpec is a kwok node to create.
type NodeSpec struct {
	// Name of the node.
	Name string
	// Region and Zone become topology.kubernetes.io/region and /zone; empty leaves them unset.
	Region, Zone string
	// ProviderID becomes spec.providerID, such as aws:///eu-central-1a/i-0123.
	ProviderID string
	// Labels are further labels, such as the restricted country label of an on-prem node.
	Labels map[string]string
}

// Every node gets room for far more pods than the tests create: kwok runs no containers.
var nodeCapacity = corev1.ResourceList{
	corev1.ResourceCPU:    resource.MustParse("32"),
	corev1.ResourceMemory: resource.MustParse("256Gi"),
	corev1.ResourcePods:   resource.MustParse("250"),
}

// MultiRegionNodes returns one node in each of seven public-cloud regions on three continents
// (two in eu-central-1) and one on-prem node at an affiliate site in Switzerland:
//
//	eu-central-1 (AWS, DE) ×2, europe-west1 (Google Cloud, BE), westeurope (Azure, NL),
//	us-east-1 (AWS, US), us-central1 (Google Cloud, US),
//	ap-northeast-1 (AWS, JP), asia-south1 (Google Cloud, IN),
//	zurich-rack-7 (no region; country label CH, affiliate-site label).
//
// Their providerIDs agree with their region labels, and the Azure node's region (which its
// providerID does not encode) is vouched for with the restricted confirmed-region label, as a
// person would, so the operator trusts all of them.
func MultiRegionNodes() []NodeSpec {
	aws := func(zone, id string) string { return "aws:///" + zone + "/i-" + id }
	gce := func(zone, name string) string { return "gce://residency-demo/" + zone + "/" + name }
	return []NodeSpec{
		{Name: "aws-eu-central-1a", Region: "eu-central-1", Zone: "eu-central-1a", ProviderID: aws("eu-central-1a", "0e1a000000000001")},
		{Name: "aws-eu-central-1b", Region: "eu-central-1", Zone: "eu-central-1b", ProviderID: aws("eu-central-1b", "0e1b000000000001")},
		{Name: "gce-europe-west1-b", Region: "europe-west1", Zone: "europe-west1-b", ProviderID: gce("europe-west1-b", "gce-europe-west1-b")},
		// Azure's providerID does not say where the node is: a person vouches for its region.
		{Name: "azure-westeurope-1", Region: "westeurope", Zone: "westeurope-1", Labels: map[string]string{v1alpha1.ConfirmedRegionLabel: "westeurope"},
			ProviderID: "azure:///subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/mc_residency/providers/Microsoft.Compute/virtualMachineScaleSets/aks-pool-westeurope/virtualMachines/0"},
		{Name: "aws-us-east-1a", Region: "us-east-1", Zone: "us-east-1a", ProviderID: aws("us-east-1a", "0a1a000000000001")},
		{Name: "gce-us-central1-a", Region: "us-central1", Zone: "us-central1-a", ProviderID: gce("us-central1-a", "gce-us-central1-a")},
		{Name: "aws-ap-northeast-1a", Region: "ap-northeast-1", Zone: "ap-northeast-1a", ProviderID: aws("ap-northeast-1a", "0f1a000000000001")},
		{Name: "gce-asia-south1-a", Region: "asia-south1", Zone: "asia-south1-a", ProviderID: gce("asia-south1-a", "gce-asia-south1-a")},
		{Name: "zurich-rack-7", Labels: map[string]string{v1alpha1.CountryLabel: "CH", AffiliateSiteLabel: "true"}},
	}
}

// validateNodes rejects node specs that cannot become distinct nodes.
func validateNodes(nodes []NodeSpec) error {
	seen := map[string]bool{}
	for _, n := range nodes {
		if errs := validation.IsDNS1123Subdomain(n.Name); len(errs) > 0 {
			return fmt.Errorf("node name %q: %s", n.Name, strings.Join(errs, "; "))
		}
		if seen[n.Name] {
			return fmt.Errorf("node %q is listed twice", n.Name)
		}
		seen[n.Name] = true
	}
	return nil
}

// nodeObject builds the Node that kwok simulates: its capacity in the status (kwok's
// node-initialize stage keeps it), no taints of its own.
func nodeObject(spec NodeSpec) *corev1.Node {
	labels := map[string]string{
		corev1.LabelHostname:   spec.Name,
		corev1.LabelOSStable:   "linux",
		corev1.LabelArchStable: "amd64",
		"type":                 "kwok",
	}
	if spec.Region != "" {
		labels[corev1.LabelTopologyRegion] = spec.Region
	}
	if spec.Zone != "" {
		labels[corev1.LabelTopologyZone] = spec.Zone
	}
	maps.Copy(labels, spec.Labels)
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        spec.Name,
			Labels:      labels,
			Annotations: map[string]string{KwokNodeAnnotation: KwokNodeValue},
		},
		Spec: corev1.NodeSpec{ProviderID: spec.ProviderID},
		Status: corev1.NodeStatus{
			Capacity:    nodeCapacity.DeepCopy(),
			Allocatable: nodeCapacity.DeepCopy(),
		},
	}
}

// createNodes creates the nodes concurrently.
func createNodes(ctx context.Context, cs kubernetes.Interface, nodes []NodeSpec) error {
	var wg sync.WaitGroup
	errs := make([]error, len(nodes))
	for i, spec := range nodes {
		wg.Go(func() {
			if _, err := cs.CoreV1().Nodes().Create(ctx, nodeObject(spec), metav1.CreateOptions{}); err != nil {
				errs[i] = fmt.Errorf("creating node %s: %w", spec.Name, err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// nodeSchedulable reports whether a node is Ready and rid of the not-ready taint that the
// TaintNodesByCondition admission plugin put on it at creation, which kube-controller-manager's
// node-lifecycle controller removes once kwok reports it Ready.
func nodeSchedulable(n *corev1.Node) bool {
	ready := slices.ContainsFunc(n.Status.Conditions, func(c corev1.NodeCondition) bool {
		return c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue
	})
	tainted := slices.ContainsFunc(n.Spec.Taints, func(t corev1.Taint) bool {
		return t.Key == corev1.TaintNodeNotReady || t.Key == corev1.TaintNodeUnreachable
	})
	return ready && !tainted && !n.Spec.Unschedulable
}

// AddNodes creates further kwok nodes in a running cluster and waits until they are schedulable.
// They are not added to c.Nodes: the caller owns them, and deletes them when done.
func (c *Cluster) AddNodes(ctx context.Context, nodes []NodeSpec) error {
	if err := validateNodes(nodes); err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		return err
	}
	if err := createNodes(ctx, cs, nodes); err != nil {
		return err
	}
	names := make([]string, len(nodes))
	for i, n := range nodes {
		names[i] = n.Name
	}
	return c.waitNodesReady(ctx, cs, names)
}

// waitNodesReady polls until the named nodes are schedulable, failing fast when a child process
// exits.
func (c *Cluster) waitNodesReady(ctx context.Context, cs kubernetes.Interface, names []string) error {
	want := map[string]bool{}
	for _, name := range names {
		want[name] = true
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var pending []string
	for {
		for _, ch := range c.children {
			if err := ch.exited(); err != nil {
				return err
			}
		}
		list, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err == nil {
			pending = pending[:0]
			ready := map[string]bool{}
			for i := range list.Items {
				if nodeSchedulable(&list.Items[i]) {
					ready[list.Items[i].Name] = true
				}
			}
			for name := range want {
				if !ready[name] {
					pending = append(pending, name)
				}
			}
			if len(pending) == 0 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			slices.Sort(pending)
			return fmt.Errorf("waiting for nodes to become Ready (still pending: %s): %w", strings.Join(pending, ", "), ctx.Err())
		case <-tick.C:
		}
	}
}
