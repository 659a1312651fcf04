// Package history keeps a store's residency history: one ResidencyRecord per store and period,
// each carrying the hash of the one before it, so that a record edited or removed after the
// operator wrote it is detected (Verify, and `kubectl residency report --verify`).
package history

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
)

// Hash returns the SHA-256, in hex, of the record's canonical JSON with its hash field empty.
// encoding/json writes struct fields in declaration order and times at second precision, so
// the record read back from the API server hashes as the operator wrote it.
func Hash(spec *v1alpha1.ResidencyRecordSpec) string {
	c := *spec
	c.Hash = ""
	b, err := json.Marshal(&c)
	if err != nil { // a struct of strings, numbers and times: cannot fail
		panic(fmt.Sprintf("encoding a residency record: %v", err))
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Problem is something Verify found wrong with a chain.
type Problem struct {
	// Record is the record's name; empty for a problem between records (a missing one).
	Record   string
	Sequence int64
	Message  string
}

func (p Problem) String() string {
	if p.Record == "" {
		return fmt.Sprintf("sequence %d: %s", p.Sequence, p.Message)
	}
	return fmt.Sprintf("%s (sequence %d): %s", p.Record, p.Sequence, p.Message)
}

// Verify checks the records of one store (any order, one chain): each record's hash matches its
// content, the sequence has no holes, and each record's previousHash is the hash its predecessor
// carries. The oldest record may have a predecessor that retention removed: its previousHash is
// then not checked, and Verify says so only when it is not the chain's first (sequence 0).
func Verify(records []v1alpha1.ResidencyRecord) []Problem {
	sorted := slices.Clone(records)
	slices.SortFunc(sorted, func(a, b v1alpha1.ResidencyRecord) int { return cmp.Compare(a.Spec.Sequence, b.Spec.Sequence) })
	var problems []Problem
	for i := range sorted {
		r := &sorted[i]
		if got := Hash(&r.Spec); r.Spec.Hash != got {
			problems = append(problems, Problem{Record: r.Name, Sequence: r.Spec.Sequence,
				Message: fmt.Sprintf("content does not match its hash (recorded %s, content hashes to %s): the record was changed after the operator wrote it", short(r.Spec.Hash), short(got))})
		}
		if i == 0 {
			if r.Spec.Sequence == 0 && r.Spec.PreviousHash != "" {
				problems = append(problems, Problem{Record: r.Name, Sequence: 0, Message: "the first record names a predecessor: records before it were removed"})
			}
			continue
		}
		prev := &sorted[i-1]
		switch {
		case r.Spec.Sequence == prev.Spec.Sequence:
			problems = append(problems, Problem{Record: r.Name, Sequence: r.Spec.Sequence, Message: fmt.Sprintf("has the same sequence number as %s", prev.Name)})
		case r.Spec.Sequence != prev.Spec.Sequence+1:
			problems = append(problems, Problem{Sequence: prev.Spec.Sequence + 1,
				Message: fmt.Sprintf("records %d to %d are missing: removed after the operator wrote them", prev.Spec.Sequence+1, r.Spec.Sequence-1)})
		case r.Spec.PreviousHash != prev.Spec.Hash:
			problems = append(problems, Problem{Record: r.Name, Sequence: r.Spec.Sequence,
				Message: fmt.Sprintf("previousHash %s does not match %s's hash %s: one of them was changed or replaced", short(r.Spec.PreviousHash), prev.Name, short(prev.Spec.Hash))})
		}
	}
	return problems
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	if h == "" {
		return "(none)"
	}
	return h
}
