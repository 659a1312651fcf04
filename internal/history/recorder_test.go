package history

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8stypes "k8s.io/apimachinery/pkg/types"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
)

var testStore = &v1alpha1.PersonalDataStore{
	ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "customers", UID: "0123456789abcdef", Generation: 1},
	Spec:       v1alpha1.PersonalDataStoreSpec{AllowedJurisdictions: []v1alpha1.JurisdictionName{"eu"}},
}

func pods(country string, n int) []Object {
	out := make([]Object, n)
	for i := range out {
		out[i] = Object{Kind: "Pod", Bound: true, Country: country, Jurisdictions: []string{"eu"}}
	}
	return out
}

// TestObserveAcrossPeriods: time is added to where the objects were, periods are sealed at
// midnight UTC and chained, violations end when they are gone, and the chain verifies.
func TestObserveAcrossPeriods(t *testing.T) {
	opts := Options{Period: 24 * time.Hour, Flush: 5 * time.Minute, MaxGap: 15 * time.Minute}
	c := Resume(nil)
	t0 := time.Date(2026, 1, 1, 22, 0, 0, 0, time.UTC)
	var sealed []v1alpha1.ResidencyRecord
	violation := v1alpha1.Violation{Object: v1alpha1.ObjectReference{Kind: "Pod", Name: "p", UID: "u1"}, Reason: v1alpha1.NodeNotPermitted,
		Node: "us-1", Location: v1alpha1.ObservedLocation{Country: "US"}, Since: metav1.NewTime(t0.Add(time.Hour))}
	for at := t0; !at.After(t0.Add(4 * time.Hour)); at = at.Add(5 * time.Minute) {
		o := Observation{Now: at, Store: testStore, Objects: pods("DE", 2)}
		if !at.Before(t0.Add(time.Hour)) && at.Before(t0.Add(3*time.Hour)) {
			o.Objects = append(o.Objects, Object{Kind: "Pod", Bound: true, Country: "US", Jurisdictions: []string{"us"}})
			o.Violations = []v1alpha1.Violation{violation}
		}
		c.Observe(o, opts)
		if c.Sealed != nil {
			sealed = append(sealed, *c.Sealed)
			c.Sealed = nil
		}
	}
	if len(sealed) != 1 {
		t.Fatalf("sealed %d records, want 1 (the day that ended at midnight)", len(sealed))
	}
	day1, day2 := sealed[0].Spec, c.Open.Spec
	if day1.Sequence != 0 || day2.Sequence != 1 || day2.PreviousHash != day1.Hash || !day1.Sealed {
		t.Fatalf("chain: day1 seq %d sealed %v hash %s, day2 seq %d previous %s", day1.Sequence, day1.Sealed, day1.Hash, day2.Sequence, day2.PreviousHash)
	}
	if sealed[0].Name != "customers-20260101" || c.Open.Name != "customers-20260102" {
		t.Errorf("names %s, %s", sealed[0].Name, c.Open.Name)
	}
	if got := secondsIn(day1, "DE"); got != 2*2*3600 {
		t.Errorf("day 1 DE pod-seconds = %d, want %d (2 pods, 22:00-24:00)", got, 2*2*3600)
	}
	if got := secondsIn(day1, "US"); got != 3600 {
		t.Errorf("day 1 US pod-seconds = %d, want 3600 (23:00-24:00)", got)
	}
	if got := secondsIn(day2, "US"); got != 3600 {
		t.Errorf("day 2 US pod-seconds = %d, want 3600 (00:00-01:00)", got)
	}
	if day1.ObservedSeconds != 7200 || day2.ObservedSeconds != 7200 {
		t.Errorf("observed %d and %d seconds, want 7200 each", day1.ObservedSeconds, day2.ObservedSeconds)
	}
	if len(day1.Violations) != 1 || day1.Violations[0].End != nil {
		t.Errorf("day 1 violations %+v, want one still open at midnight", day1.Violations)
	}
	if len(day2.Violations) != 1 || day2.Violations[0].End == nil || !day2.Violations[0].End.Time.Equal(t0.Add(3*time.Hour)) ||
		!day2.Violations[0].Start.Time.Equal(t0.Add(time.Hour)) {
		t.Errorf("day 2 violations %+v, want one from 23:00 to 01:00", day2.Violations)
	}
	if len(day2.PolicyChanges) != 1 || day2.PolicyChanges[0].Generation != 1 {
		t.Errorf("day 2 policy versions %+v, want the one in force", day2.PolicyChanges)
	}
	if problems := Verify([]v1alpha1.ResidencyRecord{*c.Open, sealed[0]}); len(problems) != 0 {
		t.Errorf("chain does not verify: %v", problems)
	}
}

// TestGapAndRestart: a break longer than MaxGap is a gap, not time anywhere; a resumed chain
// does not know where objects were while the operator was down.
func TestGapAndRestart(t *testing.T) {
	opts := Options{Period: 24 * time.Hour, Flush: 5 * time.Minute, MaxGap: 15 * time.Minute}
	t0 := time.Date(2026, 1, 1, 8, 0, 0, 0, time.UTC)
	c := Resume(nil)
	c.Observe(Observation{Now: t0, Store: testStore, Objects: pods("DE", 1)}, opts)
	c.Observe(Observation{Now: t0.Add(10 * time.Minute), Store: testStore, Objects: pods("DE", 1)}, opts)
	c.Observe(Observation{Now: t0.Add(2 * time.Hour), Store: testStore, Objects: pods("DE", 1)}, opts)
	s := c.Open.Spec
	if secondsIn(s, "DE") != 600 || len(s.Gaps) != 1 || !s.Gaps[0].From.Time.Equal(t0.Add(10*time.Minute)) {
		t.Fatalf("DE %d s, gaps %+v; want 600 s and one gap from 08:10", secondsIn(s, "DE"), s.Gaps)
	}
	written := c.Open.DeepCopy()
	written.Spec.Hash = Hash(&written.Spec)

	restarted := Resume(written)
	restarted.Observe(Observation{Now: t0.Add(2*time.Hour + 5*time.Minute), Store: testStore, Objects: pods("DE", 1)}, opts)
	if got := restarted.Open.Spec; secondsIn(got, "DE") != 600 || len(got.Gaps) != 2 || got.Sequence != 0 {
		t.Errorf("after restart: DE %d s, %d gaps, sequence %d; want 600 s, 2 gaps (the restart), sequence 0", secondsIn(got, "DE"), len(got.Gaps), got.Sequence)
	}
}

// TestTamperedRecordIsKept: a record changed after it was written is left alone; the history
// goes on in a new record that names its recorded hash, and Verify names the changed one.
func TestTamperedRecordIsKept(t *testing.T) {
	opts := Options{Period: 24 * time.Hour, Flush: 5 * time.Minute, MaxGap: 15 * time.Minute}
	t0 := time.Date(2026, 1, 1, 8, 0, 0, 0, time.UTC)
	c := Resume(nil)
	c.Observe(Observation{Now: t0, Store: testStore, Objects: pods("DE", 1)}, opts)
	c.Observe(Observation{Now: t0.Add(5 * time.Minute), Store: testStore, Objects: pods("DE", 1)}, opts)
	tampered := c.Open.DeepCopy()
	tampered.Spec.Locations[0].Country = "FR"

	resumed := Resume(tampered)
	if resumed.Tampered != tampered.Name {
		t.Fatalf("Tampered = %q, want %q", resumed.Tampered, tampered.Name)
	}
	resumed.Observe(Observation{Now: t0.Add(10 * time.Minute), Store: testStore, Objects: pods("DE", 1)}, opts)
	next := resumed.Open
	if next.Spec.Sequence != 1 || next.Spec.PreviousHash != tampered.Spec.Hash || next.Name != "customers-20260101-1" {
		t.Fatalf("next record %s sequence %d previous %s", next.Name, next.Spec.Sequence, next.Spec.PreviousHash)
	}
	problems := Verify([]v1alpha1.ResidencyRecord{*tampered, *next})
	if len(problems) != 1 || problems[0].Record != tampered.Name || !strings.Contains(problems[0].Message, "changed after") {
		t.Errorf("Verify = %v, want one problem naming %s", problems, tampered.Name)
	}
}

// TestVerifyFindsRemovedRecords: a record removed from the middle of a chain is named.
func TestVerifyFindsRemovedRecords(t *testing.T) {
	var chain []v1alpha1.ResidencyRecord
	prev := ""
	for i := range 4 {
		r := v1alpha1.ResidencyRecord{ObjectMeta: metav1.ObjectMeta{Name: "r" + string(rune('0'+i))},
			Spec: v1alpha1.ResidencyRecordSpec{Sequence: int64(i), PreviousHash: prev, Sealed: true}}
		r.Spec.Hash = Hash(&r.Spec)
		prev = r.Spec.Hash
		chain = append(chain, r)
	}
	if p := Verify(chain); len(p) != 0 {
		t.Fatalf("intact chain: %v", p)
	}
	p := Verify([]v1alpha1.ResidencyRecord{chain[0], chain[1], chain[3]})
	if len(p) != 1 || !strings.Contains(p[0].Message, "records 2 to 2 are missing") {
		t.Errorf("Verify = %v, want record 2 missing", p)
	}
	// Retention removed the oldest: not a problem.
	if p := Verify(chain[2:]); len(p) != 0 {
		t.Errorf("chain after retention: %v", p)
	}
}

// TestRecordIsBounded: a period with more violations, holds and evictions than a record lists
// stays within the bounds, and counts the rest.
func TestRecordIsBounded(t *testing.T) {
	opts := Options{Period: 24 * time.Hour, Flush: 5 * time.Minute, MaxGap: 15 * time.Minute}
	t0 := time.Date(2026, 1, 1, 8, 0, 0, 0, time.UTC)
	c := Resume(nil)
	for round := range 10 {
		var o Observation
		o.Now, o.Store = t0.Add(time.Duration(round)*time.Minute), testStore
		for i := range 50 {
			uid := string(rune('a'+round)) + "-" + string(rune('A'+i))
			ref := v1alpha1.ObjectReference{Kind: "Pod", Name: uid, UID: k8stypes.UID("u" + uid)}
			o.Violations = append(o.Violations, v1alpha1.Violation{Object: ref, Reason: v1alpha1.NodeNotPermitted, Since: metav1.NewTime(o.Now)})
			o.Holds = append(o.Holds, Hold{Pod: ref, Why: strings.Repeat("x", 2000)})
			o.Evictions = append(o.Evictions, v1alpha1.RecordedEviction{Pod: ref, Time: metav1.NewTime(o.Now)})
			o.Objects = append(o.Objects, Object{Kind: "Pod", Bound: true, Country: string(rune('A'+round)) + string(rune('A'+i%26))})
		}
		c.Observe(o, opts)
	}
	s := c.Open.Spec
	if len(s.Violations) != v1alpha1.MaxRecordViolations || s.ViolationsNotListed != 400 {
		t.Errorf("violations %d listed, %d not; want %d and 400", len(s.Violations), s.ViolationsNotListed, v1alpha1.MaxRecordViolations)
	}
	if len(s.Holds) != v1alpha1.MaxRecordHolds || s.HoldsNotListed != 450 || len(s.Holds[0].Why) != 512 {
		t.Errorf("holds %d listed, %d not, why %d bytes", len(s.Holds), s.HoldsNotListed, len(s.Holds[0].Why))
	}
	if len(s.Evictions) != v1alpha1.MaxRecordEvictions || s.EvictionsNotListed != 400 {
		t.Errorf("evictions %d listed, %d not", len(s.Evictions), s.EvictionsNotListed)
	}
	if len(s.Locations) != v1alpha1.MaxRecordLocations {
		t.Errorf("%d locations, want the bound %d", len(s.Locations), v1alpha1.MaxRecordLocations)
	}
}

func secondsIn(s v1alpha1.ResidencyRecordSpec, country string) int64 {
	var n int64
	for _, l := range s.Locations {
		if l.Country == country {
			n += l.PodSeconds
		}
	}
	return n
}
