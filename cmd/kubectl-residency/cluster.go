package main

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
	"github.com/residency-operator/residency-operator/internal/manifest"
)

// livePolicies are the policies of a live cluster, for `check --cluster`.
type livePolicies struct {
	policies   *manifest.Set
	nodeByName func(string) *corev1.Node
	describe   string
}

// livePolicies lists the cluster's Jurisdictions, stores, processors, exceptions and
// StorageClasses. Nodes are fetched one by one, and only for pods pinned with spec.nodeName.
func (a *app) livePolicies(ctx context.Context) (*livePolicies, error) {
	c, err := a.deps.client()
	if err != nil {
		return nil, err
	}
	set := manifest.NewSet(manifest.Options{})
	var (
		jurs       v1alpha1.JurisdictionList
		stores     v1alpha1.PersonalDataStoreList
		processors v1alpha1.DataProcessorList
		exceptions v1alpha1.ResidencyExceptionList
		classes    storagev1.StorageClassList
	)
	for _, l := range []struct {
		what string
		list client.ObjectList
	}{
		{"Jurisdictions", &jurs}, {"PersonalDataStores", &stores}, {"DataProcessors", &processors},
		{"ResidencyExceptions", &exceptions}, {"StorageClasses", &classes},
	} {
		if err := c.List(ctx, l.list); err != nil {
			return nil, fmt.Errorf("listing %s in the cluster: %w", l.what, withAPIHint(err))
		}
	}
	for i := range jurs.Items {
		if jurs.Items[i].DeletionTimestamp.IsZero() {
			set.AddTyped(&jurs.Items[i], manifest.Source{})
		}
	}
	for i := range stores.Items {
		if stores.Items[i].DeletionTimestamp.IsZero() {
			set.AddTyped(&stores.Items[i], manifest.Source{})
		}
	}
	for i := range processors.Items {
		set.AddTyped(&processors.Items[i], manifest.Source{})
	}
	for i := range exceptions.Items {
		set.AddTyped(&exceptions.Items[i], manifest.Source{})
	}
	for i := range classes.Items {
		set.AddTyped(&classes.Items[i], manifest.Source{})
	}
	nodes := map[string]*corev1.Node{}
	nodeByName := func(name string) *corev1.Node {
		if n, ok := nodes[name]; ok {
			return n
		}
		node := &corev1.Node{}
		if err := c.Get(ctx, client.ObjectKey{Name: name}, node); err != nil {
			if !apierrors.IsNotFound(err) {
				fmt.Fprintf(a.errOut, "warning: getting node %s: %v\n", name, err)
			}
			node = nil
		}
		nodes[name] = node
		return node
	}
	return &livePolicies{policies: set, nodeByName: nodeByName, describe: a.clusterName()}, nil
}

// clusterName describes the cluster for reports: its kubeconfig context.
func (a *app) clusterName() string {
	if a.flags.Context != nil && *a.flags.Context != "" {
		return fmt.Sprintf("the cluster of context %s", *a.flags.Context)
	}
	if raw, err := a.flags.ToRawKubeConfigLoader().RawConfig(); err == nil && raw.CurrentContext != "" {
		return fmt.Sprintf("the cluster of context %s", raw.CurrentContext)
	}
	return "the live cluster"
}

// withAPIHint says what to do when the dataresidency.io API is not served: the operator (its
// CRDs) is not installed in that cluster, or the kubeconfig points at another one.
func withAPIHint(err error) error {
	if meta.IsNoMatchError(err) {
		return fmt.Errorf("%w; the dataresidency.io API is not installed in this cluster: install residency-operator, or pick its cluster with --context", err)
	}
	return err
}
