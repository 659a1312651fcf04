package engine

import (
	"slices"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
)

// RequirementOf is the permitted set of one store whatever its enforcement mode: the audit reports
// Audit stores' violations too, although admission injects nothing for them.
func RequirementOf(store *v1alpha1.PersonalDataStore) Requirement {
	names := make([]string, 0, len(store.Spec.AllowedJurisdictions))
	for _, j := range store.Spec.AllowedJurisdictions {
		names = append(names, string(j))
	}
	slices.Sort(names)
	return Requirement{Groups: []Group{{Store: store.Name, Jurisdictions: slices.Compact(names)}}}
}
