package webhook

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
)

// admissionDecisions counts what the webhooks decided, by kind and decision (mutated, allowed,
// warned, denied).
var admissionDecisions = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "residency_admission_decisions_total",
	Help: "Admission decisions of the residency webhooks by kind and decision.",
}, []string{"kind", "decision"})

func init() { metrics.Registry.MustRegister(admissionDecisions) }

// Setup registers every webhook with the manager's webhook server. Decisions read the manager's
// cache, never the API server, so admission stays fast.
func Setup(mgr ctrl.Manager) error {
	reader := mgr.GetClient()
	// The mutating pod webhook is a plain handler on the path the markers declare (see
	// PodPlacement.Handle for why it is not the typed defaulter).
	mgr.GetWebhookServer().Register("/mutate--v1-pod", &webhook.Admission{Handler: &PodPlacement{Reader: reader, Now: time.Now}})
	if err := ctrl.NewWebhookManagedBy(mgr, &corev1.Pod{}).
		WithValidator(&PodResidency{Reader: reader, Now: time.Now}).
		Complete(); err != nil {
		return fmt.Errorf("registering pod webhooks: %w", err)
	}
	if err := ctrl.NewWebhookManagedBy(mgr, &corev1.PersistentVolumeClaim{}).
		WithValidator(&PVCResidency{Reader: reader, Now: time.Now}).
		Complete(); err != nil {
		return fmt.Errorf("registering PersistentVolumeClaim webhook: %w", err)
	}
	return nil
}
