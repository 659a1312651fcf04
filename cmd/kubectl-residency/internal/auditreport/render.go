package auditreport

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Formats are the output formats, the default first.
var Formats = []string{"md", "html", "json", "csv"}

// Write renders r in format to w.
func Write(w io.Writer, format string, r *Report) error {
	var buf bytes.Buffer
	var err error
	switch format {
	case "json":
		err = writeJSON(&buf, r)
	case "md":
		err = writeMarkdown(&buf, r)
	case "csv":
		err = writeCSV(&buf, r)
	case "html":
		err = writeHTML(&buf, r)
	default:
		return fmt.Errorf("unknown format %q", format)
	}
	if err != nil {
		return err
	}
	_, err = w.Write(buf.Bytes())
	return err
}

func writeJSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// Shared wording of the text renderers.

func ts(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func tsPtr(t *time.Time, open string) string {
	if t == nil {
		return open
	}
	return ts(*t)
}

func list(items []string) string {
	if len(items) == 0 {
		return NotDeclared
	}
	return strings.Join(items, "; ")
}

func listOr(items []string, none string) string {
	if len(items) == 0 {
		return none
	}
	return strings.Join(items, ", ")
}

func contactLine(c Contact) string {
	parts := []string{c.Name}
	for _, p := range []string{c.Address, c.Email, c.Phone} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, ", ")
}

func hoursText(h float64) string { return strconv.FormatFloat(h, 'f', 2, 64) }

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func verificationLine(v Verification) string {
	if v.Verified {
		return fmt.Sprintf("verified: %s, every hash matches and no chain has a hole", plural(v.Records, "record", "records"))
	}
	return fmt.Sprintf("FAILED: %s in %s", plural(len(v.Problems), "problem", "problems"), plural(v.Records, "record", "records"))
}

func observedLine(ev Evidence) string {
	if len(ev.Records) == 0 {
		return "No ResidencyRecord overlaps the period: nothing was observed."
	}
	pct := 0.0
	if ev.PeriodSeconds > 0 {
		pct = 100 * float64(ev.ObservedSeconds) / float64(ev.PeriodSeconds)
	}
	return fmt.Sprintf("%s the period, covering %s to %s; the operator observed %.1f%% of that time.",
		plural(len(ev.Records), "record overlaps", "records overlap"), ts(ev.Covered.From), ts(ev.Covered.To), pct)
}

func adequacyText(t Transfer) string {
	d := t.AdequacyDecision
	if d == nil {
		if t.Mechanism == "AdequacyDecision" {
			return "not found"
		}
		return "-"
	}
	s := fmt.Sprintf("%s: %s, adopted %s, covers %s", d.Name, d.Reference, d.Adopted, strings.Join(d.Countries, ", "))
	if d.Scope != "" {
		s += "; scope: " + d.Scope
	}
	if d.Withdrawn != "" {
		s += "; withdrawn " + d.Withdrawn
	}
	return s
}

func viaText(t Transfer) string {
	if t.Via == ViaProcessor {
		return "processor " + t.Processor
	}
	return "the store's own pods or volumes"
}

// Markdown.

// mdEscaper makes text from the input inert in a Markdown table cell: no markup, no HTML, no new
// cell or row.
var mdEscaper = strings.NewReplacer(
	`\`, `\\`, "`", "\\`", "*", `\*`, "_", `\_`, "[", `\[`, "]", `\]`, "<", "&lt;", ">", "&gt;", "&", "&amp;",
	"|", `\|`, "#", `\#`, "\r\n", " ", "\n", " ", "\r", " ",
)

func md(s string) string { return mdEscaper.Replace(s) }

type mdWriter struct {
	b *bytes.Buffer
}

func (m mdWriter) p(format string, args ...any) { fmt.Fprintf(m.b, format, args...) }

func (m mdWriter) table(header []string, rows [][]string, none string) {
	if len(rows) == 0 {
		if none != "" {
			m.p("%s\n\n", none)
		}
		return
	}
	m.p("| %s |\n|%s\n", strings.Join(header, " | "), strings.Repeat(" --- |", len(header)))
	for _, row := range rows {
		cells := make([]string, len(row))
		for i, c := range row {
			cells[i] = md(c)
		}
		m.p("| %s |\n", strings.Join(cells, " | "))
	}
	m.p("\n")
}

func writeMarkdown(w io.Writer, r *Report) error {
	var b bytes.Buffer
	m := mdWriter{&b}
	m.p("# %s\n\n", md(r.Title))
	m.table([]string{"", ""}, [][]string{
		{"Period", ts(r.Period.From) + " to " + ts(r.Period.To) + " (the end excluded)"},
		{"Scope", r.Scope},
		{"Source", r.Source},
		{"Generated", ts(r.GeneratedAt) + " by " + r.GeneratedBy},
		{"Hash chains", verificationLine(r.Verification)},
	}, "")
	m.p("## Controller (Art. 30(1)(a) GDPR)\n\n")
	m.table([]string{"Role", "Contact"}, [][]string{
		{"Controller", contactLine(r.Controller)},
		{"Representative in the EU", contactLine(r.Representative)},
		{"Data protection officer", contactLine(r.DataProtectionOfficer)},
	}, "")
	m.p("Adequacy decisions version: %s. Countries treated as EU/EEA: %s.\n\n", md(r.AdequacyDecisionsVersion), strings.Join(r.EEACountries, ", "))
	for _, n := range r.Notes {
		m.p("- Note: %s\n", md(n))
	}
	if len(r.Notes) > 0 {
		m.p("\n")
	}
	if len(r.Stores) == 0 {
		m.p("No PersonalDataStore in scope.\n")
	}
	for i := range r.Stores {
		writeStoreMarkdown(m, &r.Stores[i])
	}
	_, err := w.Write(b.Bytes())
	return err
}

func writeStoreMarkdown(m mdWriter, s *Store) {
	title := s.Key()
	if !s.Exists {
		title += " (store not found: history only)"
	}
	m.p("## Store %s\n\n", md(title))
	for _, n := range s.Notes {
		m.p("- Note: %s\n", md(n))
	}
	if len(s.Notes) > 0 {
		m.p("\n")
	}
	m.p("### Record of processing activities (Art. 30(1) GDPR)\n\n")
	m.table([]string{"Field", "Value"}, storeFields(s), "")
	m.p("#### Recipients\n\n")
	var rows [][]string
	for _, rc := range s.Recipients {
		rows = append(rows, []string{rc.Name, rc.Role, list(rc.Purposes), list(rc.Jurisdictions), listOr(rc.Countries, "Not known"), list(rc.DataCategories), listOr(rc.Notes, "")})
	}
	m.table([]string{"Processor", "Role", "Purposes", "Jurisdictions", "Countries", "Data categories", "Notes"}, rows, "No recipients declared.")
	m.p("#### Third-country transfers (outside the EU/EEA)\n\n")
	rows = nil
	for _, t := range s.Transfers {
		rows = append(rows, []string{t.Country, viaText(t), t.Mechanism, t.Reference, adequacyText(t), t.Status, strings.Join(t.Findings, " ")})
	}
	m.table([]string{"Country", "Via", "Mechanism", "Reference", "Adequacy decision", "Status", "Findings"}, rows, "No transfer outside the EU/EEA was declared or recorded.")

	ev := &s.Evidence
	m.p("### Evidence for the period\n\n%s\n\n", observedLine(*ev))
	m.p("#### Where the data was\n\n")
	rows = nil
	for _, l := range ev.Locations {
		rows = append(rows, []string{countryText(l.Country), eeaText(l), listOr(l.Jurisdictions, "none"), hoursText(l.PodHours), hoursText(l.VolumeHours),
			strconv.Itoa(int(l.MaxPods)), strconv.Itoa(int(l.MaxVolumes))})
	}
	m.table([]string{"Country", "EU/EEA", "Jurisdictions", "Pod-hours", "Volume-hours", "Max pods", "Max volumes"}, rows, "No location recorded.")
	rows = nil
	for _, j := range ev.Jurisdictions {
		rows = append(rows, []string{j.Jurisdiction, hoursText(j.PodHours), hoursText(j.VolumeHours)})
	}
	m.table([]string{"Jurisdiction", "Pod-hours", "Volume-hours"}, rows, "")
	m.p("#### Violations\n\n")
	rows = nil
	for _, v := range ev.Violations {
		rows = append(rows, []string{v.Kind + " " + v.Name, v.Reason, v.Where, countryText(v.Country), ts(v.Start), tsPtr(v.End, "lasting")})
	}
	m.table([]string{"Object", "Reason", "Where", "Country", "Start", "End"}, rows, "No violation recorded.")
	notListed(m, "violations", ev.NotListed.Violations)
	m.p("#### Evictions\n\n")
	rows = nil
	for _, e := range ev.Evictions {
		rows = append(rows, []string{e.Pod, e.Node, ts(e.Time)})
	}
	m.table([]string{"Pod", "Node", "Time"}, rows, "No eviction recorded.")
	notListed(m, "evictions", ev.NotListed.Evictions)
	m.p("#### Evictions held\n\n")
	rows = nil
	for _, h := range ev.Holds {
		rows = append(rows, []string{h.Pod, h.Why, ts(h.Start), tsPtr(h.End, "lasting")})
	}
	m.table([]string{"Pod", "Why", "Start", "End"}, rows, "No eviction was held.")
	notListed(m, "holds", ev.NotListed.Holds)
	m.p("#### Exceptions in force\n\n")
	rows = nil
	for _, x := range ev.Exceptions {
		rows = append(rows, []string{x.Name, ts(x.First), ts(x.Last), tsPtr(x.ExpiresAt, "-"), strconv.Itoa(int(x.MaxObjects))})
	}
	m.table([]string{"ResidencyException", "First seen", "Last seen", "Expires", "Most objects at once"}, rows, "No exception was in force.")
	m.p("#### Processors shared with\n\n")
	rows = nil
	for _, p := range ev.Processors {
		rows = append(rows, []string{p.Name, p.Role, listOr(p.Jurisdictions, "-"), yesNo(p.Permitted)})
	}
	m.table([]string{"DataProcessor", "Role", "Jurisdictions", "Permitted throughout"}, rows, "No processor recorded.")
	m.p("#### Policy versions\n\n")
	rows = nil
	for _, c := range ev.PolicyChanges {
		rows = append(rows, []string{ts(c.Time), strconv.FormatInt(c.Generation, 10), c.SpecHash, listOr(c.AllowedJurisdictions, "-"), c.Enforcement})
	}
	m.table([]string{"In force from", "Generation", "Spec hash", "Allowed jurisdictions", "Enforcement"}, rows, "No policy version recorded.")
	m.p("#### Not observed\n\n")
	rows = nil
	for _, g := range allGaps(ev) {
		rows = append(rows, []string{ts(g.From), ts(g.To), g.Why})
	}
	m.table([]string{"From", "To", "Why"}, rows, "The whole period was observed.")
	m.p("#### Hash chain\n\n%s\n\n", verificationLine(s.Verification))
	rows = nil
	for _, p := range s.Verification.Problems {
		rows = append(rows, []string{p.Record, strconv.FormatInt(p.Sequence, 10), p.Message})
	}
	m.table([]string{"Record", "Sequence", "Problem"}, rows, "")
}

func notListed(m mdWriter, what string, n int64) {
	if n > 0 {
		m.p("And %d more %s that the records counted but did not list (they are bounded).\n\n", n, what)
	}
}

// eeaText says whether a location is in the EU/EEA: unknown when its country is.
func eeaText(l Location) string {
	if l.Country == "" {
		return "unknown"
	}
	return yesNo(l.InEEA)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

func countryText(c string) string {
	if c == "" {
		return "unknown"
	}
	return c
}

func storeFields(s *Store) [][]string {
	return [][]string{
		{"Description", s.Description},
		{"Purposes (b)", list(s.Purposes)},
		{"Data subjects (c)", list(s.DataSubjects)},
		{"Data categories (c)", list(s.DataCategories)},
		{"Erasure time limit (f)", s.ErasureTimeLimit},
		{"Allowed jurisdictions", list(s.AllowedJurisdictions)},
		{"Enforcement", s.Enforcement},
	}
}

// allGaps lists the recorded gaps and the stretches no record covers, in time order.
func allGaps(ev *Evidence) []Gap {
	out := append(append([]Gap{}, ev.NotObserved...), ev.Gaps...)
	sortGaps(out)
	return out
}

func sortGaps(g []Gap) {
	for i := 1; i < len(g); i++ {
		for j := i; j > 0 && g[j].From.Before(g[j-1].From); j-- {
			g[j], g[j-1] = g[j-1], g[j]
		}
	}
}

// CSV.

// csvHeader is the one header of the long table.
var csvHeader = []string{"section", "namespace", "store", "item", "field", "value"}

func writeCSV(w io.Writer, r *Report) error {
	cw := csv.NewWriter(w)
	row := func(section, ns, store, item, field, value string) {
		_ = cw.Write([]string{section, csvSafe(ns), csvSafe(store), csvSafe(item), field, csvSafe(value)})
	}
	_ = cw.Write(csvHeader)
	row("report", "", "", "", "title", r.Title)
	row("report", "", "", "", "schemaVersion", r.SchemaVersion)
	row("report", "", "", "", "periodFrom", ts(r.Period.From))
	row("report", "", "", "", "periodTo", ts(r.Period.To))
	row("report", "", "", "", "scope", r.Scope)
	row("report", "", "", "", "source", r.Source)
	row("report", "", "", "", "generatedAt", ts(r.GeneratedAt))
	row("report", "", "", "", "generatedBy", r.GeneratedBy)
	row("report", "", "", "", "verified", strconv.FormatBool(r.Verification.Verified))
	row("report", "", "", "", "adequacyDecisionsVersion", r.AdequacyDecisionsVersion)
	for _, n := range r.Notes {
		row("report", "", "", "", "note", n)
	}
	for _, rc := range []struct {
		role string
		c    Contact
	}{{"controller", r.Controller}, {"representative", r.Representative}, {"dataProtectionOfficer", r.DataProtectionOfficer}} {
		row("contact", "", "", rc.role, "name", rc.c.Name)
		row("contact", "", "", rc.role, "address", rc.c.Address)
		row("contact", "", "", rc.role, "email", rc.c.Email)
		row("contact", "", "", rc.role, "phone", rc.c.Phone)
	}
	for i := range r.Stores {
		s := &r.Stores[i]
		st := func(section, item, field, value string) { row(section, s.Namespace, s.Name, item, field, value) }
		st("store", "", "exists", strconv.FormatBool(s.Exists))
		st("store", "", "uid", s.UID)
		for _, f := range [][2]string{{"description", s.Description}, {"purposes", list(s.Purposes)}, {"dataSubjects", list(s.DataSubjects)},
			{"dataCategories", list(s.DataCategories)}, {"erasureTimeLimit", s.ErasureTimeLimit}, {"allowedJurisdictions", list(s.AllowedJurisdictions)},
			{"enforcement", s.Enforcement}} {
			st("store", "", f[0], f[1])
		}
		for _, n := range s.Notes {
			st("store", "", "note", n)
		}
		for _, rc := range s.Recipients {
			for _, f := range [][2]string{{"declared", strconv.FormatBool(rc.Declared)}, {"role", rc.Role}, {"description", rc.Description},
				{"purposes", list(rc.Purposes)}, {"jurisdictions", list(rc.Jurisdictions)}, {"countries", listOr(rc.Countries, "Not known")},
				{"dataCategories", list(rc.DataCategories)}} {
				st("recipient", rc.Name, f[0], f[1])
			}
			for _, n := range rc.Notes {
				st("recipient", rc.Name, "note", n)
			}
		}
		for _, t := range s.Transfers {
			item := t.Country + " via " + viaText(t)
			for _, f := range [][2]string{{"country", t.Country}, {"via", t.Via}, {"processor", t.Processor}, {"mechanism", t.Mechanism},
				{"reference", t.Reference}, {"adequacyDecision", adequacyText(t)}, {"status", t.Status}} {
				st("transfer", item, f[0], f[1])
			}
			for _, f := range t.Findings {
				st("transfer", item, "finding", f)
			}
		}
		ev := &s.Evidence
		st("evidence", "", "records", strconv.Itoa(len(ev.Records)))
		if ev.Covered != nil {
			st("evidence", "", "coveredFrom", ts(ev.Covered.From))
			st("evidence", "", "coveredTo", ts(ev.Covered.To))
		}
		st("evidence", "", "observedSeconds", strconv.FormatInt(ev.ObservedSeconds, 10))
		st("evidence", "", "periodSeconds", strconv.FormatInt(ev.PeriodSeconds, 10))
		for _, l := range ev.Locations {
			item := countryText(l.Country)
			st("location", item, "inEEA", eeaText(l))
			st("location", item, "jurisdictions", listOr(l.Jurisdictions, ""))
			st("location", item, "podHours", hoursText(l.PodHours))
			st("location", item, "volumeHours", hoursText(l.VolumeHours))
			st("location", item, "maxPods", strconv.Itoa(int(l.MaxPods)))
			st("location", item, "maxVolumes", strconv.Itoa(int(l.MaxVolumes)))
		}
		for _, j := range ev.Jurisdictions {
			st("jurisdiction", j.Jurisdiction, "podHours", hoursText(j.PodHours))
			st("jurisdiction", j.Jurisdiction, "volumeHours", hoursText(j.VolumeHours))
		}
		for _, v := range ev.Violations {
			item := v.Kind + " " + v.Name
			st("violation", item, "reason", v.Reason)
			st("violation", item, "where", v.Where)
			st("violation", item, "country", v.Country)
			st("violation", item, "start", ts(v.Start))
			st("violation", item, "end", tsPtr(v.End, ""))
		}
		for _, e := range ev.Evictions {
			st("eviction", e.Pod, "node", e.Node)
			st("eviction", e.Pod, "time", ts(e.Time))
		}
		for _, h := range ev.Holds {
			st("hold", h.Pod, "why", h.Why)
			st("hold", h.Pod, "start", ts(h.Start))
			st("hold", h.Pod, "end", tsPtr(h.End, ""))
		}
		for _, x := range ev.Exceptions {
			st("exception", x.Name, "first", ts(x.First))
			st("exception", x.Name, "last", ts(x.Last))
			st("exception", x.Name, "expiresAt", tsPtr(x.ExpiresAt, ""))
			st("exception", x.Name, "maxObjects", strconv.Itoa(int(x.MaxObjects)))
		}
		for _, p := range ev.Processors {
			st("processor", p.Name, "role", p.Role)
			st("processor", p.Name, "jurisdictions", listOr(p.Jurisdictions, ""))
			st("processor", p.Name, "permitted", strconv.FormatBool(p.Permitted))
		}
		for _, c := range ev.PolicyChanges {
			item := "generation " + strconv.FormatInt(c.Generation, 10)
			st("policyChange", item, "time", ts(c.Time))
			st("policyChange", item, "specHash", c.SpecHash)
			st("policyChange", item, "allowedJurisdictions", listOr(c.AllowedJurisdictions, ""))
			st("policyChange", item, "enforcement", c.Enforcement)
		}
		for _, g := range allGaps(ev) {
			item := ts(g.From) + "/" + ts(g.To)
			st("notObserved", item, "why", g.Why)
		}
		st("verification", "", "verified", strconv.FormatBool(s.Verification.Verified))
		st("verification", "", "records", strconv.Itoa(s.Verification.Records))
		for _, p := range s.Verification.Problems {
			st("verification", p.Record, "problem", fmt.Sprintf("sequence %d: %s", p.Sequence, p.Message))
		}
	}
	cw.Flush()
	return cw.Error()
}

// csvSafe keeps a spreadsheet from reading a value of the input as a formula.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
