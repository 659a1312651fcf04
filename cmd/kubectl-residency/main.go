// Command kubectl-residency is the kubectl plugin of residency-operator: `kubectl residency check`
// evaluates manifests offline with the placement engine the admission webhook uses, so that a pull
// request that would break data residency fails in CI before a GitOps controller applies it;
// `status` and `explain` answer "is my data where it may be, and why is this pod here?" against a
// live cluster.
package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
)

// version and commit are set at build time with -ldflags "-X main.version=... -X main.commit=...";
// commit falls back to the VCS revision the Go toolchain recorded.
var (
	version = "dev"
	commit  = ""
)

// versionLine is what --version prints: the version, the commit and the Go toolchain, which is
// what a bug report needs to tell two builds apart.
func versionLine() string {
	c := commit
	if info, ok := debug.ReadBuildInfo(); ok && c == "" {
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" {
				c = s.Value
			}
		}
	}
	if c == "" {
		c = "unknown"
	}
	return fmt.Sprintf("kubectl-residency %s (commit %s, %s %s/%s)\n", version, c, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, nil))
}

// run executes the command line and returns the exit code: 0 clean, 1 findings (check) or a
// failed request (status, explain), 2 bad input or usage. deps replaces the clock and the cluster
// client in tests; nil uses the real ones.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer, deps *dependencies) (code int) {
	defer func() {
		// A last line of defence: every known failure is an error value, but a CI step must get
		// "bad input" and a message rather than a goroutine dump if one is not.
		if r := recover(); r != nil {
			fmt.Fprintf(stderr, "kubectl-residency: internal error: %v\n%s\nThis is a bug; please report it with the input that caused it.\n", r, debug.Stack())
			code = exitBadInput
		}
	}()
	a := newApp(stdin, stdout, stderr, deps)
	cmd := newRootCommand(a)
	cmd.SetArgs(args)
	return exitCode(cmd.Execute(), stderr)
}
