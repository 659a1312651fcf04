package deploy_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/yaml"

	// The operator's metrics register themselves with controller-runtime's registry on import,
	// next to controller-runtime's own (reconcile, webhook, work queue); exportedMetrics reads them
	// from there.
	_ "github.com/residency-operator/residency-operator/controllers"
	_ "github.com/residency-operator/residency-operator/internal/webhook"
)

const dashboardFile = "charts/residency-operator/dashboards/residency.json"

// exportedMetrics are the names of every metric the manager registers, from the registry's
// descriptors (a vector without children is described even though it is not yet gathered).
func exportedMetrics() map[string]bool {
	ch := make(chan *prometheus.Desc)
	go func() {
		metrics.Registry.(prometheus.Collector).Describe(ch)
		close(ch)
	}()
	fqName := regexp.MustCompile(`fqName: "([^"]+)"`)
	names := map[string]bool{}
	for d := range ch {
		if m := fqName.FindStringSubmatch(d.String()); m != nil {
			names[m[1]] = true
		}
	}
	return names
}

var (
	promqlString   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'`)
	promqlMatchers = regexp.MustCompile(`\{[^{}]*\}`)
	promqlRange    = regexp.MustCompile(`\[[^\]]*\]`)
	promqlGrouping = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promqlIdent    = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*(\s*\()?`)
	promqlKeywords = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true,
		"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true, "inf": true, "nan": true}
)

// metricNames returns the metric names a PromQL expression reads: what is left once strings,
// label matchers, ranges, grouping clauses, functions and keywords are taken out.
func metricNames(expr string) []string {
	e := promqlString.ReplaceAllString(expr, `""`)
	e = promqlMatchers.ReplaceAllString(e, " ")
	e = promqlRange.ReplaceAllString(e, " ")
	e = promqlGrouping.ReplaceAllString(e, " ")
	var names []string
	for _, m := range promqlIdent.FindAllStringSubmatch(e, -1) {
		if m[1] != "" || promqlKeywords[strings.ToLower(m[0])] {
			continue // a function or aggregation, or a keyword
		}
		if !slices.Contains(names, m[0]) {
			names = append(names, m[0])
		}
	}
	return names
}

// unknownMetrics lists the names an expression reads that the manager does not export. Histogram
// series (_bucket, _sum, _count) count as their histogram's name.
func unknownMetrics(expr string, exported map[string]bool) []string {
	var unknown []string
	for _, name := range metricNames(expr) {
		base := name
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if b, ok := strings.CutSuffix(name, suffix); ok && exported[b] {
				base = b
			}
		}
		if !exported[base] {
			unknown = append(unknown, name)
		}
	}
	return unknown
}

// dashboardQueries returns every PromQL query of a Grafana dashboard: panel targets (rows'
// nested panels included) and the metric of each label_values() template variable.
func dashboardQueries(dash map[string]any) map[string]string {
	queries := map[string]string{}
	var walk func(panels []any)
	walk = func(panels []any) {
		for _, p := range panels {
			panel, _ := p.(map[string]any)
			title, _ := panel["title"].(string)
			targets, _ := panel["targets"].([]any)
			for _, t := range targets {
				target, _ := t.(map[string]any)
				expr, _ := target["expr"].(string)
				refID, _ := target["refId"].(string)
				Expect(expr).NotTo(BeEmpty(), "panel %q target %s has no expr", title, refID)
				queries["panel "+title+" "+refID] = expr
			}
			nested, _ := panel["panels"].([]any)
			walk(nested)
		}
	}
	panels, _ := dash["panels"].([]any)
	walk(panels)
	labelValues := regexp.MustCompile(`^label_values\((.*),\s*[a-zA-Z_][a-zA-Z0-9_]*\)$`)
	templating, _ := dash["templating"].(map[string]any)
	list, _ := templating["list"].([]any)
	for _, v := range list {
		variable, _ := v.(map[string]any)
		if variable["type"] != "query" {
			continue
		}
		name, _ := variable["name"].(string)
		q, _ := variable["query"].(map[string]any)
		query, _ := q["query"].(string)
		m := labelValues.FindStringSubmatch(query)
		Expect(m).NotTo(BeNil(), "variable %s: %q is not label_values(metric, label)", name, query)
		queries["variable "+name] = m[1]
	}
	return queries
}

// chartRules renders the chart with prometheusRule.enabled and returns the PrometheusRule's spec.
func chartRules(sets ...string) map[string]any {
	out, err := helmTemplate("residency-operator", systemNamespace, append([]string{"prometheusRule.enabled=true"}, sets...)...)
	Expect(err).NotTo(HaveOccurred())
	objs, err := parseObjects(out)
	Expect(err).NotTo(HaveOccurred())
	rules := (&install{objects: objs}).all("monitoring.coreos.com", "PrometheusRule")
	Expect(rules).To(HaveLen(1))
	Expect(rules[0].GetNamespace()).To(Equal(systemNamespace))
	spec, ok, err := unstructured.NestedMap(rules[0].Object, "spec")
	Expect(err).NotTo(HaveOccurred())
	Expect(ok).To(BeTrue())
	return spec
}

// ruleExprs returns each alert's expression.
func ruleExprs(spec map[string]any) map[string]string {
	exprs := map[string]string{}
	groups, _ := spec["groups"].([]any)
	for _, g := range groups {
		rules, _ := g.(map[string]any)["rules"].([]any)
		for _, r := range rules {
			rule := r.(map[string]any)
			exprs[rule["alert"].(string)] = rule["expr"].(string)
		}
	}
	return exprs
}

var _ = Describe("monitoring: the chart's PrometheusRule and Grafana dashboard", func() {
	var promtool string
	BeforeEach(func() {
		promtool = filepath.Join(filepath.Dir(helmBin), "promtool")
		_, err := os.Stat(promtool)
		Expect(err).NotTo(HaveOccurred(), "%s is missing: `make tools` takes it from Debian's prometheus package", promtool)
	})

	It("reads every operator metric from the registry, controller-runtime's next to the operator's own", func() {
		exported := exportedMetrics()
		for _, name := range []string{"residency_nodes_location_problem", "residency_node_label_patches_total", "residency_store_violations",
			"residency_store_governed_objects", "residency_store_compliant", "residency_evictions_total", "residency_evictions_held", "residency_admission_decisions_total",
			"residency_history_writes_total", "residency_history_tampered_total",
			"controller_runtime_reconcile_errors_total", "controller_runtime_webhook_requests_total", "controller_runtime_webhook_latency_seconds",
			"workqueue_depth"} {
			Expect(exported).To(HaveKey(name))
		}
		Expect(metricNames(`histogram_quantile(0.99, sum by (webhook, le) (rate(a_bucket{job=~"$job", x="by (y)"}[$__rate_interval]))) / on (x) b or vector(0) > bool 1`)).
			To(Equal([]string{"a_bucket", "b"}), "the PromQL scan finds metric names only")
	})

	It("renders only when prometheusRule.enabled, and passes promtool check rules", func() {
		Expect(render(chartVariants[0]).all("monitoring.coreos.com", "PrometheusRule")).To(BeEmpty(), "not by default")
		dir := GinkgoT().TempDir()
		rules, err := yaml.Marshal(chartRules())
		Expect(err).NotTo(HaveOccurred())
		Expect(os.WriteFile(filepath.Join(dir, "rules.yaml"), rules, 0o600)).To(Succeed())
		out, err := run(promtool, "check", "rules", filepath.Join(dir, "rules.yaml"))
		Expect(err).NotTo(HaveOccurred(), "%s", out)
		Expect(string(out)).To(ContainSubstring("SUCCESS: 11 rules found"))
		Expect(string(rules)).To(ContainSubstring(`job="residency-operator-metrics-service"`),
			"by default the controller-runtime queries select the job the chart's ServiceMonitor scrapes: the metrics Service's name")
		Expect(render(chartVariants[0]).service("residency-operator-metrics-service")).NotTo(BeNil())
	})

	It("fires its alerts on the series they are about (promtool test rules, test/deploy/testdata/alerts_test.yaml)", func() {
		dir := GinkgoT().TempDir()
		rules, err := yaml.Marshal(chartRules())
		Expect(err).NotTo(HaveOccurred())
		Expect(os.WriteFile(filepath.Join(dir, "rules.yaml"), rules, 0o600)).To(Succeed())
		tests, err := os.ReadFile(filepath.Join(repoRoot, "test", "deploy", "testdata", "alerts_test.yaml"))
		Expect(err).NotTo(HaveOccurred())
		Expect(os.WriteFile(filepath.Join(dir, "alerts_test.yaml"), tests, 0o600)).To(Succeed())
		out, err := run(promtool, "test", "rules", filepath.Join(dir, "alerts_test.yaml"))
		Expect(err).NotTo(HaveOccurred(), "%s", out)
		Expect(string(out)).To(ContainSubstring("SUCCESS"))
	})

	It("queries only metrics the operator exports, the job it is told for controller-runtime's, and links each alert to its runbook", func() {
		exported := exportedMetrics()
		spec := chartRules("prometheusRule.job=residency", "prometheusRule.runbookBaseURL=https://docs.example.com/alerts.md/")
		exprs := ruleExprs(spec)
		Expect(exprs).To(HaveLen(11))
		for alert, expr := range exprs {
			Expect(unknownMetrics(expr, exported)).To(BeEmpty(), "%s: %s", alert, expr)
			if strings.Contains(expr, "controller_runtime_") {
				Expect(expr).To(ContainSubstring(`job="residency"`), alert)
			}
		}
		docs, err := os.ReadFile(filepath.Join(repoRoot, "docs", "alerts.md"))
		Expect(err).NotTo(HaveOccurred())
		for _, g := range spec["groups"].([]any) {
			for _, r := range g.(map[string]any)["rules"].([]any) {
				rule := r.(map[string]any)
				alert := rule["alert"].(string)
				annotations := rule["annotations"].(map[string]any)
				Expect(annotations).To(HaveKey("summary"))
				Expect(annotations).To(HaveKey("description"))
				Expect(annotations).To(HaveKeyWithValue("runbook_url", "https://docs.example.com/alerts.md#"+strings.ToLower(alert)))
				Expect(string(docs)).To(ContainSubstring("\n## "+alert+"\n"), "docs/alerts.md has a section for %s", alert)
				Expect(rule["labels"]).To(HaveKey("severity"))
			}
		}
	})

	It("has a dashboard that is valid JSON and queries only metrics the operator exports", func() {
		raw, err := os.ReadFile(filepath.Join(repoRoot, dashboardFile))
		Expect(err).NotTo(HaveOccurred())
		var dash map[string]any
		Expect(json.Unmarshal(raw, &dash)).To(Succeed())
		Expect(dash).To(HaveKeyWithValue("uid", "residency-operator"))
		queries := dashboardQueries(dash)
		Expect(len(queries)).To(BeNumerically(">=", 15))
		exported := exportedMetrics()
		covered := map[string]bool{}
		keys := make([]string, 0, len(queries))
		for k := range queries {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, where := range keys {
			Expect(unknownMetrics(queries[where], exported)).To(BeEmpty(), "%s: %s", where, queries[where])
			for _, name := range metricNames(queries[where]) {
				covered[name] = true
			}
		}
		// What the issue asks the dashboard to show.
		for _, name := range []string{"residency_store_violations", "residency_store_governed_objects", "residency_store_compliant",
			"residency_evictions_total", "residency_admission_decisions_total", "residency_nodes_location_problem"} {
			Expect(covered).To(HaveKey(name))
		}
	})

	It("ships the dashboard in a ConfigMap for Grafana's sidecar, only when grafanaDashboard.enabled", func() {
		Expect(render(chartVariants[0]).all("", "ConfigMap")).To(BeEmpty(), "not by default")
		out, err := helmTemplate("residency-operator", systemNamespace, "grafanaDashboard.enabled=true")
		Expect(err).NotTo(HaveOccurred())
		objs, err := parseObjects(out)
		Expect(err).NotTo(HaveOccurred())
		cms := (&install{objects: objs}).all("", "ConfigMap")
		Expect(cms).To(HaveLen(1))
		Expect(cms[0].GetLabels()).To(HaveKeyWithValue("grafana_dashboard", "1"))
		data, _, _ := unstructured.NestedStringMap(cms[0].Object, "data")
		raw, err := os.ReadFile(filepath.Join(repoRoot, dashboardFile))
		Expect(err).NotTo(HaveOccurred())
		Expect(data).To(HaveKeyWithValue("residency-operator.json", string(raw)))
		Expect(k8sClient.Create(ctx, cms[0], client.DryRunAll)).To(Succeed())
	})
})
