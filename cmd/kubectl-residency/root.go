package main

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/residency-operator/residency-operator/api/v1alpha1"
)

// dependencies are what tests replace: the clock and the cluster client.
type dependencies struct {
	now    func() time.Time
	client func() (client.Client, error)
}

// app is the state every subcommand shares: streams, kubectl's connection flags, dependencies.
type app struct {
	in          io.Reader
	out, errOut io.Writer
	flags       *genericclioptions.ConfigFlags
	deps        dependencies
}

func newApp(stdin io.Reader, stdout, stderr io.Writer, deps *dependencies) *app {
	flags := genericclioptions.NewConfigFlags(true)
	// kubectl's --cluster picks a kubeconfig cluster; `check --cluster` means "the policies of the
	// live cluster". The plugin drops the former (use --context) so that the latter is unambiguous.
	flags.ClusterName = nil
	a := &app{in: stdin, out: stdout, errOut: stderr, flags: flags}
	if deps != nil {
		a.deps = *deps
	}
	if a.deps.now == nil {
		a.deps.now = time.Now
	}
	if a.deps.client == nil {
		a.deps.client = a.newClient
	}
	return a
}

// newClient connects to the cluster of the kubeconfig context, as kubectl would.
func (a *app) newClient() (client.Client, error) {
	cfg, err := a.flags.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("reading the kubeconfig: %w", err)
	}
	cfg.UserAgent = "kubectl-residency/" + version
	c, err := client.New(cfg, client.Options{Scheme: newScheme()})
	if err != nil {
		return nil, fmt.Errorf("connecting to the cluster: %w", err)
	}
	return c, nil
}

// newScheme knows the built-in kinds and the dataresidency.io ones.
func newScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(fmt.Sprintf("registering the built-in kinds: %v", err)) // a static table: cannot fail
	}
	if err := v1alpha1.AddToScheme(s); err != nil {
		panic(fmt.Sprintf("registering the dataresidency.io kinds: %v", err))
	}
	return s
}

// namespaceFlag returns -n when given.
func (a *app) namespaceFlag() string {
	if a.flags.Namespace == nil {
		return ""
	}
	return *a.flags.Namespace
}

// namespacedClient returns the namespace a command about one object acts in (contextNamespace)
// and the cluster client, with the errors already mapped to exit codes.
func (a *app) namespacedClient() (string, client.Client, error) {
	ns, err := a.contextNamespace()
	if err != nil {
		return "", nil, usageError("%v", err)
	}
	c, err := a.deps.client()
	if err != nil {
		return "", nil, requestError(err)
	}
	return ns, c, nil
}

// contextNamespace returns -n, else the namespace of the kubeconfig context, else "default".
func (a *app) contextNamespace() (string, error) {
	if ns := a.namespaceFlag(); ns != "" {
		return ns, nil
	}
	ns, _, err := a.flags.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return "", fmt.Errorf("reading the namespace of the kubeconfig context: %w", err)
	}
	return ns, nil
}

func newRootCommand(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "kubectl-residency",
		Short: "Check and explain where personal data may run, with residency-operator's placement engine",
		Long: `kubectl residency checks Kubernetes manifests against data residency policies before they are
applied, and explains where governed pods run and why.

  kubectl residency check -f ./deploy            # offline, in CI: exit 1 when residency would break
  kubectl residency check -f ./deploy --cluster  # against the live cluster's policies
  kubectl residency status                       # every PersonalDataStore and its compliance
  kubectl residency explain pod/web-7d9f         # why this pod may (not) run where it is
  kubectl residency approve exception/NAME       # approve someone else's ResidencyException
  kubectl residency report -o html --verify      # Art. 30 record and residency evidence, for auditors`,
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
		CompletionOptions: cobra.CompletionOptions{
			HiddenDefaultCmd: true,
		},
	}
	// The default template prints only "version X"; a version string with braces must not be
	// read as a template, so it is computed here rather than templated.
	root.SetVersionTemplate(versionLine())
	root.SetIn(a.in)
	root.SetOut(a.out)
	root.SetErr(a.errOut)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError("%v\nSee '%s --help'.", err, c.CommandPath())
	})
	a.flags.AddFlags(root.PersistentFlags())
	root.AddCommand(newCheckCommand(a), newStatusCommand(a), newExplainCommand(a), newReportCommand(a),
		newDecideCommand(a, v1alpha1.Approved), newDecideCommand(a, v1alpha1.Denied))
	return root
}
