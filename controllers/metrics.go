package controllers

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

var (
	// nodesWithLocationProblem counts nodes that belong to no jurisdiction because their location
	// is untrusted or unknown; any value above zero deserves a look.
	nodesWithLocationProblem = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "residency_nodes_location_problem",
		Help: "Nodes whose location is untrusted or unknown, so that they host no governed pods.",
	}, []string{"problem"})

	// nodeLabelPatches counts the node patches the node controller made.
	nodeLabelPatches = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "residency_node_label_patches_total",
		Help: "Node label patches written to keep jurisdiction and country labels in line.",
	})
)

func init() {
	metrics.Registry.MustRegister(nodesWithLocationProblem, nodeLabelPatches)
}
