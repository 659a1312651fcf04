// Package lookup finds the nodes, volumes and StorageClasses that an engine decision reads, in a
// cluster: through the manager's cache (webhooks, controllers) or a direct client (the CLI).
package lookup

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/residency-operator/residency-operator/internal/catalog"
	"github.com/residency-operator/residency-operator/internal/engine"
)

// DefaultClassAnnotation marks the cluster's default StorageClass, which claims without
// storageClassName get.
const DefaultClassAnnotation = "storageclass.kubernetes.io/is-default-class"

// Reader returns an engine.Lookup reading through r.
func Reader(ctx context.Context, r client.Reader) engine.Lookup {
	return &reader{ctx: ctx, r: r}
}

type reader struct {
	ctx context.Context
	r   client.Reader
}

func (l *reader) Node(name string) (*corev1.Node, error) {
	node := &corev1.Node{}
	return orNil(node, l.r.Get(l.ctx, client.ObjectKey{Name: name}, node))
}

func (l *reader) Volume(name string) (*corev1.PersistentVolume, error) {
	pv := &corev1.PersistentVolume{}
	return orNil(pv, l.r.Get(l.ctx, client.ObjectKey{Name: name}, pv))
}

func (l *reader) StorageClass(name *string) (*storagev1.StorageClass, error) {
	if name != nil {
		class := &storagev1.StorageClass{}
		return orNil(class, l.r.Get(l.ctx, client.ObjectKey{Name: *name}, class))
	}
	var classes storagev1.StorageClassList
	if err := l.r.List(l.ctx, &classes); err != nil {
		return nil, fmt.Errorf("listing StorageClasses: %w", err)
	}
	return DefaultClass(classes.Items), nil
}

// DefaultClass returns the first class marked as the cluster's default, or nil.
func DefaultClass(classes []storagev1.StorageClass) *storagev1.StorageClass {
	for i := range classes {
		if classes[i].Annotations[DefaultClassAnnotation] == "true" {
			return &classes[i]
		}
	}
	return nil
}

// orNil returns obj, nil for nothing when it was not found, or the error.
func orNil[T any](obj *T, err error) (*T, error) {
	switch {
	case apierrors.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, err
	}
	return obj, nil
}

// ProviderRefresh is how often the webhooks and the audit read the nodes again to tell which cloud
// the cluster runs in: a cluster changes clouds rarely, and a read lists every node.
const ProviderRefresh = 30 * time.Second

// ClusterProvider tells which cloud a cluster's nodes run in, from their spec.providerID: the one
// provider that every node naming a provider names, else "" (no node names one, or the cluster
// spans clouds). It locates region names that several clouds use for different countries
// (eu-west-1 is Ireland at AWS, London at Alibaba) when nothing closer says which cloud is meant.
// It lists the nodes at most once per Every, however many decisions ask, and on the admission
// path nobody waits for that list: while one caller reads the nodes again, the others get the
// answer read before.
type ClusterProvider struct {
	Reader client.Reader
	Every  time.Duration

	last    atomic.Pointer[providerReading]
	reading sync.Mutex
}

type providerReading struct {
	provider catalog.Provider
	at       time.Time
}

// Get returns the cluster's provider, reading the nodes again when the last read is older than
// Every. A failed first read answers "" (unknown, which keeps shared region names unlocated).
func (c *ClusterProvider) Get(ctx context.Context) catalog.Provider {
	if c == nil {
		return ""
	}
	last := c.last.Load()
	if last != nil && time.Since(last.at) < c.Every {
		return last.provider
	}
	if !c.reading.TryLock() {
		if last != nil {
			return last.provider // someone is reading the nodes now
		}
		c.reading.Lock() // the first read: wait for it rather than answer "unknown"
	}
	defer c.reading.Unlock()
	if again := c.last.Load(); again != last {
		return again.provider // read meanwhile
	}
	var nodes corev1.NodeList
	if err := c.Reader.List(ctx, &nodes, client.UnsafeDisableDeepCopy); err != nil {
		if last != nil {
			return last.provider
		}
		return ""
	}
	p := ProviderOfNodes(nodes.Items)
	c.last.Store(&providerReading{provider: p, at: time.Now()})
	return p
}

// ProviderOfNodes is the provider every node naming one in its spec.providerID names, else "".
func ProviderOfNodes(nodes []corev1.Node) catalog.Provider {
	providers := make([]catalog.Provider, len(nodes))
	for i := range nodes {
		providers[i], _ = catalog.ProviderFromID(nodes[i].Spec.ProviderID)
	}
	return catalog.OneProvider(providers)
}
