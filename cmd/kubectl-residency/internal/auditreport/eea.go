package auditreport

import "slices"

// eeaCountries are the member states of the European Union and the other states of the European
// Economic Area (Iceland, Liechtenstein, Norway), ISO 3166-1 alpha-2, sorted. Personal data moving
// between them is no third-country transfer under Chapter V GDPR. This list is the only place the
// report knows it; change it here when the EEA changes.
var eeaCountries = []string{
	"AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE", "IS",
	"IT", "LI", "LT", "LU", "LV", "MT", "NL", "NO", "PL", "PT", "RO", "SE", "SI", "SK",
}

// InEEA reports whether country (ISO 3166-1 alpha-2) is in the EU or the EEA.
func InEEA(country string) bool {
	_, found := slices.BinarySearch(eeaCountries, country)
	return found
}

// EEACountries returns the EU and EEA countries the report uses, sorted.
func EEACountries() []string { return slices.Clone(eeaCountries) }
