package check

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
	"github.com/residency-operator/residency-operator/internal/catalog"
	"github.com/residency-operator/residency-operator/internal/manifest"
)

var testNow = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

// policies are the shared policy manifests of the table: eu and us, and a store per enforcement
// mode in namespace shop.
const policies = `
apiVersion: dataresidency.io/v1alpha1
kind: Jurisdiction
metadata: {name: eu}
spec: {countries: [DE, FR, IE, NL]}
---
apiVersion: dataresidency.io/v1alpha1
kind: Jurisdiction
metadata: {name: us}
spec: {countries: [US]}
---
apiVersion: dataresidency.io/v1alpha1
kind: PersonalDataStore
metadata: {name: db, namespace: shop}
spec:
  dataCategories: [Credentials]
  allowedJurisdictions: [eu]
  workloadSelector: {matchLabels: {store: db}}
  volumeSelector: {matchLabels: {store: db}}
---
apiVersion: dataresidency.io/v1alpha1
kind: PersonalDataStore
metadata: {name: us-only, namespace: shop}
spec:
  dataCategories: [Transactions]
  allowedJurisdictions: [us]
  workloadSelector: {matchLabels: {store: us-only}}
---
apiVersion: dataresidency.io/v1alpha1
kind: PersonalDataStore
metadata: {name: audited, namespace: shop}
spec:
  dataCategories: [UsageActivity]
  allowedJurisdictions: [eu]
  enforcement: Audit
  workloadSelector: {matchLabels: {store: audited}}
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: immediate}
provisioner: x
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: wffc}
provisioner: x
volumeBindingMode: WaitForFirstConsumer
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: frankfurt}
provisioner: x
allowedTopologies: [{matchLabelExpressions: [{key: topology.kubernetes.io/zone, values: [eu-central-1a, eu-central-1b]}]}]
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: ohio}
provisioner: x
allowedTopologies: [{matchLabelExpressions: [{key: topology.kubernetes.io/region, values: [eu-central-1, us-east-2]}]}]
---
apiVersion: v1
kind: PersistentVolume
metadata: {name: pv-virginia, labels: {topology.kubernetes.io/region: us-east-1}}
spec: {capacity: {storage: 1Gi}, accessModes: [ReadWriteOnce]}
`

// deployment renders a Deployment in shop with labels and a pod spec snippet.
func deployment(name, labels, podSpec string) string {
	return "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: " + name + ", namespace: shop}\nspec:\n  template:\n    metadata:\n      labels: " + labels +
		"\n    spec:\n      containers: [{name: c, image: i}]\n" + indent(podSpec, "      ")
}

func indent(s, prefix string) string {
	if s == "" {
		return ""
	}
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i := range lines {
		lines[i] = prefix + lines[i]
	}
	return strings.Join(lines, "\n") + "\n"
}

func claim(name, labels, spec string) string {
	return "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: " + name + ", namespace: shop, labels: " + labels + "}\nspec:\n  accessModes: [ReadWriteOnce]\n" + indent(spec, "  ")
}

// summary renders findings as "severity RULE Kind ns/name".
func summary(fs []Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, string(f.Severity)+" "+f.Rule+" "+f.Object.String())
	}
	return out
}

func runCheck(t *testing.T, docs string, opts Options) *Result {
	t.Helper()
	set := manifest.NewSet(manifest.Options{})
	if err := set.AddBytes("test.yaml", []byte(docs)); err != nil {
		t.Fatalf("loading: %v", err)
	}
	if opts.Now.IsZero() {
		opts.Now = testNow
	}
	return Run(set, opts)
}

func TestWorkloads(t *testing.T) {
	tests := []struct {
		name     string
		doc      string
		provider catalog.Provider
		want     []string
	}{
		{"not governed", deployment("web", "{app: web}", "nodeSelector: {topology.kubernetes.io/region: us-east-1}"), "", nil},
		{"governed, no constraints", deployment("web", "{store: db}", ""), "", nil},
		{"nodeSelector in a us region for an eu store", deployment("web", "{store: db}", "nodeSelector: {topology.kubernetes.io/region: us-east-1}"), "",
			[]string{"error RES001 Deployment shop/web"}},
		{"nodeSelector in an eu region", deployment("web", "{store: db}", "nodeSelector: {topology.kubernetes.io/region: eu-central-1}"), "", nil},
		{"affinity with one permitted region", deployment("web", "{store: db}", `affinity:
  nodeAffinity:
    requiredDuringSchedulingIgnoredDuringExecution:
      nodeSelectorTerms:
      - matchExpressions: [{key: topology.kubernetes.io/region, operator: In, values: [us-east-1, eu-west-3]}]`), "", nil},
		{"affinity with two terms, both outside", deployment("web", "{store: db}", `affinity:
  nodeAffinity:
    requiredDuringSchedulingIgnoredDuringExecution:
      nodeSelectorTerms:
      - matchExpressions: [{key: topology.kubernetes.io/region, operator: In, values: [us-east-1]}]
      - matchExpressions: [{key: failure-domain.beta.kubernetes.io/zone, operator: In, values: [us-west-2b]}]`), "",
			[]string{"error RES001 Deployment shop/web"}},
		{"unknown region", deployment("web", "{store: db}", "nodeSelector: {topology.kubernetes.io/region: moon-1}"), "",
			[]string{"warning RES003 Deployment shop/web"}},
		{"ambiguous region without a provider", deployment("web", "{store: db}", "nodeSelector: {topology.kubernetes.io/region: eu-west-1}"), "",
			[]string{"warning RES003 Deployment shop/web"}},
		{"ambiguous region at AWS", deployment("web", "{store: db}", "nodeSelector: {topology.kubernetes.io/region: eu-west-1}"), catalog.AWS, nil},
		{"ambiguous region at Alibaba", deployment("web", "{store: db}", "nodeSelector: {topology.kubernetes.io/region: eu-west-1}"), catalog.Alibaba,
			[]string{"error RES001 Deployment shop/web"}},
		{"ambiguous region, the cloud told by the StorageClass shipped with it", deployment("web", "{store: db}", "nodeSelector: {topology.kubernetes.io/region: eu-west-1}") +
			"---\napiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: {name: gp3}\nprovisioner: ebs.csi.aws.com\nvolumeBindingMode: WaitForFirstConsumer\n", "", nil},
		{"ambiguous region, StorageClasses of two clouds tell nothing", deployment("web", "{store: db}", "nodeSelector: {topology.kubernetes.io/region: eu-west-1}") +
			"---\napiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: {name: gp3}\nprovisioner: ebs.csi.aws.com\nvolumeBindingMode: WaitForFirstConsumer\n" +
			"---\napiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: {name: pd}\nprovisioner: pd.csi.storage.gke.io\nvolumeBindingMode: WaitForFirstConsumer\n", "",
			[]string{"warning RES003 Deployment shop/web"}},
		{"stores disagree", deployment("web", "{store: db}", "") + "---\n" + deployment("both", "{store: db, x: y}", "") +
			"---\napiVersion: dataresidency.io/v1alpha1\nkind: PersonalDataStore\nmetadata: {name: us2, namespace: shop}\nspec: {dataCategories: [Transactions], allowedJurisdictions: [us], workloadSelector: {matchLabels: {x: y}}}\n", "",
			[]string{"error RES002 Deployment shop/both"}},
		{"audit store: a warning", deployment("web", "{store: audited}", "nodeSelector: {topology.kubernetes.io/region: us-east-1}"), "",
			[]string{"warning RES001 Deployment shop/web"}},
		{"enforce and audit stores disagree: the audit part is a warning", deployment("web", "{store: audited, x: y}", "") +
			"---\napiVersion: dataresidency.io/v1alpha1\nkind: PersonalDataStore\nmetadata: {name: us3, namespace: shop}\nspec: {dataCategories: [Transactions], allowedJurisdictions: [us], workloadSelector: {matchLabels: {x: y}}}\n", "",
			[]string{"warning RES002 Deployment shop/web"}},
		{"nodeName offline", "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: shop, labels: {store: db}}\nspec: {nodeName: n1, containers: [{name: c, image: i}]}\n", "",
			[]string{"warning RES010 Pod shop/p"}},
		// Approval is recorded only by the cluster's webhook: a decision written in a file counts for nothing.
		{"an exception in the files lifts nothing, whatever status it claims", deployment("web", "{store: db, job: legal}", "nodeSelector: {topology.kubernetes.io/region: us-east-1}") + "---\n" + exception("2027-01-01T00:00:00Z") +
			"status: {approval: {decision: Approved, user: dpo, generation: 0}}\n", "",
			[]string{"error RES001 Deployment shop/web", "warning RES020 ResidencyException shop/legal"}},
		{"expired exception lifts nothing", deployment("web", "{store: db, job: legal}", "nodeSelector: {topology.kubernetes.io/region: us-east-1}") + "---\n" + exception("2026-01-01T00:00:00Z"), "",
			[]string{"error RES001 Deployment shop/web", "warning RES009 ResidencyException shop/legal"}},
		{"pre-pinned to the us jurisdiction label", deployment("web", "{store: db}", "nodeSelector: {jurisdiction.dataresidency.node-restriction.kubernetes.io/us: \"true\"}"), "",
			[]string{"error RES001 Deployment shop/web"}},
		{"other namespace", strings.Replace(deployment("web", "{store: db}", "nodeSelector: {topology.kubernetes.io/region: us-east-1}"), "namespace: shop", "namespace: other", 1), "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runCheck(t, policies+"---\n"+tt.doc, Options{Provider: tt.provider})
			if diff := cmp.Diff(tt.want, summary(res.Findings)); diff != "" {
				t.Errorf("findings (-want +got):\n%s\n%v", diff, res.Findings)
			}
		})
	}
}

func exception(expires string) string {
	return `apiVersion: dataresidency.io/v1alpha1
kind: ResidencyException
metadata: {name: legal, namespace: shop}
spec:
  selector: {matchLabels: {job: legal}}
  stores: [db]
  reason: LegalProcess
  justification: a court order requires the export
  approvedBy: dpo@example.com
  expiresAt: "` + expires + `"
`
}

func TestStorage(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []string
	}{
		{"not governed", claim("c", "{app: x}", "storageClassName: immediate"), nil},
		{"immediate without topologies", claim("c", "{store: db}", "storageClassName: immediate"), []string{"error RES004 PersistentVolumeClaim shop/c"}},
		{"wait for first consumer", claim("c", "{store: db}", "storageClassName: wffc"), nil},
		{"topologies in permitted zones", claim("c", "{store: db}", "storageClassName: frankfurt"), nil},
		{"topologies partly outside", claim("c", "{store: db}", "storageClassName: ohio"), []string{"error RES004 PersistentVolumeClaim shop/c"}},
		{"no class and no default: static binding", claim("c", "{store: db}", ""), nil},
		{"unknown class offline", claim("c", "{store: db}", "storageClassName: gold"), []string{"warning RES011 PersistentVolumeClaim shop/c"}},
		{"empty class name", claim("c", "{store: db}", "storageClassName: \"\""), nil},
		{"pre-bound outside", claim("c", "{store: db}", "volumeName: pv-virginia"), []string{"error RES014 PersistentVolumeClaim shop/c"}},
		{"pre-bound to an unknown volume", claim("c", "{store: db}", "volumeName: pv-nowhere"), []string{"warning RES014 PersistentVolumeClaim shop/c"}},
		{"mounted by a governed pod", claim("c", "{app: x}", "storageClassName: immediate") + "---\n" +
			deployment("web", "{store: db}", "volumes: [{name: v, persistentVolumeClaim: {claimName: c}}]"), []string{"error RES004 PersistentVolumeClaim shop/c"}},
		{"volumeClaimTemplates", "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: s, namespace: shop}\nspec:\n  template:\n    metadata: {labels: {store: db}}\n    spec: {containers: [{name: c, image: i}]}\n" +
			"  volumeClaimTemplates: [{metadata: {name: data}, spec: {storageClassName: immediate}}]\n", []string{"error RES004 StatefulSet shop/s"}},
		{"ephemeral volume", deployment("web", "{store: db}", "volumes: [{name: v, ephemeral: {volumeClaimTemplate: {spec: {storageClassName: ohio}}}}]"),
			[]string{"error RES004 Deployment shop/web"}},
		{"audit store: a warning", claim("c", "{store: audited}", "storageClassName: immediate") + "---\n" +
			deployment("web", "{store: audited}", "volumes: [{name: v, persistentVolumeClaim: {claimName: c}}]"), []string{"warning RES004 PersistentVolumeClaim shop/c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runCheck(t, policies+"---\n"+tt.doc, Options{})
			if diff := cmp.Diff(tt.want, summary(res.Findings)); diff != "" {
				t.Errorf("findings (-want +got):\n%s\n%v", diff, res.Findings)
			}
		})
	}
}

func TestDefaultStorageClass(t *testing.T) {
	doc := "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: {name: std, annotations: {storageclass.kubernetes.io/is-default-class: \"true\"}}\nprovisioner: x\n---\n" +
		claim("c", "{store: db}", "")
	res := runCheck(t, policies+"---\n"+doc, Options{})
	if diff := cmp.Diff([]string{"error RES004 PersistentVolumeClaim shop/c"}, summary(res.Findings)); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
	if !strings.Contains(res.Findings[0].Message, `StorageClass "std"`) {
		t.Errorf("message does not name the default class: %s", res.Findings[0].Message)
	}
}

func TestPolicies(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []string
	}{
		{"missing jurisdiction", "apiVersion: dataresidency.io/v1alpha1\nkind: PersonalDataStore\nmetadata: {name: s, namespace: shop}\nspec: {dataCategories: [Credentials], allowedJurisdictions: [eu, apac], workloadSelector: {matchLabels: {a: b}}}\n",
			[]string{"error RES005 PersonalDataStore shop/s"}},
		{"processors", "apiVersion: dataresidency.io/v1alpha1\nkind: PersonalDataStore\nmetadata: {name: s, namespace: shop}\nspec: {dataCategories: [Credentials, ContactDetails], allowedJurisdictions: [eu], workloadSelector: {matchLabels: {a: b}}, processors: [ok, us, thin, gone]}\n" +
			processor("ok", "eu", "Credentials, ContactDetails, EmailEngagement") + processor("us", "us", "Credentials, ContactDetails") + processor("thin", "eu", "ContactDetails"),
			[]string{"error RES006 PersonalDataStore shop/s", "error RES007 PersonalDataStore shop/s", "error RES008 PersonalDataStore shop/s"}},
		{"processor in an undefined jurisdiction", processor("p", "mars", "Credentials"), []string{"error RES005 DataProcessor p"}},
		{"empty selectors", "apiVersion: dataresidency.io/v1alpha1\nkind: PersonalDataStore\nmetadata: {name: s, namespace: shop}\nspec: {dataCategories: [Credentials], allowedJurisdictions: [eu], workloadSelector: {}, volumeSelector: {matchExpressions: [{key: a, operator: Sometimes}]}}\n",
			[]string{"error RES015 PersonalDataStore shop/s", "error RES015 PersonalDataStore shop/s"}},
		{"exception for a missing store", strings.Replace(exception("2027-01-01T00:00:00Z"), "stores: [db]", "stores: [nope]", 1), []string{"warning RES013 ResidencyException shop/legal", "warning RES020 ResidencyException shop/legal"}},
		{"forgeable jurisdiction selector", "apiVersion: dataresidency.io/v1alpha1\nkind: Jurisdiction\nmetadata: {name: lab}\nspec: {nodeSelector: {matchLabels: {topology.kubernetes.io/region: lab-1}}}\n",
			[]string{"warning RES016 Jurisdiction lab"}},
		{"safe jurisdiction selector", "apiVersion: dataresidency.io/v1alpha1\nkind: Jurisdiction\nmetadata: {name: lab}\nspec: {nodeSelector: {matchLabels: {site.dataresidency.node-restriction.kubernetes.io/lab: \"true\"}}}\n", nil},
		{"a store whose pods another store always governs", "apiVersion: dataresidency.io/v1alpha1\nkind: PersonalDataStore\nmetadata: {name: web-us, namespace: shop}\nspec: {dataCategories: [UsageActivity], allowedJurisdictions: [us], workloadSelector: {matchLabels: {store: db, tier: web}}}\n",
			[]string{"error RES002 PersonalDataStore shop/web-us"}},
		{"stores that may share a pod are left to the workloads", "apiVersion: dataresidency.io/v1alpha1\nkind: PersonalDataStore\nmetadata: {name: web-us, namespace: shop}\nspec: {dataCategories: [UsageActivity], allowedJurisdictions: [us], workloadSelector: {matchLabels: {tier: web}}}\n",
			nil},
		{"not a country code", "apiVersion: dataresidency.io/v1alpha1\nkind: Jurisdiction\nmetadata: {name: gb}\nspec: {countries: [UK]}\n", []string{"error RES015 Jurisdiction gb"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runCheck(t, policies+"---\n"+tt.doc, Options{})
			if diff := cmp.Diff(tt.want, summary(res.Findings)); diff != "" {
				t.Errorf("findings (-want +got):\n%s\n%v", diff, res.Findings)
			}
		})
	}
}

func processor(name, jurisdiction, categories string) string {
	return "---\napiVersion: dataresidency.io/v1alpha1\nkind: DataProcessor\nmetadata: {name: " + name + "}\nspec: {role: ServiceProvider, jurisdictions: [" + jurisdiction +
		"], purposes: [mail], dataCategories: [" + categories + "]}\n"
}

// TestLiveApprovedException: an exception the cluster approved at its current generation lifts
// its stores for the checked workloads; one approved at an earlier generation does not.
func TestLiveApprovedException(t *testing.T) {
	for _, tc := range []struct {
		name               string
		generation, signed int64
		want               []string
	}{
		{"approved", 1, 1, nil},
		{"edited since", 2, 1, []string{"error RES001 Deployment shop/web"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			live := manifest.NewSet(manifest.Options{})
			if err := live.AddBytes("cluster", []byte(policies)); err != nil {
				t.Fatal(err)
			}
			live.AddTyped(&v1alpha1.ResidencyException{
				ObjectMeta: metav1.ObjectMeta{Name: "legal", Namespace: "shop", Generation: tc.generation},
				Spec: v1alpha1.ResidencyExceptionSpec{Selector: metav1.LabelSelector{MatchLabels: map[string]string{"job": "legal"}},
					Stores: []v1alpha1.ObjectName{"db"}, Reason: v1alpha1.LegalProcess, ExpiresAt: metav1.NewTime(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC))},
				Status: v1alpha1.ResidencyExceptionStatus{Approval: &v1alpha1.ExceptionApproval{Decision: v1alpha1.Approved, User: "dpo", Generation: tc.signed}},
			}, manifest.Source{})
			doc := deployment("web", "{store: db, job: legal}", "nodeSelector: {topology.kubernetes.io/region: us-east-1}")
			res := runCheck(t, doc, Options{Policies: live, Live: true})
			if diff := cmp.Diff(tc.want, summary(res.Findings)); diff != "" {
				t.Errorf("findings (-want +got):\n%s\n%v", diff, res.Findings)
			}
		})
	}
}

// TestLive checks against policies from elsewhere (a cluster): the files' own policies are
// ignored, missing StorageClasses are errors, and nodeName is judged against the node.
func TestLive(t *testing.T) {
	live := manifest.NewSet(manifest.Options{})
	if err := live.AddBytes("cluster", []byte(policies)); err != nil {
		t.Fatal(err)
	}
	nodes := map[string]*corev1.Node{
		"fra-1": {ObjectMeta: metav1.ObjectMeta{Name: "fra-1", Labels: map[string]string{v1alpha1.JurisdictionLabel("eu"): "true"}}},
		"iad-1": {ObjectMeta: metav1.ObjectMeta{Name: "iad-1", Labels: map[string]string{v1alpha1.JurisdictionLabel("us"): "true", "topology.kubernetes.io/region": "us-east-1"}}},
	}
	pod := func(name, node string) string {
		return "---\napiVersion: v1\nkind: Pod\nmetadata: {name: " + name + ", namespace: shop, labels: {store: db}}\nspec: {nodeName: " + node + ", containers: [{name: c, image: i}]}\n"
	}
	doc := "apiVersion: dataresidency.io/v1alpha1\nkind: PersonalDataStore\nmetadata: {name: ignored, namespace: shop}\nspec: {dataCategories: [Credentials], allowedJurisdictions: [nowhere], workloadSelector: {}}\n" +
		pod("on-fra", "fra-1") + pod("on-iad", "iad-1") + pod("on-ghost", "ghost") + "---\n" + claim("c", "{store: db}", "storageClassName: gold")
	res := runCheck(t, doc, Options{Policies: live, Live: true, NodeByName: func(n string) *corev1.Node { return nodes[n] }})
	want := []string{"error RES010 Pod shop/on-iad", "error RES010 Pod shop/on-ghost", "error RES011 PersistentVolumeClaim shop/c"}
	if diff := cmp.Diff(want, summary(res.Findings)); diff != "" {
		t.Errorf("findings (-want +got):\n%s\n%v", diff, res.Findings)
	}
	if f := res.Findings[0]; f.File != "test.yaml" || f.Line == 0 || !strings.Contains(f.Message, "node iad-1 (region us-east-1") {
		t.Errorf("finding = %+v", f)
	}
}

func TestFindingsCarryPlaceAndFix(t *testing.T) {
	res := runCheck(t, policies+"---\n"+deployment("web", "{store: db}", "nodeSelector: {topology.kubernetes.io/region: us-east-1}"), Options{})
	if len(res.Findings) != 1 {
		t.Fatalf("findings = %v", res.Findings)
	}
	f := res.Findings[0]
	if f.File != "test.yaml" || f.Line != 66 || f.Name != "placement-contradicts-store" || f.Object.Kind != "Deployment" {
		t.Errorf("finding = %+v", f)
	}
	for _, want := range []string{"us-east-1", `store "db" allows [eu]`, "Fix:", "spec.template.spec.nodeSelector"} {
		if !strings.Contains(f.Message, want) {
			t.Errorf("message %q does not contain %q", f.Message, want)
		}
	}
}

func TestRulesAreComplete(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range Rules {
		if seen[r.ID] || r.Name == "" || r.Short == "" || r.Help == "" || (r.Default != Error && r.Default != Warning) {
			t.Errorf("rule %+v is incomplete or repeated", r)
		}
		seen[r.ID] = true
		if got, ok := RuleByID(r.ID); !ok || got.Name != r.Name {
			t.Errorf("RuleByID(%s) = %v, %v", r.ID, got, ok)
		}
	}
}

// TestSharedRegionNames: eu-west-1 is Ireland at AWS and London at Alibaba. The StorageClass's
// provisioner says which, else --provider; with neither, the claim is refused, saying how to tell.
func TestSharedRegionNames(t *testing.T) {
	class := func(name, provisioner string) string {
		return "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: {name: " + name + "}\nprovisioner: " + provisioner +
			"\nvolumeBindingMode: Immediate\nallowedTopologies:\n- matchLabelExpressions:\n  - {key: topology.kubernetes.io/region, values: [eu-west-1, eu-central-1]}\n"
	}
	tests := []struct {
		name     string
		class    string
		provider catalog.Provider
		want     []string
		message  string
	}{
		{"AWS's regional class", class("regional", "ebs.csi.aws.com"), "", nil, ""},
		{"AWS's in-tree provisioner", class("regional", "kubernetes.io/aws-ebs"), "", nil, ""},
		{"Alibaba's London", class("regional", "diskplugin.csi.alibabacloud.com"), "", []string{"error RES004 PersistentVolumeClaim shop/c"}, "country GB"},
		{"an unknown provisioner", class("regional", "disk.example.com"), "", []string{"error RES004 PersistentVolumeClaim shop/c"},
			`region eu-west-1 is IE at aws, GB at alibaba, and provisioner "disk.example.com" does not say which cloud it is`},
		{"an unknown provisioner with --provider aws", class("regional", "disk.example.com"), catalog.AWS, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runCheck(t, policies+"---\n"+tt.class+"---\n"+claim("c", "{store: db}", "storageClassName: regional"), Options{Provider: tt.provider})
			if diff := cmp.Diff(tt.want, summary(res.Findings)); diff != "" {
				t.Fatalf("findings (-want +got):\n%s\n%v", diff, res.Findings)
			}
			if tt.message != "" && !strings.Contains(res.Findings[0].Message, tt.message) {
				t.Errorf("message %q lacks %q", res.Findings[0].Message, tt.message)
			}
		})
	}
}

// TestApplyOrder: a store applied with its workloads in a Namespace of the same files that does
// not wait for its policies is reported (RES018); labelled, it is not.
func TestApplyOrder(t *testing.T) {
	workload := `
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {store: db}}
  template:
    metadata: {labels: {store: db}}
    spec: {containers: [{name: web, image: web:1}]}
`
	for _, tc := range []struct {
		name, namespace string
		want            int
	}{
		{"namespace not in the files", "", 0},
		{"namespace that does not wait", "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n", 1},
		{"namespace that waits", "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: shop, labels: {dataresidency.io/await-policies: \"true\"}}\n", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := findingsOf(runCheck(t, policies+tc.namespace+workload, Options{Now: testNow}), RuleApplyOrder)
			if len(got) != tc.want {
				t.Fatalf("RES018 findings = %v, want %d", got, tc.want)
			}
			if tc.want > 0 && (!strings.Contains(got[0].Message, `store "db"`) || !strings.Contains(got[0].Message, "Deployment web") ||
				got[0].Severity != Warning) {
				t.Errorf("finding = %+v", got[0])
			}
		})
	}
}

// TestHostPath: a governed pod template that mounts a hostPath volume is a warning (RES019), with
// the engine's words; an ungoverned one is not.
func TestHostPath(t *testing.T) {
	deployment := func(labels string) string {
		return `
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: spool, namespace: shop}
spec:
  selector: {matchLabels: ` + labels + `}
  template:
    metadata: {labels: ` + labels + `}
    spec:
      containers: [{name: app, image: app:1}]
      volumes: [{name: spool, hostPath: {path: /var/spool/app}}]
`
	}
	for _, tc := range []struct {
		name, labels string
		want         int
	}{
		{"governed", "{store: db}", 1},
		{"not governed", "{app: other}", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := findingsOf(runCheck(t, policies+deployment(tc.labels), Options{Now: testNow}), RuleHostPath)
			if len(got) != tc.want {
				t.Fatalf("RES019 findings = %v, want %d", got, tc.want)
			}
			if tc.want > 0 && (!strings.Contains(got[0].Message, "spec.template.spec.volumes: it mounts hostPath spool (/var/spool/app)") || got[0].Severity != Warning) {
				t.Errorf("finding = %+v", got[0])
			}
		})
	}
}

// findingsOf returns the findings of one rule.
func findingsOf(res *Result, rule Rule) []Finding {
	var out []Finding
	for _, f := range res.Findings {
		if f.Rule == rule.ID {
			out = append(out, f)
		}
	}
	return out
}
