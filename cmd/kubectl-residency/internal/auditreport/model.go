// Package auditreport builds the report of `kubectl residency report`: for each PersonalDataStore
// the record of processing activities (Art. 30(1) GDPR) and the evidence of where its data was in a
// period, from the operator's hash-chained ResidencyRecords, with the verification of each chain.
//
// Report is the JSON schema (SchemaVersion); the Markdown, CSV and HTML renderers only present it.
// Missing declarations are written as NotDeclared (strings) or an empty list, never guessed.
package auditreport

import "time"

// SchemaVersion names the JSON schema of Report. Fields are only added within a version.
const SchemaVersion = "dataresidency.io/report/v1"

// NotDeclared stands wherever a declaration is missing.
const NotDeclared = "Not declared"

// Report is the whole report.
type Report struct {
	SchemaVersion string `json:"schemaVersion"`
	// Title is the document's title.
	Title string `json:"title"`
	// GeneratedAt is when the report was written; GeneratedBy the tool and its version.
	GeneratedAt time.Time `json:"generatedAt"`
	GeneratedBy string    `json:"generatedBy"`
	// Source says where the objects were read: a cluster or manifest files.
	Source string `json:"source"`
	// Period is the half-open range [from, to) the evidence covers.
	Period Period `json:"period"`
	// Scope says which stores: a namespace, all namespaces, one store.
	Scope string `json:"scope"`
	// Controller, Representative and DataProtectionOfficer come from the RecordOfProcessing "default".
	Controller            Contact `json:"controller"`
	Representative        Contact `json:"representative"`
	DataProtectionOfficer Contact `json:"dataProtectionOfficer"`
	// AdequacyDecisionsVersion is the RecordOfProcessing's version of its adequacy list.
	AdequacyDecisionsVersion string `json:"adequacyDecisionsVersion"`
	// EEACountries are the countries the report treats as inside the EU and EEA.
	EEACountries []string `json:"eeaCountries"`
	// Verification sums up the chain verification of every store.
	Verification Verification `json:"verification"`
	// Notes are problems with the input that are not about one store, such as a missing
	// RecordOfProcessing.
	Notes  []string `json:"notes"`
	Stores []Store  `json:"stores"`
}

// Period is a half-open time range [From, To).
type Period struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

// Contact is a person or organisation; Name is NotDeclared when there is none.
type Contact struct {
	Name    string `json:"name"`
	Address string `json:"address,omitempty"`
	Email   string `json:"email,omitempty"`
	Phone   string `json:"phone,omitempty"`
}

// Verification is the result of history.Verify over one store's chain, or over all of them.
type Verification struct {
	// Verified is true when every record matched its hash and the chain had no hole.
	Verified bool `json:"verified"`
	// Records is the number of records verified (the whole chain, not only the period's).
	Records  int       `json:"records"`
	Problems []Problem `json:"problems"`
}

// Problem is one thing verification found wrong.
type Problem struct {
	Store    string `json:"store,omitempty"`
	Record   string `json:"record,omitempty"`
	Sequence int64  `json:"sequence"`
	Message  string `json:"message"`
}

// Store is one PersonalDataStore's part of the report.
type Store struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	UID       string `json:"uid,omitempty"`
	// Exists is false for a store that was deleted: only its history remains, and its
	// declarations are NotDeclared.
	Exists bool `json:"exists"`

	// The record of processing activities.
	Description          string      `json:"description"`
	Purposes             []string    `json:"purposes"`
	DataSubjects         []string    `json:"dataSubjects"`
	DataCategories       []string    `json:"dataCategories"`
	ErasureTimeLimit     string      `json:"erasureTimeLimit"`
	AllowedJurisdictions []string    `json:"allowedJurisdictions"`
	Enforcement          string      `json:"enforcement"`
	Recipients           []Recipient `json:"recipients"`
	Transfers            []Transfer  `json:"transfers"`
	// Notes are what the report could not tell about the store.
	Notes []string `json:"notes"`

	Evidence     Evidence     `json:"evidence"`
	Verification Verification `json:"verification"`
}

// Key is "namespace/name".
func (s *Store) Key() string { return s.Namespace + "/" + s.Name }

// Recipient is a DataProcessor the store names.
type Recipient struct {
	Name string `json:"name"`
	// Declared is false when the store names a DataProcessor that does not exist.
	Declared       bool     `json:"declared"`
	Role           string   `json:"role"`
	Description    string   `json:"description"`
	Purposes       []string `json:"purposes"`
	Jurisdictions  []string `json:"jurisdictions"`
	Countries      []string `json:"countries"`
	DataCategories []string `json:"dataCategories"`
	Notes          []string `json:"notes"`
}

// Transfer statuses.
const (
	// TransferDeclared: a basis is declared; the report cannot check contracts, rules or derogations.
	TransferDeclared = "Declared"
	// TransferAdequate: the named adequacy decision covers the country in the whole period.
	TransferAdequate = "AdequacyDecisionApplies"
	// TransferProblem: the declared basis does not hold (see Findings).
	TransferProblem = "Problem"
	// TransferNotDeclared: no basis is declared.
	TransferNotDeclared = "NotDeclared"
)

// Transfer sources.
const (
	// ViaProcessor: a recipient processes in the country.
	ViaProcessor = "processor"
	// ViaHistory: the store's own pods or volumes were in the country in the period.
	ViaHistory = "history"
)

// Transfer is personal data of the store going to a country outside the EU and EEA.
type Transfer struct {
	Country string `json:"country"`
	// Via is ViaProcessor or ViaHistory.
	Via string `json:"via"`
	// Processor is the recipient, for ViaProcessor.
	Processor string `json:"processor,omitempty"`
	// Mechanism and Reference are the processor's declared transfer basis, or NotDeclared.
	Mechanism string `json:"mechanism"`
	Reference string `json:"reference"`
	// AdequacyDecision is the RecordOfProcessing entry the basis names, when it exists.
	AdequacyDecision *AdequacyDecision `json:"adequacyDecision,omitempty"`
	// Status is one of the Transfer* statuses.
	Status   string   `json:"status"`
	Findings []string `json:"findings"`
}

// AdequacyDecision is an entry of the RecordOfProcessing.
type AdequacyDecision struct {
	Name      string   `json:"name"`
	Countries []string `json:"countries"`
	Scope     string   `json:"scope,omitempty"`
	Reference string   `json:"reference"`
	Adopted   string   `json:"adopted"`
	Withdrawn string   `json:"withdrawn,omitempty"`
}

// Evidence is what the store's ResidencyRecords overlapping the period say.
type Evidence struct {
	// Records are the names of the records overlapping the period, oldest first.
	Records []string `json:"records"`
	// Covered is the union of their periods, which may reach outside the report's period: a
	// record is counted whole.
	Covered *Period `json:"covered,omitempty"`
	// ObservedSeconds is how much of the records' periods the operator observed; PeriodSeconds
	// how long they are.
	ObservedSeconds int64 `json:"observedSeconds"`
	PeriodSeconds   int64 `json:"periodSeconds"`

	Locations      []Location          `json:"locations"`
	Jurisdictions  []JurisdictionHours `json:"jurisdictions"`
	Violations     []Violation         `json:"violations"`
	Evictions      []Eviction          `json:"evictions"`
	Holds          []Hold              `json:"holds"`
	Exceptions     []Exception         `json:"exceptions"`
	Processors     []Processor         `json:"processors"`
	PolicyChanges  []PolicyChange      `json:"policyChanges"`
	Gaps           []Gap               `json:"gaps"`
	NotObserved    []Gap               `json:"notObserved"`
	NotListed      NotListed           `json:"notListed"`
	UnknownCountry bool                `json:"unknownCountry"`
}

// NotListed counts entries past a record's bounds, summed over the records.
type NotListed struct {
	Violations int64 `json:"violations"`
	Evictions  int64 `json:"evictions"`
	Holds      int64 `json:"holds"`
}

// Location is where the store's pods and volumes were, summed over the records.
type Location struct {
	// Country is empty when the location was not known.
	Country       string   `json:"country"`
	InEEA         bool     `json:"inEEA"`
	Jurisdictions []string `json:"jurisdictions"`
	PodSeconds    int64    `json:"podSeconds"`
	VolumeSeconds int64    `json:"volumeSeconds"`
	PodHours      float64  `json:"podHours"`
	VolumeHours   float64  `json:"volumeHours"`
	MaxPods       int32    `json:"maxPods"`
	MaxVolumes    int32    `json:"maxVolumes"`
}

// JurisdictionHours sums the locations in one jurisdiction; a location in several counts in each.
type JurisdictionHours struct {
	Jurisdiction  string  `json:"jurisdiction"`
	PodSeconds    int64   `json:"podSeconds"`
	VolumeSeconds int64   `json:"volumeSeconds"`
	PodHours      float64 `json:"podHours"`
	VolumeHours   float64 `json:"volumeHours"`
}

// Violation is a violation and how long it lasted; End is nil while it lasted at the last record.
type Violation struct {
	Kind    string     `json:"kind"`
	Name    string     `json:"name"`
	Reason  string     `json:"reason"`
	Where   string     `json:"where,omitempty"`
	Country string     `json:"country,omitempty"`
	Start   time.Time  `json:"start"`
	End     *time.Time `json:"end"`
}

// Eviction is a pod the operator evicted.
type Eviction struct {
	Pod  string    `json:"pod"`
	Node string    `json:"node,omitempty"`
	Time time.Time `json:"time"`
}

// Hold is an eviction that was held; End is nil while it lasted at the last record.
type Hold struct {
	Pod   string     `json:"pod"`
	Why   string     `json:"why,omitempty"`
	Start time.Time  `json:"start"`
	End   *time.Time `json:"end"`
}

// Exception is a ResidencyException that exempted the store's objects.
type Exception struct {
	Name       string     `json:"name"`
	First      time.Time  `json:"first"`
	Last       time.Time  `json:"last"`
	ExpiresAt  *time.Time `json:"expiresAt"`
	MaxObjects int32      `json:"maxObjects"`
}

// Processor is a DataProcessor the store named in the period, as the records saw it.
type Processor struct {
	Name          string   `json:"name"`
	Role          string   `json:"role"`
	Jurisdictions []string `json:"jurisdictions"`
	// Permitted is false when it failed the store's checks in any record.
	Permitted bool `json:"permitted"`
}

// PolicyChange is a version of the store's spec in force in the period.
type PolicyChange struct {
	Time                 time.Time `json:"time"`
	Generation           int64     `json:"generation"`
	SpecHash             string    `json:"specHash"`
	AllowedJurisdictions []string  `json:"allowedJurisdictions"`
	Enforcement          string    `json:"enforcement"`
}

// Gap is a stretch of time without observation.
type Gap struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Why says why: the operator was not running, no record covers it, the store did not exist.
	Why string `json:"why"`
}
