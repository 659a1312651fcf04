package deploy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	lua "github.com/yuin/gopher-lua"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

// The Argo CD health checks in charts/residency-operator/health, run the way Argo CD runs them
// (its util/lua package): a gopher-lua state with only the package, base and table libraries (a
// user's health script gets no string library unless useOpenLibs is set), a one-second deadline,
// the object as the global obj (JSON objects become tables, arrays 1-indexed tables, numbers Lua
// numbers), and the table the script returns read for status and message. The objects are real:
// created in the test API server from the CRDs, their statuses written through the status
// subresource, and read back as unstructured, as Argo CD's cache holds them.

const healthDir = "charts/residency-operator/health"

// healthKind is one of the operator's kinds: a valid object and a spec change that bumps its
// generation.
type healthKind struct {
	kind     string
	manifest string
	// specPatch is a JSON merge patch that changes the spec: a format with one %d, given the
	// current generation, so that every patch is a change.
	specPatch string
}

const healthNamespace = "health-checks"

var healthKinds = []healthKind{
	{kind: "Jurisdiction", manifest: `
apiVersion: dataresidency.io/v1alpha1
kind: Jurisdiction
metadata: {name: health-eu}
spec: {countries: [DE, FR]}`, specPatch: `{"spec":{"displayName":"Health EU %d"}}`},
	{kind: "PersonalDataStore", manifest: `
apiVersion: dataresidency.io/v1alpha1
kind: PersonalDataStore
metadata: {name: health-db, namespace: ` + healthNamespace + `}
spec:
  dataCategories: [ContactDetails]
  allowedJurisdictions: [health-eu]
  workloadSelector: {matchLabels: {app: db}}`, specPatch: `{"spec":{"description":"customers, revision %d"}}`},
	{kind: "DataProcessor", manifest: `
apiVersion: dataresidency.io/v1alpha1
kind: DataProcessor
metadata: {name: health-mail}
spec:
  role: ServiceProvider
  jurisdictions: [health-eu]
  purposes: [mail delivery]
  dataCategories: [ContactDetails]`, specPatch: `{"spec":{"description":"mail, revision %d"}}`},
	{kind: "ResidencyException", manifest: `
apiVersion: dataresidency.io/v1alpha1
kind: ResidencyException
metadata: {name: health-hold, namespace: ` + healthNamespace + `}
spec:
  selector: {matchLabels: {job-name: legal-hold-export}}
  stores: [health-db]
  reason: LegalProcess
  justification: Subpoena 2026-117 requires production of the records by counsel's review system.
  approvedBy: dpo@example.com
  expiresAt: "2099-12-31T00:00:00Z"`, specPatch: `{"spec":{"justification":"Subpoena 2026-117 requires production of the records, revision %d."}}`},
}

// health is what a script returned.
type health struct{ Status, Message string }

// cond builds a condition the way the operator writes them; the API server requires a reason and
// a transition time.
func cond(typ string, status metav1.ConditionStatus, reason, message string) metav1.Condition {
	return metav1.Condition{Type: typ, Status: status, Reason: reason, Message: message,
		LastTransitionTime: metav1.NewTime(time.Now().Truncate(time.Second))}
}

// healthState is a status the operator may write, and the health it must map to.
type healthState struct {
	name string
	// behind writes the status for the previous generation, after a spec change.
	behind     bool
	conditions []metav1.Condition
	want       health
}

const (
	readyMsg       = "labels in line on 3 nodes"
	reconcilingMsg = "listing nodes: the server is currently unable to handle the request"
	stalledMsg     = "nodeSelector: invalid label key \"-bad\""
	notReadyMsg    = "Jurisdiction \"mars\" does not exist"
)

// commonStates apply to every kind.
var commonStates = []healthState{
	{name: "a status without conditions", want: health{"Progressing", "Waiting for the operator"}},
	{name: "no Ready condition", conditions: []metav1.Condition{cond("SelectorTrusted", "True", "RestrictedKeys", "ok")},
		want: health{"Progressing", "Waiting for the operator"}},
	{name: "Ready=True", conditions: []metav1.Condition{cond("Ready", "True", "Resolved", readyMsg)},
		want: health{"Healthy", readyMsg}},
	{name: "Ready=True for an older generation", behind: true, conditions: []metav1.Condition{cond("Ready", "True", "Resolved", readyMsg)},
		want: health{"Progressing", "Waiting for the operator"}},
	{name: "Stalled=True for an older generation", behind: true, conditions: []metav1.Condition{
		cond("Ready", "False", "InvalidSelector", stalledMsg), cond("Stalled", "True", "InvalidSelector", stalledMsg)},
		want: health{"Progressing", "Waiting for the operator"}},
	{name: "Reconciling=True", conditions: []metav1.Condition{
		cond("Ready", "False", "ReconcileError", reconcilingMsg), cond("Reconciling", "True", "ReconcileError", reconcilingMsg)},
		want: health{"Progressing", reconcilingMsg}},
	{name: "Stalled=True", conditions: []metav1.Condition{
		cond("Ready", "False", "InvalidSelector", stalledMsg), cond("Stalled", "True", "InvalidSelector", stalledMsg)},
		want: health{"Degraded", stalledMsg}},
	{name: "Stalled=True and Reconciling=True: stalled wins", conditions: []metav1.Condition{
		cond("Ready", "False", "InvalidSelector", stalledMsg), cond("Reconciling", "True", "ReconcileError", reconcilingMsg),
		cond("Stalled", "True", "InvalidSelector", stalledMsg)},
		want: health{"Degraded", stalledMsg}},
	{name: "Ready=False alone", conditions: []metav1.Condition{cond("Ready", "False", "JurisdictionNotFound", notReadyMsg)},
		want: health{"Degraded", notReadyMsg}},
	{name: "Ready=Unknown", conditions: []metav1.Condition{cond("Ready", "Unknown", "Pending", "first reconcile")},
		want: health{"Progressing", "first reconcile"}},
}

const (
	violationsMsg = "2 violations: pod shop/db-0 runs on node us-east-1a (US), outside eu"
	compliantMsg  = "every governed pod and volume is in eu"
	activeMsg     = "LegalProcess exempts matching objects from stores [health-db] until 2099-12-31T00:00:00Z"
	expiredMsg    = "expired at 2026-01-01T00:00:00Z; the stores' rules apply again"
	startsMsg     = "starts at 2099-01-01T00:00:00Z"
	pendingMsg    = "exempts nothing until someone allowed to approve exceptions (the residency-approver role), other than its requester alice, approves it: kubectl residency approve exception/health-hold -n health"
	deniedMsg     = "denied by bob: exempts nothing"
)

// kindStates are the states only one kind has.
var kindStates = map[string][]healthState{
	"PersonalDataStore": {
		{name: "Ready=True, Compliant=False", conditions: []metav1.Condition{
			cond("Ready", "True", "Resolved", "policy in force"), cond("Compliant", "False", "Violations", violationsMsg)},
			want: health{"Degraded", violationsMsg}},
		{name: "Ready=True, Compliant=True", conditions: []metav1.Condition{
			cond("Ready", "True", "Resolved", "policy in force"), cond("Compliant", "True", "AllCompliant", compliantMsg)},
			want: health{"Healthy", compliantMsg}},
		{name: "Ready=False and Compliant=False: Ready's message", conditions: []metav1.Condition{
			cond("Ready", "False", "JurisdictionNotFound", notReadyMsg), cond("Compliant", "False", "Violations", violationsMsg)},
			want: health{"Degraded", notReadyMsg}},
	},
	"ResidencyException": {
		{name: "Ready=True, Active=True", conditions: []metav1.Condition{
			cond("Ready", "True", "Resolved", "stores exist"), cond("Active", "True", "WithinWindow", activeMsg)},
			want: health{"Healthy", "Active: " + activeMsg}},
		{name: "Ready=True, Active=False (expired)", conditions: []metav1.Condition{
			cond("Ready", "True", "Resolved", "stores exist"), cond("Active", "False", "Expired", expiredMsg)},
			want: health{"Healthy", "Expired: " + expiredMsg}},
		{name: "Ready=True, Active=False (pending approval)", conditions: []metav1.Condition{
			cond("Ready", "True", "Resolved", "stores exist"), cond("Active", "False", "PendingApproval", pendingMsg)},
			want: health{"Healthy", "Pending approval: " + pendingMsg}},
		{name: "Ready=True, Active=False (denied)", conditions: []metav1.Condition{
			cond("Ready", "True", "Resolved", "stores exist"), cond("Active", "False", "ApprovalDenied", deniedMsg)},
			want: health{"Healthy", "Denied: " + deniedMsg}},
		{name: "Ready=True, Active=False (not yet active)", conditions: []metav1.Condition{
			cond("Ready", "True", "Resolved", "stores exist"), cond("Active", "False", "NotYetActive", startsMsg)},
			want: health{"Healthy", "Not yet active: " + startsMsg}},
		{name: "Active=True without Ready", conditions: []metav1.Condition{cond("Active", "True", "WithinWindow", activeMsg)},
			want: health{"Progressing", "Waiting for the operator"}},
		{name: "Ready=False (store missing), Active=True", conditions: []metav1.Condition{
			cond("Ready", "False", "StoreNotFound", "store \"health-db\" does not exist"), cond("Active", "True", "WithinWindow", activeMsg)},
			want: health{"Degraded", "store \"health-db\" does not exist"}},
	},
}

// renderedHealth holds the scripts the chart renders, by kind: what Argo CD runs.
var renderedHealth = map[string]string{}

// readHealthScript returns the chart's rendered script for a kind: health/common.lua, then the
// kind's part.
func readHealthScript(kind string) string {
	GinkgoHelper()
	if len(renderedHealth) == 0 {
		out, err := helmTemplate("residency-operator", systemNamespace, "argocd.healthChecks.enabled=true")
		Expect(err).NotTo(HaveOccurred())
		objs, err := parseObjects(out)
		Expect(err).NotTo(HaveOccurred())
		cms := (&install{objects: objs}).all("", "ConfigMap")
		Expect(cms).To(HaveLen(1))
		data, _, err := unstructured.NestedStringMap(cms[0].Object, "data")
		Expect(err).NotTo(HaveOccurred())
		for key, script := range data {
			renderedHealth[strings.TrimPrefix(key, "resource.customizations.health.dataresidency.io_")] = script
		}
	}
	script, ok := renderedHealth[kind]
	Expect(ok).To(BeTrue(), "no rendered health check for %s", kind)
	return script
}

// healthSource reads the chart's files for a kind's script: the shared part, then the kind's.
func healthSource(kind string) string {
	GinkgoHelper()
	common, err := os.ReadFile(filepath.Join(repoRoot, healthDir, "common.lua"))
	Expect(err).NotTo(HaveOccurred())
	part, err := os.ReadFile(filepath.Join(repoRoot, healthDir, kind+".lua"))
	Expect(err).NotTo(HaveOccurred())
	return string(common) + string(part)
}

// runHealth runs a health script on an object as Argo CD does.
func runHealth(script string, object any) (health, error) {
	l := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer l.Close()
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{{lua.LoadLibName, lua.OpenPackage}, {lua.BaseLibName, lua.OpenBase}, {lua.TabLibName, lua.OpenTable}} {
		if err := l.CallByParam(lua.P{Fn: l.NewFunction(lib.open), NRet: 0, Protect: true}, lua.LString(lib.name)); err != nil {
			return health{}, err
		}
	}
	runCtx, stop := context.WithTimeout(context.Background(), time.Second)
	defer stop()
	l.SetContext(runCtx)
	l.SetGlobal("obj", toLua(l, object))
	if err := l.DoString(script); err != nil {
		return health{}, err
	}
	ret, ok := l.Get(-1).(*lua.LTable)
	if !ok {
		return health{}, fmt.Errorf("the script returned %s, not a table", l.Get(-1).Type())
	}
	var h health
	for field, into := range map[string]*string{"status": &h.Status, "message": &h.Message} {
		v := ret.RawGetString(field)
		if s, ok := v.(lua.LString); ok {
			*into = string(s)
		} else if v != lua.LNil {
			return health{}, fmt.Errorf("%s is a %s, not a string", field, v.Type())
		}
	}
	switch h.Status {
	case "Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown":
	default:
		return health{}, fmt.Errorf("%q is not a health status Argo CD knows", h.Status)
	}
	return h, nil
}

// toLua converts a decoded JSON value to Lua as Argo CD's decodeValue does.
func toLua(l *lua.LState, v any) lua.LValue {
	switch v := v.(type) {
	case bool:
		return lua.LBool(v)
	case float64:
		return lua.LNumber(v)
	case int64:
		return lua.LNumber(v)
	case int:
		return lua.LNumber(v)
	case json.Number:
		return lua.LString(v)
	case string:
		return lua.LString(v)
	case []any:
		t := l.CreateTable(len(v), 0)
		for _, item := range v {
			t.Append(toLua(l, item))
		}
		return t
	case map[string]any:
		t := l.CreateTable(0, len(v))
		for key, item := range v {
			t.RawSetH(lua.LString(key), toLua(l, item))
		}
		return t
	}
	return lua.LNil
}

var _ = Describe("Argo CD health checks (charts/residency-operator/health, run with gopher-lua)", func() {
	BeforeEach(func() {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: healthNamespace}}
		if err := k8sClient.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
			Expect(err).NotTo(HaveOccurred())
		}
	})

	for _, hk := range healthKinds {
		Context("for "+hk.kind, Ordered, func() {
			var script string
			var key client.ObjectKey
			var u *unstructured.Unstructured

			// get reads the object back from the API server as Argo CD's cache holds it.
			get := func() *unstructured.Unstructured {
				out := &unstructured.Unstructured{}
				out.SetGroupVersionKind(u.GroupVersionKind())
				Expect(k8sClient.Get(ctx, key, out)).To(Succeed())
				return out
			}
			expectHealth := func(obj *unstructured.Unstructured, want health) {
				got, err := runHealth(script, obj.Object)
				Expect(err).NotTo(HaveOccurred())
				Expect(got).To(Equal(want), "status: %v", obj.Object["status"])
			}
			writeStatus := func(observed int64, conditions []metav1.Condition) {
				obj := get()
				st := map[string]any{"observedGeneration": observed}
				if len(conditions) > 0 {
					raw, err := json.Marshal(conditions)
					Expect(err).NotTo(HaveOccurred())
					var conds []any
					Expect(json.Unmarshal(raw, &conds)).To(Succeed())
					st["conditions"] = conds
				}
				obj.Object["status"] = st
				Expect(k8sClient.Status().Update(ctx, obj)).To(Succeed())
			}

			BeforeAll(func() {
				script = readHealthScript(hk.kind)
				u = &unstructured.Unstructured{}
				Expect(yaml.Unmarshal([]byte(hk.manifest), &u.Object)).To(Succeed())
				Expect(k8sClient.Create(ctx, u)).To(Succeed())
				key = client.ObjectKeyFromObject(u)
				DeferCleanup(func() {
					obj := &unstructured.Unstructured{}
					obj.SetGroupVersionKind(u.GroupVersionKind())
					if err := k8sClient.Get(ctx, key, obj); err == nil {
						obj.SetFinalizers(nil)
						Expect(client.IgnoreNotFound(k8sClient.Update(ctx, obj))).To(Succeed())
						Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, obj))).To(Succeed())
					}
				})
			})

			It("is Progressing while the operator has written no status", func() {
				obj := get()
				Expect(obj.Object).NotTo(HaveKey("status"), "the API server keeps no status on create")
				expectHealth(obj, health{"Progressing", "Waiting for the operator"})
			})

			for _, s := range append(append([]healthState{}, commonStates...), kindStates[hk.kind]...) {
				It(fmt.Sprintf("is %s with %s", s.want.Status, s.name), func() {
					generation := get().GetGeneration()
					observed := generation
					if s.behind {
						Expect(k8sClient.Patch(ctx, get(), client.RawPatch(types.MergePatchType, fmt.Appendf(nil, hk.specPatch, generation)))).To(Succeed())
						Expect(get().GetGeneration()).To(Equal(generation + 1))
					}
					writeStatus(observed, s.conditions)
					obj := get()
					Expect(obj.GetGeneration() > observed).To(Equal(s.behind))
					expectHealth(obj, s.want)
				})
			}

			It("is Progressing while it is being deleted, whatever its conditions say", func() {
				writeStatus(get().GetGeneration(), []metav1.Condition{cond("Ready", "True", "Resolved", readyMsg)})
				obj := get()
				obj.SetFinalizers([]string{"health-checks.dataresidency.io/hold"})
				Expect(k8sClient.Update(ctx, obj)).To(Succeed())
				Expect(k8sClient.Delete(ctx, obj)).To(Succeed())
				obj = get()
				Expect(obj.GetDeletionTimestamp()).NotTo(BeNil())
				expectHealth(obj, health{"Progressing", "Deleting"})
			})
		})
	}

	It("each script survives objects Argo CD may hand it: no status, odd shapes, numbers as strings", func() {
		odd := []struct {
			name   string
			object string
			want   health
		}{
			{"nothing but a kind", `{"apiVersion":"dataresidency.io/v1alpha1","kind":"K"}`, health{"Progressing", "Waiting for the operator"}},
			{"metadata without generation, no status", `{"metadata":{"name":"x"}}`, health{"Progressing", "Waiting for the operator"}},
			{"status is a string", `{"metadata":{"generation":1},"status":"weird"}`, health{"Progressing", "Waiting for the operator"}},
			{"conditions is an object", `{"metadata":{"generation":1},"status":{"observedGeneration":1,"conditions":{"type":"Ready"}}}`,
				health{"Progressing", "Waiting for the operator"}},
			{"conditions hold non-objects and a Ready without message or reason",
				`{"metadata":{"generation":1},"status":{"observedGeneration":1,"conditions":["x",7,null,{"status":"True"},{"type":"Ready","status":"False"}]}}`,
				health{"Degraded", "Not ready"}},
			{"generations as strings (json.Number)", `{"metadata":{"generation":"2"},"status":{"observedGeneration":"1","conditions":[{"type":"Ready","status":"True","message":"ok"}]}}`,
				health{"Progressing", "Waiting for the operator"}},
			{"no generation at all, Ready=True", `{"status":{"conditions":[{"type":"Ready","status":"True","message":"ok"}]}}`,
				health{"Healthy", "ok"}},
		}
		for _, hk := range healthKinds {
			script := readHealthScript(hk.kind)
			for _, o := range odd {
				var object map[string]any
				Expect(json.Unmarshal([]byte(o.object), &object)).To(Succeed())
				got, err := runHealth(script, object)
				Expect(err).NotTo(HaveOccurred(), "%s on %s", hk.kind, o.name)
				Expect(got).To(Equal(o.want), "%s on %s", hk.kind, o.name)
			}
			got, err := runHealth(script, nil)
			Expect(err).NotTo(HaveOccurred(), "%s on a nil object", hk.kind)
			Expect(got.Status).To(Equal("Progressing"))
		}
	})

	It("are what the chart renders into argocd-cm keys, one per kind, only when argocd.healthChecks.enabled", func() {
		Expect(render(chartVariants[0]).all("", "ConfigMap")).To(BeEmpty(), "not by default")
		out, err := helmTemplate("residency-operator", systemNamespace, "argocd.healthChecks.enabled=true")
		Expect(err).NotTo(HaveOccurred())
		objs, err := parseObjects(out)
		Expect(err).NotTo(HaveOccurred())
		in := &install{objects: objs}
		cms := in.all("", "ConfigMap")
		Expect(cms).To(HaveLen(1))
		Expect(cms[0].GetName()).To(Equal("residency-operator-argocd-health"))
		Expect(cms[0].GetNamespace()).To(Equal(systemNamespace))
		data, _, err := unstructured.NestedStringMap(cms[0].Object, "data")
		Expect(err).NotTo(HaveOccurred())
		want := map[string]string{}
		for _, hk := range healthKinds {
			want["resource.customizations.health.dataresidency.io_"+hk.kind] = healthSource(hk.kind)
		}
		Expect(data).To(Equal(want))
		Expect(k8sClient.Create(ctx, cms[0], client.DryRunAll)).To(Succeed())
	})
})
