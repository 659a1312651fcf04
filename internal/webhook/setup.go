package webhook

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
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
	// The pod webhooks are plain handlers on the paths the markers declare: they read reviews
	// themselves (see podreview.go for why).
	server := mgr.GetWebhookServer()
	server.Register("/mutate--v1-pod", &podReviewHandler{placement: &PodPlacement{Reader: reader, Now: time.Now}})
	server.Register("/validate--v1-pod", &podReviewHandler{residency: &PodResidency{Reader: reader, Now: time.Now}})
	if err := ctrl.NewWebhookManagedBy(mgr, &corev1.PersistentVolumeClaim{}).
		WithValidator(&PVCResidency{Reader: reader, Now: time.Now}).
		Complete(); err != nil {
		return fmt.Errorf("registering PersistentVolumeClaim webhook: %w", err)
	}
	return nil
}
