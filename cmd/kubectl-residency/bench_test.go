package main

import (
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/residency-operator/residency-operator/cmd/kubectl-residency/internal/check"
	"github.com/residency-operator/residency-operator/internal/manifest"
)

// benchObjects is the size of the benchmark's input: a large monorepo's rendered manifests.
const benchObjects = 10000

// benchManifests renders n objects: policies, then Deployments (a third governed, some with a
// region nodeSelector, some in a US region), StatefulSets with volumeClaimTemplates, PVCs and
// Services, as a rendered GitOps repository mixes them.
func benchManifests(n int) []byte {
	var b strings.Builder
	b.WriteString(`apiVersion: dataresidency.io/v1alpha1
kind: Jurisdiction
metadata: {name: eu}
spec: {countries: [AT, BE, BG, HR, CY, CZ, DK, EE, FI, FR, DE, GR, HU, IE, IT, LV, LT, LU, MT, NL, PL, PT, RO, SK, SI, ES, SE]}
---
apiVersion: dataresidency.io/v1alpha1
kind: Jurisdiction
metadata: {name: us}
spec: {countries: [US]}
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: fast}
provisioner: ebs.csi.aws.com
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: wffc, annotations: {storageclass.kubernetes.io/is-default-class: "true"}}
provisioner: ebs.csi.aws.com
volumeBindingMode: WaitForFirstConsumer
`)
	objects := 4
	for ns := 0; ns < 10; ns++ {
		fmt.Fprintf(&b, `---
apiVersion: dataresidency.io/v1alpha1
kind: PersonalDataStore
metadata: {name: customers, namespace: team-%d}
spec:
  dataCategories: [ContactDetails]
  allowedJurisdictions: [eu]
  workloadSelector: {matchLabels: {data: customers}}
  volumeSelector: {matchLabels: {data: customers}}
---
apiVersion: dataresidency.io/v1alpha1
kind: PersonalDataStore
metadata: {name: sessions, namespace: team-%d}
spec:
  dataCategories: [UsageActivity]
  allowedJurisdictions: [eu, us]
  enforcement: Warn
  workloadSelector: {matchExpressions: [{key: tier, operator: In, values: [web, api]}]}
`, ns, ns)
		objects += 2
	}
	regions := []string{"", "eu-central-1", "us-east-1", "europe-west4", ""}
	for i := 0; objects < n; i++ {
		ns := fmt.Sprintf("team-%d", i%10)
		labels := fmt.Sprintf("{app: svc-%d, tier: %s}", i, []string{"web", "api", "batch"}[i%3])
		if i%3 == 0 {
			labels = fmt.Sprintf("{app: svc-%d, tier: web, data: customers}", i)
		}
		sel := ""
		if r := regions[i%len(regions)]; r != "" {
			sel = "\n      nodeSelector: {topology.kubernetes.io/region: " + r + "}"
		}
		switch i % 4 {
		case 3:
			fmt.Fprintf(&b, `---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db-%d, namespace: %s}
spec:
  serviceName: db-%d
  selector: {matchLabels: {app: svc-%d}}
  template:
    metadata:
      labels: %s
    spec:%s
      containers:
        - name: db
          image: postgres:17
          ports: [{containerPort: 5432}]
          resources: {requests: {cpu: 100m, memory: 256Mi}}
  volumeClaimTemplates:
    - metadata: {name: data}
      spec: {storageClassName: wffc, accessModes: [ReadWriteOnce], resources: {requests: {storage: 10Gi}}}
`, i, ns, i, i, labels, sel)
		default:
			fmt.Fprintf(&b, `---
apiVersion: apps/v1
kind: Deployment
metadata: {name: svc-%d, namespace: %s, labels: {app.kubernetes.io/managed-by: Helm}}
spec:
  replicas: 3
  selector: {matchLabels: {app: svc-%d}}
  template:
    metadata:
      labels: %s
    spec:%s
      containers:
        - name: app
          image: example.com/svc:%d
          ports: [{containerPort: 8080}]
          env: [{name: PORT, value: "8080"}, {name: LOG_LEVEL, value: info}]
          readinessProbe: {httpGet: {path: /healthz, port: 8080}}
          resources: {requests: {cpu: 100m, memory: 128Mi}, limits: {memory: 256Mi}}
      volumes: [{name: data, persistentVolumeClaim: {claimName: data-%d}}]
`, i, ns, i, labels, sel, i, i)
		}
		objects++
		if objects < n {
			fmt.Fprintf(&b, "---\napiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: data-%d, namespace: %s, labels: %s}\nspec: {storageClassName: %s, accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}\n",
				i, ns, labels, []string{"fast", "wffc"}[i%2])
			objects++
		}
		if objects < n {
			fmt.Fprintf(&b, "---\napiVersion: v1\nkind: Service\nmetadata: {name: svc-%d, namespace: %s}\nspec: {selector: {app: svc-%d}, ports: [{port: 80, targetPort: 8080}]}\n", i, ns, i)
			objects++
		}
	}
	return []byte(b.String())
}

// BenchmarkCheck measures what a CI step pays: reading 10,000 objects and checking them.
func BenchmarkCheck(b *testing.B) {
	data := benchManifests(benchObjects)
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var res *check.Result
	for b.Loop() {
		set := manifest.NewSet(manifest.Options{})
		if err := set.AddBytes("bench.yaml", data); err != nil {
			b.Fatal(err)
		}
		res = check.Run(set, check.Options{Now: now})
	}
	if res.Objects != benchObjects {
		b.Fatalf("checked %d objects, want %d", res.Objects, benchObjects)
	}
	if len(res.Findings) == 0 {
		b.Fatal("the benchmark input should have findings")
	}
	b.ReportMetric(float64(benchObjects*b.N)/b.Elapsed().Seconds(), "objects/s")
}

// BenchmarkCheckCLI adds the command line and a SARIF report to BenchmarkCheck.
func BenchmarkCheckCLI(b *testing.B) {
	data := string(benchManifests(benchObjects))
	b.ReportAllocs()
	for b.Loop() {
		if code := run([]string{"check", "-f", "-", "-o", "sarif"}, strings.NewReader(data), io.Discard, io.Discard, nil); code != exitFindings {
			b.Fatalf("exit status %d", code)
		}
	}
	b.ReportMetric(float64(benchObjects*b.N)/b.Elapsed().Seconds(), "objects/s")
}
