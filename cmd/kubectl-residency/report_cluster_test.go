package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/residency-operator/residency-operator/internal/localcluster"
)

// TestReportVerifiesRecordsServedByTheAPIServer: the fixture's hash-chained ResidencyRecords,
// stored in and read back from a real kube-apiserver, verify; a sealed record cannot be edited
// there, and one deleted and made again with the violation left out is named by --verify (exit 1).
func TestReportVerifiesRecordsServedByTheAPIServer(t *testing.T) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set: run the tests through `make test`, which builds kube-apiserver and etcd")
	}
	ctx := context.Background()
	cluster, err := localcluster.Start(ctx, localcluster.Options{ControlPlaneOnly: true, CRDDir: filepath.Join("..", "..", "config", "crd", "bases")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cluster.Stop() })
	c, err := client.New(cluster.Config, client.Options{Scheme: newScheme()})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range fixtureRecords() {
		r.ResourceVersion = ""
		if err := client.IgnoreAlreadyExists(c.Create(ctx, nsObject(r.Namespace))); err != nil {
			t.Fatal(err)
		}
		if err := c.Create(ctx, r); err != nil {
			t.Fatalf("creating %s: %v", r.Name, err)
		}
	}
	args := []string{"report", "-A", "--from", "2026-05-01", "--to", "2026-05-03", "-o", "json", "--verify"}
	if code, _, stderr := runCLI(t, args, "", c); code != exitOK {
		t.Fatalf("the intact chain read from the API server: exit %d: %s", code, stderr)
	}

	var victim *struct{ name, ns string }
	for _, r := range fixtureRecords() {
		if r.Spec.Sealed && len(r.Spec.Violations) > 0 {
			victim = &struct{ name, ns string }{r.Name, r.Namespace}
			stored := r.DeepCopy()
			if err := c.Get(ctx, client.ObjectKeyFromObject(stored), stored); err != nil {
				t.Fatal(err)
			}
			stored.Spec.Violations = nil
			if err := c.Update(ctx, stored); err == nil || !strings.Contains(err.Error(), "sealed ResidencyRecord cannot be changed") {
				t.Fatalf("editing sealed record %s: %v, want it refused", r.Name, err)
			}
			if err := c.Delete(ctx, stored); err != nil {
				t.Fatal(err)
			}
			stored.ResourceVersion, stored.UID = "", ""
			if err := c.Create(ctx, stored); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	if victim == nil {
		t.Fatal("the fixture has no sealed record with a violation to tamper with")
	}
	code, _, stderr := runCLI(t, args, "", c)
	if code != exitFindings || !strings.Contains(stderr, victim.name) {
		t.Errorf("after %s/%s was replaced without its violation: exit %d, stderr %q; want exit %d naming it", victim.ns, victim.name, code, stderr, exitFindings)
	}
}

func nsObject(name string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
}
