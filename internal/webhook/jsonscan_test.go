package webhook

import (
	"bytes"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/valyala/fastjson"
)

// scanJSON checks a whole document as the review scanner does.
func scanJSON(b []byte) error {
	tail, err := scanValue(skipWS(b), 1)
	if err == nil && len(skipWS(tail)) > 0 {
		return errTooDeep // any error: only whether there is one counts
	}
	return err
}

var scanSeeds = []string{
	`{}`, `[]`, `""`, `0`, `-1.5e+3`, `true`, `false`, `null`, `NaN`, `nan`, `-Inf`, `+inf`, `1.2.3`,
	` {"a" : [1, "b", {"c": null}] } `, `{"a":1,}`, `[1,]`, `[,1]`, `{"a"}`, `{"a":}`, `{a:1}`, `{"a":1 "b":2}`,
	`"\"\\"`, `"\\"`, `"a\"`, `"\u00e9\ud83d\ude00"`, `"\x"`, "\"tab\there\"", `{"k\"ey":"v"}`, `[1] x`, `[`, `{`, `"`,
	`tru`, `nul`, `nulll`, `{"apiVersion":"v1","request":{"uid":"u","object":{"metadata":{"labels":{"a":"b"}}}}}`,
	strings.Repeat("[", 299) + strings.Repeat("]", 299),
	strings.Repeat("[", 300) + strings.Repeat("]", 300),
	strings.Repeat("[", 299) + "1" + strings.Repeat("]", 299),
	strings.Repeat("[", 300) + "1" + strings.Repeat("]", 300),
	strings.Repeat(`{"a":`, 300) + "1" + strings.Repeat("}", 300),
}

// FuzzScanLikeFastjson: the scanner accepts exactly the JSON fastjson's parser, which read the
// reviews before it, accepts; so does a review's scan, which descends into the members it reads.
func FuzzScanLikeFastjson(f *testing.F) {
	for _, s := range scanSeeds {
		f.Add([]byte(s))
	}
	f.Add(benchReview(f, benchRequest(f, benchPod())))
	var p fastjson.Parser
	f.Fuzz(func(t *testing.T, b []byte) {
		_, want := p.ParseBytes(b)
		if got := scanJSON(b); (got == nil) != (want == nil) {
			t.Fatalf("%.200q: scanner error %v, fastjson error %v", b, got, want)
		}
		var fields reviewFields
		if got := fields.scan(b); (got == nil) != (want == nil) {
			t.Fatalf("%.200q: review scan error %v, fastjson error %v", b, got, want)
		}
	})
}

// reviewSeeds are reviews with what parse reads in every shape it refuses or reads differently.
var reviewSeeds = []string{
	`{"apiVersion":"admission.k8s.io/v1","request":{"uid":"u","operation":"CREATE","namespace":"ns","object":{"metadata":{"name":"a","generateName":"g","namespace":"n","labels":{"a":"b","c":"d\u0026"},"annotations":{"dataresidency.io/stores":"x","z":"y","dataresidency.io/allowed-jurisdictions":"eu"}},"spec":{"nodeName":"n1","nodeSelector":{"k":"v"},"affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"k","operator":"In","values":["a","b"]}],"matchFields":[{"key":"f","operator":"NotIn","values":[]}]}]}}}}}}}`,
	`{"request":{"uid":"u","object":{"metadata":null,"spec":{"affinity":null}}}}`,
	`{"request":{"uid":"u","object":{"metadata":{"annotations":null,"labels":null},"spec":{"affinity":{"nodeAffinity":null}}}}}`,
	`{"request":{"uid":[1],"object":{"metadata":{"name":7,"annotations":{"a":[],"b":"c"}}}}}`,
	`{"request":{"object":{"spec":{"nodeName":{},"nodeSelector":"x","affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":{}}}}}}}}`,
	`{"request":5}`, `{"request":{"object":"pod"}}`, `{"request":{"object":NaN}}`, `{"request":{"object":null}}`, `[{"request":{}}]`,
	`{"request":{"u\u0069d":"u1","object":{"metadat\u0061":{"n\u0061me":"p\u002d1"}}}}`,
	`{"request":{"uid":"u1","uid":"u2","object":{"metadata":{"labels":{"a":"1","a":"2"}}},"object":{}}}`,
}

// FuzzPruneLikeParse: a review pruned as it is read (a large review) decides as the whole review
// does, read whole (a small one), whatever the reads it arrives in; and it is no larger.
func FuzzPruneLikeParse(f *testing.F) {
	for _, s := range append(scanSeeds, reviewSeeds...) {
		f.Add([]byte(s))
	}
	f.Add(benchReview(f, benchRequest(f, benchPod())))
	f.Fuzz(func(t *testing.T, b []byte) {
		want := &podReview{}
		wantErr := want.parse(b)
		for _, r := range []io.Reader{bytes.NewReader(b), iotest.OneByteReader(bytes.NewReader(b)), iotest.HalfReader(bytes.NewReader(b))} {
			var out bytes.Buffer
			held, _, err := pruneReview(r, &out)
			if held != 0 {
				t.Fatalf("%.200q: the pruned review holds %d bytes of largeRetainedBytes", b, held)
			}
			largeRetained.Add(-held)
			if out.Len() > len(b) {
				t.Fatalf("%.200q: pruned to %d bytes, more than its %d: %.200q", b, out.Len(), len(b), out.Bytes())
			}
			got := &podReview{}
			if err == nil {
				err = got.parse(out.Bytes())
			}
			if (err == nil) != (wantErr == nil) {
				t.Fatalf("%.200q (pruned to %.200q): error %v, read whole %v", b, out.Bytes(), err, wantErr)
			}
			if err == nil && !reflect.DeepEqual(got, want) {
				t.Fatalf("%.200q (pruned to %.200q): read\n%+v\nread whole\n%+v", b, out.Bytes(), got, want)
			}
		}
	})
}

// TestPodReviewScanShapes: what the scanner must read as the parser did: duplicate and escaped
// members, and a UID after the pod.
func TestPodReviewScanShapes(t *testing.T) {
	review := func(request string) []byte {
		return []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{` + request + `}}`)
	}
	for name, tc := range map[string]struct {
		body []byte
		want func(*podReview) bool
	}{
		"uid after the pod": {review(`"object":{"metadata":{"name":"p"}},"uid":"u1","operation":"CREATE"`),
			func(r *podReview) bool { return r.uid == "u1" && r.name == "p" && r.operation == "CREATE" }},
		"first of duplicate members": {review(`"uid":"u1","uid":"u2","object":{"metadata":{"name":"p"}},"object":{"metadata":{"name":"q"}}`),
			func(r *podReview) bool { return r.uid == "u1" && r.name == "p" }},
		"last of duplicate labels": {review(`"object":{"metadata":{"labels":{"a":"1","a":"2"}}}`),
			func(r *podReview) bool { return r.pod.Labels["a"] == "2" && len(r.pod.Labels) == 1 }},
		"escaped member names": {review(`"u\u0069d":"u1","object":{"metadat\u0061":{"n\u0061me":"p\u002d1"}}`),
			func(r *podReview) bool { return r.uid == "u1" && r.name == "p-1" }},
		"placement annotations only": {review(`"object":{"metadata":{"annotations":{"a":"x","dataresidency.io\/stores":"s"}}}`),
			func(r *podReview) bool {
				return len(r.annotations) == 1 && r.annotations["dataresidency.io/stores"] == "s"
			}},
		"empty annotations": {review(`"object":{"metadata":{"annotations":{}}}`),
			func(r *podReview) bool { return r.annotations != nil && len(r.annotations) == 0 }},
		"nodeAffinity without required terms": {review(`"object":{"spec":{"affinity":{"podAffinity":{},"nodeAffinity":{"preferredDuringSchedulingIgnoredDuringExecution":[]}}}}`),
			func(r *podReview) bool {
				return r.hasAffinity && r.hasNodeAffinity && r.pod.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil
			}},
	} {
		t.Run(name, func(t *testing.T) {
			rev := &podReview{}
			if err := rev.parse(tc.body); err != nil || !tc.want(rev) {
				t.Fatalf("parse: %v; got %+v", err, rev)
			}
		})
	}
	// A placement annotation may not hide behind another of the wrong type: any is refused.
	rev := &podReview{}
	if err := rev.parse(review(`"object":{"metadata":{"annotations":{"a":1}}}`)); err == nil || !strings.Contains(err.Error(), "metadata.annotations: a:") {
		t.Fatalf("an annotation that is not a string: got %v", err)
	}
}
