package auditreport

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
	"github.com/residency-operator/residency-operator/internal/history"
)

// Input is what the report is built from, read from a cluster or from manifests.
type Input struct {
	Stores        []*v1alpha1.PersonalDataStore
	Processors    []*v1alpha1.DataProcessor
	Jurisdictions []*v1alpha1.Jurisdiction
	// RecordOfProcessing is the one named "default"; nil when there is none.
	RecordOfProcessing *v1alpha1.RecordOfProcessing
	Records            []*v1alpha1.ResidencyRecord
}

// Options say what to report on.
type Options struct {
	Period      Period
	Now         time.Time
	GeneratedBy string
	Source      string
	// Namespace limits the report to one namespace; "" is every namespace.
	Namespace string
	// Store limits the report to the stores of this name; "" is every store.
	Store string
}

// Build makes the report. It never fails: what is missing or wrong in the input is said in it.
func Build(in Input, opts Options) *Report {
	r := &Report{
		SchemaVersion: SchemaVersion,
		Title:         "Record of processing activities and residency evidence",
		GeneratedAt:   opts.Now.UTC(),
		GeneratedBy:   opts.GeneratedBy,
		Source:        opts.Source,
		Period:        Period{From: opts.Period.From.UTC(), To: opts.Period.To.UTC()},
		Scope:         scope(opts),
		EEACountries:  EEACountries(),
		Notes:         []string{},
		Stores:        []Store{},
	}
	rop := in.RecordOfProcessing
	if rop == nil {
		r.Controller, r.Representative, r.DataProtectionOfficer = notDeclaredContact(), notDeclaredContact(), notDeclaredContact()
		r.AdequacyDecisionsVersion = NotDeclared
		r.Notes = append(r.Notes, `no RecordOfProcessing named "default": the controller, its representative, the DPO and the adequacy decisions are not declared`)
	} else {
		r.Controller = contact(&rop.Spec.Controller)
		r.Representative = contact(rop.Spec.Representative)
		r.DataProtectionOfficer = contact(rop.Spec.DataProtectionOfficer)
		r.AdequacyDecisionsVersion = orNotDeclared(rop.Spec.AdequacyDecisionsVersion)
	}

	b := &builder{in: in, opts: opts, period: r.Period,
		processors: map[string]*v1alpha1.DataProcessor{}, jurisdictions: map[string]*v1alpha1.Jurisdiction{}}
	for _, p := range in.Processors {
		b.processors[p.Name] = p
	}
	for _, j := range in.Jurisdictions {
		b.jurisdictions[j.Name] = j
	}
	chains := groupChains(in.Records)

	claimed := map[string]bool{}
	for _, s := range in.Stores {
		uid := string(s.UID)
		if uid == "" { // from manifests without a uid: the newest chain that names the store
			uid = newestChainNaming(chains, s.Namespace, s.Name)
		}
		if uid != "" {
			claimed[uid] = true
		}
		if !b.wanted(s.Namespace, s.Name) {
			continue
		}
		r.Stores = append(r.Stores, b.store(s, chains[uid]))
	}
	// Chains of deleted stores: their history is still evidence.
	for uid, chain := range chains {
		if claimed[uid] {
			continue
		}
		ref := chain[len(chain)-1].Spec.Store
		if !b.wanted(ref.Namespace, ref.Name) {
			continue
		}
		r.Stores = append(r.Stores, b.deletedStore(uid, chain))
	}
	slices.SortFunc(r.Stores, func(x, y Store) int {
		return cmp.Or(cmp.Compare(x.Namespace, y.Namespace), cmp.Compare(x.Name, y.Name), cmp.Compare(x.UID, y.UID))
	})

	r.Verification = Verification{Verified: true, Problems: []Problem{}}
	for i := range r.Stores {
		v := r.Stores[i].Verification
		r.Verification.Records += v.Records
		if !v.Verified {
			r.Verification.Verified = false
		}
		r.Verification.Problems = append(r.Verification.Problems, v.Problems...)
	}
	return r
}

func scope(opts Options) string {
	ns := "every namespace"
	if opts.Namespace != "" {
		ns = "namespace " + opts.Namespace
	}
	if opts.Store != "" {
		return fmt.Sprintf("stores named %s in %s", opts.Store, ns)
	}
	return "every PersonalDataStore in " + ns
}

type builder struct {
	in            Input
	opts          Options
	period        Period
	processors    map[string]*v1alpha1.DataProcessor
	jurisdictions map[string]*v1alpha1.Jurisdiction
}

func (b *builder) wanted(namespace, name string) bool {
	return (b.opts.Namespace == "" || b.opts.Namespace == namespace) && (b.opts.Store == "" || b.opts.Store == name)
}

// groupChains sorts the records into chains by store UID (spec.storeUID, else the label), each
// oldest first.
func groupChains(records []*v1alpha1.ResidencyRecord) map[string][]*v1alpha1.ResidencyRecord {
	chains := map[string][]*v1alpha1.ResidencyRecord{}
	for _, rec := range records {
		uid := string(rec.Spec.StoreUID)
		if uid == "" {
			uid = rec.Labels[v1alpha1.RecordStoreUIDLabel]
		}
		if uid == "" {
			uid = "(no store uid) " + rec.Spec.Store.Namespace + "/" + rec.Spec.Store.Name
		}
		chains[uid] = append(chains[uid], rec)
	}
	for _, chain := range chains {
		slices.SortStableFunc(chain, func(x, y *v1alpha1.ResidencyRecord) int {
			return cmp.Or(cmp.Compare(x.Spec.Sequence, y.Spec.Sequence), x.Spec.PeriodStart.Compare(y.Spec.PeriodStart.Time), cmp.Compare(x.Name, y.Name))
		})
	}
	return chains
}

func newestChainNaming(chains map[string][]*v1alpha1.ResidencyRecord, namespace, name string) string {
	best, bestEnd := "", time.Time{}
	for uid, chain := range chains {
		last := chain[len(chain)-1]
		if last.Spec.Store.Namespace != namespace || last.Spec.Store.Name != name {
			continue
		}
		end := last.Spec.PeriodEnd.Time
		if best == "" || end.After(bestEnd) || (end.Equal(bestEnd) && uid < best) {
			best, bestEnd = uid, end
		}
	}
	return best
}

func (b *builder) store(s *v1alpha1.PersonalDataStore, chain []*v1alpha1.ResidencyRecord) Store {
	out := Store{
		Namespace: s.Namespace, Name: s.Name, UID: string(s.UID), Exists: true,
		Description:          orNotDeclared(s.Spec.Description),
		Purposes:             nonNil(slices.Clone(s.Spec.Purposes)),
		DataSubjects:         nonNil(slices.Clone(s.Spec.DataSubjects)),
		DataCategories:       strs(s.Spec.DataCategories),
		ErasureTimeLimit:     orNotDeclared(s.Spec.ErasureTimeLimit),
		AllowedJurisdictions: strs(s.Spec.AllowedJurisdictions),
		Enforcement:          string(s.Spec.Enforcement),
		Recipients:           []Recipient{},
		Transfers:            []Transfer{},
		Notes:                []string{},
	}
	if out.Enforcement == "" {
		out.Enforcement = string(v1alpha1.Enforce) // the API's default
	}
	if out.UID == "" && len(chain) > 0 {
		out.UID = string(chain[len(chain)-1].Spec.StoreUID)
	}
	var created time.Time
	if !s.CreationTimestamp.IsZero() {
		created = s.CreationTimestamp.UTC()
	}
	out.Evidence = b.evidence(chain, created)
	out.Verification = verify(out.Key(), chain)
	names := slices.Clone(s.Spec.Processors)
	slices.Sort(names)
	for _, name := range slices.Compact(names) {
		rcp, transfers := b.recipient(string(name))
		out.Recipients = append(out.Recipients, rcp)
		out.Transfers = append(out.Transfers, transfers...)
	}
	out.Transfers = append(out.Transfers, b.historyTransfers(s, out.Evidence.Locations)...)
	if out.Evidence.UnknownCountry {
		out.Notes = append(out.Notes, "some of the store's pods or volumes were where the operator could not tell the country: whether that was a third-country transfer cannot be told")
	}
	return out
}

func (b *builder) deletedStore(uid string, chain []*v1alpha1.ResidencyRecord) Store {
	ref := chain[len(chain)-1].Spec.Store
	out := Store{
		Namespace: ref.Namespace, Name: ref.Name, UID: string(chain[len(chain)-1].Spec.StoreUID), Exists: false,
		Description: NotDeclared, Purposes: []string{}, DataSubjects: []string{}, DataCategories: []string{},
		ErasureTimeLimit: NotDeclared, AllowedJurisdictions: []string{}, Enforcement: NotDeclared,
		Recipients: []Recipient{}, Transfers: []Transfer{},
		Notes: []string{"the store no longer exists (or is not in the input): only its history is reported, and its declarations are not known"},
	}
	out.Evidence = b.evidence(chain, time.Time{})
	out.Verification = verify(out.Key(), chain)
	out.Transfers = append(out.Transfers, b.historyTransfers(nil, out.Evidence.Locations)...)
	if out.UID == "" {
		out.UID = uid
	}
	return out
}

func verify(store string, chain []*v1alpha1.ResidencyRecord) Verification {
	records := make([]v1alpha1.ResidencyRecord, 0, len(chain))
	for _, r := range chain {
		records = append(records, *r)
	}
	v := Verification{Verified: true, Records: len(records), Problems: []Problem{}}
	for _, p := range history.Verify(records) {
		v.Verified = false
		v.Problems = append(v.Problems, Problem{Store: store, Record: p.Record, Sequence: p.Sequence, Message: p.Message})
	}
	return v
}

// recipient describes a processor the store names, and the third-country transfers to it.
func (b *builder) recipient(name string) (Recipient, []Transfer) {
	p := b.processors[name]
	if p == nil {
		return Recipient{Name: name, Role: NotDeclared, Description: NotDeclared, Purposes: []string{}, Jurisdictions: []string{},
			Countries: []string{}, DataCategories: []string{},
			Notes: []string{fmt.Sprintf("the store names DataProcessor %s, which does not exist: its role, purposes, jurisdictions and transfer basis are not declared", name)}}, nil
	}
	rcp := Recipient{Name: name, Declared: true, Role: orNotDeclared(string(p.Spec.Role)), Description: orNotDeclared(p.Spec.Description),
		Purposes: nonNil(slices.Clone(p.Spec.Purposes)), Jurisdictions: strs(p.Spec.Jurisdictions), DataCategories: strs(p.Spec.DataCategories),
		Countries: []string{}, Notes: []string{}}
	for _, jn := range p.Spec.Jurisdictions {
		j := b.jurisdictions[string(jn)]
		switch {
		case j == nil:
			rcp.Notes = append(rcp.Notes, fmt.Sprintf("Jurisdiction %s does not exist: the countries the processor processes in there are not known", jn))
		case len(j.Spec.Countries) == 0:
			rcp.Notes = append(rcp.Notes, fmt.Sprintf("Jurisdiction %s names no countries (only regions or a node selector): the countries the processor processes in there are not known", jn))
		default:
			rcp.Countries = append(rcp.Countries, strs(j.Spec.Countries)...)
		}
	}
	slices.Sort(rcp.Countries)
	rcp.Countries = slices.Compact(rcp.Countries)
	var transfers []Transfer
	for _, c := range rcp.Countries {
		if InEEA(c) {
			continue
		}
		transfers = append(transfers, b.transfer(p, c))
	}
	return rcp, transfers
}

// transfer judges the basis of a transfer to processor p in country.
func (b *builder) transfer(p *v1alpha1.DataProcessor, country string) Transfer {
	t := Transfer{Country: country, Via: ViaProcessor, Processor: p.Name, Findings: []string{}}
	return b.judgeBasis(t, p.Spec.Transfer, "DataProcessor "+p.Name+" declares no transfer basis (spec.transfer) for processing in", "the processor")
}

// judgeBasis fills t from basis, the spec.transfer of a processor or of the store itself, judged
// for t.Country; missing says so when there is none (the country follows), and who names what
// an adequacy decision's scope must cover.
func (b *builder) judgeBasis(t Transfer, basis *v1alpha1.TransferBasis, missing, who string) Transfer {
	country := t.Country
	if basis == nil {
		t.Mechanism, t.Reference, t.Status = NotDeclared, NotDeclared, TransferNotDeclared
		t.Findings = append(t.Findings, fmt.Sprintf("%s %s", missing, country))
		return t
	}
	t.Mechanism = orNotDeclared(string(basis.Mechanism))
	t.Reference = orNotDeclared(basis.Reference)
	problem := func(format string, args ...any) {
		t.Status = TransferProblem
		t.Findings = append(t.Findings, fmt.Sprintf(format, args...))
	}
	switch basis.Mechanism {
	case v1alpha1.MechanismAdequacyDecision:
		t.Status = TransferAdequate
		b.judgeAdequacy(&t, basis.AdequacyDecision, country, who, problem)
	case v1alpha1.MechanismStandardContractualClauses, v1alpha1.MechanismBindingCorporateRules, v1alpha1.MechanismDerogation:
		t.Status = TransferDeclared
		if basis.Reference == "" {
			problem("the %s are not documented: spec.transfer.reference is empty", basis.Mechanism)
		}
	case "":
		t.Status = TransferNotDeclared
		t.Findings = append(t.Findings, "spec.transfer names no mechanism")
	default:
		problem("unknown transfer mechanism %q", basis.Mechanism)
	}
	return t
}

func (b *builder) judgeAdequacy(t *Transfer, name, country, who string, problem func(string, ...any)) {
	rop := b.in.RecordOfProcessing
	switch {
	case name == "":
		problem("the mechanism is AdequacyDecision but spec.transfer.adequacyDecision names none")
		return
	case rop == nil:
		problem("adequacy decision %q cannot be looked up: there is no RecordOfProcessing named default", name)
		return
	}
	i := slices.IndexFunc(rop.Spec.AdequacyDecisions, func(d v1alpha1.AdequacyDecision) bool { return d.Name == name })
	if i < 0 {
		problem("adequacy decision %q is not in the RecordOfProcessing's adequacyDecisions", name)
		return
	}
	d := rop.Spec.AdequacyDecisions[i]
	t.AdequacyDecision = &AdequacyDecision{Name: d.Name, Countries: nonNil(slices.Clone(d.Countries)), Scope: d.Scope,
		Reference: d.Reference, Adopted: d.Adopted, Withdrawn: d.Withdrawn}
	if t.Reference == NotDeclared && d.Reference != "" {
		t.Reference = d.Reference
	}
	if !slices.Contains(d.Countries, country) {
		problem("adequacy decision %s (%s) does not cover %s: it covers %s", d.Name, d.Reference, country, strings.Join(d.Countries, ", "))
	}
	from, to := b.period.From, b.period.To
	if adopted, err := time.Parse(time.DateOnly, d.Adopted); err != nil {
		problem("adequacy decision %s: adopted date %q is not YYYY-MM-DD", d.Name, d.Adopted)
	} else if !adopted.Before(to) {
		problem("adequacy decision %s was adopted on %s, after the period", d.Name, d.Adopted)
	} else if adopted.After(from) {
		problem("adequacy decision %s was adopted on %s, during the period: it is no basis before that date", d.Name, d.Adopted)
	}
	if d.Withdrawn != "" {
		if withdrawn, err := time.Parse(time.DateOnly, d.Withdrawn); err != nil {
			problem("adequacy decision %s: withdrawn date %q is not YYYY-MM-DD", d.Name, d.Withdrawn)
		} else if !withdrawn.After(from) {
			problem("adequacy decision %s was withdrawn on %s, before the period", d.Name, d.Withdrawn)
		} else if withdrawn.Before(to) {
			problem("adequacy decision %s was withdrawn on %s, during the period: it is no basis after that date", d.Name, d.Withdrawn)
		}
	}
	if d.Scope != "" {
		t.Findings = append(t.Findings, fmt.Sprintf("the decision is limited in scope (%s): check that %s is covered", d.Scope, who))
	}
}

// historyTransfers are the third countries the store's own pods and volumes were in, judged
// by the store's own spec.transfer.
func (b *builder) historyTransfers(store *v1alpha1.PersonalDataStore, locs []Location) []Transfer {
	var out []Transfer
	for _, l := range locs {
		if l.Country == "" || l.InEEA || l.PodSeconds+l.VolumeSeconds <= 0 {
			continue
		}
		t := Transfer{Country: l.Country, Via: ViaHistory, Findings: []string{fmt.Sprintf(
			"the store's own pods or volumes were in %s in the period (%.2f pod-hours, %.2f volume-hours);", l.Country, l.PodHours, l.VolumeHours)}}
		var basis *v1alpha1.TransferBasis
		missing := "its declarations are not known, so no transfer basis for keeping data in"
		if store != nil {
			basis, missing = store.Spec.Transfer, "PersonalDataStore "+store.Name+" declares no transfer basis (spec.transfer) for keeping data in"
		}
		out = append(out, b.judgeBasis(t, basis, missing, "the store's hosting"))
	}
	return out
}

// evidence sums the records of chain that overlap the period. created is when the store was
// created (zero when not known).
func (b *builder) evidence(chain []*v1alpha1.ResidencyRecord, created time.Time) Evidence {
	ev := Evidence{Records: []string{}, Locations: []Location{}, Jurisdictions: []JurisdictionHours{}, Violations: []Violation{},
		Evictions: []Eviction{}, Holds: []Hold{}, Exceptions: []Exception{}, Processors: []Processor{}, PolicyChanges: []PolicyChange{},
		Gaps: []Gap{}, NotObserved: []Gap{}}
	from, to := b.period.From, b.period.To
	locs := map[string]*Location{}
	jurs := map[string]*JurisdictionHours{}
	viol := map[string]int{}
	evic := map[string]bool{}
	holds := map[string]int{}
	excs := map[string]int{}
	procs := map[string]int{}
	changes := map[string]bool{}
	var covered, seen []Gap // the records' periods; what they observed
	for _, rec := range chain {
		sp := &rec.Spec
		start, end := sp.PeriodStart.UTC(), sp.PeriodEnd.UTC()
		if end.Before(start) {
			end = start
		}
		if !start.Before(to) || !end.After(from) {
			continue
		}
		ev.Records = append(ev.Records, rec.Name)
		covered = append(covered, Gap{From: start, To: end})
		// A record covers what it observed, not its whole period: an open record has not seen
		// the rest of its day yet, and a store made at noon was not observed in the morning.
		seenFrom, seenTo := start, end
		if sp.FirstObserved != nil && sp.FirstObserved.UTC().After(seenFrom) {
			seenFrom = sp.FirstObserved.UTC()
		}
		if sp.LastObserved != nil && sp.LastObserved.UTC().Before(seenTo) {
			seenTo = sp.LastObserved.UTC()
		}
		if seenTo.After(seenFrom) {
			seen = append(seen, Gap{From: seenFrom, To: seenTo})
		}
		ev.ObservedSeconds = satAdd(ev.ObservedSeconds, max(sp.ObservedSeconds, 0))
		ev.PeriodSeconds = satAdd(ev.PeriodSeconds, int64(end.Sub(start)/time.Second))
		for _, l := range sp.Locations {
			loc := locs[l.Country]
			if loc == nil {
				loc = &Location{Country: l.Country, InEEA: InEEA(l.Country), Jurisdictions: []string{}}
				locs[l.Country] = loc
			}
			loc.PodSeconds = satAdd(loc.PodSeconds, max(l.PodSeconds, 0))
			loc.VolumeSeconds = satAdd(loc.VolumeSeconds, max(l.VolumeSeconds, 0))
			loc.MaxPods, loc.MaxVolumes = max(loc.MaxPods, l.MaxPods), max(loc.MaxVolumes, l.MaxVolumes)
			loc.Jurisdictions = append(loc.Jurisdictions, l.Jurisdictions...)
			for _, j := range slices.Compact(slices.Sorted(slices.Values(l.Jurisdictions))) {
				jh := jurs[j]
				if jh == nil {
					jh = &JurisdictionHours{Jurisdiction: j}
					jurs[j] = jh
				}
				jh.PodSeconds = satAdd(jh.PodSeconds, max(l.PodSeconds, 0))
				jh.VolumeSeconds = satAdd(jh.VolumeSeconds, max(l.VolumeSeconds, 0))
			}
		}
		for _, v := range sp.Violations {
			key := fmt.Sprintf("%s/%s/%s/%s/%d", v.Object.Kind, v.Object.Name, v.Object.UID, v.Reason, v.Start.Unix())
			item := Violation{Kind: v.Object.Kind, Name: v.Object.Name, Reason: string(v.Reason), Where: v.Where, Country: v.Country,
				Start: v.Start.UTC(), End: timePtr(v.End)}
			if i, ok := viol[key]; ok {
				ev.Violations[i] = item // the later record knows more
				continue
			}
			viol[key] = len(ev.Violations)
			ev.Violations = append(ev.Violations, item)
		}
		for _, e := range sp.Evictions {
			key := fmt.Sprintf("%s/%s/%d", e.Pod.Name, e.Pod.UID, e.Time.Unix())
			if !evic[key] {
				evic[key] = true
				ev.Evictions = append(ev.Evictions, Eviction{Pod: e.Pod.Name, Node: e.Node, Time: e.Time.UTC()})
			}
		}
		for _, h := range sp.Holds {
			key := fmt.Sprintf("%s/%s/%d", h.Pod.Name, h.Pod.UID, h.Start.Unix())
			item := Hold{Pod: h.Pod.Name, Why: h.Why, Start: h.Start.UTC(), End: timePtr(h.End)}
			if i, ok := holds[key]; ok {
				ev.Holds[i] = item
				continue
			}
			holds[key] = len(ev.Holds)
			ev.Holds = append(ev.Holds, item)
		}
		for _, x := range sp.Exceptions {
			if i, ok := excs[x.Name]; ok {
				e := &ev.Exceptions[i]
				if x.First.UTC().Before(e.First) {
					e.First = x.First.UTC()
				}
				if x.Last.UTC().After(e.Last) {
					e.Last = x.Last.UTC()
				}
				if x.ExpiresAt != nil {
					e.ExpiresAt = timePtr(x.ExpiresAt)
				}
				e.MaxObjects = max(e.MaxObjects, x.MaxObjects)
				continue
			}
			excs[x.Name] = len(ev.Exceptions)
			ev.Exceptions = append(ev.Exceptions, Exception{Name: x.Name, First: x.First.UTC(), Last: x.Last.UTC(), ExpiresAt: timePtr(x.ExpiresAt), MaxObjects: x.MaxObjects})
		}
		for _, p := range sp.Processors {
			item := Processor{Name: p.Name, Role: string(p.Role), Jurisdictions: nonNil(slices.Clone(p.Jurisdictions)), Permitted: p.Permitted}
			if i, ok := procs[p.Name]; ok {
				item.Permitted = item.Permitted && ev.Processors[i].Permitted
				ev.Processors[i] = item
				continue
			}
			procs[p.Name] = len(ev.Processors)
			ev.Processors = append(ev.Processors, item)
		}
		for _, c := range sp.PolicyChanges {
			key := fmt.Sprintf("%d/%s", c.Generation, c.SpecHash)
			if !changes[key] {
				changes[key] = true
				ev.PolicyChanges = append(ev.PolicyChanges, PolicyChange{Time: c.Time.UTC(), Generation: c.Generation, SpecHash: c.SpecHash,
					AllowedJurisdictions: nonNil(slices.Clone(c.AllowedJurisdictions)), Enforcement: string(c.Enforcement)})
			}
		}
		for _, g := range sp.Gaps {
			gf, gt := g.From.UTC(), g.To.UTC()
			if gt.After(from) && gf.Before(to) {
				ev.Gaps = append(ev.Gaps, Gap{From: gf, To: gt, Why: "the operator did not observe the store (it was not running)"})
			}
		}
		ev.NotListed.Violations = satAdd(ev.NotListed.Violations, int64(max(sp.ViolationsNotListed, 0)))
		ev.NotListed.Evictions = satAdd(ev.NotListed.Evictions, int64(max(sp.EvictionsNotListed, 0)))
		ev.NotListed.Holds = satAdd(ev.NotListed.Holds, int64(max(sp.HoldsNotListed, 0)))
	}
	for _, loc := range locs {
		slices.Sort(loc.Jurisdictions)
		loc.Jurisdictions = slices.Compact(loc.Jurisdictions)
		loc.PodHours, loc.VolumeHours = hours(loc.PodSeconds), hours(loc.VolumeSeconds)
		if loc.Country == "" && loc.PodSeconds+loc.VolumeSeconds > 0 {
			ev.UnknownCountry = true
		}
		ev.Locations = append(ev.Locations, *loc)
	}
	slices.SortFunc(ev.Locations, func(x, y Location) int {
		return cmp.Or(cmp.Compare(y.PodSeconds, x.PodSeconds), cmp.Compare(y.VolumeSeconds, x.VolumeSeconds), cmp.Compare(x.Country, y.Country))
	})
	for _, jh := range jurs {
		jh.PodHours, jh.VolumeHours = hours(jh.PodSeconds), hours(jh.VolumeSeconds)
		ev.Jurisdictions = append(ev.Jurisdictions, *jh)
	}
	slices.SortFunc(ev.Jurisdictions, func(x, y JurisdictionHours) int { return cmp.Compare(x.Jurisdiction, y.Jurisdiction) })
	slices.SortStableFunc(ev.Violations, func(x, y Violation) int { return x.Start.Compare(y.Start) })
	slices.SortStableFunc(ev.Evictions, func(x, y Eviction) int { return x.Time.Compare(y.Time) })
	slices.SortStableFunc(ev.Holds, func(x, y Hold) int { return x.Start.Compare(y.Start) })
	slices.SortStableFunc(ev.Exceptions, func(x, y Exception) int { return x.First.Compare(y.First) })
	slices.SortStableFunc(ev.Processors, func(x, y Processor) int { return cmp.Compare(x.Name, y.Name) })
	slices.SortStableFunc(ev.PolicyChanges, func(x, y PolicyChange) int { return x.Time.Compare(y.Time) })
	slices.SortStableFunc(ev.Gaps, func(x, y Gap) int { return x.From.Compare(y.From) })

	merged := union(covered)
	if len(merged) > 0 {
		ev.Covered = &Period{From: merged[0].From, To: merged[len(merged)-1].To}
	}
	for _, g := range complement(union(seen), from, to) {
		if !created.IsZero() && g.From.Before(created) {
			if !g.To.After(created) {
				ev.NotObserved = append(ev.NotObserved, Gap{From: g.From, To: g.To, Why: "before the store was created"})
				continue
			}
			ev.NotObserved = append(ev.NotObserved, Gap{From: g.From, To: created, Why: "before the store was created"})
			g.From = created
		}
		ev.NotObserved = append(ev.NotObserved, Gap{From: g.From, To: g.To, Why: "not observed: no ResidencyRecord covers it, or its record had not started yet"})
	}
	return ev
}

// union merges intervals, sorted by start.
func union(in []Gap) []Gap {
	s := slices.Clone(in)
	slices.SortFunc(s, func(x, y Gap) int { return x.From.Compare(y.From) })
	var out []Gap
	for _, g := range s {
		if n := len(out); n > 0 && !g.From.After(out[n-1].To) {
			if g.To.After(out[n-1].To) {
				out[n-1].To = g.To
			}
			continue
		}
		out = append(out, Gap{From: g.From, To: g.To})
	}
	return out
}

// complement returns the parts of [from, to) outside the sorted, disjoint intervals.
func complement(merged []Gap, from, to time.Time) []Gap {
	var out []Gap
	cur := from
	for _, g := range merged {
		if g.From.After(cur) {
			out = append(out, Gap{From: cur, To: minTime(g.From, to)})
		}
		if g.To.After(cur) {
			cur = g.To
		}
		if !cur.Before(to) {
			return out
		}
	}
	if cur.Before(to) {
		out = append(out, Gap{From: cur, To: to})
	}
	return out
}

func timePtr(t *metav1.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func hours(seconds int64) float64 { return math.Round(float64(seconds)/36) / 100 }

// satAdd adds non-negative numbers without overflowing: hostile input must not wrap to negative.
func satAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

func contact(c *v1alpha1.Contact) Contact {
	if c == nil || c.Name == "" {
		return notDeclaredContact()
	}
	return Contact{Name: c.Name, Address: c.Address, Email: c.Email, Phone: c.Phone}
}

func notDeclaredContact() Contact { return Contact{Name: NotDeclared} }

func orNotDeclared(s string) string {
	if strings.TrimSpace(s) == "" {
		return NotDeclared
	}
	return s
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func strs[T ~string](in []T) []string {
	out := make([]string, 0, len(in))
	for _, v := range in {
		out = append(out, string(v))
	}
	return out
}
