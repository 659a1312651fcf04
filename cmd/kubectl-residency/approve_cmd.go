package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
)

type decideOptions struct {
	message string
}

// newDecideCommand makes `approve` or `deny`: both write status.approval, which the operator's
// webhook accepts only from someone allowed to approve who did not request the exception.
func newDecideCommand(a *app, decision v1alpha1.ApprovalDecision) *cobra.Command {
	o := &decideOptions{}
	verb := "approve"
	if decision == v1alpha1.Denied {
		verb = "deny"
	}
	cmd := &cobra.Command{
		Use:   verb + " exception/NAME",
		Short: fmt.Sprintf("%s a ResidencyException (needs the approve verb; not your own)", strings.ToUpper(verb[:1])+verb[1:]),
		Long: fmt.Sprintf(`%s records your decision on a ResidencyException in its status. The operator's webhook
accepts it only from someone who holds the approve verb on residencyexceptions (the
residency-approver ClusterRole) and did not request the exception, and records who decided, when,
and on which generation of the spec: any later change to the spec voids the decision.

An exception exempts nothing until it is approved, and only within its window.`, strings.ToUpper(verb[:1])+verb[1:]),
		Example: fmt.Sprintf(`  kubectl residency %s exception/court-order-2026-117 -n shop -m "checked LEGAL-117"`, verb),
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runDecide(cmd.Context(), args[0], verb, decision, o)
		},
	}
	cmd.Flags().StringVarP(&o.message, "message", "m", "", "a note for auditors, such as the ticket you checked")
	return cmd
}

func (a *app) runDecide(ctx context.Context, ref, verb string, decision v1alpha1.ApprovalDecision, o *decideOptions) error {
	name, err := exceptionName(ref)
	if err != nil {
		return err
	}
	if len(o.message) > 1024 {
		return usageError("--message is %d characters; at most 1024", len(o.message))
	}
	ns, c, err := a.namespacedClient()
	if err != nil {
		return err
	}
	ex := &v1alpha1.ResidencyException{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, ex); err != nil {
		return requestError(withAPIHint(err))
	}
	// The webhook stamps user, generation and time; they are cleared here so that a decision that
	// comes back unstamped shows the webhook did not see it. The resourceVersion makes the patch
	// fail rather than decide on a spec changed since it was read.
	body, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"resourceVersion": ex.ResourceVersion},
		"status": map[string]any{"approval": map[string]any{
			"decision": decision, "message": o.message, "user": nil, "generation": nil, "decidedAt": nil,
		}},
	})
	if err != nil {
		return err
	}
	if err := c.Status().Patch(ctx, ex, client.RawPatch(types.MergePatchType, body)); err != nil {
		return requestError(fmt.Errorf("%s exception/%s in %s: %w", verb, name, ns, err))
	}
	recorded := ex.Status.Approval
	if recorded == nil || recorded.User == "" {
		return requestError(fmt.Errorf("exception/%s in %s: the decision was stored without the approver: the operator's admission webhook did not see it; check that residency-operator runs and its MutatingWebhookConfiguration is installed", name, ns))
	}
	fmt.Fprintf(a.out, "exception/%s %s by %s (generation %d)\n", name, strings.ToLower(string(recorded.Decision)), recorded.User, recorded.Generation)
	return nil
}

// exceptionName reads exception/NAME (or residencyexception/NAME, rex/NAME, or a bare NAME).
func exceptionName(ref string) (string, error) {
	kind, name, found := strings.Cut(ref, "/")
	if !found {
		kind, name = "exception", ref
	}
	switch strings.ToLower(kind) {
	case "exception", "exceptions", "residencyexception", "residencyexceptions", "rex":
	default:
		return "", usageError("%q is not an exception: write exception/NAME", ref)
	}
	if name == "" {
		return "", usageError("%q names no exception: write exception/NAME", ref)
	}
	return name, nil
}
