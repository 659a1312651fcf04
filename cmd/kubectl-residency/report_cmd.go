package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
	"github.com/residency-operator/residency-operator/cmd/kubectl-residency/internal/auditreport"
	"github.com/residency-operator/residency-operator/internal/manifest"
)

// defaultReportDays is the period of a report without --from.
const defaultReportDays = 30

type reportOptions struct {
	from, to      string
	allNamespaces bool
	store         string
	output        string
	outputFile    string
	verify        bool
	filenames     []string
}

func newReportCommand(a *app) *cobra.Command {
	o := &reportOptions{}
	cmd := &cobra.Command{
		Use:   "report",
		Short: "Write the record of processing activities and the residency evidence of a period, for auditors",
		Long: `Report writes, for each PersonalDataStore, the record of processing activities (Art. 30(1)
GDPR: controller, representative and DPO from the RecordOfProcessing "default", purposes, data
subjects, data categories, recipients by role, third-country transfers with their legal basis,
erasure time limit) and the evidence of the period from the operator's ResidencyRecords: where
the store's pods and volumes were (pod-hours and volume-hours per country and jurisdiction),
violations, evictions, held evictions, exceptions, processors, policy versions, and the time
nobody observed. Every store's hash chain is verified with the operator's own check; the result
is part of every report.

"Not declared" stands wherever a declaration is missing: the report never guesses.

The period is [--from, --to): dates (YYYY-MM-DD, UTC midnight; a date given to --to includes
that whole day) or RFC3339 times. Without them, the last 30 days up to now.

Objects come from the cluster of the kubeconfig context, or with -f from manifests (files or
folders of PersonalDataStores, DataProcessors, Jurisdictions, the RecordOfProcessing and
ResidencyRecords, such as a backup), for CI and tests.

Exit status: 0 when the report was written; 1 when --verify finds a record that fails its hash
chain (each problem is named on standard error; the report is written all the same) or a request
to the cluster fails; 2 when the input cannot be read (file:line) or the command line is wrong.`,
		Example: `  # The last 30 days, every namespace, as a printable HTML file
  kubectl residency report -o html --output-file residency-report.html

  # One store, the first quarter, and fail when its history was tampered with
  kubectl residency report -n shop --store customer-db --from 2026-01-01 --to 2026-03-31 --verify

  # From a backup of the objects, as JSON
  kubectl residency report -f ./backup -o json --from 2026-01-01`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runReport(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.from, "from", "", "start of the period (YYYY-MM-DD or RFC3339; default: 30 days before --to)")
	f.StringVar(&o.to, "to", "", "end of the period, excluded (YYYY-MM-DD includes that day; RFC3339; default: now)")
	f.BoolVarP(&o.allNamespaces, "all-namespaces", "A", false, "report on the stores of every namespace (the default unless -n is given)")
	f.StringVar(&o.store, "store", "", "report only on the PersonalDataStores of this name")
	f.StringVarP(&o.output, "output", "o", "md", "output format: "+strings.Join(auditreport.Formats, ", "))
	f.StringVar(&o.outputFile, "output-file", "", "write the report to this file instead of standard output")
	f.BoolVar(&o.verify, "verify", false, "exit 1, naming each problem, when a store's ResidencyRecords fail their hash chain")
	f.StringSliceVarP(&o.filenames, "filename", "f", nil, "read the objects from these manifest files or folders instead of the cluster (repeatable; - reads standard input)")
	return cmd
}

func (a *app) runReport(ctx context.Context, o *reportOptions) error {
	if !slices.Contains(auditreport.Formats, o.output) {
		return usageError("unknown output format %q: use one of %s", o.output, strings.Join(auditreport.Formats, ", "))
	}
	now := a.deps.now().UTC()
	period, err := reportPeriod(o.from, o.to, now)
	if err != nil {
		return usageError("%v", err)
	}
	ns := a.namespaceFlag()
	if o.allNamespaces {
		ns = ""
	}
	opts := auditreport.Options{Period: period, Now: now, GeneratedBy: "kubectl-residency " + version, Namespace: ns, Store: o.store}

	var in auditreport.Input
	if len(o.filenames) > 0 {
		in, err = a.reportInputFromFiles(o.filenames)
		if err != nil {
			return err
		}
		opts.Source = "manifests: " + strings.Join(o.filenames, ", ")
	} else {
		c, err := a.deps.client()
		if err != nil {
			return requestError(err)
		}
		in, err = reportInputFromCluster(ctx, c, ns)
		if err != nil {
			return requestError(err)
		}
		opts.Source = a.clusterName()
	}

	rep := auditreport.Build(in, opts)
	var buf bytes.Buffer
	if err := auditreport.Write(&buf, o.output, rep); err != nil {
		return &exitError{code: exitBadInput, err: fmt.Errorf("writing the report: %w", err)}
	}
	if o.outputFile != "" {
		if err := os.WriteFile(o.outputFile, buf.Bytes(), 0o644); err != nil {
			return &exitError{code: exitBadInput, err: fmt.Errorf("writing the report: %w", err)}
		}
		fmt.Fprintf(a.errOut, "wrote %s\n", o.outputFile)
	} else if _, err := a.out.Write(buf.Bytes()); err != nil {
		return &exitError{code: exitBadInput, err: fmt.Errorf("writing the report: %w", err)}
	}
	if o.verify {
		if rep.Verification.Verified {
			stores := "stores"
			if len(rep.Stores) == 1 {
				stores = "store"
			}
			fmt.Fprintf(a.errOut, "verified: %d ResidencyRecords of %d %s, every hash matches and no chain has a hole\n", rep.Verification.Records, len(rep.Stores), stores)
			return nil
		}
		for _, p := range rep.Verification.Problems {
			rec := ""
			if p.Record != "" {
				rec = " record " + p.Record
			}
			fmt.Fprintf(a.errOut, "verify: store %s%s (sequence %d): %s\n", p.Store, rec, p.Sequence, p.Message)
		}
		return &exitError{code: exitFindings, err: fmt.Errorf("the residency history failed verification: %d problems", len(rep.Verification.Problems))}
	}
	return nil
}

// reportPeriod parses --from and --to.
func reportPeriod(fromFlag, toFlag string, now time.Time) (auditreport.Period, error) {
	to := now
	if toFlag != "" {
		t, dateOnly, err := parseReportTime(toFlag)
		if err != nil {
			return auditreport.Period{}, fmt.Errorf("--to: %w", err)
		}
		if dateOnly {
			t = t.AddDate(0, 0, 1) // --to 2026-03-31 includes 31 March
		}
		to = t
	}
	from := to.AddDate(0, 0, -defaultReportDays)
	if fromFlag != "" {
		t, _, err := parseReportTime(fromFlag)
		if err != nil {
			return auditreport.Period{}, fmt.Errorf("--from: %w", err)
		}
		from = t
	}
	if !from.Before(to) {
		return auditreport.Period{}, fmt.Errorf("the period is empty: --from %s is not before --to %s", from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	return auditreport.Period{From: from, To: to}, nil
}

func parseReportTime(s string) (time.Time, bool, error) {
	dateOnly := true
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		dateOnly = false
		if t, err = time.Parse(time.RFC3339, s); err != nil {
			return time.Time{}, false, fmt.Errorf("%q is neither a date (YYYY-MM-DD) nor an RFC3339 time (2026-01-01T00:00:00Z)", s)
		}
	}
	// Kubernetes times start in 1970; a period of more than a few centuries would overflow durations.
	if t.Year() < 1970 || t.Year() > 2200 {
		return time.Time{}, false, fmt.Errorf("%q is out of range (1970 to 2200)", s)
	}
	return t.UTC(), dateOnly, nil
}

// reportInputFromFiles reads the report's objects from manifests; bad input exits 2 with file:line.
func (a *app) reportInputFromFiles(paths []string) (auditreport.Input, error) {
	set := manifest.NewSet(manifest.Options{DefaultNamespace: a.namespaceFlag()})
	if err := set.LoadPaths(paths, a.in); err != nil {
		errs := manifest.Errors(err)
		for _, e := range errs {
			fmt.Fprintln(a.errOut, e.Error())
		}
		return auditreport.Input{}, &exitError{code: exitBadInput, err: fmt.Errorf("could not read the manifests (%d problems above); no report was written", len(errs))}
	}
	in := auditreport.Input{Stores: set.Stores, Processors: set.Processors, Jurisdictions: set.Jurisdictions, Records: set.Records}
	for _, rop := range set.RecordsOfProcessing {
		if rop.Name != "default" {
			src := set.ObjectOf(rop).Source
			return auditreport.Input{}, &exitError{code: exitBadInput, err: fmt.Errorf("%s: RecordOfProcessing %q: there is one per cluster and it is named default", src, rop.Name)}
		}
		if in.RecordOfProcessing != nil {
			src := set.ObjectOf(rop).Source
			return auditreport.Input{}, &exitError{code: exitBadInput, err: fmt.Errorf("%s: RecordOfProcessing default is defined twice", src)}
		}
		in.RecordOfProcessing = rop
	}
	return in, nil
}

// reportInputFromCluster lists the report's objects; namespace "" is every namespace.
func reportInputFromCluster(ctx context.Context, c client.Reader, namespace string) (auditreport.Input, error) {
	var in auditreport.Input
	var stores v1alpha1.PersonalDataStoreList
	if err := c.List(ctx, &stores, client.InNamespace(namespace)); err != nil {
		return in, fmt.Errorf("listing PersonalDataStores: %w", withAPIHint(err))
	}
	var processors v1alpha1.DataProcessorList
	if err := c.List(ctx, &processors); err != nil {
		return in, fmt.Errorf("listing DataProcessors: %w", withAPIHint(err))
	}
	var jurisdictions v1alpha1.JurisdictionList
	if err := c.List(ctx, &jurisdictions); err != nil {
		return in, fmt.Errorf("listing Jurisdictions: %w", withAPIHint(err))
	}
	// A cluster keeps stores x retention records: read them in pages, not in one response.
	var records v1alpha1.ResidencyRecordList
	for cont := ""; ; {
		var page v1alpha1.ResidencyRecordList
		if err := c.List(ctx, &page, client.InNamespace(namespace), client.Limit(500), client.Continue(cont)); err != nil {
			return in, fmt.Errorf("listing ResidencyRecords: %w", withAPIHint(err))
		}
		records.Items = append(records.Items, page.Items...)
		if cont = page.Continue; cont == "" {
			break
		}
	}
	var rop v1alpha1.RecordOfProcessing
	switch err := c.Get(ctx, client.ObjectKey{Name: "default"}, &rop); {
	case err == nil:
		in.RecordOfProcessing = &rop
	case apierrors.IsNotFound(err):
	default:
		return in, fmt.Errorf("getting the RecordOfProcessing default: %w", withAPIHint(err))
	}
	for i := range stores.Items {
		in.Stores = append(in.Stores, &stores.Items[i])
	}
	for i := range processors.Items {
		in.Processors = append(in.Processors, &processors.Items[i])
	}
	for i := range jurisdictions.Items {
		in.Jurisdictions = append(in.Jurisdictions, &jurisdictions.Items[i])
	}
	for i := range records.Items {
		in.Records = append(in.Records, &records.Items[i])
	}
	return in, nil
}
