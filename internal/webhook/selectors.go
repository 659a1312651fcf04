package webhook

import (
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	"github.com/residency-operator/residency-operator/internal/engine"
)

// selectorMemo remembers the label selectors of stores and exceptions compiled by
// engine.SelectorFor, by object UID, generation and which selector. Compiling validates every key
// and value with regular expressions, which was a quarter of an admission review; a selector lives
// in the spec, so it changes only with the generation.
type selectorMemo struct {
	mu sync.RWMutex
	m  map[selectorKey]compiledSelector
}

type selectorKey struct {
	uid        types.UID
	generation int64
	which      engine.SelectorKind // one object may have several selectors
}

type compiledSelector struct {
	selector labels.Selector
	ok       bool
}

// maxMemoizedSelectors bounds the memo: past it, it starts over (deleted and changed objects
// leave entries behind).
const maxMemoizedSelectors = 8192

var admissionSelectors = &selectorMemo{m: map[selectorKey]compiledSelector{}}

// selects reports what engine.Selects(sel, objLabels) reports, compiling sel once per generation
// of the object that holds it. Objects without a UID (never the case in a cluster) are compiled
// every time.
func (c *selectorMemo) selects(obj metav1.Object, which engine.SelectorKind, sel *metav1.LabelSelector, objLabels map[string]string) bool {
	if obj.GetUID() == "" {
		return engine.Selects(sel, objLabels)
	}
	key := selectorKey{uid: obj.GetUID(), generation: obj.GetGeneration(), which: which}
	c.mu.RLock()
	compiled, found := c.m[key]
	c.mu.RUnlock()
	if !found {
		compiled.selector, compiled.ok = engine.SelectorFor(sel)
		c.mu.Lock()
		if len(c.m) >= maxMemoizedSelectors {
			clear(c.m)
		}
		c.m[key] = compiled
		c.mu.Unlock()
	}
	return compiled.ok && compiled.selector.Matches(labels.Set(objLabels))
}
