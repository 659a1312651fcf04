package image_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// krewManifest is the part of a krew Plugin manifest the test reads.
type krewManifest struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	// Strict decoding of every field krew's Plugin spec has that the template fills, so a typo
	// in the template fails here rather than in krew-index's validation.
	Spec struct {
		Version          string `json:"version"`
		Homepage         string `json:"homepage"`
		ShortDescription string `json:"shortDescription"`
		Description      string `json:"description"`
		Caveats          string `json:"caveats"`
		Platforms        []struct {
			Selector struct {
				MatchLabels map[string]string `json:"matchLabels"`
			} `json:"selector"`
			URI    string `json:"uri"`
			SHA256 string `json:"sha256"`
			Bin    string `json:"bin"`
			Files  []struct {
				From string `json:"from"`
				To   string `json:"to"`
			} `json:"files"`
		} `json:"platforms"`
	} `json:"spec"`
}

func releaseTool(t *testing.T, root string, args ...string) string {
	t.Helper()
	cmd := exec.Command("go", append([]string{"-C", filepath.Join(root, "hack", "tools", "release"), "run", "."}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("release %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}

func readManifest(t *testing.T, path string) krewManifest {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m krewManifest
	if err := yaml.UnmarshalStrict(data, &m); err != nil {
		t.Fatalf("the rendered manifest is not a krew Plugin: %v\n%s", err, data)
	}
	return m
}

// TestKrewManifest builds the plugin archive for the host as `make release-local` does, renders
// the krew manifest from plugins/residency.yaml.tmpl, and checks that the manifest names that
// archive with its real checksum, and what krew will unpack from it.
func TestKrewManifest(t *testing.T) {
	root := repoRoot(t)
	out := t.TempDir()
	const version = "v0.0.0-test"
	host := "linux/" + runtime.GOARCH
	releaseTool(t, root, "plugin", "--root", root, "--out", out, "--platforms", host, "--version", version,
		"--commit", "test", "--source-date-epoch", fmt.Sprint(testEpoch))
	manifestPath := filepath.Join(out, "plugins", "residency.yaml")
	releaseTool(t, root, "krew", "--template", filepath.Join(root, "plugins", "residency.yaml.tmpl"),
		"--checksums", filepath.Join(out, "checksums.txt"), "--version", version, "--platforms", host, "--out", manifestPath)

	m := readManifest(t, manifestPath)
	if m.APIVersion != "krew.googlecontainertools.github.com/v1alpha2" || m.Kind != "Plugin" || m.Metadata.Name != "residency" || m.Spec.Version != version {
		t.Errorf("manifest header: %s %s %s %s", m.APIVersion, m.Kind, m.Metadata.Name, m.Spec.Version)
	}
	if m.Spec.Homepage != source || m.Spec.ShortDescription == "" || len(m.Spec.ShortDescription) > 50 || m.Spec.Description == "" {
		t.Errorf("homepage %q, shortDescription %q (krew-index wants one under 50 characters), description %q", m.Spec.Homepage, m.Spec.ShortDescription, m.Spec.Description)
	}
	if len(m.Spec.Platforms) != 1 {
		t.Fatalf("%d platforms, want the one built", len(m.Spec.Platforms))
	}
	p := m.Spec.Platforms[0]
	archiveName := fmt.Sprintf("kubectl-residency_%s_linux_%s.tar.gz", version, runtime.GOARCH)
	if want := source + "/releases/download/" + version + "/" + archiveName; p.URI != want {
		t.Errorf("uri = %s, want %s", p.URI, want)
	}
	if p.Selector.MatchLabels["os"] != "linux" || p.Selector.MatchLabels["arch"] != runtime.GOARCH || p.Bin != "kubectl-residency" {
		t.Errorf("selector %v, bin %s", p.Selector.MatchLabels, p.Bin)
	}
	archive, err := os.ReadFile(filepath.Join(out, archiveName))
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(archive); p.SHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("the manifest's sha256 %s is not the archive's %x", p.SHA256, sum)
	}

	// What krew copies out of the archive must be in it, and the plugin must run.
	gz, err := gzip.NewReader(bytes.NewReader(archive))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	contents := map[string][]byte{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		contents[h.Name] = data
	}
	for _, f := range p.Files {
		if _, ok := contents[f.From]; !ok {
			t.Errorf("the manifest copies %s, which the archive lacks", f.From)
		}
	}
	bin := filepath.Join(t.TempDir(), "kubectl-residency")
	if err := os.WriteFile(bin, contents["kubectl-residency"], 0o755); err != nil {
		t.Fatal(err)
	}
	version2, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(version2), "kubectl-residency "+version+" (commit test, ") {
		t.Errorf("kubectl-residency --version: %v, %q", err, version2)
	}

	t.Run("a rebuild gives the same archive", func(t *testing.T) {
		again := t.TempDir()
		releaseTool(t, root, "plugin", "--root", root, "--out", again, "--platforms", host, "--version", version,
			"--commit", "test", "--source-date-epoch", fmt.Sprint(testEpoch))
		data, err := os.ReadFile(filepath.Join(again, archiveName))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(data, archive) {
			t.Error("two builds of the same inputs gave different archives")
		}
	})

	t.Run("the template lists every platform, each with its own archive and checksum", func(t *testing.T) {
		dir := t.TempDir()
		platforms := []string{"linux/amd64", "linux/arm64", "darwin/amd64", "darwin/arm64", "windows/amd64", "windows/arm64"}
		var sums strings.Builder
		want := map[string]string{}
		for i, pl := range platforms {
			goos, arch, _ := strings.Cut(pl, "/")
			ext := ".tar.gz"
			if goos == "windows" {
				ext = ".zip"
			}
			name := fmt.Sprintf("kubectl-residency_v1.2.3_%s_%s%s", goos, arch, ext)
			sum := strings.Repeat(fmt.Sprintf("%x", i+1), 64)
			fmt.Fprintf(&sums, "%s  %s\n", sum, name)
			want[pl] = sum
		}
		if err := writeFile(filepath.Join(dir, "checksums.txt"), sums.String()); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "residency.yaml")
		releaseTool(t, root, "krew", "--template", filepath.Join(root, "plugins", "residency.yaml.tmpl"),
			"--checksums", filepath.Join(dir, "checksums.txt"), "--version", "v1.2.3", "--out", path)
		m := readManifest(t, path)
		var got []string
		for _, p := range m.Spec.Platforms {
			pl := p.Selector.MatchLabels["os"] + "/" + p.Selector.MatchLabels["arch"]
			got = append(got, pl)
			if p.SHA256 != want[pl] {
				t.Errorf("%s: sha256 %s, want %s", pl, p.SHA256, want[pl])
			}
			if strings.HasPrefix(pl, "windows/") != (p.Bin == "kubectl-residency.exe") {
				t.Errorf("%s: bin %s", pl, p.Bin)
			}
		}
		sort.Strings(got)
		sort.Strings(platforms)
		if strings.Join(got, ",") != strings.Join(platforms, ",") {
			t.Errorf("platforms %v, want %v", got, platforms)
		}
	})
}

func writeFile(path, content string) error { return os.WriteFile(path, []byte(content), 0o644) }
