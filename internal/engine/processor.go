package engine

import (
	"fmt"
	"slices"
	"strings"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
)

// ProcessorProblem applies the privacy policy's sharing rules to one processor a store names: it
// must process in at least one of the store's allowed jurisdictions, and be allowed to receive
// every data category the store holds (data minimisation: a service provider gets only the data
// it needs). It returns nil when the processor passes. A processor that does not exist is the
// caller's to report, since only the caller knows where it looked.
//
// The wording matches the store controller's status findings, so that `kubectl residency check`
// and `kubectl get pds -o yaml` say the same thing.
func ProcessorProblem(store *v1alpha1.PersonalDataStoreSpec, p *v1alpha1.DataProcessor) *v1alpha1.ProcessorFinding {
	if !slices.ContainsFunc(p.Spec.Jurisdictions, func(j v1alpha1.JurisdictionName) bool {
		return slices.Contains(store.AllowedJurisdictions, j)
	}) {
		return &v1alpha1.ProcessorFinding{Processor: p.Name, Reason: v1alpha1.JurisdictionNotPermitted,
			Message: fmt.Sprintf("DataProcessor %s processes in %s, none of the store's allowed jurisdictions %s: use a processor in a permitted jurisdiction or stop sharing with it",
				p.Name, Names(p.Spec.Jurisdictions), Names(store.AllowedJurisdictions))}
	}
	var missing []string
	for _, c := range store.DataCategories {
		if !slices.Contains(p.Spec.DataCategories, c) {
			missing = append(missing, string(c))
		}
	}
	if len(missing) > 0 {
		return &v1alpha1.ProcessorFinding{Processor: p.Name, Reason: v1alpha1.CategoriesNotCovered,
			Message: fmt.Sprintf("DataProcessor %s may not receive %s, which the store holds: it must get only the data it needs; split the store or widen the processor's dataCategories if the policy allows",
				p.Name, strings.Join(missing, ", "))}
	}
	return nil
}

// Names lists names for a message, such as "[eu us]".
func Names[T ~string](names []T) string {
	s := make([]string, len(names))
	for i, n := range names {
		s[i] = string(n)
	}
	return "[" + strings.Join(s, " ") + "]"
}
