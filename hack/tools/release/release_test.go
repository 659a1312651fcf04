package main

import (
	"bytes"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// fakeBinaries writes a small stand-in for the manager per platform: packaging, not compiling, is
// what these tests are about.
func fakeBinaries(t *testing.T, content string, ps []platform) map[platform]string {
	t.Helper()
	out := map[platform]string{}
	for _, p := range ps {
		path := filepath.Join(t.TempDir(), "manager")
		if err := os.WriteFile(path, []byte(content+p.String()), 0o755); err != nil {
			t.Fatal(err)
		}
		out[p] = path
	}
	return out
}

func TestImageIndexIsReproducible(t *testing.T) {
	ps := []platform{{"linux", "amd64"}, {"linux", "arm64"}}
	o := imageOptions{platforms: ps, version: "v1.0.0", commit: "abc", epoch: time.Unix(1700000000, 0).UTC(), source: defaultSource, ref: "x:1"}
	digest := func(o imageOptions, content string) string {
		idx, err := imageIndex(o, fakeBinaries(t, content, ps))
		if err != nil {
			t.Fatal(err)
		}
		d, err := idx.Digest()
		if err != nil {
			t.Fatal(err)
		}
		return d.String()
	}
	first := digest(o, "binary")
	if again := digest(o, "binary"); again != first {
		t.Errorf("same inputs, different digests: %s, %s", first, again)
	}
	if other := digest(o, "binary2"); other == first {
		t.Error("a different binary gave the same digest")
	}
	later := o
	later.epoch = later.epoch.Add(time.Second)
	if other := digest(later, "binary"); other == first {
		t.Error("a different SOURCE_DATE_EPOCH gave the same digest")
	}
}

func TestWriteImageIsReproducible(t *testing.T) {
	ps := []platform{{"linux", "amd64"}}
	bins := fakeBinaries(t, "binary", ps)
	// The SBOM reads the module list of a real Go binary: this test's own.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var archives [][]byte
	for range 2 {
		o := imageOptions{out: t.TempDir(), platforms: ps, version: "v1.0.0", commit: "abc", epoch: time.Unix(1700000000, 0).UTC(), source: defaultSource, ref: "x:1"}
		idx, err := imageIndex(o, bins)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := writeImage(o, idx, self); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(filepath.Join(o.out, "residency-operator.oci.tar"))
		if err != nil {
			t.Fatal(err)
		}
		archives = append(archives, data)
		sbom, err := os.ReadFile(filepath.Join(o.out, "sbom.spdx.json"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(sbom, []byte(`"spdxVersion": "SPDX-2.3"`)) || !bytes.Contains(sbom, []byte("pkg:golang/github.com/google/go-containerregistry@")) {
			t.Errorf("the SBOM lacks its version or a linked module:\n%.2000s", sbom)
		}
		if _, err := layoutIndex(filepath.Join(o.out, "oci")); err != nil {
			t.Errorf("the layout does not read back for push: %v", err)
		}
	}
	if !bytes.Equal(archives[0], archives[1]) {
		t.Error("two writes of the same image gave different OCI archives")
	}
}

func TestCABundle(t *testing.T) {
	pem, err := caBundle()
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(pem), "-----BEGIN CERTIFICATE-----"); n < 100 {
		t.Errorf("%d certificates", n)
	}
}

func TestCheckVersion(t *testing.T) {
	for v, ok := range map[string]bool{"v0.1.0": true, "v1.2.3-rc.1": true, "v0.1.0-dev": true, "v0.1.0-3-gabc1234": true,
		"0.1.0": false, "v0.1": false, "5ca4901-dirty": false, "": false} {
		if err := checkVersion(v); (err == nil) != ok {
			t.Errorf("checkVersion(%q) = %v", v, err)
		}
	}
}

func TestRunUsage(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"image", "--platforms", "linux"}, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "want OS/ARCH") {
		t.Errorf("bad platform: exit %d, %q", code, errOut.String())
	}
	errOut.Reset()
	if code := run([]string{"push"}, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "--image is required") {
		t.Errorf("push without --image: exit %d, %q", code, errOut.String())
	}
	errOut.Reset()
	if code := run([]string{"frobnicate"}, &out, &errOut); code != 2 {
		t.Errorf("unknown command: exit %d", code)
	}
}

// TestPush pushes a written layout to an in-process registry (go-containerregistry's, on the
// loopback) and reads the index back by tag: what `make image-push` does against a real one.
func TestPush(t *testing.T) {
	ps := []platform{{"linux", "amd64"}, {"linux", "arm64"}}
	o := imageOptions{out: t.TempDir(), platforms: ps, version: "v1.0.0", commit: "abc", epoch: time.Unix(1700000000, 0).UTC(), source: defaultSource, ref: "x:1"}
	idx, err := imageIndex(o, fakeBinaries(t, "binary", ps))
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	want, err := writeImage(o, idx, self)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	image := strings.TrimPrefix(srv.URL, "http://") + "/mirror/residency-operator:1.0.0"
	var out, errOut bytes.Buffer
	if code := run([]string{"push", "--layout", filepath.Join(o.out, "oci"), "--image", image, "--insecure"}, &out, &errOut); code != 0 {
		t.Fatalf("push: exit %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "@"+want.String()) {
		t.Errorf("push printed %q, want the digest %s", out.String(), want)
	}
	ref, err := name.ParseReference(image, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	got, err := remote.Index(ref)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := got.Digest(); d != want {
		t.Errorf("the registry serves %s for the tag, the layout has %s", d, want)
	}
	m, err := got.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Manifests) != 2 {
		t.Errorf("%d manifests in the pushed index, want 2", len(m.Manifests))
	}
}
