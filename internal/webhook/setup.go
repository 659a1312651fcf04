package webhook

import (
	"crypto/tls"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/residency-operator/residency-operator/controllers"
	"github.com/residency-operator/residency-operator/internal/lookup"
)

// admissionDecisions counts what the webhooks decided, by kind and decision (mutated, allowed,
// warned, denied).
var admissionDecisions = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "residency_admission_decisions_total",
	Help: "Admission decisions of the residency webhooks by kind and decision.",
}, []string{"kind", "decision"})

func init() { metrics.Registry.MustRegister(admissionDecisions) }

// Options tune the webhooks.
type Options struct {
	// MaxExceptionDuration is the longest window a ResidencyException may have.
	MaxExceptionDuration time.Duration
}

// DefaultOptions are the webhooks' options when no flag changes them.
func DefaultOptions() Options {
	return Options{MaxExceptionDuration: DefaultMaxExceptionDuration}
}

// Setup registers every webhook with the manager's webhook server. Decisions read the manager's
// cache, never the API server, so admission stays fast; only an exception's approval asks the
// API server, whether the approver holds the right.
func Setup(mgr ctrl.Manager, opts Options) error {
	reader := mgr.GetClient()
	// The pod webhooks are plain handlers on the paths the markers declare: they read reviews
	// themselves (see podreview.go for why).
	server := mgr.GetWebhookServer()
	providers := &lookup.ClusterProvider{Reader: reader, Every: lookup.ProviderRefresh}
	server.Register("/mutate--v1-pod", &podReviewHandler{placement: &PodPlacement{Reader: reader, Now: time.Now}})
	server.Register("/validate--v1-pod", &podReviewHandler{residency: &PodResidency{Reader: reader, Now: time.Now, Providers: providers}})
	server.Register("/validate--v1-pod-placement-conflicts",
		&podReviewHandler{residency: &PodResidency{Reader: reader, Now: time.Now, ConflictsOnly: true, Providers: providers}})
	server.Register("/validate--v1-pod-volumes", admission.WithValidator[*corev1.Pod](mgr.GetScheme(),
		&PodVolumes{Reader: reader, Now: time.Now}))
	server.Register("/validate--v1-pod-updates", admission.WithValidator[*corev1.Pod](mgr.GetScheme(),
		&PodRelabel{Reader: reader, Now: time.Now, Providers: providers}))
	server.Register("/validate-dataresidency-io-v1alpha1-personaldatastore", &webhook.Admission{Handler: &StoreTrail{
		Recorder: mgr.GetEventRecorder(controllers.EventReporter), decoder: admission.NewDecoder(mgr.GetScheme()),
	}})
	server.Register("/mutate-dataresidency-io-v1alpha1-residencyexception", &webhook.Admission{Handler: &ExceptionRequests{
		Authorizer: mgr.GetClient(), MaxDuration: opts.MaxExceptionDuration, Now: time.Now, decoder: admission.NewDecoder(mgr.GetScheme()),
	}})
	server.Register("/mutate-multicluster-placement", &webhook.Admission{Handler: &ClusterPlacement{Reader: reader}})
	if err := ctrl.NewWebhookManagedBy(mgr, &corev1.PersistentVolumeClaim{}).
		WithValidator(&PVCResidency{Reader: reader, Now: time.Now, Sources: mgr.GetAPIReader(), Providers: providers}).
		Complete(); err != nil {
		return fmt.Errorf("registering PersistentVolumeClaim webhook: %w", err)
	}
	return nil
}

// TLSOptions returns serving TLS options: HTTP/1.1 only, unless http2. The webhook server speaks
// HTTP/2 by default (--webhook-http2): the API server then multiplexes every webhook call over one
// connection, where over HTTP/1.1 it keeps 25 idle connections and opens a new one, with a full
// TLS handshake on both sides, for every concurrent call beyond them (under 100 concurrent pod
// creations handshakes were 17% of the webhook server's CPU; BenchmarkPodCreateLatency measures
// both protocols). The metrics server stays on HTTP/1.1 unless --enable-http2, as kubebuilder
// scaffolds it (CVE-2023-44487, CVE-2023-39325; Go's HTTP/2 server carries the fixes since 1.21.3).
func TLSOptions(http2 bool) []func(*tls.Config) {
	if http2 {
		return nil
	}
	return []func(*tls.Config){func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }}
}
