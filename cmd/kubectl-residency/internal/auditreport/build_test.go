package auditreport

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
)

func TestTransferBasis(t *testing.T) {
	period := Period{From: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)}
	rop := &v1alpha1.RecordOfProcessing{ObjectMeta: metav1.ObjectMeta{Name: "default"}, Spec: v1alpha1.RecordOfProcessingSpec{
		Controller: v1alpha1.Contact{Name: "C"},
		AdequacyDecisions: []v1alpha1.AdequacyDecision{
			{Name: "us-dpf", Countries: []string{"US"}, Reference: "(EU) 2023/1795", Adopted: "2023-07-10", Scope: "certified organisations only"},
			{Name: "gone", Countries: []string{"US"}, Reference: "old", Adopted: "2000-01-01", Withdrawn: "2020-07-16"},
			{Name: "ending", Countries: []string{"US"}, Reference: "r", Adopted: "2000-01-01", Withdrawn: "2026-02-01"},
			{Name: "later", Countries: []string{"US"}, Reference: "r", Adopted: "2026-05-01"},
			{Name: "midway", Countries: []string{"US"}, Reference: "r", Adopted: "2026-02-01"},
			{Name: "baddate", Countries: []string{"US"}, Reference: "r", Adopted: "July 2023"},
			{Name: "japan", Countries: []string{"JP"}, Reference: "(EU) 2019/419", Adopted: "2019-01-23"},
		}}}
	tests := []struct {
		name       string
		transfer   *v1alpha1.TransferBasis
		noROP      bool
		status     string
		findingHas string
	}{
		{"adequate", &v1alpha1.TransferBasis{Mechanism: v1alpha1.MechanismAdequacyDecision, AdequacyDecision: "us-dpf"}, false, TransferAdequate, "limited in scope (certified organisations only)"},
		{"not declared", nil, false, TransferNotDeclared, "declares no transfer basis"},
		{"withdrawn before", &v1alpha1.TransferBasis{Mechanism: v1alpha1.MechanismAdequacyDecision, AdequacyDecision: "gone"}, false, TransferProblem, "withdrawn on 2020-07-16, before the period"},
		{"withdrawn during", &v1alpha1.TransferBasis{Mechanism: v1alpha1.MechanismAdequacyDecision, AdequacyDecision: "ending"}, false, TransferProblem, "during the period: it is no basis after that date"},
		{"adopted after", &v1alpha1.TransferBasis{Mechanism: v1alpha1.MechanismAdequacyDecision, AdequacyDecision: "later"}, false, TransferProblem, "adopted on 2026-05-01, after the period"},
		{"adopted during", &v1alpha1.TransferBasis{Mechanism: v1alpha1.MechanismAdequacyDecision, AdequacyDecision: "midway"}, false, TransferProblem, "no basis before that date"},
		{"bad date", &v1alpha1.TransferBasis{Mechanism: v1alpha1.MechanismAdequacyDecision, AdequacyDecision: "baddate"}, false, TransferProblem, `"July 2023" is not YYYY-MM-DD`},
		{"wrong country", &v1alpha1.TransferBasis{Mechanism: v1alpha1.MechanismAdequacyDecision, AdequacyDecision: "japan"}, false, TransferProblem, "does not cover US: it covers JP"},
		{"unknown decision", &v1alpha1.TransferBasis{Mechanism: v1alpha1.MechanismAdequacyDecision, AdequacyDecision: "mars"}, false, TransferProblem, `"mars" is not in the RecordOfProcessing`},
		{"no record of processing", &v1alpha1.TransferBasis{Mechanism: v1alpha1.MechanismAdequacyDecision, AdequacyDecision: "us-dpf"}, true, TransferProblem, "there is no RecordOfProcessing named default"},
		{"clauses", &v1alpha1.TransferBasis{Mechanism: v1alpha1.MechanismStandardContractualClauses, Reference: "DPA 1"}, false, TransferDeclared, ""},
		{"clauses without reference", &v1alpha1.TransferBasis{Mechanism: v1alpha1.MechanismBindingCorporateRules}, false, TransferProblem, "spec.transfer.reference is empty"},
		{"unknown mechanism", &v1alpha1.TransferBasis{Mechanism: "Telepathy"}, false, TransferProblem, `unknown transfer mechanism "Telepathy"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := Input{
				Stores: []*v1alpha1.PersonalDataStore{{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "n"},
					Spec: v1alpha1.PersonalDataStoreSpec{Processors: []v1alpha1.ObjectName{"p"}}}},
				Processors:    []*v1alpha1.DataProcessor{{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: v1alpha1.DataProcessorSpec{Jurisdictions: []v1alpha1.JurisdictionName{"us", "eu"}, Transfer: tt.transfer}}},
				Jurisdictions: []*v1alpha1.Jurisdiction{{ObjectMeta: metav1.ObjectMeta{Name: "us"}, Spec: v1alpha1.JurisdictionSpec{Countries: []v1alpha1.CountryCode{"US"}}}, {ObjectMeta: metav1.ObjectMeta{Name: "eu"}, Spec: v1alpha1.JurisdictionSpec{Countries: []v1alpha1.CountryCode{"DE"}}}},
			}
			if !tt.noROP {
				in.RecordOfProcessing = rop
			}
			r := Build(in, Options{Period: period})
			tr := r.Stores[0].Transfers
			if len(tr) != 1 || tr[0].Country != "US" {
				t.Fatalf("transfers = %+v, want one to US (DE is in the EEA)", tr)
			}
			if tr[0].Status != tt.status {
				t.Errorf("status = %s, want %s (findings %v)", tr[0].Status, tt.status, tr[0].Findings)
			}
			if !strings.Contains(strings.Join(tr[0].Findings, "\n"), tt.findingHas) {
				t.Errorf("findings %v do not say %q", tr[0].Findings, tt.findingHas)
			}
		})
		// The same basis on the store itself judges where its own pods were (a US region).
		t.Run("store's own "+tt.name, func(t *testing.T) {
			in := Input{
				Stores: []*v1alpha1.PersonalDataStore{{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "n", UID: "u1"},
					Spec: v1alpha1.PersonalDataStoreSpec{Transfer: tt.transfer}}},
				Records: []*v1alpha1.ResidencyRecord{{ObjectMeta: metav1.ObjectMeta{Name: "s-20260110", Namespace: "n"}, Spec: v1alpha1.ResidencyRecordSpec{
					Store: v1alpha1.NamespacedReference{Namespace: "n", Name: "s"}, StoreUID: "u1",
					PeriodStart: metav1.NewTime(period.From.AddDate(0, 0, 9)), PeriodEnd: metav1.NewTime(period.From.AddDate(0, 0, 10)),
					Locations: []v1alpha1.RecordedLocation{{Country: "US", Jurisdictions: []string{"us"}, PodSeconds: 3600}}}}},
			}
			if !tt.noROP {
				in.RecordOfProcessing = rop
			}
			tr := Build(in, Options{Period: period}).Stores[0].Transfers
			if len(tr) != 1 || tr[0].Country != "US" || tr[0].Via != ViaHistory {
				t.Fatalf("transfers = %+v, want the store's own, to US", tr)
			}
			if tr[0].Status != tt.status {
				t.Errorf("status = %s, want %s (findings %v)", tr[0].Status, tt.status, tr[0].Findings)
			}
			if !strings.Contains(strings.Join(tr[0].Findings, "\n"), tt.findingHas) {
				t.Errorf("findings %v do not say %q", tr[0].Findings, tt.findingHas)
			}
		})
	}
}

func TestNotObserved(t *testing.T) {
	d := func(day int) time.Time { return time.Date(2026, 5, day, 0, 0, 0, 0, time.UTC) }
	rec := func(seq int64, from, to int) *v1alpha1.ResidencyRecord {
		return &v1alpha1.ResidencyRecord{ObjectMeta: metav1.ObjectMeta{Name: "r"}, Spec: v1alpha1.ResidencyRecordSpec{StoreUID: "u", Sequence: seq,
			Store: v1alpha1.NamespacedReference{Namespace: "n", Name: "s"}, PeriodStart: metav1.NewTime(d(from)), PeriodEnd: metav1.NewTime(d(to))}}
	}
	store := &v1alpha1.PersonalDataStore{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "n", UID: "u", CreationTimestamp: metav1.NewTime(d(2))}}
	r := Build(Input{Stores: []*v1alpha1.PersonalDataStore{store}, Records: []*v1alpha1.ResidencyRecord{rec(0, 3, 4), rec(1, 5, 7), rec(2, 6, 8)}},
		Options{Period: Period{From: d(1), To: d(10)}})
	var got []string
	for _, g := range r.Stores[0].Evidence.NotObserved {
		got = append(got, g.From.Format("02")+"-"+g.To.Format("02")+" "+g.Why)
	}
	want := []string{"01-02 before the store was created", "02-03 not observed: no ResidencyRecord covers it, or its record had not started yet",
		"04-05 not observed: no ResidencyRecord covers it, or its record had not started yet", "08-10 not observed: no ResidencyRecord covers it, or its record had not started yet"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("not observed:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
