package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
	"github.com/residency-operator/residency-operator/internal/engine"
)

type statusOptions struct {
	output        string
	allNamespaces bool
}

func newStatusCommand(a *app) *cobra.Command {
	o := &statusOptions{}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show every PersonalDataStore and whether its pods and volumes are where they may be",
		Long: `Status lists PersonalDataStores with their allowed jurisdictions, enforcement, the pods and
volumes they govern, their violations and the Compliant condition the operator maintains, then
the violations and processor findings of every store that is not compliant.

Stores of every namespace are listed unless -n names one.`,
		Example: `  kubectl residency status
  kubectl residency status -n shop -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runStatus(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVarP(&o.output, "output", "o", "text", "output format: text or json")
	cmd.Flags().BoolVarP(&o.allNamespaces, "all-namespaces", "A", false, "list the stores of every namespace (the default unless -n is given)")
	return cmd
}

func (a *app) runStatus(ctx context.Context, o *statusOptions) error {
	if o.output != "text" && o.output != "json" {
		return usageError("unknown output format %q: use text or json", o.output)
	}
	c, err := a.deps.client()
	if err != nil {
		return requestError(err)
	}
	ns := a.namespaceFlag()
	if o.allNamespaces {
		ns = ""
	}
	rows, err := storeStatuses(ctx, c, ns)
	if err != nil {
		return requestError(err)
	}
	if o.output == "json" {
		enc := json.NewEncoder(a.out)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	return writeStatusText(a.out, rows, ns)
}

// storeStatus is one store as status shows it.
type storeStatus struct {
	Namespace     string   `json:"namespace"`
	Name          string   `json:"name"`
	Jurisdictions []string `json:"jurisdictions"`
	Enforcement   string   `json:"enforcement"`
	Pods          int32    `json:"pods"`
	Volumes       int32    `json:"volumes"`
	Violations    int32    `json:"violations"`
	Compliant     string   `json:"compliant"`
	Reason        string   `json:"reason,omitempty"`
	Message       string   `json:"message,omitempty"`
	// EvictionsHeld says why the store holds evictions (the EvictionHeld condition), if it does.
	EvictionsHeld     string                      `json:"evictionsHeld,omitempty"`
	EvictionsHeldWhy  string                      `json:"evictionsHeldReason,omitempty"`
	ViolationList     []v1alpha1.Violation        `json:"violationList,omitempty"`
	ProcessorFindings []v1alpha1.ProcessorFinding `json:"processorFindings,omitempty"`
}

// storeStatuses reads the stores of namespace ("" for all) with what their status says.
func storeStatuses(ctx context.Context, c client.Reader, namespace string) ([]storeStatus, error) {
	var list v1alpha1.PersonalDataStoreList
	if err := c.List(ctx, &list, client.InNamespace(namespace)); err != nil {
		return nil, fmt.Errorf("listing PersonalDataStores: %w", withAPIHint(err))
	}
	rows := make([]storeStatus, 0, len(list.Items))
	for i := range list.Items {
		s := &list.Items[i]
		row := storeStatus{
			Namespace: s.Namespace, Name: s.Name,
			Enforcement: string(engine.ModeOf(s)),
			Pods:        s.Status.GovernedPods, Volumes: s.Status.GovernedVolumes, Violations: s.Status.ViolationCount,
			Compliant:         string(metav1.ConditionUnknown),
			ViolationList:     s.Status.Violations,
			ProcessorFindings: s.Status.ProcessorFindings,
		}
		for _, j := range s.Spec.AllowedJurisdictions {
			row.Jurisdictions = append(row.Jurisdictions, string(j))
		}
		if held := meta.FindStatusCondition(s.Status.Conditions, v1alpha1.EvictionHeldCondition); held != nil && held.Status == metav1.ConditionTrue {
			row.EvictionsHeld, row.EvictionsHeldWhy = held.Message, held.Reason
		}
		if cond := meta.FindStatusCondition(s.Status.Conditions, v1alpha1.CompliantCondition); cond != nil {
			row.Compliant, row.Reason, row.Message = string(cond.Status), cond.Reason, cond.Message
			if cond.ObservedGeneration != 0 && cond.ObservedGeneration != s.Generation {
				row.Compliant = string(metav1.ConditionUnknown)
				row.Reason = "Stale"
				row.Message = fmt.Sprintf("the condition describes generation %d and the store is at %d; the operator has not caught up yet", cond.ObservedGeneration, s.Generation)
			}
		} else {
			row.Reason, row.Message = "NotReported", "the operator has not reported on this store yet; is it running?"
		}
		rows = append(rows, row)
	}
	slices.SortFunc(rows, func(x, y storeStatus) int {
		return strings.Compare(x.Namespace+"/"+x.Name, y.Namespace+"/"+y.Name)
	})
	return rows, nil
}

// writeStatusText writes a table like `kubectl get pds -A`, then what is wrong with each store
// that is not compliant.
func writeStatusText(w io.Writer, rows []storeStatus, namespace string) error {
	if len(rows) == 0 {
		where := "the cluster"
		if namespace != "" {
			where = "namespace " + namespace
		}
		_, err := fmt.Fprintf(w, "No PersonalDataStores in %s.\n", where)
		return err
	}
	// The brake pauses evictions cluster-wide: say so first, once.
	if i := slices.IndexFunc(rows, func(r storeStatus) bool { return r.EvictionsHeldWhy == v1alpha1.ReasonEvictionBrake }); i >= 0 {
		fmt.Fprintf(w, "EVICTIONS PAUSED cluster-wide by the eviction brake (%s/%s says): %s\n\n", rows[i].Namespace, rows[i].Name, rows[i].EvictionsHeld)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAMESPACE\tNAME\tJURISDICTIONS\tENFORCEMENT\tPODS\tVOLUMES\tVIOLATIONS\tCOMPLIANT\tREASON")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\n", r.Namespace, r.Name, strings.Join(r.Jurisdictions, ","),
			r.Enforcement, r.Pods, r.Volumes, r.Violations, r.Compliant, r.Reason)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range rows {
		if r.Compliant == string(metav1.ConditionTrue) {
			continue
		}
		fmt.Fprintf(w, "\n%s/%s: %s", r.Namespace, r.Name, r.Reason)
		if r.Message != "" {
			fmt.Fprintf(w, ": %s", r.Message)
		}
		fmt.Fprintln(w)
		for _, v := range r.ViolationList {
			fmt.Fprintf(w, "  %s %s: %s", v.Object.Kind, v.Object.Name, v.Reason)
			if where := describeObserved(v); where != "" {
				fmt.Fprintf(w, " (%s)", where)
			}
			if v.Message != "" {
				fmt.Fprintf(w, ": %s", v.Message)
			}
			if v.EvictionTime != nil {
				fmt.Fprintf(w, " [eviction at %s]", v.EvictionTime.UTC().Format("2006-01-02T15:04:05Z"))
			}
			fmt.Fprintln(w)
		}
		if extra := int(r.Violations) - len(r.ViolationList); extra > 0 {
			fmt.Fprintf(w, "  ... and %d more violations (the status lists at most %d)\n", extra, len(r.ViolationList))
		}
		for _, f := range r.ProcessorFindings {
			fmt.Fprintf(w, "  processor %s: %s: %s\n", f.Processor, f.Reason, f.Message)
		}
	}
	return nil
}

// describeObserved says where a violating object was seen: its node or volume and location.
func describeObserved(v v1alpha1.Violation) string {
	var parts []string
	if v.Node != "" {
		parts = append(parts, "node "+v.Node)
	}
	if v.Volume != "" {
		parts = append(parts, "volume "+v.Volume)
	}
	l := v.Location
	if l.Region != "" {
		parts = append(parts, "region "+l.Region)
	}
	if l.Country != "" {
		parts = append(parts, "country "+l.Country)
	}
	if len(l.Jurisdictions) > 0 {
		parts = append(parts, "in ["+strings.Join(l.Jurisdictions, " ")+"]")
	}
	return strings.Join(parts, ", ")
}
