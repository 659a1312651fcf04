package controllers

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
	"github.com/residency-operator/residency-operator/internal/history"
)

// EventHistoryTampered says a store's newest ResidencyRecord did not match its hash at start.
const EventHistoryTampered = "HistoryTampered"

// HistoryRecorder writes each store's residency history from its audits: one ResidencyRecord per
// store and period, hash-chained (internal/history). Records are read and written straight from
// and to the API server, never cached: a cluster keeps stores x retention of them, and the
// recorder reads a store's newest record once, when it first sees the store.
type HistoryRecorder struct {
	Client   client.Client // writes
	Reader   client.Reader // the API reader: records are not in the cache
	Recorder events.EventRecorder
	Options  history.Options

	mu     sync.Mutex // guards chains; each chain has its own lock for its API calls
	chains map[types.NamespacedName]*storeChain
}

type storeChain struct {
	mu    sync.Mutex
	uid   types.UID
	chain *history.Chain
}

// +kubebuilder:rbac:groups=dataresidency.io,resources=residencyrecords,verbs=get;list;create;update;delete

// observe adds one reconcile of a store to its history. A failure is returned (the reconcile is
// retried) but never stops the rest of the reconcile: the history records, it does not decide.
func (h *HistoryRecorder) observe(ctx context.Context, store *v1alpha1.PersonalDataStore, run *storeRun) error {
	if h == nil || run.audit == nil || store.UID == "" {
		return nil
	}
	sc := h.storeChain(store)
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.chain == nil {
		c, err := h.resume(ctx, store)
		if err != nil {
			return err
		}
		sc.chain = c
	}
	chain := sc.chain
	o := history.Observation{Now: run.now, Store: store, Violations: run.violations, Exemptions: run.audit.exemptions,
		Evictions: run.evicted, Processors: run.processors}
	for _, obj := range run.audit.observed {
		ho := history.Object{Kind: obj.Ref.Kind, Bound: obj.Where != ""}
		if obj.Location != nil {
			ho.Country, ho.Jurisdictions = obj.Location.Country, obj.Location.Jurisdictions
		}
		o.Objects = append(o.Objects, ho)
	}
	for _, held := range run.held {
		o.Holds = append(o.Holds, history.Hold{Pod: v1alpha1.ObjectReference{Kind: "Pod", Name: held.pod.Name, UID: held.pod.UID}, Why: held.why})
	}
	writeOpen := chain.Observe(o, h.Options)
	if chain.Sealed != nil {
		if err := h.write(ctx, chain.Sealed); err != nil {
			return err
		}
		chain.Sealed = nil
		h.prune(ctx, store, chain.Open.Spec.Sequence, run.now)
	}
	if writeOpen {
		if err := h.write(ctx, chain.Open); err != nil {
			return err // written at the next observation: the chain keeps what it saw
		}
	}
	return nil
}

// storeChain returns the store's entry; a store made again under the same name starts afresh.
func (h *HistoryRecorder) storeChain(store *v1alpha1.PersonalDataStore) *storeChain {
	h.mu.Lock()
	defer h.mu.Unlock()
	key := client.ObjectKeyFromObject(store)
	if sc := h.chains[key]; sc != nil && sc.uid == store.UID {
		return sc
	}
	if h.chains == nil {
		h.chains = map[types.NamespacedName]*storeChain{}
	}
	sc := &storeChain{uid: store.UID}
	h.chains[key] = sc
	return sc
}

// resume starts the store's chain from its newest record. It reads the metadata of the store's
// records (their sequence label) and then that one record: a store has retention-many records,
// and every store is resumed when the manager starts.
func (h *HistoryRecorder) resume(ctx context.Context, store *v1alpha1.PersonalDataStore) (*history.Chain, error) {
	metas, err := h.recordMetadata(ctx, store.Namespace, client.MatchingLabels{v1alpha1.RecordStoreUIDLabel: string(store.UID)})
	if err != nil {
		return nil, fmt.Errorf("reading the history of store %s: %w", store.Name, err)
	}
	newest, newestSeq := "", int64(-1)
	for _, m := range metas {
		if seq, err := strconv.ParseInt(m.Labels[v1alpha1.RecordSequenceLabel], 10, 64); err == nil && seq > newestSeq {
			newest, newestSeq = m.Name, seq
		}
	}
	var latest *v1alpha1.ResidencyRecord
	if newest != "" {
		latest = &v1alpha1.ResidencyRecord{}
		if err := h.Reader.Get(ctx, client.ObjectKey{Namespace: store.Namespace, Name: newest}, latest); err != nil {
			return nil, fmt.Errorf("reading residency record %s: %w", newest, err)
		}
	}
	c := history.Resume(latest)
	if c.Tampered != "" {
		historyTampered.Inc()
		log.FromContext(ctx).Info("the store's newest residency record does not match its hash; it is kept as evidence and the history goes on in a new record", "record", c.Tampered)
		h.Recorder.Eventf(store, nil, corev1.EventTypeWarning, EventHistoryTampered, actionAudit,
			"ResidencyRecord %s was changed after the operator wrote it (its hash no longer matches); it is kept as it is and the history goes on in the next record. Check who wrote it (audit log) and run kubectl residency report --verify", c.Tampered)
	}
	return c, nil
}

// write creates or updates a record. A name taken by another store's record (a store deleted and
// made again under the same name the same day) is made unique with the store's UID.
func (h *HistoryRecorder) write(ctx context.Context, rec *v1alpha1.ResidencyRecord) error {
	err := h.put(ctx, rec)
	result := "ok"
	if err != nil {
		result = "error"
	}
	historyWrites.WithLabelValues(result).Inc()
	return err
}

func (h *HistoryRecorder) put(ctx context.Context, rec *v1alpha1.ResidencyRecord) error {
	if rec.ResourceVersion != "" {
		err := h.Client.Update(ctx, rec)
		if apierrors.IsConflict(err) {
			// The operator is the only writer: a conflict is its own earlier write whose answer
			// was lost. Already stored as it is now: done; otherwise write over it once.
			existing := &v1alpha1.ResidencyRecord{}
			if getErr := h.Reader.Get(ctx, client.ObjectKeyFromObject(rec), existing); getErr == nil && existing.Spec.StoreUID == rec.Spec.StoreUID {
				rec.ResourceVersion = existing.ResourceVersion
				if existing.Spec.Hash == rec.Spec.Hash {
					return nil
				}
				err = h.Client.Update(ctx, rec)
			}
		}
		if err != nil {
			return fmt.Errorf("writing residency record %s: %w", rec.Name, err)
		}
		return nil
	}
	err := h.Client.Create(ctx, rec)
	if apierrors.IsAlreadyExists(err) {
		existing := &v1alpha1.ResidencyRecord{}
		if getErr := h.Reader.Get(ctx, client.ObjectKeyFromObject(rec), existing); getErr == nil && existing.Spec.StoreUID == rec.Spec.StoreUID {
			// Ours, written before a lost response or a restart between write and resume.
			rec.ResourceVersion = existing.ResourceVersion
			return h.put(ctx, rec)
		}
		rec.Name = rec.Name + "-" + string(rec.Spec.StoreUID)[:8]
		err = h.Client.Create(ctx, rec)
	}
	if err != nil {
		return fmt.Errorf("writing residency record %s: %w", rec.Name, err)
	}
	return nil
}

// prune deletes the store's records beyond retention, and records of any store of the namespace
// whose period ended longer ago than retention (stores deleted since: their history outlives them
// until then). It runs when a period is sealed: once per store and period.
func (h *HistoryRecorder) prune(ctx context.Context, store *v1alpha1.PersonalDataStore, sequence int64, now time.Time) {
	if h.Options.Retention <= 0 {
		return
	}
	metas, err := h.recordMetadata(ctx, store.Namespace, client.HasLabels{v1alpha1.RecordStoreUIDLabel})
	if err != nil {
		log.FromContext(ctx).Error(err, "listing residency records to prune")
		return
	}
	oldest := now.Add(-time.Duration(h.Options.Retention) * h.Options.Period)
	for i := range metas {
		m := &metas[i]
		seq, seqErr := strconv.ParseInt(m.Labels[v1alpha1.RecordSequenceLabel], 10, 64)
		start, startErr := time.Parse(history.PeriodLabelFormat, m.Labels[v1alpha1.RecordPeriodLabel])
		ours := m.Labels[v1alpha1.RecordStoreUIDLabel] == string(store.UID) && seqErr == nil && seq <= sequence-int64(h.Options.Retention)
		expired := startErr == nil && start.Add(h.Options.Period).Before(oldest)
		if ours || expired {
			if err := h.Client.Delete(ctx, m); client.IgnoreNotFound(err) != nil {
				log.FromContext(ctx).Error(err, "deleting residency record past retention", "record", m.Name)
			}
		}
	}
}

// recordMetadata lists the metadata of a namespace's records, in pages.
func (h *HistoryRecorder) recordMetadata(ctx context.Context, namespace string, sel client.ListOption) ([]metav1.PartialObjectMetadata, error) {
	var out []metav1.PartialObjectMetadata
	for cont := ""; ; {
		page := &metav1.PartialObjectMetadataList{}
		page.SetGroupVersionKind(v1alpha1.GroupVersion.WithKind("ResidencyRecordList"))
		if err := h.Reader.List(ctx, page, client.InNamespace(namespace), sel, client.Limit(500), client.Continue(cont)); err != nil {
			return nil, err
		}
		for _, m := range page.Items {
			m.SetGroupVersionKind(v1alpha1.GroupVersion.WithKind("ResidencyRecord"))
			out = append(out, m)
		}
		if cont = page.Continue; cont == "" {
			return out, nil
		}
	}
}

// forget drops a deleted store's chain; its records stay until retention removes them.
func (h *HistoryRecorder) forget(key types.NamespacedName) {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.chains, key)
}
