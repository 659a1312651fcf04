package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
)

// The admission benchmarks run one AdmissionReview of a governed, Deployment-made pod through the
// pod webhooks' handlers, without network or TLS, against two readers:
//
//   - fake-client: controller-runtime's fake client, which converts and deep-copies every listed
//     object through the scheme (slower than production);
//   - cache: pre-built lists that, like the manager's informer cache, are deep-copied on every
//     List unless the caller passes client.UnsafeDisableDeepCopy (as the webhooks do);
//
// and at two levels: review (AdmissionReview JSON in, AdmissionReview JSON out, through the
// handler's ServeHTTP: read, parse, decide, patch, encode) and decide (our Default or
// ValidateCreate on a pod already decoded; for Default this includes a DeepCopy of the pod, since
// Default changes it).

const benchNamespace = "shop"

func benchScheme(tb testing.TB) *runtime.Scheme {
	tb.Helper()
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		tb.Fatal(err)
	}
	if err := v1alpha1.AddToScheme(s); err != nil {
		tb.Fatal(err)
	}
	return s
}

// benchObjects is a modest but realistic cluster: the shipped jurisdictions, three stores and an
// exception in the pod's namespace, two stores in each of 20 other namespaces, and 100 nodes.
func benchObjects() []client.Object {
	eu := []v1alpha1.CountryCode{"AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT",
		"LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE", "IS", "LI", "NO"}
	objs := []client.Object{
		&v1alpha1.Jurisdiction{ObjectMeta: metav1.ObjectMeta{Name: "eu"}, Spec: v1alpha1.JurisdictionSpec{DisplayName: "European Union and EEA", Countries: eu}},
		&v1alpha1.Jurisdiction{ObjectMeta: metav1.ObjectMeta{Name: "us"}, Spec: v1alpha1.JurisdictionSpec{DisplayName: "United States", Countries: []v1alpha1.CountryCode{"US"}}},
		&v1alpha1.Jurisdiction{ObjectMeta: metav1.ObjectMeta{Name: "affiliate-sites"}, Spec: v1alpha1.JurisdictionSpec{
			Countries:    []v1alpha1.CountryCode{"CH", "GB", "JP"},
			NodeSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"site.dataresidency.node-restriction.kubernetes.io/affiliate": "true"}},
			Entities:     []string{"Example Shop Schweiz AG", "Example Shop UK Ltd", "Example Shop KK"},
		}},
	}
	store := func(ns, name string, mode v1alpha1.EnforcementMode, selector map[string]string, jurs ...v1alpha1.JurisdictionName) *v1alpha1.PersonalDataStore {
		return &v1alpha1.PersonalDataStore{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Generation: 3, UID: types.UID("uid-" + ns + "-" + name),
				Labels: map[string]string{"app.kubernetes.io/part-of": "shop"}},
			Spec: v1alpha1.PersonalDataStoreSpec{
				Description:          "Customer accounts (sign-in and contact details)",
				DataCategories:       []v1alpha1.DataCategory{v1alpha1.Credentials, v1alpha1.SecurityQuestions, v1alpha1.ContactDetails},
				AllowedJurisdictions: jurs,
				WorkloadSelector:     metav1.LabelSelector{MatchLabels: selector},
				VolumeSelector:       &metav1.LabelSelector{MatchLabels: selector},
				Enforcement:          mode,
				EvictionGracePeriod:  &metav1.Duration{Duration: 10 * time.Minute},
				Processors:           []v1alpha1.ObjectName{"mail-delivery"},
				Egress:               v1alpha1.EgressRestrict,
			},
		}
	}
	objs = append(objs,
		store(benchNamespace, "customer-db", v1alpha1.Enforce, map[string]string{"app.kubernetes.io/name": "customer-db"}, "eu"),
		store(benchNamespace, "analytics", v1alpha1.Enforce, map[string]string{"team": "analytics"}, "eu", "us"),
		store(benchNamespace, "access-logs", v1alpha1.Audit, map[string]string{"app.kubernetes.io/name": "access-logs"}, "eu", "us"),
		&v1alpha1.ResidencyException{
			ObjectMeta: metav1.ObjectMeta{Name: "court-order-2026-117", Namespace: benchNamespace, CreationTimestamp: metav1.Now(),
				UID: "uid-court-order-2026-117", Generation: 1},
			Spec: v1alpha1.ResidencyExceptionSpec{
				Selector:      metav1.LabelSelector{MatchLabels: map[string]string{"job-name": "legal-hold-export"}},
				Stores:        []v1alpha1.ObjectName{"customer-db"},
				Reason:        v1alpha1.LegalProcess,
				Justification: "Subpoena 2026-117 requires production of the records by the US-based counsel's review system.",
				ApprovedBy:    "dpo@example.com",
				ExpiresAt:     metav1.NewTime(time.Now().Add(30 * 24 * time.Hour)),
			},
			Status: v1alpha1.ResidencyExceptionStatus{Approval: &v1alpha1.ExceptionApproval{Decision: v1alpha1.Approved, User: "ciso@example.com", Generation: 1}},
		},
	)
	for i := range 20 {
		ns := fmt.Sprintf("team-%02d", i)
		objs = append(objs,
			store(ns, "users", v1alpha1.Enforce, map[string]string{"app": "users"}, "eu"),
			store(ns, "events", v1alpha1.Warn, map[string]string{"app": "events"}, "eu", "us"))
	}
	regions := []string{"eu-central-1", "europe-west1", "westeurope", "us-east-1", "ap-northeast-1"}
	for i := range 100 {
		r := regions[i%len(regions)]
		objs = append(objs, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("node-%03d", i), Labels: map[string]string{
			corev1.LabelTopologyRegion: r, v1alpha1.ConfirmedRegionLabel: r, corev1.LabelHostname: fmt.Sprintf("node-%03d", i)}}})
	}
	return objs
}

// benchPod is a pod as a ReplicaSet controller creates it for a two-container database Deployment
// that already has its own required node affinity and a preferred pod anti-affinity.
func benchPod() *corev1.Pod {
	labels := map[string]string{
		"app.kubernetes.io/name": "customer-db", "app.kubernetes.io/component": "database",
		"app.kubernetes.io/part-of": "shop", "app.kubernetes.io/version": "16.4", "pod-template-hash": "7d9f8b6c5",
	}
	return &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: "customer-db-7d9f8b6c5-", Namespace: benchNamespace, Labels: labels,
			Annotations: map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": "9187",
				"kubectl.kubernetes.io/restartedAt": "2026-11-20T10:00:00Z"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "customer-db-7d9f8b6c5",
				UID: "0d7b3c0e-5a8e-4a55-9a3c-2f7c9a6b1e11", Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}},
		},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{
				{
					Name: "postgres", Image: "registry.example/postgres:16.4@sha256:4f7e1b5c0d9a3e2f8b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a",
					Ports: []corev1.ContainerPort{{Name: "postgres", ContainerPort: 5432, Protocol: corev1.ProtocolTCP}},
					Env: []corev1.EnvVar{
						{Name: "POSTGRES_DB", Value: "customers"},
						{Name: "PGDATA", Value: "/var/lib/postgresql/data/pgdata"},
						{Name: "POSTGRES_PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
							LocalObjectReference: corev1.LocalObjectReference{Name: "customer-db"}, Key: "password"}}},
					},
					Resources: corev1.ResourceRequirements{
						Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("1Gi")},
						Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("2Gi")},
					},
					VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/var/lib/postgresql/data"}, {Name: "config", MountPath: "/etc/postgresql", ReadOnly: true}},
					ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"pg_isready", "-U", "postgres"}}},
						PeriodSeconds: 5, TimeoutSeconds: 1, SuccessThreshold: 1, FailureThreshold: 3},
					LivenessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString("postgres")}},
						InitialDelaySeconds: 30, PeriodSeconds: 10, TimeoutSeconds: 1, SuccessThreshold: 1, FailureThreshold: 3},
					TerminationMessagePath: "/dev/termination-log", TerminationMessagePolicy: corev1.TerminationMessageReadFile,
					ImagePullPolicy: corev1.PullIfNotPresent,
					SecurityContext: &corev1.SecurityContext{RunAsNonRoot: ptr.To(true), AllowPrivilegeEscalation: ptr.To(false)},
				},
				{
					Name: "metrics", Image: "registry.example/postgres-exporter:0.15.0",
					Ports: []corev1.ContainerPort{{Name: "metrics", ContainerPort: 9187, Protocol: corev1.ProtocolTCP}},
					Env:   []corev1.EnvVar{{Name: "DATA_SOURCE_URI", Value: "localhost:5432/customers?sslmode=disable"}},
					Resources: corev1.ResourceRequirements{
						Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
					},
					TerminationMessagePath: "/dev/termination-log", TerminationMessagePolicy: corev1.TerminationMessageReadFile,
					ImagePullPolicy: corev1.PullIfNotPresent,
				},
			},
			Volumes: []corev1.Volume{
				{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "customer-db-data"}}},
				{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
					LocalObjectReference: corev1.LocalObjectReference{Name: "customer-db-config"}, DefaultMode: ptr.To[int32](0o644)}}},
			},
			Affinity: &corev1.Affinity{
				NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
					MatchExpressions: []corev1.NodeSelectorRequirement{
						{Key: corev1.LabelArchStable, Operator: corev1.NodeSelectorOpIn, Values: []string{"amd64", "arm64"}},
						{Key: "node.kubernetes.io/instance-type", Operator: corev1.NodeSelectorOpNotIn, Values: []string{"t3.micro", "t3.small"}},
					},
				}}}},
				PodAntiAffinity: &corev1.PodAntiAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{
					Weight: 100, PodAffinityTerm: corev1.PodAffinityTerm{
						LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": "customer-db"}},
						TopologyKey:   corev1.LabelHostname,
					},
				}}},
			},
			Tolerations: []corev1.Toleration{
				{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](300)},
				{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](300)},
			},
			RestartPolicy: corev1.RestartPolicyAlways, TerminationGracePeriodSeconds: ptr.To[int64](30),
			DNSPolicy: corev1.DNSClusterFirst, ServiceAccountName: "customer-db", SchedulerName: corev1.DefaultSchedulerName,
			SecurityContext:    &corev1.PodSecurityContext{FSGroup: ptr.To[int64](999)},
			EnableServiceLinks: ptr.To(true), Priority: ptr.To[int32](0), PreemptionPolicy: ptr.To(corev1.PreemptLowerPriority),
		},
	}
}

// benchRequest wraps a pod in a CREATE admission request as the API server sends it for a pod a
// ReplicaSet controller creates.
func benchRequest(tb testing.TB, pod *corev1.Pod) admission.Request {
	tb.Helper()
	raw, err := json.Marshal(pod)
	if err != nil {
		tb.Fatal(err)
	}
	opts, err := json.Marshal(&metav1.CreateOptions{TypeMeta: metav1.TypeMeta{APIVersion: "meta.k8s.io/v1", Kind: "CreateOptions"}})
	if err != nil {
		tb.Fatal(err)
	}
	podGVK := metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}
	podGVR := metav1.GroupVersionResource{Version: "v1", Resource: "pods"}
	return admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		UID: "705ab4f5-6393-11e8-b7cc-42010a800002", Kind: podGVK, Resource: podGVR, RequestKind: &podGVK, RequestResource: &podGVR,
		Namespace: benchNamespace, Operation: admissionv1.Create,
		UserInfo: authenticationv1.UserInfo{Username: "system:serviceaccount:kube-system:replicaset-controller",
			UID: "3f1c7e0a-1b2c-4d5e-8f90-123456789abc", Groups: []string{"system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"}},
		Object: runtime.RawExtension{Raw: raw}, Options: runtime.RawExtension{Raw: opts}, DryRun: ptr.To(false),
	}}
}

// benchReview is the AdmissionReview JSON the API server POSTs for req.
func benchReview(tb testing.TB, req admission.Request) []byte {
	tb.Helper()
	body, err := json.Marshal(&admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request:  &req.AdmissionRequest,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return body
}

// listReader is a client.Reader over pre-built lists, standing in for the manager's cache: it
// copies on every read as the informer cache does, unless told client.UnsafeDisableDeepCopy. It
// supports what the pod webhooks read.
type listReader struct {
	stores        map[string][]v1alpha1.PersonalDataStore // by namespace
	exceptions    map[string][]v1alpha1.ResidencyException
	jurisdictions []v1alpha1.Jurisdiction
	nodes         map[string]*corev1.Node
}

var _ client.Reader = (*listReader)(nil)

func newListReader(objs []client.Object) *listReader {
	r := &listReader{stores: map[string][]v1alpha1.PersonalDataStore{},
		exceptions: map[string][]v1alpha1.ResidencyException{}, nodes: map[string]*corev1.Node{}}
	for _, o := range objs {
		switch o := o.(type) {
		case *v1alpha1.PersonalDataStore:
			r.stores[o.Namespace] = append(r.stores[o.Namespace], *o)
		case *v1alpha1.ResidencyException:
			r.exceptions[o.Namespace] = append(r.exceptions[o.Namespace], *o)
		case *v1alpha1.Jurisdiction:
			r.jurisdictions = append(r.jurisdictions, *o)
		case *corev1.Node:
			r.nodes[o.Name] = o
		}
	}
	return r
}

func (r *listReader) Get(_ context.Context, key client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	node, ok := obj.(*corev1.Node)
	if !ok {
		return fmt.Errorf("listReader: Get of %T is not supported", obj)
	}
	n, ok := r.nodes[key.Name]
	if !ok {
		return apierrors.NewNotFound(corev1.Resource("nodes"), key.Name)
	}
	n.DeepCopyInto(node)
	return nil
}

func (r *listReader) List(_ context.Context, list client.ObjectList, opts ...client.ListOption) error {
	o := (&client.ListOptions{}).ApplyOptions(opts)
	deepCopy := o.UnsafeDisableDeepCopy == nil || !*o.UnsafeDisableDeepCopy
	switch l := list.(type) {
	case *v1alpha1.PersonalDataStoreList:
		l.Items = copyItems(r.stores[o.Namespace], deepCopy, (*v1alpha1.PersonalDataStore).DeepCopyInto)
	case *v1alpha1.ResidencyExceptionList:
		l.Items = copyItems(r.exceptions[o.Namespace], deepCopy, (*v1alpha1.ResidencyException).DeepCopyInto)
	case *v1alpha1.JurisdictionList:
		l.Items = copyItems(r.jurisdictions, deepCopy, (*v1alpha1.Jurisdiction).DeepCopyInto)
	default:
		return fmt.Errorf("listReader: List of %T is not supported", list)
	}
	return nil
}

func copyItems[T any](items []T, deep bool, deepCopyInto func(*T, *T)) []T {
	if !deep {
		return items
	}
	out := make([]T, len(items))
	for i := range items {
		deepCopyInto(&items[i], &out[i])
	}
	return out
}

// benchReaders returns the two readers over the same objects.
func benchReaders(tb testing.TB, s *runtime.Scheme) []struct {
	name   string
	reader client.Reader
} {
	tb.Helper()
	objs := benchObjects()
	return []struct {
		name   string
		reader client.Reader
	}{
		{"fake-client", fake.NewClientBuilder().WithScheme(s).WithObjects(objs...).Build()},
		{"cache", newListReader(objs)},
	}
}

// responseRecorder is a minimal, reusable http.ResponseWriter.
type responseRecorder struct {
	header http.Header
	body   bytes.Buffer
	code   int
}

func (w *responseRecorder) Header() http.Header         { return w.header }
func (w *responseRecorder) Write(p []byte) (int, error) { return w.body.Write(p) }
func (w *responseRecorder) WriteHeader(code int)        { w.code = code }

// runReview benchmarks both levels of one webhook for one request; check validates a response
// once before timing, so the benchmark cannot silently measure a rejection or a short cut.
func runReview(b *testing.B, wh http.Handler, req admission.Request, check func(testing.TB, admissionv1.AdmissionResponse),
	decide func(context.Context) error) {
	ctx := context.Background()
	b.Run("review", func(b *testing.B) {
		body := benchReview(b, req)
		w := &responseRecorder{header: http.Header{}}
		serve := func() {
			w.body.Reset()
			r, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://127.0.0.1:9443/", bytes.NewReader(body))
			if err != nil {
				b.Fatal(err)
			}
			r.Header.Set("Content-Type", "application/json")
			wh.ServeHTTP(w, r)
		}
		serve()
		var review admissionv1.AdmissionReview
		if err := json.Unmarshal(w.body.Bytes(), &review); err != nil || review.Response == nil {
			b.Fatalf("decoding the AdmissionReview response %q: %v", w.body.String(), err)
		}
		if review.Response.UID != req.UID {
			b.Fatalf("the response is for request %q, want %q", review.Response.UID, req.UID)
		}
		check(b, *review.Response)
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		b.ResetTimer()
		for b.Loop() {
			serve()
		}
	})
	b.Run("decide", func(b *testing.B) {
		if err := decide(ctx); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			_ = decide(ctx)
		}
	})
}

// BenchmarkAdmissionReview measures the mutating pod webhook: read the review, decide, inject the
// permitted-node affinity and annotations, and answer with the JSON patch.
func BenchmarkAdmissionReview(b *testing.B) {
	logf.SetLogger(logr.Discard())
	s := benchScheme(b)
	req := benchRequest(b, benchPod())
	for _, r := range benchReaders(b, s) {
		b.Run(r.name, func(b *testing.B) {
			placement := &PodPlacement{Reader: r.reader, Now: time.Now}
			pod := benchPod()
			decide := func(ctx context.Context) error { return placeTyped(ctx, placement, pod.DeepCopy()) }
			runReview(b, &podReviewHandler{placement: placement}, req, func(tb testing.TB, resp admissionv1.AdmissionResponse) {
				tb.Helper()
				if !resp.Allowed || resp.PatchType == nil {
					tb.Fatalf("want an allowed response with a patch, got %+v", resp)
				}
				for _, want := range []string{`"path":"/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution"`, v1alpha1.JurisdictionLabel("eu"), "customer-db"} {
					if !strings.Contains(string(resp.Patch), want) {
						tb.Fatalf("the patch lacks %q: %s", want, resp.Patch)
					}
				}
			}, decide)
		})
	}
}

// BenchmarkAdmissionReviewValidate measures the validating pod webhook on the pod as the mutating
// webhook left it: read the review, decide, and check that the affinity implies the permitted set.
func BenchmarkAdmissionReviewValidate(b *testing.B) {
	logf.SetLogger(logr.Discard())
	s := benchScheme(b)
	for _, r := range benchReaders(b, s) {
		b.Run(r.name, func(b *testing.B) {
			pod := benchPod()
			if err := placeTyped(context.Background(), &PodPlacement{Reader: r.reader, Now: time.Now}, pod); err != nil {
				b.Fatal(err)
			}
			if pod.Annotations[v1alpha1.StoresAnnotation] != "customer-db" {
				b.Fatalf("the mutating webhook did not place the pod: %v", pod.Annotations)
			}
			residency := &PodResidency{Reader: r.reader, Now: time.Now}
			decide := func(ctx context.Context) error {
				warnings, err := validateTyped(ctx, residency, pod)
				if err == nil && len(warnings) > 0 {
					err = fmt.Errorf("unexpected warnings %v", warnings)
				}
				return err
			}
			runReview(b, &podReviewHandler{residency: residency}, benchRequest(b, pod), func(tb testing.TB, resp admissionv1.AdmissionResponse) {
				tb.Helper()
				if !resp.Allowed || len(resp.Warnings) > 0 {
					tb.Fatalf("want a plain allowed response, got %+v", resp)
				}
			}, decide)
		})
	}
}
