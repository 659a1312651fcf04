package v1alpha1_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"
)

// fromYAML decodes one object; the tests write invalid objects as YAML so that they can say
// things Go's typed structs cannot (a missing required field, a wrong type).
func fromYAML(doc string) *unstructured.Unstructured {
	obj := &unstructured.Unstructured{}
	Expect(yaml.Unmarshal([]byte(doc), &obj.Object)).To(Succeed())
	return obj
}

const validStore = `
apiVersion: dataresidency.io/v1alpha1
kind: PersonalDataStore
metadata: {name: NAME, namespace: validation}
spec:
  dataCategories: [ContactDetails]
  allowedJurisdictions: [eu]
  workloadSelector: {matchLabels: {app: db}}
`

// withSpec returns the valid object base, named name, with spec fields replaced by overrides
// (YAML of spec fields; a null removes the field).
func withSpec(base, name, overrides string) *unstructured.Unstructured {
	obj := fromYAML(strings.Replace(base, "NAME", name, 1))
	spec := obj.Object["spec"].(map[string]any)
	for k, v := range fromYAML(overrides).Object {
		if v == nil {
			delete(spec, k)
		} else {
			spec[k] = v
		}
	}
	return obj
}

func store(name, overrides string) *unstructured.Unstructured {
	return withSpec(validStore, name, overrides)
}

const validProcessor = `
apiVersion: dataresidency.io/v1alpha1
kind: DataProcessor
metadata: {name: NAME}
spec:
  role: ServiceProvider
  jurisdictions: [eu]
  purposes: [mail delivery]
  dataCategories: [ContactDetails]
`

func processor(name, overrides string) *unstructured.Unstructured {
	return withSpec(validProcessor, name, overrides)
}

const validException = `
apiVersion: dataresidency.io/v1alpha1
kind: ResidencyException
metadata: {name: NAME, namespace: validation}
spec:
  selector: {matchLabels: {job-name: export}}
  stores: [customer-db]
  reason: LegalProcess
  justification: Court order 117 requires an export by counsel in the US.
  approvedBy: dpo@example.com
  expiresAt: "2030-01-01T00:00:00Z"
`

func exception(name, overrides string) *unstructured.Unstructured {
	return withSpec(validException, name, overrides)
}

// selectorCase numbers the objects the selector tables create, so that their names never clash.
var selectorCase int

func workloadSelector(selector string) *unstructured.Unstructured {
	selectorCase++
	return store(fmt.Sprintf("sel-%d", selectorCase), "{workloadSelector: "+selector+"}")
}

func volumeSelector(selector string) *unstructured.Unstructured {
	selectorCase++
	return store(fmt.Sprintf("sel-%d", selectorCase), "{volumeSelector: "+selector+"}")
}

func exceptionSelector(selector string) *unstructured.Unstructured {
	selectorCase++
	return exception(fmt.Sprintf("sel-%d", selectorCase), "{selector: "+selector+"}")
}

func nodeSelector(selector string) *unstructured.Unstructured {
	selectorCase++
	return jurisdictionYAML(fmt.Sprintf("sel-%d", selectorCase), "{nodeSelector: "+selector+"}")
}

func jurisdictionYAML(name, spec string) *unstructured.Unstructured {
	return fromYAML("apiVersion: dataresidency.io/v1alpha1\nkind: Jurisdiction\nmetadata: {name: " + name + "}\nspec: " + spec)
}

var _ = Describe("CRD validation", func() {
	BeforeEach(func() {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "validation"}}
		Expect(client.IgnoreAlreadyExists(k8sClient.Create(ctx, ns))).To(Succeed())
	})

	DescribeTable("rejects nonsense with a message that names the field",
		func(obj *unstructured.Unstructured, field, message string) {
			err := k8sClient.Create(ctx, obj)
			Expect(err).To(HaveOccurred(), "the apiserver accepted an invalid object")
			Expect(apierrors.IsInvalid(err)).To(BeTrue(), "want an Invalid error, got %v", err)
			Expect(err.Error()).To(ContainSubstring(field))
			Expect(err.Error()).To(ContainSubstring(message))
		},
		Entry("jurisdiction name that cannot be a label key", jurisdictionYAML("eu.west", "{countries: [DE]}"),
			"metadata.name", "must be a DNS-1123 label"),
		Entry("jurisdiction with no countries, regions or selector", jurisdictionYAML("empty", "{displayName: nowhere}"),
			"spec", "needs at least one of countries, regions or nodeSelector"),
		Entry("country UK (the ISO code is GB)", jurisdictionYAML("uk", "{countries: [UK]}"),
			"spec.countries[0]", `Unsupported value: "UK"`),
		Entry("country code that is two capitals but not ISO", jurisdictionYAML("xx", "{countries: [DE, XX]}"),
			"spec.countries[1]", `Unsupported value: "XX"`),
		Entry("lower-case country code", jurisdictionYAML("lower", "{countries: [de]}"),
			"spec.countries[0]", `Unsupported value: "de"`),
		Entry("duplicate country", jurisdictionYAML("dup", "{countries: [DE, DE]}"),
			"spec.countries[1]", "Duplicate value"),
		Entry("empty nodeSelector", jurisdictionYAML("sel", "{nodeSelector: {}}"),
			"spec.nodeSelector", "nodeSelector must not be empty"),
		Entry("region that is not a label value", jurisdictionYAML("reg", "{regions: ['eu central']}"),
			"spec.regions[0]", "should match"),

		Entry("store without allowedJurisdictions", store("s1", "{allowedJurisdictions: null}"),
			"spec.allowedJurisdictions", "Required value"),
		Entry("store with empty allowedJurisdictions", store("s2", "{allowedJurisdictions: []}"),
			"spec.allowedJurisdictions", "should have at least 1 items"),
		Entry("store with duplicate allowedJurisdictions", store("s3", "{allowedJurisdictions: [eu, eu]}"),
			"spec.allowedJurisdictions[1]", "Duplicate value"),
		Entry("store naming a jurisdiction that is not a DNS-1123 name", store("s4", "{allowedJurisdictions: [EU]}"),
			"spec.allowedJurisdictions[0]", "should match"),
		Entry("store with an empty workloadSelector", store("s5", "{workloadSelector: {}}"),
			"spec.workloadSelector", "workloadSelector must not be empty"),
		Entry("store with an empty volumeSelector", store("s6", "{volumeSelector: {matchLabels: {}}}"),
			"spec.volumeSelector", "volumeSelector must not be empty"),
		Entry("store with an unknown data category", store("s7", "{dataCategories: [Passwords]}"),
			"spec.dataCategories[0]", `Unsupported value: "Passwords"`),
		Entry("store without data categories", store("s8", "{dataCategories: []}"),
			"spec.dataCategories", "should have at least 1 items"),
		Entry("store with an unknown enforcement", store("s9", "{enforcement: Block}"),
			"spec.enforcement", `Unsupported value: "Block"`),
		Entry("store with a grace period that is not a duration", store("s10", "{evictionGracePeriod: ten minutes}"),
			"spec.evictionGracePeriod", "should match"),
		Entry("store with a grace period over 30 days", store("s11", "{evictionGracePeriod: 1000h}"),
			"spec.evictionGracePeriod", "between 0s and 720h"),
		Entry("store with an unknown egress mode", store("s12", "{egress: Block}"),
			"spec.egress", `Unsupported value: "Block"`),
		Entry("store naming a processor that is not a DNS-1123 name", store("s13", "{processors: [Mail_Delivery]}"),
			"spec.processors[0]", "should match"),

		Entry("processor with an unknown role", processor("p1", "{role: Vendor}"),
			"spec.role", `Unsupported value: "Vendor"`),
		Entry("processor without jurisdictions", processor("p2", "{jurisdictions: null}"),
			"spec.jurisdictions", "Required value"),
		Entry("processor endpoint with an invalid CIDR", processor("p3", "{endpoints: [{cidr: 300.1.1.0/24, ports: [{port: 443}]}]}"),
			"spec.endpoints[0].cidr", "must be an IPv4 or IPv6 CIDR"),
		Entry("processor endpoint CIDR with host bits", processor("p4", "{endpoints: [{cidr: 192.0.2.7/24, ports: [{port: 443}]}]}"),
			"spec.endpoints[0].cidr", "network address"),
		Entry("processor port out of range", processor("p5", "{endpoints: [{cidr: 192.0.2.0/24, ports: [{port: 70000}]}]}"),
			"spec.endpoints[0].ports[0].port", "less than or equal to 65535"),
		Entry("processor port range ending before it starts", processor("p6", "{endpoints: [{cidr: 192.0.2.0/24, ports: [{port: 600, endPort: 500}]}]}"),
			"spec.endpoints[0].ports[0]", "endPort must not be lower than port"),
		Entry("processor endpoint without ports", processor("p7", "{endpoints: [{cidr: 192.0.2.0/24, ports: []}]}"),
			"spec.endpoints[0].ports", "should have at least 1 items"),
		Entry("processor endpoint with an unknown protocol", processor("p8", "{endpoints: [{cidr: 192.0.2.0/24, ports: [{port: 1, protocol: ICMP}]}]}"),
			"spec.endpoints[0].ports[0].protocol", `Unsupported value: "ICMP"`),

		Entry("processor transfer with an unknown mechanism", processor("p9", "{transfer: {mechanism: Consent, reference: x}}"),
			"spec.transfer.mechanism", `Unsupported value: "Consent"`),
		Entry("processor transfer on an adequacy decision that names none", processor("p10", "{transfer: {mechanism: AdequacyDecision}}"),
			"spec.transfer", "transfer.adequacyDecision must name an entry"),
		Entry("processor transfer on clauses without a reference", processor("p11", "{transfer: {mechanism: StandardContractualClauses}}"),
			"spec.transfer", "transfer.reference must say where"),
		Entry("store transfer on clauses without a reference", store("s15", "{transfer: {mechanism: StandardContractualClauses}}"),
			"spec.transfer", "transfer.reference must say where"),
		Entry("store with a one-letter purpose", store("s14", "{purposes: [x]}"),
			"spec.purposes[0]", "at least 3 chars long"),
		Entry("record of processing not named default", fromYAML(`{apiVersion: dataresidency.io/v1alpha1, kind: RecordOfProcessing, metadata: {name: shop}, spec: {controller: {name: Example AG}}}`),
			"RecordOfProcessing", "there is one RecordOfProcessing per cluster and it is named default"),
		Entry("record of processing with a malformed adequacy date", fromYAML(`{apiVersion: dataresidency.io/v1alpha1, kind: RecordOfProcessing, metadata: {name: default}, spec: {controller: {name: Example AG}, adequacyDecisions: [{name: jp, countries: [JP], reference: (EU) 2019/419, adopted: 23 January 2019}]}}`),
			"spec.adequacyDecisions[0].adopted", "should match"),
		Entry("record of processing without a controller", fromYAML(`{apiVersion: dataresidency.io/v1alpha1, kind: RecordOfProcessing, metadata: {name: default}, spec: {dataProtectionOfficer: {name: DPO}}}`),
			"spec.controller", "Required value"),

		Entry("exception without expiresAt", exception("e1", "{expiresAt: null}"),
			"spec.expiresAt", "Required value"),
		Entry("exception with a one-word justification", exception("e2", "{justification: because}"),
			"spec.justification", "at least 20 chars long"),
		Entry("exception with an unknown reason", exception("e3", "{reason: Convenience}"),
			"spec.reason", `Unsupported value: "Convenience"`),
		Entry("exception ending before it starts", exception("e4", `{startsAt: "2031-01-01T00:00:00Z"}`),
			"spec", "expiresAt must be after startsAt"),
		Entry("exception with an empty selector", exception("e5", "{selector: {}}"),
			"spec.selector", "selector must not be empty"),
		Entry("exception selecting by DoesNotExist alone (every unlabelled pod)", exception("e8", "{selector: {matchExpressions: [{key: team, operator: DoesNotExist}]}}"),
			"spec.selector", "selector must ask something of what it exempts"),
		Entry("exception selecting by NotIn alone", exception("e9", "{selector: {matchExpressions: [{key: team, operator: NotIn, values: [a]}]}}"),
			"spec.selector", "selector must ask something of what it exempts"),
		Entry("exception naming no store", exception("e6", "{stores: []}"),
			"spec.stores", "should have at least 1 items"),
	)

	It("keeps an exception's requester as it was recorded at creation", func() {
		ex := exception("requested", `{requester: {username: alice, groups: [devs]}}`)
		Expect(k8sClient.Create(ctx, ex)).To(Succeed())
		for _, change := range []string{`{"spec":{"requester":{"username":"ciso@example.com"}}}`, `{"spec":{"requester":null}}`} {
			err := k8sClient.Patch(ctx, ex.DeepCopy(), client.RawPatch(types.MergePatchType, []byte(change)))
			Expect(apierrors.IsInvalid(err)).To(BeTrue(), "%s: want Invalid, got %v", change, err)
			Expect(err.Error()).To(ContainSubstring("spec.requester is recorded when the exception is created and cannot change"))
		}
		Expect(k8sClient.Patch(ctx, ex.DeepCopy(), client.RawPatch(types.MergePatchType, []byte(`{"spec":{"ticket":"LEGAL-117"}}`)))).To(Succeed(),
			"other fields stay editable")
	})

	// Every selector form metav1.LabelSelectorAsSelector rejects is rejected by the schema too, with
	// a message naming the field: a stored selector that does not compile would select nothing.
	DescribeTable("rejects label selectors that do not compile",
		func(selector string, obj func(selector string) *unstructured.Unstructured, field, message string) {
			var sel metav1.LabelSelector
			Expect(yaml.Unmarshal([]byte(selector), &sel)).To(Succeed())
			_, parseErr := metav1.LabelSelectorAsSelector(&sel)
			Expect(parseErr).To(HaveOccurred(), "the case must be one that LabelSelectorAsSelector rejects")

			err := k8sClient.Create(ctx, obj(selector))
			Expect(err).To(HaveOccurred(), "the apiserver accepted a selector that does not compile: %v", parseErr)
			Expect(apierrors.IsInvalid(err)).To(BeTrue(), "want an Invalid error, got %v", err)
			Expect(err.Error()).To(ContainSubstring(field))
			Expect(err.Error()).To(ContainSubstring(message))
		},
		Entry("operator in (In is)", `{matchExpressions: [{key: app, operator: in, values: [db]}]}`, workloadSelector,
			"spec.workloadSelector", "workloadSelector.matchExpressions: operator must be In, NotIn, Exists or DoesNotExist"),
		Entry("unknown operator", `{matchExpressions: [{key: app, operator: Gt, values: ["1"]}]}`, workloadSelector,
			"spec.workloadSelector", "operator must be In, NotIn, Exists or DoesNotExist"),
		Entry("key with a space", `{matchExpressions: [{key: app name, operator: In, values: [db]}]}`, workloadSelector,
			"spec.workloadSelector", "workloadSelector.matchExpressions: each key must be a label key"),
		Entry("key with an upper-case prefix", `{matchExpressions: [{key: Example.com/app, operator: Exists}]}`, workloadSelector,
			"spec.workloadSelector", "each key must be a label key"),
		Entry("key whose name is longer than 63 characters", `{matchExpressions: [{key: example.com/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa, operator: Exists}]}`, workloadSelector,
			"spec.workloadSelector", "each key must be a label key"),
		Entry("value with a space", `{matchExpressions: [{key: app, operator: In, values: [d b]}]}`, workloadSelector,
			"spec.workloadSelector", "workloadSelector.matchExpressions: each value must be a label value"),
		Entry("Exists with values", `{matchExpressions: [{key: app, operator: Exists, values: [db]}]}`, workloadSelector,
			"spec.workloadSelector", "Exists and DoesNotExist take no values"),
		Entry("DoesNotExist with values", `{matchExpressions: [{key: app, operator: DoesNotExist, values: [db]}]}`, workloadSelector,
			"spec.workloadSelector", "Exists and DoesNotExist take no values"),
		Entry("In without values", `{matchExpressions: [{key: app, operator: In}]}`, workloadSelector,
			"spec.workloadSelector", "In and NotIn need at least one value"),
		Entry("NotIn with an empty list of values", `{matchExpressions: [{key: app, operator: NotIn, values: []}]}`, workloadSelector,
			"spec.workloadSelector", "In and NotIn need at least one value"),
		Entry("value longer than 63 characters", `{matchExpressions: [{key: app, operator: In, values: [aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa]}]}`, workloadSelector,
			"spec.workloadSelector.matchExpressions[0].values[0]", "Too long: may not be more than 63 bytes"),
		Entry("bad matchLabels key", `{matchLabels: {-app: db}}`, workloadSelector,
			"spec.workloadSelector", "workloadSelector.matchLabels: each key must be a label key"),
		Entry("bad matchLabels value", `{matchLabels: {app: "db!"}}`, workloadSelector,
			"spec.workloadSelector", "workloadSelector.matchLabels: each key must be a label key"),
		Entry("volumeSelector with operator in", `{matchExpressions: [{key: app, operator: in, values: [db]}]}`, volumeSelector,
			"spec.volumeSelector", "volumeSelector.matchExpressions: operator must be"),
		Entry("exception selector with Exists and values", `{matchExpressions: [{key: job-name, operator: Exists, values: [x]}]}`, exceptionSelector,
			"spec.selector", "selector.matchExpressions: In and NotIn need at least one value; Exists and DoesNotExist take no values"),
		Entry("exception selector with a bad matchLabels key", `{matchLabels: {"job name": export}}`, exceptionSelector,
			"spec.selector", "selector.matchLabels: each key must be a label key"),
		Entry("Jurisdiction nodeSelector with operator in", `{matchExpressions: [{key: x.node-restriction.kubernetes.io/site, operator: in, values: [a]}]}`, nodeSelector,
			"spec.nodeSelector", "nodeSelector.matchExpressions: operator must be"),
		Entry("Jurisdiction nodeSelector with a value with a space", `{matchLabels: {x.node-restriction.kubernetes.io/site: "site a"}}`, nodeSelector,
			"spec.nodeSelector", "nodeSelector.matchLabels: each key must be a label key"),
	)

	DescribeTable("accepts every label selector that compiles",
		func(selector string) {
			var sel metav1.LabelSelector
			Expect(yaml.Unmarshal([]byte(selector), &sel)).To(Succeed())
			_, err := metav1.LabelSelectorAsSelector(&sel)
			Expect(err).NotTo(HaveOccurred())
			Expect(k8sClient.Create(ctx, workloadSelector(selector))).To(Succeed())
		},
		Entry("matchLabels", `{matchLabels: {app: db}}`),
		Entry("a prefixed key and an empty value", `{matchLabels: {example.com/tier: ""}}`),
		Entry("every operator", `{matchExpressions: [{key: a, operator: In, values: [x, w]}, {key: b, operator: NotIn, values: [z]}, {key: c, operator: Exists}, {key: d, operator: DoesNotExist, values: []}]}`),
		Entry("a 63-character name and value", `{matchExpressions: [{key: example.com/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa, operator: In, values: [bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb]}]}`),
		Entry("a value with dots, dashes and underscores", `{matchLabels: {app.kubernetes.io/name: my-app_v1.2}}`),
	)

	It("accepts a minimal store and fills in the defaults", func() {
		obj := store("defaults", "{}")
		Expect(k8sClient.Create(ctx, obj)).To(Succeed())
		spec := obj.Object["spec"].(map[string]any)
		Expect(spec).To(HaveKeyWithValue("enforcement", "Enforce"))
		Expect(spec).To(HaveKeyWithValue("evictionGracePeriod", "10m"))
		Expect(spec).To(HaveKeyWithValue("egress", "Unrestricted"))
	})

	It("applies every sample in config/samples", func() {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}
		Expect(client.IgnoreAlreadyExists(k8sClient.Create(ctx, ns))).To(Succeed())
		files, err := filepath.Glob(filepath.Join("..", "..", "config", "samples", "dataresidency_*.yaml"))
		Expect(err).NotTo(HaveOccurred())
		Expect(files).NotTo(BeEmpty())
		kinds := map[string]bool{}
		for _, f := range files {
			data, err := os.ReadFile(f)
			Expect(err).NotTo(HaveOccurred())
			dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
			for {
				obj := &unstructured.Unstructured{}
				if err := dec.Decode(&obj.Object); errors.Is(err, io.EOF) {
					break
				} else {
					Expect(err).NotTo(HaveOccurred(), f)
				}
				Expect(k8sClient.Create(ctx, obj)).To(Succeed(), "sample %s", f)
				kinds[obj.GetKind()] = true
			}
		}
		Expect(kinds).To(HaveKey("Jurisdiction"))
		Expect(kinds).To(HaveKey("PersonalDataStore"))
		Expect(kinds).To(HaveKey("DataProcessor"))
		Expect(kinds).To(HaveKey("ResidencyException"))
	})

	It("documents every field for kubectl explain", func() {
		By("every property of every CRD schema has a description")
		var crds apiextensionsv1.CustomResourceDefinitionList
		Expect(k8sClient.List(ctx, &crds)).To(Succeed())
		for _, crd := range crds.Items {
			if crd.Spec.Group != "dataresidency.io" {
				continue
			}
			schema := crd.Spec.Versions[0].Schema.OpenAPIV3Schema
			for _, top := range []string{"spec", "status"} {
				prop, ok := schema.Properties[top]
				if !ok && top == "status" && slices.Contains([]string{"AdmissionPlan", "ResidencyRecord", "RecordOfProcessing"}, crd.Spec.Names.Kind) {
					continue // written once and read, never acted on: they have no status
				}
				Expect(undocumented(top, &prop)).To(BeEmpty(), "%s has undocumented fields", crd.Name)
			}
		}

		By("kubectl explain personaldatastore.spec shows each field with its documentation")
		out := kubectl("explain", "personaldatastore.spec")
		for _, field := range []string{"allowedJurisdictions", "dataCategories", "description", "egress",
			"enforcement", "evictionGracePeriod", "processors", "volumeSelector", "workloadSelector"} {
			Expect(out).To(ContainSubstring(field))
		}
		Expect(out).To(ContainSubstring("workloadSelector selects the pods of this namespace that store or process"))
	})
})

// undocumented lists the paths below path whose schema has no description. Fields that are
// standard Kubernetes types (label selectors, conditions) carry their own upstream documentation.
func undocumented(path string, s *apiextensionsv1.JSONSchemaProps) []string {
	var out []string
	if s.Description == "" {
		out = append(out, path)
	}
	for name, p := range s.Properties {
		p := p
		out = append(out, undocumented(path+"."+name, &p)...)
	}
	if s.Items != nil && s.Items.Schema != nil {
		for _, sub := range undocumented(path+"[]", s.Items.Schema) {
			if sub != path+"[]" { // list items are documented by their field
				out = append(out, sub)
			}
		}
	}
	return out
}

// kubectl runs the kubectl that `make test` built (v1.37) against the test apiserver.
func kubectl(args ...string) string {
	user, err := testEnv.AddUser(envtest.User{Name: "explainer", Groups: []string{"system:masters"}}, nil)
	Expect(err).NotTo(HaveOccurred())
	kubeconfig, err := user.KubeConfig()
	Expect(err).NotTo(HaveOccurred())
	path := filepath.Join(GinkgoT().TempDir(), "kubeconfig")
	Expect(os.WriteFile(path, kubeconfig, 0o600)).To(Succeed())
	cmd := exec.Command(filepath.Join(os.Getenv("KUBEBUILDER_ASSETS"), "kubectl"), append([]string{"--kubeconfig", path}, args...)...)
	out, err := cmd.CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), string(out))
	return string(out)
}
