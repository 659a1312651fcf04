// Command release builds what residency-operator ships, without a Docker daemon and without pulling
// anything from a registry:
//
//	image   cross-compiles the manager and writes a multi-architecture OCI image (an OCI layout, an
//	        OCI archive tarball and an SPDX SBOM), reproducibly: the same inputs give the same digest
//	push    pushes the image index of an OCI layout to a registry
//	plugin  cross-compiles kubectl-residency into release archives with a checksums file
//	krew    renders the krew plugin manifest from its template and the checksums file
//
// `make image`, `make image-push`, `make release-local` and the release workflow call it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage: release <command> [flags]

commands:
  image    build the manager image: OCI layout, OCI archive and SBOM
  push     push the image index of an OCI layout to a registry
  plugin   build the kubectl-residency release archives and checksums
  krew     render the krew manifest from its template and the checksums

Run "release <command> -h" for a command's flags.
`

// run returns the exit code: 0 done, 1 failed, 2 bad usage. Errors are printed, never panicked.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var err error
	switch args[0] {
	case "image":
		err = imageCommand(ctx, args[1:], stdout, stderr)
	case "push":
		err = pushCommand(ctx, args[1:], stdout, stderr)
	case "plugin":
		err = pluginCommand(ctx, args[1:], stdout, stderr)
	case "krew":
		err = krewCommand(args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "release: unknown command %q\n%s", args[0], usage)
		return 2
	}
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "release %s: %v\n", args[0], err)
		return 2
	default:
		fmt.Fprintf(stderr, "release %s: %v\n", args[0], err)
		return 1
	}
}

type usageError struct{ error }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// newFlags returns a FlagSet whose parse errors become usage errors.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usagef("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	return nil
}

// platform is an operating system and architecture, as "linux/amd64".
type platform struct{ OS, Arch string }

func (p platform) String() string { return p.OS + "/" + p.Arch }

func parsePlatforms(s string) ([]platform, error) {
	var out []platform
	seen := map[platform]bool{}
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		os, arch, ok := strings.Cut(f, "/")
		if !ok || os == "" || arch == "" || strings.Contains(arch, "/") {
			return nil, usagef("platform %q: want OS/ARCH, e.g. linux/amd64", f)
		}
		p := platform{os, arch}
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return nil, usagef("no platforms given")
	}
	return out, nil
}

// epochTime reads SOURCE_DATE_EPOCH (seconds since 1970, UTC), the one timestamp every file, layer
// and config carries, so that a rebuild of the same commit is bit for bit the same.
func epochTime(s string) (time.Time, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, usagef("--source-date-epoch %q: want seconds since 1970 (e.g. `git log -1 --format=%%ct`)", s)
	}
	return time.Unix(n, 0).UTC(), nil
}
