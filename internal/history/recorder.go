package history

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
)

// Options say how a store's history is cut and kept.
type Options struct {
	// Period is the length of a record. Periods are aligned to the Unix epoch in UTC: a day starts
	// at midnight UTC.
	Period time.Duration
	// Flush is how often an open record is written: what a crash of the operator can lose.
	Flush time.Duration
	// MaxGap is the longest time between two observations that still counts as observed; a
	// longer one (the operator was down) is recorded as a gap, not as time spent anywhere.
	MaxGap time.Duration
	// Retention is how many of a store's records are kept, the open one included.
	Retention int
}

// DefaultOptions: a record per UTC day, written every 5 minutes, kept for 400 days.
func DefaultOptions() Options {
	return Options{Period: 24 * time.Hour, Flush: 5 * time.Minute, MaxGap: 15 * time.Minute, Retention: 400}
}

// Object is a governed pod or claim as the audit saw it.
type Object struct {
	Kind string
	// Bound is whether it runs on a node (pod) or is bound to a volume (claim): unbound objects
	// are nowhere yet and add no time to any location.
	Bound         bool
	Country       string
	Jurisdictions []string
}

// Hold is a violating pod whose eviction is held.
type Hold struct {
	Pod v1alpha1.ObjectReference
	Why string
}

// Observation is one audit of a store: what the history is written from.
type Observation struct {
	Now        time.Time
	Store      *v1alpha1.PersonalDataStore
	Objects    []Object
	Violations []v1alpha1.Violation
	Exemptions []v1alpha1.Exemption
	Holds      []Hold
	Evictions  []v1alpha1.RecordedEviction
	// Processors are the store's processors; nil when they were not checked (a stalled store).
	Processors []v1alpha1.RecordedProcessor
}

// Chain is one store's history between observations: the open record and what the last
// observation saw, whose time the next observation adds.
type Chain struct {
	// Open is the current period's record; nil before the first observation.
	Open *v1alpha1.ResidencyRecord
	// Sealed is a record that Observe sealed and the caller has still to write.
	Sealed *v1alpha1.ResidencyRecord
	// Tampered names a record Resume found changed after it was written: it is left as it is,
	// and the chain goes on from its recorded hash.
	Tampered string

	// resumeAfter is the record the next one follows, when Resume found no open record to go on.
	resumeAfter *v1alpha1.ResidencyRecord
	last        map[string]count // objects per location at the last observation
	lastFlush   time.Time
	unlisted    map[string]bool // violations and holds counted, not listed
	written     bool            // Open has been written at least once
}

type count struct{ pods, volumes int32 }

// Resume starts a chain from the store's newest record, as read back after a restart (nil when
// the store has none). An open record of a period still running is continued; one whose period
// ended is sealed as it is; one that does not match its hash is left alone and the next record
// names its recorded hash, so that verification shows where the chain was broken.
func Resume(latest *v1alpha1.ResidencyRecord) *Chain {
	c := &Chain{}
	if latest == nil {
		return c
	}
	if Hash(&latest.Spec) != latest.Spec.Hash {
		c.Tampered = latest.Name
		c.resumeAfter = latest.DeepCopy()
		return c
	}
	if latest.Spec.Sealed {
		c.resumeAfter = latest.DeepCopy()
		return c
	}
	c.Open = latest.DeepCopy()
	c.written = true
	return c
}

// Observe adds one observation. It returns whether Open should be written now (Sealed, when
// set, is always to be written first). The caller clears Sealed once it is written.
func (c *Chain) Observe(o Observation, opts Options) (writeOpen bool) {
	now := o.Now.UTC()
	if c.Open == nil {
		c.start(o.Store, now, opts, c.resumeAfter)
		c.resumeAfter = nil
	}
	for !now.Before(c.Open.Spec.PeriodEnd.Time) {
		end := c.Open.Spec.PeriodEnd.Time
		c.advance(end, opts)
		c.Open.Spec.Sealed = true
		c.Open.Spec.Hash = Hash(&c.Open.Spec)
		c.Sealed = c.Open
		sealed := c.Open
		c.Open = nil
		c.written = false
		c.start(o.Store, now, opts, sealed)
		if c.Open.Spec.PeriodStart.Time.Equal(end) && now.Sub(*lastObserved(sealed)) <= opts.MaxGap {
			// Observed without a break across the boundary: the new period is observed from its start.
			c.Open.Spec.FirstObserved = &c.Open.Spec.PeriodStart
			c.Open.Spec.LastObserved = &c.Open.Spec.PeriodStart
		}
	}
	c.advance(now, opts)
	c.see(o, now)
	due := !c.written || c.Sealed != nil || now.Sub(c.lastFlush) >= opts.Flush
	if due {
		c.Open.Spec.Hash = Hash(&c.Open.Spec)
		c.lastFlush = now
		c.written = true
	}
	return due
}

func lastObserved(r *v1alpha1.ResidencyRecord) *time.Time {
	if r.Spec.LastObserved == nil {
		t := r.Spec.PeriodEnd.Time
		return &t
	}
	return &r.Spec.LastObserved.Time
}

// start opens the record of the period that holds now, after prev (nil for a new chain).
func (c *Chain) start(store *v1alpha1.PersonalDataStore, now time.Time, opts Options, prev *v1alpha1.ResidencyRecord) {
	begin := now.Truncate(opts.Period).UTC() // Truncate works from the zero time; periods of whole hours and days align to UTC
	spec := v1alpha1.ResidencyRecordSpec{
		Store:       v1alpha1.NamespacedReference{Namespace: store.Namespace, Name: store.Name},
		StoreUID:    store.UID,
		PeriodStart: metav1.NewTime(begin),
		PeriodEnd:   metav1.NewTime(begin.Add(opts.Period)),
	}
	if prev != nil {
		spec.Sequence = prev.Spec.Sequence + 1
		spec.PreviousHash = prev.Spec.Hash
		// What lasts carries over: open violations and holds, the exceptions and processors in
		// force and the policy version in force, so each record stands on its own.
		for _, v := range prev.Spec.Violations {
			if v.End == nil {
				spec.Violations = append(spec.Violations, v)
			}
		}
		for _, h := range prev.Spec.Holds {
			if h.End == nil {
				spec.Holds = append(spec.Holds, h)
			}
		}
		if n := len(prev.Spec.PolicyChanges); n > 0 {
			p := prev.Spec.PolicyChanges[n-1]
			p.Time = spec.PeriodStart
			spec.PolicyChanges = []v1alpha1.RecordedPolicyChange{p}
		}
	}
	c.Open = &v1alpha1.ResidencyRecord{
		ObjectMeta: metav1.ObjectMeta{Namespace: store.Namespace, Name: RecordName(store.Name, begin, opts.Period, spec.Sequence, prev != nil && prev.Spec.PeriodStart.Time.Equal(begin)),
			Labels: map[string]string{v1alpha1.RecordStoreUIDLabel: string(store.UID), "app.kubernetes.io/managed-by": "residency-operator",
				v1alpha1.RecordSequenceLabel: strconv.FormatInt(spec.Sequence, 10), v1alpha1.RecordPeriodLabel: begin.Format(PeriodLabelFormat)}},
		Spec: spec,
	}
	c.unlisted = nil
}

// PeriodLabelFormat is how RecordPeriodLabel writes a period's start.
const PeriodLabelFormat = "20060102T1504Z"

// RecordName names a store's record of the period starting at begin: the store and the day
// (and time, for periods shorter than a day). A second record of the same period (after a
// tampered one) adds its sequence number.
func RecordName(store string, begin time.Time, period time.Duration, sequence int64, again bool) string {
	suffix := begin.Format("20060102")
	if period%(24*time.Hour) != 0 {
		suffix = begin.Format("20060102-1504")
	}
	if again {
		suffix += fmt.Sprintf("-%d", sequence)
	}
	if max := 253 - len(suffix) - 1; len(store) > max {
		store = strings.TrimRight(store[:max], "-.")
	}
	return store + "-" + suffix
}

// advance adds the time since the last observation, up to t, to where the objects were then;
// a longer break than MaxGap is a gap instead.
func (c *Chain) advance(t time.Time, opts Options) {
	s := &c.Open.Spec
	if s.LastObserved == nil {
		first := metav1.NewTime(t)
		s.FirstObserved, s.LastObserved = &first, &first
		return
	}
	from := s.LastObserved.Time
	elapsed := t.Sub(from)
	if elapsed <= 0 {
		return
	}
	if elapsed > opts.MaxGap || c.last == nil && c.written {
		c.gap(from, t)
	} else {
		secs := int64(elapsed / time.Second)
		s.ObservedSeconds += secs
		for key, n := range c.last {
			loc := c.location(key)
			loc.PodSeconds += int64(n.pods) * secs
			loc.VolumeSeconds += int64(n.volumes) * secs
		}
	}
	last := metav1.NewTime(t)
	s.LastObserved = &last
}

func (c *Chain) gap(from, to time.Time) {
	s := &c.Open.Spec
	if n := len(s.Gaps); n == v1alpha1.MaxRecordGaps {
		s.Gaps[n-1].To = metav1.NewTime(to) // bounded: the last gap spans the rest
		return
	}
	s.Gaps = append(s.Gaps, v1alpha1.RecordGap{From: metav1.NewTime(from), To: metav1.NewTime(to)})
}

func locationKey(country string, jurisdictions []string) string {
	j := slices.Clone(jurisdictions)
	slices.Sort(j)
	return country + "|" + strings.Join(j, ",")
}

// location returns the record's entry for key, adding it; past the bound, the last entry takes
// the rest.
func (c *Chain) location(key string) *v1alpha1.RecordedLocation {
	s := &c.Open.Spec
	for i := range s.Locations {
		if locationKey(s.Locations[i].Country, s.Locations[i].Jurisdictions) == key {
			return &s.Locations[i]
		}
	}
	if len(s.Locations) == v1alpha1.MaxRecordLocations {
		return &s.Locations[len(s.Locations)-1]
	}
	country, juris, _ := strings.Cut(key, "|")
	loc := v1alpha1.RecordedLocation{Country: country}
	if juris != "" {
		loc.Jurisdictions = strings.Split(juris, ",")
	}
	s.Locations = append(s.Locations, loc)
	slices.SortFunc(s.Locations, func(a, b v1alpha1.RecordedLocation) int {
		return cmp.Compare(locationKey(a.Country, a.Jurisdictions), locationKey(b.Country, b.Jurisdictions))
	})
	return c.location(key)
}

// see records what this observation found.
func (c *Chain) see(o Observation, now time.Time) {
	s := &c.Open.Spec
	at := metav1.NewTime(now)
	c.last = map[string]count{}
	for _, obj := range o.Objects {
		if !obj.Bound {
			continue
		}
		key := locationKey(obj.Country, obj.Jurisdictions)
		n := c.last[key]
		if obj.Kind == "Pod" {
			n.pods++
		} else {
			n.volumes++
		}
		c.last[key] = n
	}
	for key, n := range c.last {
		loc := c.location(key)
		loc.MaxPods = max(loc.MaxPods, n.pods)
		loc.MaxVolumes = max(loc.MaxVolumes, n.volumes)
	}

	if c.unlisted == nil {
		c.unlisted = map[string]bool{}
	}
	current := map[string]bool{}
	for _, v := range o.Violations {
		key := string(v.Object.UID) + "|" + string(v.Reason)
		current[key] = true
		if c.openViolation(key) != nil || c.unlisted[key] {
			continue
		}
		if len(s.Violations) == v1alpha1.MaxRecordViolations {
			c.unlisted[key] = true
			s.ViolationsNotListed++
			continue
		}
		where := v.Node
		if where == "" {
			where = v.Volume
		}
		s.Violations = append(s.Violations, v1alpha1.RecordedViolation{Object: v.Object, Reason: v.Reason, Where: where, Country: v.Location.Country, Start: v.Since})
	}
	for i := range s.Violations {
		v := &s.Violations[i]
		if v.End == nil && !current[string(v.Object.UID)+"|"+string(v.Reason)] {
			v.End = &at
		}
	}

	held := map[types.UID]bool{}
	for _, h := range o.Holds {
		held[h.Pod.UID] = true
		key := "hold|" + string(h.Pod.UID)
		if c.openHold(h.Pod.UID) != nil || c.unlisted[key] {
			continue
		}
		if len(s.Holds) == v1alpha1.MaxRecordHolds {
			c.unlisted[key] = true
			s.HoldsNotListed++
			continue
		}
		s.Holds = append(s.Holds, v1alpha1.RecordedHold{Pod: h.Pod, Why: truncate(h.Why, 512), Start: at})
	}
	for i := range s.Holds {
		if s.Holds[i].End == nil && !held[s.Holds[i].Pod.UID] {
			s.Holds[i].End = &at
		}
	}

	for _, e := range o.Evictions {
		if len(s.Evictions) == v1alpha1.MaxRecordEvictions {
			s.EvictionsNotListed++
			continue
		}
		s.Evictions = append(s.Evictions, e)
	}

	exempted := map[string]int32{}
	expires := map[string]metav1.Time{}
	for _, e := range o.Exemptions {
		exempted[e.Exception]++
		expires[e.Exception] = e.ExpiresAt
	}
	for _, name := range sortedKeys(exempted) {
		ex := c.exception(name, at)
		if ex == nil {
			continue
		}
		ex.Last = at
		exp := expires[name]
		ex.ExpiresAt = &exp
		ex.MaxObjects = max(ex.MaxObjects, exempted[name])
	}

	if o.Processors != nil {
		for _, p := range o.Processors {
			i := slices.IndexFunc(s.Processors, func(r v1alpha1.RecordedProcessor) bool { return r.Name == p.Name })
			switch {
			case i >= 0:
				// Permitted once in the period means data may have gone there.
				p.Permitted = p.Permitted || s.Processors[i].Permitted
				s.Processors[i] = p
			case len(s.Processors) < v1alpha1.MaxRecordProcessors:
				s.Processors = append(s.Processors, p)
			}
		}
	}

	if n := len(s.PolicyChanges); n == 0 || s.PolicyChanges[n-1].Generation != o.Store.Generation {
		change := PolicyVersion(o.Store, at)
		if n == v1alpha1.MaxRecordPolicyChanges {
			s.PolicyChanges[n-1] = change // bounded: the last entry is the latest version
		} else {
			s.PolicyChanges = append(s.PolicyChanges, change)
		}
	}
}

// PolicyVersion describes the store's spec as it is now.
func PolicyVersion(store *v1alpha1.PersonalDataStore, at metav1.Time) v1alpha1.RecordedPolicyChange {
	b, _ := json.Marshal(&store.Spec)
	sum := sha256.Sum256(b)
	juris := make([]string, len(store.Spec.AllowedJurisdictions))
	for i, j := range store.Spec.AllowedJurisdictions {
		juris[i] = string(j)
	}
	mode := store.Spec.Enforcement
	if mode == "" {
		mode = v1alpha1.Enforce
	}
	return v1alpha1.RecordedPolicyChange{Time: at, Generation: store.Generation, SpecHash: hex.EncodeToString(sum[:]), AllowedJurisdictions: juris, Enforcement: mode}
}

func (c *Chain) openViolation(key string) *v1alpha1.RecordedViolation {
	for i := range c.Open.Spec.Violations {
		v := &c.Open.Spec.Violations[i]
		if v.End == nil && string(v.Object.UID)+"|"+string(v.Reason) == key {
			return v
		}
	}
	return nil
}

func (c *Chain) openHold(uid types.UID) *v1alpha1.RecordedHold {
	for i := range c.Open.Spec.Holds {
		if h := &c.Open.Spec.Holds[i]; h.End == nil && h.Pod.UID == uid {
			return h
		}
	}
	return nil
}

func (c *Chain) exception(name string, at metav1.Time) *v1alpha1.RecordedException {
	s := &c.Open.Spec
	for i := range s.Exceptions {
		if s.Exceptions[i].Name == name {
			return &s.Exceptions[i]
		}
	}
	if len(s.Exceptions) == v1alpha1.MaxRecordExceptions {
		return nil
	}
	s.Exceptions = append(s.Exceptions, v1alpha1.RecordedException{Name: name, First: at, Last: at})
	return &s.Exceptions[len(s.Exceptions)-1]
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
