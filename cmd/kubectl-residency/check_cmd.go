package main

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/residency-operator/residency-operator/cmd/kubectl-residency/internal/check"
	"github.com/residency-operator/residency-operator/cmd/kubectl-residency/internal/report"
	"github.com/residency-operator/residency-operator/internal/catalog"
	"github.com/residency-operator/residency-operator/internal/manifest"
)

type checkOptions struct {
	filenames []string
	output    string
	cluster   bool
	provider  string
}

func newCheckCommand(a *app) *cobra.Command {
	o := &checkOptions{}
	cmd := &cobra.Command{
		Use:   "check -f PATH...",
		Short: "Check manifests for data residency problems before they are applied",
		Long: `Check reads manifests (files, folders recursively, or - for standard input; multi-document
YAML or JSON; the output of kustomize build and helm template, List kinds included) and reports
every governed pod template, claim and policy that residency-operator's admission webhook would
deny or its audit would report. It uses the operator's own placement engine.

A pod template is governed by every PersonalDataStore of its namespace (metadata.namespace, else
-n, else "default") whose workloadSelector matches its labels. Policies (Jurisdictions, stores,
processors, exceptions, StorageClasses) come from the same manifests, or with --cluster from the
live cluster of the kubeconfig context.

Exit status: 0 when there is no error-level finding (warnings alone pass), 1 when there is one,
2 when the input cannot be read (the message gives file:line) or the command line is wrong.

Rules:
` + rulesHelp(),
		Example: `  # In CI, with annotations in the pull request (GitHub code scanning)
  kubectl residency check -f ./deploy -o sarif > residency.sarif

  # A rendered Helm chart or kustomization
  helm template shop ./charts/shop | kubectl residency check -f - -n shop
  kustomize build overlays/prod | kubectl residency check -f - -o junit > residency.xml

  # Against the policies of the live cluster
  kubectl residency check -f ./deploy --cluster --context prod`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runCheck(cmd.Context(), o)
		},
	}
	cmd.Flags().StringSliceVarP(&o.filenames, "filename", "f", nil, "files or folders of manifests to check (repeatable; - reads standard input)")
	cmd.Flags().StringVarP(&o.output, "output", "o", "text", "output format: "+strings.Join(report.Formats, ", "))
	cmd.Flags().BoolVar(&o.cluster, "cluster", false, "check against the policies (Jurisdictions, stores, processors, exceptions, StorageClasses) of the live cluster instead of those in the manifests")
	cmd.Flags().StringVar(&o.provider, "provider", "", "the cloud the workloads run in ("+providerNames()+"), to locate region names several clouds share, such as eu-west-1")
	return cmd
}

func (a *app) runCheck(ctx context.Context, o *checkOptions) error {
	if len(o.filenames) == 0 {
		return usageError("no manifests given: pass -f with a file, a folder or - for standard input")
	}
	if !slices.Contains(report.Formats, o.output) {
		return usageError("unknown output format %q: use one of %s", o.output, strings.Join(report.Formats, ", "))
	}
	if o.provider != "" && !slices.Contains(catalog.Providers(), catalog.Provider(o.provider)) {
		return usageError("unknown provider %q: use one of %s", o.provider, providerNames())
	}

	set := manifest.NewSet(manifest.Options{DefaultNamespace: a.namespaceFlag()})
	loadErr := set.LoadPaths(o.filenames, a.in)
	rep := &report.Report{Version: version, Policies: "the checked manifests"}
	if loadErr != nil {
		rep.InputErrors = manifest.Errors(loadErr)
		return a.inputFailed(o, rep)
	}

	opts := check.Options{Now: a.deps.now(), Provider: catalog.Provider(o.provider)}
	if o.cluster {
		c, err := a.deps.client()
		if err != nil {
			return &exitError{code: exitBadInput, err: err}
		}
		opts, err = check.ClusterOptions(ctx, c, opts, func(what string, err error) {
			fmt.Fprintf(a.errOut, "warning: getting %s: %v\n", what, err)
		})
		if err != nil {
			return &exitError{code: exitBadInput, err: withAPIHint(err)}
		}
		rep.Policies = a.clusterName()
	}
	rep.Result = check.Run(set, opts)
	if err := report.Write(a.out, o.output, rep); err != nil {
		return &exitError{code: exitBadInput, err: fmt.Errorf("writing the report: %w", err)}
	}
	if rep.Result.Count(check.Error) > 0 {
		return &exitError{code: exitFindings}
	}
	return nil
}

// inputFailed reports input errors: "file:line: message" on standard error for people and logs,
// and, for the machine formats, a report on standard output that says the run failed, so that a CI
// step uploading it has something valid to upload.
func (a *app) inputFailed(o *checkOptions, rep *report.Report) error {
	for _, e := range rep.InputErrors {
		fmt.Fprintln(a.errOut, e.Error())
	}
	if o.output != "text" {
		if err := report.Write(a.out, o.output, rep); err != nil {
			fmt.Fprintf(a.errOut, "error: writing the report: %v\n", err)
		}
	}
	return &exitError{code: exitBadInput, err: fmt.Errorf("could not read the manifests (%d problems above); nothing was checked", len(rep.InputErrors))}
}

func providerNames() string {
	var names []string
	for _, p := range catalog.Providers() {
		names = append(names, string(p))
	}
	return strings.Join(names, ", ")
}

// rulesHelp lists the rules for --help.
func rulesHelp() string {
	var b strings.Builder
	for _, r := range check.Rules {
		fmt.Fprintf(&b, "  %s %-34s %s\n", r.ID, r.Name, r.Short)
	}
	return b.String()
}
