package catalog

// isoCodes holds every officially assigned ISO 3166-1 alpha-2 code, sorted,
// two letters per code. The list was taken from the Debian iso-codes package
// (iso_3166-1.json, version 4.15.0) and cross-checked against the tz
// database's iso3166.tab, taken 2026-11. It is one string rather than a
// slice so that the table costs a single read-only allocation-free constant.
//
// User-assigned and reserved codes (XK for Kosovo, EU, UK, ...) are
// deliberately absent: a residency policy must not accept a code that no
// standard defines.
const isoCodes = "" +
	"ADAEAFAGAIALAMAOAQARASATAUAWAXAZBABBBDBE" +
	"BFBGBHBIBJBLBMBNBOBQBRBSBTBVBWBYBZCACCCD" +
	"CFCGCHCICKCLCMCNCOCRCUCVCWCXCYCZDEDJDKDM" +
	"DODZECEEEGEHERESETFIFJFKFMFOFRGAGBGDGEGF" +
	"GGGHGIGLGMGNGPGQGRGSGTGUGWGYHKHMHNHRHTHU" +
	"IDIEILIMINIOIQIRISITJEJMJOJPKEKGKHKIKMKN" +
	"KPKRKWKYKZLALBLCLILKLRLSLTLULVLYMAMCMDME" +
	"MFMGMHMKMLMMMNMOMPMQMRMSMTMUMVMWMXMYMZNA" +
	"NCNENFNGNINLNONPNRNUNZOMPAPEPFPGPHPKPLPM" +
	"PNPRPSPTPWPYQARERORSRURWSASBSCSDSESGSHSI" +
	"SJSKSLSMSNSOSRSSSTSVSXSYSZTCTDTFTGTHTJTK" +
	"TLTMTNTOTRTTTVTWTZUAUGUMUSUYUZVAVCVEVGVI" +
	"VNVUWFWSYEYTZAZMZW"

// isoCount is the number of assigned codes; the tests pin it so that an
// accidental edit of isoCodes is caught.
const isoCount = len(isoCodes) / 2

// isoTable answers IsISOCountry in constant time without allocating; it is
// indexed by (first letter * 26 + second letter).
var isoTable = func() (t [26 * 26]bool) {
	for i := 0; i+1 < len(isoCodes); i += 2 {
		t[int(isoCodes[i]-'A')*26+int(isoCodes[i+1]-'A')] = true
	}
	return t
}()

// IsISOCountry reports whether code is an assigned ISO 3166-1 alpha-2 code.
// Only the canonical upper-case form is accepted, because that is the form
// the rest of the operator stores and compares.
func IsISOCountry(code string) bool {
	if len(code) != 2 {
		return false
	}
	a, b := code[0], code[1]
	if a < 'A' || a > 'Z' || b < 'A' || b > 'Z' {
		return false
	}
	return isoTable[int(a-'A')*26+int(b-'A')]
}

// ISOCountries returns all assigned ISO 3166-1 alpha-2 codes in ascending
// order. The caller owns the returned slice.
func ISOCountries() []string {
	out := make([]string, 0, isoCount)
	for i := 0; i+1 < len(isoCodes); i += 2 {
		out = append(out, isoCodes[i:i+2])
	}
	return out
}
