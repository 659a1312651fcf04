package admissionpolicy_test

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
	"github.com/residency-operator/residency-operator/internal/admissionpolicy"
	"github.com/residency-operator/residency-operator/internal/engine"
	"github.com/residency-operator/residency-operator/internal/localcluster"
)

// A real kube-apiserver, started once for the tests that need one.
var (
	apiOnce    sync.Once
	apiErr     error
	apiCluster *localcluster.Cluster
	apiClient  client.Client
	warned     = &warnings{}
)

type warnings struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warnings) HandleWarningHeader(_ int, _ string, msg string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, msg)
}

func (w *warnings) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.msgs
	w.msgs = nil
	return out
}

func apiServer(t testing.TB) client.Client {
	t.Helper()
	apiOnce.Do(func() {
		if os.Getenv("KUBEBUILDER_ASSETS") == "" {
			apiErr = fmt.Errorf("KUBEBUILDER_ASSETS is not set: run the tests through `make test`, which builds kube-apiserver and etcd")
			return
		}
		apiCluster, apiErr = localcluster.Start(context.Background(), localcluster.Options{ControlPlaneOnly: true,
			CRDDir: filepath.Join("..", "..", "config", "crd", "bases")})
		if apiErr != nil {
			return
		}
		cfg := rest.CopyConfig(apiCluster.Config)
		cfg.WarningHandler = warned
		cfg.QPS, cfg.Burst = 500, 1000
		scheme := runtime.NewScheme()
		if apiErr = clientgoscheme.AddToScheme(scheme); apiErr != nil {
			return
		}
		if apiErr = v1alpha1.AddToScheme(scheme); apiErr != nil {
			return
		}
		if apiClient, apiErr = client.New(cfg, client.Options{Scheme: scheme}); apiErr != nil {
			return
		}
		apiErr = installPolicies(apiClient)
	})
	if apiErr != nil {
		t.Fatal(apiErr)
	}
	return apiClient
}

func TestMain(m *testing.M) {
	code := m.Run()
	if apiCluster != nil {
		_ = apiCluster.Stop()
	}
	os.Exit(code)
}

var jurisdictionNames = []string{"ch", "eu", "gb", "us"}

// jurisdictionSpecs are the cluster's Jurisdictions: eu and us provably disjoint (so stores that
// allow only one of each disagree), ch and gb selected by node labels (never pruned).
var jurisdictionSpecs = map[string]*v1alpha1.JurisdictionSpec{
	"eu": {Countries: []v1alpha1.CountryCode{"DE", "FR", "IE"}},
	"us": {Countries: []v1alpha1.CountryCode{"US"}},
	"ch": {NodeSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"rack": "zurich"}}},
	"gb": {NodeSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"rack": "london"}}},
}

var podLabelValues = map[string][]string{"app": {"a", "b", "c"}, "tier": {"x", "y"}}

func randomSelector(r *rand.Rand) metav1.LabelSelector {
	switch r.IntN(6) {
	case 0:
		return metav1.LabelSelector{} // selects nothing (engine.SelectorFor)
	case 1:
		return metav1.LabelSelector{MatchLabels: map[string]string{"app": podLabelValues["app"][r.IntN(3)]}}
	case 2:
		return metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "app", Operator: metav1.LabelSelectorOpIn, Values: []string{"a", "b"}}}}
	case 3:
		return metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "tier", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"y"}}}}
	case 4:
		return metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "tier", Operator: metav1.LabelSelectorOpExists}}, MatchLabels: map[string]string{"app": "c"}}
	default:
		return metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "tier", Operator: metav1.LabelSelectorOpDoesNotExist}}}
	}
}

// randomPolicies are one to four stores of random modes, selectors and allowed jurisdictions, and
// sometimes an exception (active, expired or not started).
func randomPolicies(r *rand.Rand, namespace string, now time.Time) *engine.Policies {
	p := &engine.Policies{Jurisdictions: jurisdictionSpecs, Now: now}
	modes := []v1alpha1.EnforcementMode{v1alpha1.Enforce, v1alpha1.Warn, v1alpha1.Audit, ""}
	for i := range 1 + r.IntN(4) {
		s := &v1alpha1.PersonalDataStore{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("store-%d", i), Namespace: namespace}}
		s.Spec.Enforcement = modes[r.IntN(len(modes))]
		s.Spec.WorkloadSelector = randomSelector(r)
		if r.IntN(3) == 0 {
			// eu or us alone: two such stores disagree, and their pods are denied or warned about.
			s.Spec.AllowedJurisdictions = []v1alpha1.JurisdictionName{v1alpha1.JurisdictionName([]string{"eu", "us"}[r.IntN(2)])}
		} else {
			for _, j := range jurisdictionNames {
				if r.IntN(2) == 0 {
					s.Spec.AllowedJurisdictions = append(s.Spec.AllowedJurisdictions, v1alpha1.JurisdictionName(j))
				}
			}
		}
		if len(s.Spec.AllowedJurisdictions) == 0 {
			s.Spec.AllowedJurisdictions = []v1alpha1.JurisdictionName{v1alpha1.JurisdictionName(jurisdictionNames[r.IntN(4)])}
		}
		p.Stores = append(p.Stores, s)
	}
	if len(p.Stores) >= 2 && r.IntN(2) == 0 {
		// Contested: two stores select the same pods and share no jurisdiction; the second warns,
		// and the first's mode decides between a denial and a warning.
		a, b := p.Stores[0], p.Stores[1]
		if len(a.Spec.WorkloadSelector.MatchLabels)+len(a.Spec.WorkloadSelector.MatchExpressions) == 0 {
			a.Spec.WorkloadSelector = metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "app", Operator: metav1.LabelSelectorOpIn, Values: []string{"a", "b"}}}}
		}
		b.Spec.WorkloadSelector = *a.Spec.WorkloadSelector.DeepCopy()
		a.Spec.AllowedJurisdictions = []v1alpha1.JurisdictionName{"eu"}
		b.Spec.AllowedJurisdictions = []v1alpha1.JurisdictionName{"us"}
		b.Spec.Enforcement = v1alpha1.Warn
	}
	if r.IntN(3) == 0 {
		ex := &v1alpha1.ResidencyException{ObjectMeta: metav1.ObjectMeta{Name: "ex", Namespace: namespace,
			CreationTimestamp: metav1.NewTime(now.Add(-time.Hour))}}
		ex.Spec.Selector = randomSelector(r)
		ex.Spec.Stores = []v1alpha1.ObjectName{v1alpha1.ObjectName(p.Stores[r.IntN(len(p.Stores))].Name)}
		ex.Spec.ExpiresAt = metav1.NewTime(now.Add(time.Duration(r.IntN(3)-1) * time.Hour)) // expired, or active
		// Approved, or still pending.
		if r.IntN(4) != 0 {
			ex.Status.Approval = &v1alpha1.ExceptionApproval{Decision: v1alpha1.Approved, User: "dpo", Generation: ex.Generation}
		}
		p.Exceptions = append(p.Exceptions, ex)
	}
	return p
}

func randomRequirement(r *rand.Rand) corev1.NodeSelectorRequirement {
	switch r.IntN(5) {
	case 0:
		return corev1.NodeSelectorRequirement{Key: "disk", Operator: corev1.NodeSelectorOpIn, Values: []string{"ssd"}}
	case 1:
		return corev1.NodeSelectorRequirement{Key: "gpu", Operator: corev1.NodeSelectorOpExists}
	case 2:
		return corev1.NodeSelectorRequirement{Key: "rack", Operator: corev1.NodeSelectorOpNotIn, Values: []string{"london"}}
	case 3: // the pod asks for a jurisdiction itself
		return corev1.NodeSelectorRequirement{Key: v1alpha1.JurisdictionLabel(jurisdictionNames[r.IntN(4)]),
			Operator: corev1.NodeSelectorOpIn, Values: []string{v1alpha1.JurisdictionLabelValue}}
	default:
		return corev1.NodeSelectorRequirement{Key: "disk", Operator: corev1.NodeSelectorOpDoesNotExist}
	}
}

// randomPod has random labels and one of: no affinity, an empty affinity, a nodeSelector, one to
// three required terms (with matchFields), preferred terms only, pod anti-affinity.
func randomPod(r *rand.Rand, namespace string, i int) *corev1.Pod {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p%d", i), Namespace: namespace, Labels: map[string]string{}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x"}}},
	}
	for k, vs := range podLabelValues {
		if r.IntN(4) > 0 {
			pod.Labels[k] = vs[r.IntN(len(vs))]
		}
	}
	switch r.IntN(7) {
	case 0:
	case 1:
		pod.Spec.Affinity = &corev1.Affinity{}
	case 2:
		pod.Spec.NodeSelector = map[string]string{"disk": "ssd"}
	case 3, 4:
		var terms []corev1.NodeSelectorTerm
		for range 1 + r.IntN(3) {
			var t corev1.NodeSelectorTerm
			for range 1 + r.IntN(2) {
				t.MatchExpressions = append(t.MatchExpressions, randomRequirement(r))
			}
			if r.IntN(4) == 0 {
				t.MatchFields = []corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{"n1"}}}
			}
			terms = append(terms, t)
		}
		pod.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: terms}}}
	case 5:
		pod.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
			PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{{Weight: 1,
				Preference: corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{randomRequirement(r)}}}}}}
	default:
		pod.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{TopologyKey: "kubernetes.io/hostname",
				LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "a"}}}}}}
	}
	return pod
}

// randomNodes label nodes with every combination the affinities read, jurisdictions included.
func randomNodes(r *rand.Rand) []*corev1.Node {
	var nodes []*corev1.Node
	for i := range 200 {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("n%d", i%4), Labels: map[string]string{}}}
		for _, j := range jurisdictionNames {
			if r.IntN(3) == 0 {
				n.Labels[v1alpha1.JurisdictionLabel(j)] = v1alpha1.JurisdictionLabelValue
			}
		}
		if r.IntN(2) == 0 {
			n.Labels["disk"] = []string{"ssd", "hdd"}[r.IntN(2)]
		}
		if r.IntN(2) == 0 {
			n.Labels["gpu"] = "1"
		}
		if r.IntN(2) == 0 {
			n.Labels["rack"] = []string{"london", "zurich"}[r.IntN(2)]
		}
		nodes = append(nodes, n)
	}
	return nodes
}

// expected is what the webhooks, the engine's admission path (engine.AdmitPod), answer for a pod.
type expected struct {
	denied, warned []engine.Finding
	// productTooLarge is the compiled policies' "too many terms" denial: they count the product of
	// the pod's terms and the permitted ones before the engine minimises it.
	productTooLarge string
	pod             *corev1.Pod // as mutated
	mutated         bool
}

func decide(p *engine.Policies, pod *corev1.Pod) expected {
	facts := engine.FactsOf(pod.Labels, &pod.Spec)
	a := engine.AdmitPod(p, &facts)
	out := expected{pod: pod.DeepCopy(), denied: a.Denied, warned: a.Warned}
	if own := len(requiredTerms(pod)); own > 0 && a.Verdict.Constrained() {
		perm := len(a.Verdict.Terms)
		out.productTooLarge = engine.ProductTooLarge(own, perm, own*perm).Message
	}
	if a.Affinity != nil {
		out.mutated = true
		out.pod.Spec.Affinity = a.Affinity
		if out.pod.Annotations == nil {
			out.pod.Annotations = map[string]string{}
		}
		maps.Copy(out.pod.Annotations, a.Annotations)
	}
	return out
}

// installPolicies creates the cluster-wide compiled policies, as the operator does. (Their type
// checking against the AdmissionPlan schema is kube-controller-manager's, which this control plane
// does not run: an expression that fails at run time fails the agreement, failurePolicy is Fail.)
func installPolicies(c client.Client) error {
	for _, obj := range admissionpolicy.Policies(nil) {
		if err := c.Create(context.Background(), obj); err != nil {
			return fmt.Errorf("the API server refused the compiled %T %s: %w", obj, obj.GetName(), err)
		}
	}
	return nil
}

// compileAndApply creates namespace with its plan in force, as the operator leaves it.
func compileAndApply(t testing.TB, c client.Client, namespace string, p *engine.Policies) *v1alpha1.AdmissionPlan {
	t.Helper()
	ctx := context.Background()
	plan, _, err := admissionpolicy.Compile(namespace, p)
	if err != nil {
		t.Fatalf("compiling: %v", err)
	}
	labels := map[string]string{v1alpha1.PoliciesCompiledLabel: "true"}
	if admissionpolicy.Warns(plan) {
		labels[v1alpha1.PoliciesWarnLabel] = "true"
	}
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace, Labels: labels}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, plan); err != nil {
		t.Fatalf("the API server refused the compiled plan: %v", err)
	}
	return plan
}

type outcome struct {
	denied  string
	warned  []string
	pod     *corev1.Pod
	created bool
}

func admit(c client.Client, pod *corev1.Pod) outcome {
	warned.take()
	p := pod.DeepCopy()
	err := c.Create(context.Background(), p, client.DryRunAll)
	o := outcome{warned: warned.take(), pod: p, created: err == nil}
	if err != nil {
		if !apierrors.IsForbidden(err) && !apierrors.IsInvalid(err) {
			o.denied = "unexpected error: " + err.Error()
		} else {
			o.denied = err.Error()
		}
	}
	return o
}

// disagreement says how the API server's answer differs from the engine's, or "".
func disagreement(original *corev1.Pod, want expected, got outcome, nodes []*corev1.Node) string {
	wantDenied := len(want.denied) > 0
	if wantDenied != !got.created {
		return fmt.Sprintf("denied: engine %v (%v), API server %v (%s)", wantDenied, want.denied, !got.created, got.denied)
	}
	if wantDenied {
		for _, f := range want.denied {
			if f.Reason == engine.TooManyTerms && want.productTooLarge != "" && strings.Contains(got.denied, want.productTooLarge) {
				continue
			}
			if !strings.Contains(got.denied, f.Message) {
				return fmt.Sprintf("denial message: engine %q not in %q", f.Message, got.denied)
			}
		}
		return ""
	}
	for _, f := range want.warned {
		if !slices.ContainsFunc(got.warned, func(w string) bool { return strings.Contains(w, f.Message) }) {
			return fmt.Sprintf("warning: engine %q not in %q", f.Message, got.warned)
		}
	}
	if len(want.warned) == 0 && len(got.warned) > 0 {
		return fmt.Sprintf("warnings: engine none, API server %q", got.warned)
	}
	for _, key := range []string{v1alpha1.StoresAnnotation, v1alpha1.AllowedJurisdictionsAnnotation} {
		if want.pod.Annotations[key] != got.pod.Annotations[key] {
			return fmt.Sprintf("annotation %s: engine %q, API server %q", key, want.pod.Annotations[key], got.pod.Annotations[key])
		}
	}
	wantSel := nodeaffinity.GetRequiredNodeAffinity(want.pod)
	gotSel := nodeaffinity.GetRequiredNodeAffinity(got.pod)
	for _, n := range nodes {
		w, _ := wantSel.Match(n)
		g, _ := gotSel.Match(n)
		if w != g {
			return fmt.Sprintf("node %v: engine's affinity matches %v, API server's %v\nengine: %v\nAPI server: %v",
				n.Labels, w, g, want.pod.Spec.Affinity, got.pod.Spec.Affinity)
		}
	}
	// Re-invocation (built-in mutating plugins run after the policy) must not have ANDed again:
	// no term repeats a jurisdiction expression more often than a term of the pod's own did.
	if want.mutated {
		if got.pod.Spec.Affinity == nil || got.pod.Spec.Affinity.NodeAffinity == nil ||
			got.pod.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
			return "the API server injected no affinity"
		}
		own := map[string]int{}
		for _, term := range requiredTerms(original) {
			for k, n := range jurisdictionCounts(term) {
				own[k] = max(own[k], n)
			}
		}
		for _, term := range requiredTerms(got.pod) {
			for k, n := range jurisdictionCounts(term) {
				if n > max(1, own[k]) {
					return fmt.Sprintf("term %v repeats %s: the policy ANDed twice", term, k)
				}
			}
		}
	}
	return ""
}

func requiredTerms(pod *corev1.Pod) []corev1.NodeSelectorTerm {
	if a := pod.Spec.Affinity; a != nil && a.NodeAffinity != nil && a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil {
		return a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	}
	return nil
}

func jurisdictionCounts(term corev1.NodeSelectorTerm) map[string]int {
	out := map[string]int{}
	for _, e := range term.MatchExpressions {
		if strings.HasPrefix(e.Key, v1alpha1.JurisdictionLabelPrefix) {
			out[e.Key+string(e.Operator)+strings.Join(e.Values, ",")]++
		}
	}
	return out
}

// TestCompiledPoliciesAgree creates random pods under random policies through a real API server
// with the compiled admission policies installed, and checks that what it stores and denies is
// what the engine (the webhooks' path) decides.
func TestCompiledPoliciesAgree(t *testing.T) {
	c := apiServer(t)
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 15))
	seed := r.Uint64()
	if s, err := strconv.ParseUint(os.Getenv("RESIDENCY_AGREE_SEED"), 10, 64); err == nil {
		seed = s // reproduce a failure
	}
	r = rand.New(rand.NewPCG(seed, 15))
	t.Logf("seed %d (RESIDENCY_AGREE_SEED=%d reproduces this run)", seed, seed)
	nodes := randomNodes(r)
	now := time.Now()
	pods, warnedPods, deniedPods := 0, 0, 0
	for set := range 40 {
		namespace := fmt.Sprintf("agree-%d", set)
		p := randomPolicies(r, namespace, now)
		compiled := compileAndApply(t, c, namespace, p)
		batch := make([]*corev1.Pod, 60)
		for i := range batch {
			batch[i] = randomPod(r, namespace, i)
		}
		// The API server loads new policies asynchronously: retry the batch until it agrees, and
		// report the disagreements left after the deadline.
		deadline := time.Now().Add(15 * time.Second)
		for {
			var problems []string
			for _, pod := range batch {
				if d := disagreement(pod, decide(p, pod), admit(c, pod), nodes); d != "" {
					problems = append(problems, fmt.Sprintf("pod labels %v affinity %v nodeSelector %v: %s", pod.Labels, pod.Spec.Affinity, pod.Spec.NodeSelector, d))
				}
			}
			if len(problems) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("policy set %d (%s): %d of %d pods disagree, first: %s", set, describe(p), len(problems), len(batch), problems[0])
			}
			time.Sleep(200 * time.Millisecond)
		}
		for _, pod := range batch {
			switch want := decide(p, pod); {
			case len(want.denied) > 0:
				deniedPods++
			case len(want.warned) > 0:
				warnedPods++
			}
		}
		pods += len(batch)
		_ = c.Delete(context.Background(), compiled)
	}
	t.Logf("%d pods under 40 random policy sets agree with the engine (%d denied, %d admitted with warnings)", pods, deniedPods, warnedPods)
	// Half the sets are contested, each a denial or a warning: none of either means the sets no
	// longer exercise the deny or the warn policy, and agreement would prove nothing about them.
	if deniedPods == 0 || warnedPods == 0 {
		t.Errorf("the random policy sets denied %d pods and warned about %d: both must be exercised", deniedPods, warnedPods)
	}
}

func describe(p *engine.Policies) string {
	var parts []string
	for _, s := range p.Stores {
		parts = append(parts, fmt.Sprintf("%s %s %v %v", s.Name, engine.ModeOf(s), s.Spec.AllowedJurisdictions, s.Spec.WorkloadSelector))
	}
	for _, ex := range p.Exceptions {
		parts = append(parts, fmt.Sprintf("exception %v lifts %v until %v", ex.Spec.Selector, ex.Spec.Stores, ex.Spec.ExpiresAt))
	}
	return strings.Join(parts, "; ")
}

// FuzzCompile compiles policies built from random input and checks that the API server accepts
// the plan (its schema and bounds); the policies that read it are checked once, in apiServer.
func FuzzCompile(f *testing.F) {
	for _, seed := range []uint64{1, 2, 3, 42, 1 << 40} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, seed uint64) {
		c := apiServer(t)
		r := rand.New(rand.NewPCG(seed, 7))
		namespace := fmt.Sprintf("fuzz-%d", seed%1_000_000_007)
		p := randomPolicies(r, namespace, time.Now())
		plan, _, err := admissionpolicy.Compile(namespace, p)
		if err != nil {
			t.Fatal(err)
		}
		plan.Namespace = "default"
		if err := c.Create(context.Background(), plan, client.DryRunAll); err != nil {
			t.Fatalf("the API server refused the compiled plan for %s: %v", describe(p), err)
		}
	})
}

// TestCompileIgnoresListOrder: the cache lists stores and exceptions in no fixed order; the same
// policies must compile to the same plan, or the operator would rewrite it on every reconcile.
func TestCompileIgnoresListOrder(t *testing.T) {
	for seed := range uint64(300) {
		p := randomPolicies(rand.New(rand.NewPCG(seed, 3)), "order", time.Now())
		want, _, err := admissionpolicy.Compile("order", p)
		if err != nil {
			t.Fatal(err)
		}
		slices.Reverse(p.Stores)
		slices.Reverse(p.Exceptions)
		got, _, err := admissionpolicy.Compile("order", p)
		if err != nil {
			t.Fatal(err)
		}
		if !equality.Semantic.DeepEqual(want.Spec, got.Spec) {
			t.Fatalf("seed %d (%s): the plan depends on the order of the stores:\n%+v\n%+v", seed, describe(p), want.Spec, got.Spec)
		}
	}
}
