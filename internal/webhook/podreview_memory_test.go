package webhook

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
)

// What one review of a large pod costs the webhook. The API server accepts pods of up to 3 MiB
// (its request body limit) and sends each to both pod webhooks; what a review costs must not grow
// with the parts of the pod the webhooks do not read, and many large reviews at once must not add
// up past the manager's memory limit.

// largePodBytes is the size of the pods' JSON: just under the API server's 3 MiB limit.
const largePodBytes = 3<<20 - 4<<10

// largePodShapes are ways a pod reaches 3 MiB. Only "labels" is made of something the webhooks
// read; the others are padding they should skip.
var largePodShapes = []string{"annotation", "args", "env", "labels"}

// largePod is benchPod padded with one shape to about largePodBytes of JSON.
func largePod(tb testing.TB, shape string) *corev1.Pod {
	tb.Helper()
	pod := benchPod()
	base, err := json.Marshal(pod)
	if err != nil {
		tb.Fatal(err)
	}
	room := largePodBytes - len(base)
	switch shape {
	case "annotation": // one big value
		pod.Annotations["example.com/blob"] = strings.Repeat("x", room-len(`,"example.com/blob":""`))
	case "args": // `"",` each: the most JSON values a pod can hold per byte
		pod.Spec.Containers[0].Args = make([]string, (room-len(`,"args":[]`))/len(`"",`))
	case "env": // `{"name":"E0000000"},` each
		for i := range (room - len(`,[]`)) / len(`{"name":"E0000000"},`) {
			pod.Spec.Containers[0].Env = append(pod.Spec.Containers[0].Env, corev1.EnvVar{Name: fmt.Sprintf("E%07d", i)})
		}
	case "labels": // `"l0000000":"",` each
		for i := range (room - 1) / len(`"l0000000":"",`) {
			pod.Labels[fmt.Sprintf("l%07d", i)] = ""
		}
	default:
		tb.Fatalf("unknown shape %q", shape)
	}
	raw, err := json.Marshal(pod)
	if err != nil {
		tb.Fatal(err)
	}
	if len(raw) > largePodBytes || len(raw) < largePodBytes-1<<10 {
		tb.Fatalf("the %s pod is %d bytes of JSON, want about %d", shape, len(raw), largePodBytes)
	}
	return pod
}

// largeReviews returns the two reviews the API server sends for creating the large pod: the
// mutating webhook's of the pod as submitted and the validating webhook's of the pod as placed.
func largeReviews(tb testing.TB, shape string) (mutate, validate []byte) {
	tb.Helper()
	pod := largePod(tb, shape)
	mutate = benchReview(tb, benchRequest(tb, pod))
	if err := placeTyped(context.Background(), &PodPlacement{Reader: newListReader(benchObjects()), Now: time.Now}, pod); err != nil {
		tb.Fatal(err)
	}
	return mutate, benchReview(tb, benchRequest(tb, pod))
}

func postReview(h http.Handler, body []byte) *responseRecorder {
	r, err := http.NewRequestWithContext(context.Background(), http.MethodPost, "https://127.0.0.1:9443/", bytes.NewReader(body))
	if err != nil {
		panic(err)
	}
	r.Header.Set("Content-Type", "application/json")
	w := &responseRecorder{header: http.Header{}}
	h.ServeHTTP(w, r)
	return w
}

// checkDecided fails unless w holds a decision on the pod: allowed (with a patch from the
// mutating webhook), not a refusal to read it.
func checkDecided(tb testing.TB, w *responseRecorder, mutating bool) {
	tb.Helper()
	if err := decided(w, mutating); err != nil {
		tb.Fatal(err)
	}
}

func decided(w *responseRecorder, mutating bool) error {
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(w.body.Bytes(), &review); err != nil || review.Response == nil {
		return fmt.Errorf("decoding the AdmissionReview response %.300q: %w", w.body.String(), err)
	}
	if resp := review.Response; !resp.Allowed || mutating && resp.PatchType == nil || resp.UID == "" {
		return fmt.Errorf("want an allowed response (with a patch: %t) to a named request, got %+v", mutating, resp)
	}
	return nil
}

// BenchmarkLargePodReview reports what one review of a 3 MiB pod allocates (B/op), by shape.
func BenchmarkLargePodReview(b *testing.B) {
	logf.SetLogger(logr.Discard())
	handler := &podReviewHandler{placement: &PodPlacement{Reader: newListReader(benchObjects()), Now: time.Now}}
	for _, shape := range largePodShapes {
		b.Run(shape, func(b *testing.B) {
			body, _ := largeReviews(b, shape)
			checkDecided(b, postReview(handler, body), true)
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				postReview(handler, body)
			}
		})
	}
}

// TestLargePodReviewMemory serves 50 concurrent reviews of 3 MiB pods (as 50 concurrent pod
// creations cause, half of them mutating, half validating) and bounds the Go heap they occupy at
// their peak, and what one review allocates. It reports the process's peak RSS as well, but
// bounds only the heap: RSS also holds what the runtime has not yet returned of earlier tests.
func TestLargePodReviewMemory(t *testing.T) {
	logf.SetLogger(logr.Discard())
	reader := newListReader(benchObjects())
	mutating := &podReviewHandler{placement: &PodPlacement{Reader: reader, Now: time.Now}}
	validating := &podReviewHandler{residency: &PodResidency{Reader: reader, Now: time.Now}}
	const concurrent = 50
	// The bounds, by shape: the manager runs in 512 MiB (config/manager) and must stay under
	// 256 MiB of RSS under this load, caches included. A pruned review keeps a window and what
	// parse reads; the labels pod's are 3 MiB of labels, which become a map of 220,000, and
	// largeRetainedBytes lets two such reviews run at once (the others are refused).
	// Measured: one review allocates 10 KiB, 25 MiB for the labels pod; 50 at once take 1 to 2
	// MiB of heap at their peak, 60 MiB for the labels pod. Before the reviews were pruned,
	// one allocated 14 MiB (annotation) and 150 to 450 MiB, and 50 at once took 270 MiB
	// (annotation) and over 6 GiB (the others).
	maxAlloc := map[string]uint64{"annotation": 1 << 20, "args": 1 << 20, "env": 1 << 20, "labels": 40 << 20}
	maxPeakHeap := map[string]uint64{"annotation": 16 << 20, "args": 16 << 20, "env": 16 << 20, "labels": 128 << 20}
	for _, shape := range largePodShapes {
		t.Run(shape, func(t *testing.T) {
			mutate, validate := largeReviews(t, shape)
			checkDecided(t, postReview(mutating, mutate), true)
			checkDecided(t, postReview(validating, validate), false)

			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			postReview(mutating, mutate)
			runtime.ReadMemStats(&after)
			alloc := after.TotalAlloc - before.TotalAlloc

			began := time.Now()
			var busy atomic.Int32
			peak, rss := concurrentPeak(t, concurrent, func(i int) {
				w := postReview(validating, validate)
				if i%2 == 0 {
					w = postReview(mutating, mutate)
				}
				if err := decided(w, i%2 == 0); err != nil {
					if !strings.Contains(w.body.String(), errRetainedBusy.Error()) {
						t.Error(err)
					}
					busy.Add(1)
				}
			})
			t.Logf("%s: review %.1f MiB; one review allocates %.2f MiB; %d concurrent in %v (%d refused for want of memory): peak Go heap +%.1f MiB, peak RSS +%s",
				shape, mib(uint64(len(mutate))), mib(alloc), concurrent, time.Since(began).Round(time.Millisecond), busy.Load(), mib(peak), rss)
			// Only pods that keep more than prunedAllowance may be refused, and never all.
			if n := busy.Load(); n > 0 && shape != "labels" || n == concurrent {
				t.Errorf("%d of %d reviews of 3 MiB %s pods were refused for want of memory", n, concurrent, shape)
			}
			if alloc > maxAlloc[shape] {
				t.Errorf("one review of a 3 MiB %s pod allocates %.1f MiB, want at most %.0f", shape, mib(alloc), mib(maxAlloc[shape]))
			}
			if peak > maxPeakHeap[shape] {
				t.Errorf("%d concurrent reviews of 3 MiB %s pods took %.1f MiB of Go heap at their peak, want at most %.0f",
					concurrent, shape, mib(peak), mib(maxPeakHeap[shape]))
			}
		})
	}
}

// TestPodReviewRetainedBound: what pruned reviews keep beyond prunedAllowance is bounded
// together; a review that finds the bound reached is refused at once (waiting would stall the
// other reviews sharing an HTTP/2 connection), others are served.
func TestPodReviewRetainedBound(t *testing.T) {
	logf.SetLogger(logr.Discard())
	handler := &podReviewHandler{placement: &PodPlacement{Reader: newListReader(benchObjects()), Now: time.Now}}
	if !reserveRetained(largeRetainedBytes) {
		t.Fatal("pruned reviews hold some of largeRetainedBytes")
	}
	held := true
	release := func() {
		if held {
			largeRetained.Add(-largeRetainedBytes)
			held = false
		}
	}
	defer release()
	checkDecided(t, postReview(handler, benchReview(t, benchRequest(t, benchPod()))), true)
	annotated, _ := largeReviews(t, "annotation")
	checkDecided(t, postReview(handler, annotated), true) // pruned to a few KiB
	labelled, _ := largeReviews(t, "labels")
	w := postReview(handler, labelled)
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(w.body.Bytes(), &review); err != nil || review.Response == nil {
		t.Fatalf("decoding the AdmissionReview response %.300q: %v", w.body.String(), err)
	}
	if resp := review.Response; resp.Allowed || resp.Result.Code != http.StatusTooManyRequests || resp.UID == "" {
		t.Fatalf("a review keeping 3 MiB of labels with largeRetainedBytes spent: got %+v for %q, want a 429 naming the request", resp.Result, resp.UID)
	}
	release()
	checkDecided(t, postReview(handler, labelled), true)
	if n := largeRetained.Load(); n != 0 {
		t.Fatalf("the reviews left %d bytes of largeRetainedBytes held", n)
	}
}

// concurrentPeak runs serve(0..n-1) at once and returns how far the Go heap's objects grew above
// what was live before, at their peak (sampled every 100µs, so an underestimate), and how far the
// process's peak RSS grew (when /proc allows resetting it).
func concurrentPeak(t *testing.T, n int, serve func(int)) (heap uint64, rss string) {
	t.Helper()
	debug.FreeOSMemory()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(sample)
	base := sample[0].Value.Uint64()
	rssBase, rssOK := resetPeakRSS()

	var peak atomic.Uint64
	done := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		for {
			metrics.Read(s)
			if v := s[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			if v := s[0].Value.Uint64(); v > 8<<30 {
				// Do not take the machine down measuring a webhook that does not bound itself.
				fmt.Fprintf(os.Stderr, "the Go heap passed %.0f MiB: giving up\n", mib(v))
				os.Exit(2)
			}
			select {
			case <-done:
				return
			case <-time.After(100 * time.Microsecond):
			}
		}
	}()
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			serve(i)
		})
	}
	close(start)
	wg.Wait()
	close(done)
	<-sampled

	rss = "unknown"
	if hwm, ok := procStatusKiB("VmHWM"); ok && rssOK {
		rss = fmt.Sprintf("%.1f MiB (of %.1f MiB)", (float64(hwm)-float64(rssBase))/1024, float64(hwm)/1024)
	}
	if p := peak.Load(); p > base {
		return p - base, rss
	}
	return 0, rss
}

// resetPeakRSS resets the process's VmHWM to its current RSS (Linux's /proc/self/clear_refs) and
// returns that RSS in KiB.
func resetPeakRSS() (uint64, bool) {
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		return 0, false
	}
	return procStatusKiB("VmRSS")
}

func procStatusKiB(field string) (uint64, bool) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, false
	}
	defer func() { _ = f.Close() }()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), field+":"); ok {
			v, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return v, err == nil
		}
	}
	return 0, false
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }
