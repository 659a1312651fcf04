package check

import "github.com/residency-operator/residency-operator/internal/rules"

// The rule table lives in internal/rules, shared with the operator's PolicyReports; these names
// keep the check's code and its callers reading as before. They are aliases, not a second table.

// Severity is how bad a finding is: errors fail a pipeline, warnings do not.
type Severity = rules.Severity

// Severities.
const (
	Error   = rules.Error
	Warning = rules.Warning
)

// Rule is a kind of finding, with a stable ID that CI systems key on.
type Rule = rules.Rule

// The rules, by their names in this package.
var (
	RulePlacement             = rules.Placement
	RuleStoresDisagree        = rules.StoresDisagree
	RuleUnknownLocation       = rules.UnknownLocation
	RuleStorage               = rules.Storage
	RuleJurisdictionNotFound  = rules.JurisdictionNotFound
	RuleProcessorNotFound     = rules.ProcessorNotFound
	RuleProcessorJurisdiction = rules.ProcessorJurisdiction
	RuleProcessorCategories   = rules.ProcessorCategories
	RuleExceptionExpired      = rules.ExceptionExpired
	RuleNodeName              = rules.NodeName
	RuleStorageClassNotFound  = rules.StorageClassNotFound
	RuleTooManyTerms          = rules.TooManyTerms
	RuleExceptionStore        = rules.ExceptionStore
	RuleVolume                = rules.Volume
	RuleInvalidPolicy         = rules.InvalidPolicy
	RuleSelectorTrust         = rules.SelectorTrust
	RuleDuplicate             = rules.Duplicate
	RuleHostPath              = rules.HostPath
	RuleExceptionNotApproved  = rules.ExceptionNotApproved
	RuleApplyOrder            = rules.ApplyOrder
	RuleClusterPolicyNarrowed = rules.ClusterPolicyNarrowed
	RuleNamespacePropagated   = rules.NamespacePropagated
)

// Rules lists every rule in ID order, for SARIF and documentation.
var Rules = rules.All

// RuleByID returns the rule with id, and false when there is none.
func RuleByID(id string) (Rule, bool) { return rules.ByID(id) }
