package controllers

import (
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
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

var (
	storeViolations = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "residency_store_violations",
		Help: "Governed pods and volumes outside a store's permitted jurisdictions.",
	}, []string{"namespace", "store"})
	storeGoverned = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "residency_store_governed_objects",
		Help: "Pods and volumes a store governs, by kind.",
	}, []string{"namespace", "store", "kind"})
	storeCompliant = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "residency_store_compliant",
		Help: "1 when a store is compliant, 0 when it is not.",
	}, []string{"namespace", "store"})
	// evictionsHeld is above zero while a store holds evictions that would not help.
	evictionsHeld = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "residency_evictions_held",
		Help: "Violating pods past their eviction time that are not evicted because no Ready, schedulable node is permitted for them.",
	}, []string{"namespace", "store"})
)

func init() {
	metrics.Registry.MustRegister(storeViolations, storeGoverned, storeCompliant, evictions, evictionsHeld)
}

func recordStoreMetrics(store *v1alpha1.PersonalDataStore, status v1alpha1.PersonalDataStoreStatus) {
	storeViolations.WithLabelValues(store.Namespace, store.Name).Set(float64(status.ViolationCount))
	storeGoverned.WithLabelValues(store.Namespace, store.Name, "Pod").Set(float64(status.GovernedPods))
	storeGoverned.WithLabelValues(store.Namespace, store.Name, "PersistentVolumeClaim").Set(float64(status.GovernedVolumes))
	if status.GovernedTemplates > 0 {
		storeGoverned.WithLabelValues(store.Namespace, store.Name, "Template").Set(float64(status.GovernedTemplates))
	} else {
		storeGoverned.DeleteLabelValues(store.Namespace, store.Name, "Template")
	}
	// The Compliant condition is the verdict (processor findings count too), not the violation count.
	compliant := 0.0
	if meta.IsStatusConditionTrue(status.Conditions, v1alpha1.CompliantCondition) {
		compliant = 1
	}
	storeCompliant.WithLabelValues(store.Namespace, store.Name).Set(compliant)
	evictionsHeld.WithLabelValues(store.Namespace, store.Name).Set(float64(status.EvictionsHeld))
}

func forgetStoreMetrics(namespace, name string) {
	storeViolations.DeleteLabelValues(namespace, name)
	storeCompliant.DeleteLabelValues(namespace, name)
	evictionsHeld.DeleteLabelValues(namespace, name)
	storeGoverned.DeleteLabelValues(namespace, name, "Pod")
	storeGoverned.DeleteLabelValues(namespace, name, "PersistentVolumeClaim")
	storeGoverned.DeleteLabelValues(namespace, name, "Template")
	evictions.DeletePartialMatch(prometheus.Labels{"namespace": namespace, "store": name})
}

var (
	// historyWrites counts ResidencyRecord writes by outcome; failures mean the history has a hole
	// the next flush may not close (the open record is kept in memory and retried).
	historyWrites = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "residency_history_writes_total",
		Help: "ResidencyRecord writes by result (ok or error).",
	}, []string{"result"})
	// historyTampered counts records found changed after the operator wrote them.
	historyTampered = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "residency_history_tampered_total",
		Help: "ResidencyRecords found at start not to match their hash (changed after the operator wrote them).",
	})
)

func init() {
	metrics.Registry.MustRegister(historyWrites, historyTampered)
}
