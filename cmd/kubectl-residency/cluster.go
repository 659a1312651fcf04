package main

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
)

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
