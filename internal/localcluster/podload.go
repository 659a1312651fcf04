package localcluster

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
)

// PodLoad creates pods from Template in one namespace: the load of the admission benchmarks.
type PodLoad struct {
	Client    kubernetes.Interface
	Namespace string
	// Governed: admission places every pod here (the placement annotations), and none elsewhere.
	Governed bool
	Template *corev1.Pod
}

// Create makes n pods with the given number of concurrent clients and returns each creation's
// latency. With a rate (pods per second over all clients), creations are scheduled at that rate
// and latency counts from the scheduled time (an open loop: a late answer that holds a client up
// is measured, not hidden); without, each client creates as fast as it is answered. It checks that
// admission placed every pod (Governed) or none, so the phases measure what they claim to.
func (l PodLoad) Create(ctx context.Context, n, clients int, rate float64) ([]time.Duration, error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	lats := make([][]time.Duration, clients)
	errs := make([]error, clients)
	start := time.Now()
	for w := range clients {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				scheduled := time.Now()
				if rate > 0 {
					scheduled = start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
					if d := time.Until(scheduled); d > 0 {
						select {
						case <-time.After(d):
						case <-ctx.Done():
							errs[w] = ctx.Err()
							return
						}
					}
				}
				p := l.Template.DeepCopy()
				p.Namespace = l.Namespace
				got, err := l.Client.CoreV1().Pods(l.Namespace).Create(ctx, p, metav1.CreateOptions{})
				lats[w] = append(lats[w], time.Since(scheduled))
				if err != nil {
					errs[w] = fmt.Errorf("creating a pod in %s: %w", l.Namespace, err)
					return
				}
				if placed := got.Annotations[v1alpha1.StoresAnnotation] != ""; placed != l.Governed {
					errs[w] = fmt.Errorf("pod %s/%s: placed = %v, unexpected in this namespace", l.Namespace, got.Name, placed)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return slices.Concat(lats...), nil
}

// Percentile returns the p-th percentile (nearest rank) of ds.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[max(0, min(rank, len(s)-1))]
}
