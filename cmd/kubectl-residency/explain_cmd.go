package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
	"github.com/residency-operator/residency-operator/internal/engine"
	"github.com/residency-operator/residency-operator/internal/lookup"
)

type explainOptions struct {
	output string
}

func newExplainCommand(a *app) *cobra.Command {
	o := &explainOptions{}
	cmd := &cobra.Command{
		Use:   "explain pod/NAME",
		Short: "Explain where a pod may run, where it runs, and whether that is permitted",
		Long: `Explain names the PersonalDataStores that govern a pod (and the exceptions that lift any of
them), the jurisdictions its node must be in, where its node is (region, zone, country, and the
jurisdictions the operator labelled it with), and the verdict, with the same engine the webhook
and the audit use.`,
		Example: `  kubectl residency explain pod/web-7d9f4 -n shop
  kubectl residency explain web-7d9f4 -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runExplain(cmd.Context(), o, args[0])
		},
	}
	cmd.Flags().StringVarP(&o.output, "output", "o", "text", "output format: text or json")
	return cmd
}

func (a *app) runExplain(ctx context.Context, o *explainOptions, arg string) error {
	if o.output != "text" && o.output != "json" {
		return usageError("unknown output format %q: use text or json", o.output)
	}
	name, err := podArgument(arg)
	if err != nil {
		return err
	}
	ns, c, err := a.namespacedClient()
	if err != nil {
		return err
	}
	ex, err := explainPod(ctx, c, ns, name, a.deps.now())
	if err != nil {
		return requestError(err)
	}
	if o.output == "json" {
		enc := json.NewEncoder(a.out)
		enc.SetIndent("", "  ")
		return enc.Encode(ex)
	}
	return writeExplanation(a.out, ex)
}

// podArgument accepts pod/NAME, pods/NAME, po/NAME or NAME, as kubectl does.
func podArgument(arg string) (string, error) {
	kind, name, found := strings.Cut(arg, "/")
	if !found {
		return arg, nil
	}
	switch strings.ToLower(kind) {
	case "pod", "pods", "po":
		if name == "" {
			return "", usageError("%q names no pod: use pod/NAME", arg)
		}
		return name, nil
	}
	return "", usageError("explain works on pods, not %q: use pod/NAME", kind)
}

// Verdicts of explain.
const (
	verdictNotGoverned     = "NotGoverned"
	verdictExempt          = "Exempt"
	verdictNoPermittedNode = "NoPermittedNode"
	verdictPending         = "Pending"
	verdictNeverRuns       = "NeverRuns"
	verdictNodeMissing     = "NodeMissing"
	verdictPermitted       = "Permitted"
	verdictNotPermitted    = "NotPermitted"
)

// explanation is what explain found out about a pod.
type explanation struct {
	Namespace  string            `json:"namespace"`
	Pod        string            `json:"pod"`
	Phase      string            `json:"phase,omitempty"`
	Stores     []explainedStore  `json:"stores"`
	Permitted  string            `json:"permitted,omitempty"`
	Node       *explainedNode    `json:"node,omitempty"`
	Evidence   map[string]string `json:"evidence,omitempty"`
	Verdict    string            `json:"verdict"`
	Why        []string          `json:"why"`
	Violations []string          `json:"violations,omitempty"`
}

type explainedStore struct {
	Name          string   `json:"name"`
	Enforcement   string   `json:"enforcement"`
	Jurisdictions []string `json:"jurisdictions"`
	ExemptedBy    string   `json:"exemptedBy,omitempty"`
	ExemptUntil   string   `json:"exemptUntil,omitempty"`
}

type explainedNode struct {
	Name          string   `json:"name"`
	Region        string   `json:"region,omitempty"`
	Zone          string   `json:"zone,omitempty"`
	Country       string   `json:"country,omitempty"`
	CountrySource string   `json:"countrySource,omitempty"`
	Provider      string   `json:"provider,omitempty"`
	Untrusted     string   `json:"untrusted,omitempty"`
	Labelled      []string `json:"labelledJurisdictions"`
	Located       []string `json:"locatedJurisdictions"`
}

// explainPod works out why a pod may or may not run where it is. It only reads.
func explainPod(ctx context.Context, c client.Reader, namespace, name string, now time.Time) (*explanation, error) {
	pod := &corev1.Pod{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, pod); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("pod %s not found in namespace %s (use -n to pick another namespace)", name, namespace)
		}
		return nil, fmt.Errorf("getting pod %s/%s: %w", namespace, name, err)
	}
	ex := &explanation{Namespace: namespace, Pod: name, Phase: string(pod.Status.Phase), Stores: []explainedStore{}, Why: []string{}}
	for k, v := range pod.Annotations {
		switch k {
		case v1alpha1.ObservedRegionAnnotation, v1alpha1.ObservedCountryAnnotation, v1alpha1.ObservedJurisdictionsAnnotation,
			v1alpha1.ObservedAtAnnotation, v1alpha1.StoresAnnotation, v1alpha1.AllowedJurisdictionsAnnotation:
			if ex.Evidence == nil {
				ex.Evidence = map[string]string{}
			}
			ex.Evidence[strings.TrimPrefix(k, "dataresidency.io/")] = v
		}
	}

	var stores v1alpha1.PersonalDataStoreList
	if err := c.List(ctx, &stores, client.InNamespace(namespace)); err != nil {
		return nil, fmt.Errorf("listing PersonalDataStores in %s: %w", namespace, withAPIHint(err))
	}
	var exceptions v1alpha1.ResidencyExceptionList
	if err := c.List(ctx, &exceptions, client.InNamespace(namespace)); err != nil {
		return nil, fmt.Errorf("listing ResidencyExceptions in %s: %w", namespace, err)
	}
	var jurList v1alpha1.JurisdictionList
	if err := c.List(ctx, &jurList); err != nil {
		return nil, fmt.Errorf("listing Jurisdictions: %w", err)
	}
	pol := &engine.Policies{Now: now, Jurisdictions: make(map[string]*v1alpha1.JurisdictionSpec, len(jurList.Items))}
	for i := range stores.Items {
		pol.Stores = append(pol.Stores, &stores.Items[i])
	}
	for i := range exceptions.Items {
		pol.Exceptions = append(pol.Exceptions, &exceptions.Items[i])
	}
	for i := range jurList.Items {
		if jurList.Items[i].DeletionTimestamp.IsZero() {
			pol.Jurisdictions[jurList.Items[i].Name] = &jurList.Items[i].Spec
		}
	}
	matchers, _ := engine.NewJurisdictionMatchers(pol.Jurisdictions)
	facts := engine.FactsOf(pod.Labels, &pod.Spec)
	v, err := engine.DecidePod(pol, &facts, &engine.Context{Stage: engine.Running, Lookup: lookup.Reader(ctx, c), Matchers: matchers})
	if err != nil {
		return nil, err
	}

	governing := v.All()
	listed := slices.Clone(governing)
	exempt := map[*v1alpha1.PersonalDataStore]engine.Lift{}
	for _, l := range v.Lifted {
		listed = append(listed, l.Store)
		exempt[l.Store] = l
	}
	slices.SortFunc(listed, func(a, b *v1alpha1.PersonalDataStore) int { return strings.Compare(a.Name, b.Name) })
	for _, s := range listed {
		es := explainedStore{Name: s.Name, Enforcement: string(engine.ModeOf(s))}
		for _, j := range s.Spec.AllowedJurisdictions {
			es.Jurisdictions = append(es.Jurisdictions, string(j))
		}
		if l, ok := exempt[s]; ok {
			es.ExemptedBy, es.ExemptUntil = l.Exception, l.ExpiresAt.UTC().Format(time.RFC3339)
		}
		for _, viol := range s.Status.Violations {
			if viol.Object.Kind == "Pod" && viol.Object.Name == name {
				line := fmt.Sprintf("store %s reports %s since %s", s.Name, viol.Reason, viol.Since.UTC().Format(time.RFC3339))
				if viol.EvictionTime != nil {
					line += fmt.Sprintf("; eviction at %s", viol.EvictionTime.UTC().Format(time.RFC3339))
				}
				ex.Violations = append(ex.Violations, line)
			}
		}
		ex.Stores = append(ex.Stores, es)
	}
	if !v.Governed() {
		ex.Verdict = verdictNotGoverned
		ex.Why = append(ex.Why, fmt.Sprintf("no PersonalDataStore in namespace %s has a workloadSelector that matches the pod's labels (%s), so residency-operator does not constrain it", namespace, labelsString(pod.Labels)))
		return ex, nil
	}
	if len(governing) == 0 {
		ex.Verdict = verdictExempt
		for _, s := range ex.Stores {
			ex.Why = append(ex.Why, fmt.Sprintf("store %s is lifted by ResidencyException %s until %s", s.Name, s.ExemptedBy, s.ExemptUntil))
		}
		return ex, nil
	}

	// Explain reports every governing store, Audit ones included: the audit reports them too.
	req := engine.RequirementFor(governing...)
	ex.Permitted = req.String()
	findings := v.Findings()
	for _, f := range findings {
		if f.Reason == engine.StoresDisagree || f.Reason == engine.TooManyTerms {
			ex.Verdict = verdictNoPermittedNode
			ex.Why = append(ex.Why, f.Message+"; admission denies such pods in Enforce mode")
			return ex, nil
		}
	}

	if i := slices.IndexFunc(findings, func(f engine.Finding) bool { return f.Reason == engine.PlacementConflict }); i >= 0 {
		ex.Verdict = verdictNeverRuns
		ex.Why = append(ex.Why, findings[i].Message)
		return ex, nil
	}
	if pod.Spec.NodeName == "" {
		ex.Verdict = verdictPending
		ex.Why = append(ex.Why, "the pod is not scheduled yet; it may only be scheduled on a node in "+groupsSentence(req))
		if !engine.AffinityImplies(&pod.Spec, req) {
			ex.Why = append(ex.Why, "its required node affinity does not keep it on permitted nodes: it was created before its stores, or by-passed the webhook")
		}
		return ex, nil
	}
	if slices.ContainsFunc(findings, func(f engine.Finding) bool { return f.Reason == engine.NodeNotFound }) {
		ex.Verdict = verdictNodeMissing
		ex.Why = append(ex.Why, fmt.Sprintf("the pod is bound to node %s, which no longer exists, so where it ran is known only from its evidence annotations", pod.Spec.NodeName))
		return ex, nil
	}
	node := &corev1.Node{}
	if err := c.Get(ctx, client.ObjectKey{Name: pod.Spec.NodeName}, node); err != nil {
		return nil, fmt.Errorf("getting node %s: %w", pod.Spec.NodeName, err)
	}
	// The operator's --trust-registration-topology matters only at first sight, which pins the
	// region into a restricted label: with it, the default trust answers as the operator does.
	loc := engine.LocateNode(node, engine.Trust{})
	en := &explainedNode{
		Name: node.Name, Region: loc.Region, Zone: loc.Zone, Country: loc.Country, CountrySource: string(loc.CountrySource),
		Provider: string(loc.Provider), Untrusted: loc.Untrusted,
		Labelled: engine.LabelledJurisdictions(node.Labels), Located: engine.JurisdictionsOf(matchers, loc, labels.Set(node.Labels)),
	}
	if en.Located == nil {
		en.Located = []string{}
	}
	ex.Node = en

	if !slices.ContainsFunc(findings, func(f engine.Finding) bool {
		return f.Reason == engine.NodeNotPermitted || f.Reason == engine.NodeLocationUnknown
	}) {
		ex.Verdict = verdictPermitted
		for _, g := range req.Groups {
			ex.Why = append(ex.Why, fmt.Sprintf("store %s allows [%s] and the node is labelled as in %s", g.Store, strings.Join(g.Jurisdictions, " "), strings.Join(intersect(en.Labelled, g.Jurisdictions), " and ")))
		}
	} else {
		ex.Verdict = verdictNotPermitted
		for _, g := range req.Groups {
			if len(intersect(en.Labelled, g.Jurisdictions)) == 0 {
				ex.Why = append(ex.Why, fmt.Sprintf("store %s allows [%s], and the node is labelled with none of them", g.Store, strings.Join(g.Jurisdictions, " ")))
			}
		}
		switch {
		case loc.Untrusted != "":
			ex.Why = append(ex.Why, "the node's location is untrusted ("+loc.Untrusted+"), so it is in no jurisdiction")
		case loc.Country == "" && len(en.Located) == 0:
			ex.Why = append(ex.Why, "the node's location is unknown: its region is not in the catalog and it has no country label; set "+v1alpha1.CountryLabel+" or add the region to a Jurisdiction")
		}
		if len(ex.Violations) == 0 {
			ex.Why = append(ex.Why, "no store reports it yet: the audit runs when pods, nodes or stores change")
		}
	}
	if !slices.Equal(en.Labelled, en.Located) && loc.Untrusted == "" {
		ex.Why = append(ex.Why, fmt.Sprintf("the node's jurisdiction labels [%s] differ from what its location gives [%s]: the operator relabels it, and scheduling follows the labels",
			strings.Join(en.Labelled, " "), strings.Join(en.Located, " ")))
	}
	return ex, nil
}

func intersect(a, b []string) []string {
	var out []string
	for _, x := range a {
		if slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

// groupsSentence says what a requirement means in words: "[eu] (store a) and [eu us] (store b)".
func groupsSentence(r engine.Requirement) string {
	parts := make([]string, len(r.Groups))
	for i, g := range r.Groups {
		parts[i] = fmt.Sprintf("[%s] (store %s)", strings.Join(g.Jurisdictions, " "), g.Store)
	}
	return strings.Join(parts, " and in ")
}

func labelsString(l map[string]string) string {
	if len(l) == 0 {
		return "none"
	}
	return labels.Set(l).String()
}

// writeExplanation writes the explanation for a person at a terminal.
func writeExplanation(w io.Writer, ex *explanation) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Pod:        %s/%s", ex.Namespace, ex.Pod)
	if ex.Phase != "" {
		fmt.Fprintf(&b, " (%s)", ex.Phase)
	}
	b.WriteString("\n")
	if len(ex.Stores) > 0 {
		b.WriteString("Stores:\n")
		for _, s := range ex.Stores {
			fmt.Fprintf(&b, "  %s  %s  allows [%s]", s.Name, s.Enforcement, strings.Join(s.Jurisdictions, " "))
			switch {
			case s.ExemptedBy != "":
				fmt.Fprintf(&b, "  lifted by exception %s until %s", s.ExemptedBy, s.ExemptUntil)
			case s.Enforcement == string(v1alpha1.Audit):
				b.WriteString("  (audit only: reported, not enforced)")
			case s.Enforcement == string(v1alpha1.Warn):
				b.WriteString("  (warn: admitted with a warning, not evicted)")
			}
			b.WriteString("\n")
		}
	}
	if ex.Permitted != "" {
		fmt.Fprintf(&b, "Permitted:  %s\n", ex.Permitted)
	}
	if n := ex.Node; n != nil {
		fmt.Fprintf(&b, "Node:       %s: region %s, zone %s, country %s", n.Name, orNone(n.Region), orNone(n.Zone), orNone(n.Country))
		if n.CountrySource != "" {
			fmt.Fprintf(&b, " (from %s)", n.CountrySource)
		}
		if n.Provider != "" {
			fmt.Fprintf(&b, ", provider %s", n.Provider)
		}
		if n.Untrusted != "" {
			fmt.Fprintf(&b, ", UNTRUSTED: %s", n.Untrusted)
		}
		fmt.Fprintf(&b, "\n            labelled in [%s]; its location gives [%s]\n", strings.Join(n.Labelled, " "), strings.Join(n.Located, " "))
	}
	if len(ex.Evidence) > 0 {
		keys := make([]string, 0, len(ex.Evidence))
		for k := range ex.Evidence {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b.WriteString("Evidence:  ")
		for _, k := range keys {
			fmt.Fprintf(&b, " %s=%s", k, ex.Evidence[k])
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "Verdict:    %s\n", ex.Verdict)
	for _, why := range ex.Why {
		fmt.Fprintf(&b, "  - %s\n", why)
	}
	for _, v := range ex.Violations {
		fmt.Fprintf(&b, "  ! %s\n", v)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func orNone(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
