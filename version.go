package main

import (
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// version and commit are stamped at build time: -ldflags "-X main.version=... -X main.commit=...".
// `make image` and the release workflow do; a plain `go build` falls back to what the Go toolchain
// recorded (the module version, the VCS revision), so --version never says less than it knows.
var (
	version = "dev"
	commit  = ""
)

// printVersion is --version: it prints before the manager touches a cluster, so an image can be
// identified with no kubeconfig at hand.
var printVersion = flag.Bool("version", false, "Print the version, commit and Go version, and exit.")

// writeVersion prints "residency-operator VERSION (commit COMMIT, GOVERSION)".
func writeVersion(w io.Writer) {
	v, c := version, commit
	if info, ok := debug.ReadBuildInfo(); ok {
		if v == "dev" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			v = info.Main.Version
		}
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && c == "" {
				c = s.Value
			}
		}
	}
	if c == "" {
		c = "unknown"
	}
	fmt.Fprintf(w, "residency-operator %s (commit %s, %s %s/%s)\n", v, c, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
