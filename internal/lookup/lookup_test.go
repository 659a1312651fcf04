package lookup

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/residency-operator/residency-operator/internal/catalog"
)

func TestProviderOfNodes(t *testing.T) {
	node := func(id string) corev1.Node { return corev1.Node{Spec: corev1.NodeSpec{ProviderID: id}} }
	for _, tc := range []struct {
		name  string
		nodes []corev1.Node
		want  catalog.Provider
	}{
		{"no nodes", nil, ""},
		{"all AWS", []corev1.Node{node("aws:///eu-west-1a/i-1"), node("aws:///eu-west-1b/i-2")}, catalog.AWS},
		{"AWS and nodes naming no provider (on-prem, kind)", []corev1.Node{node("aws:///eu-west-1a/i-1"), node(""), node("kind://docker/x")}, catalog.AWS},
		{"AWS and Google Cloud: hybrid, so no answer", []corev1.Node{node("aws:///eu-west-1a/i-1"), node("gce://p/europe-west1-b/n")}, ""},
		{"none names a provider", []corev1.Node{node(""), node("openstack:///x")}, ""},
	} {
		if got := ProviderOfNodes(tc.nodes); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestClusterProviderRereads: the answer is kept for Every, then read again.
func TestClusterProviderRereads(t *testing.T) {
	ctx := context.Background()
	c := fake.NewClientBuilder().WithObjects(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "a"}, Spec: corev1.NodeSpec{ProviderID: "aws:///eu-west-1a/i-1"}}).Build()
	providers := &ClusterProvider{Reader: c, Every: time.Hour}
	if got := providers.Get(ctx); got != catalog.AWS {
		t.Fatalf("got %q, want aws", got)
	}
	if err := c.Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "b"}, Spec: corev1.NodeSpec{ProviderID: "gce://p/europe-west1-b/b"}}); err != nil {
		t.Fatal(err)
	}
	if got := providers.Get(ctx); got != catalog.AWS {
		t.Fatalf("within Every: got %q, want the answer read before", got)
	}
	providers.Every = 0
	if got := providers.Get(ctx); got != "" {
		t.Fatalf("after Every, with a Google Cloud node added: got %q, want none", got)
	}
	var none *ClusterProvider
	if got := none.Get(ctx); got != "" {
		t.Fatalf("nil: got %q", got)
	}
}
