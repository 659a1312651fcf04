package main

import (
	"bytes"
	"runtime"
	"testing"
)

// TestWriteVersion: --version names the stamped version and commit and the Go toolchain.
func TestWriteVersion(t *testing.T) {
	oldVersion, oldCommit := version, commit
	t.Cleanup(func() { version, commit = oldVersion, oldCommit })
	version, commit = "v0.1.0", "0123abc"
	var out bytes.Buffer
	writeVersion(&out)
	want := "residency-operator v0.1.0 (commit 0123abc, " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + ")\n"
	if out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
}
