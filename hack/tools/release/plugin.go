package main

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"text/template"
	"time"
)

const (
	pluginName    = "kubectl-residency"
	checksumsFile = "checksums.txt"
	// allPlatforms are the platforms krew users are on; the manifest lists each of them.
	allPlatforms = "linux/amd64,linux/arm64,darwin/amd64,darwin/arm64,windows/amd64,windows/arm64"
)

// archiveName is the release asset of the plugin for a platform: a zip on Windows (where tar.gz is
// not at home), a tar.gz elsewhere. Krew unpacks both.
func archiveName(version string, p platform) string {
	ext := ".tar.gz"
	if p.OS == "windows" {
		ext = ".zip"
	}
	return fmt.Sprintf("%s_%s_%s_%s%s", pluginName, version, p.OS, p.Arch, ext)
}

func binaryName(p platform) string {
	if p.OS == "windows" {
		return pluginName + ".exe"
	}
	return pluginName
}

func pluginCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("plugin", stderr)
	root := fs.String("root", ".", "The operator's repository.")
	out := fs.String("out", "bin/release", "Output folder for the archives and "+checksumsFile+".")
	platforms := fs.String("platforms", allPlatforms, "Comma-separated OS/ARCH list.")
	version := fs.String("version", "", "Release version, a semantic version with a leading v (required).")
	commit := fs.String("commit", "", "Commit stamped into the binary.")
	epoch := fs.String("source-date-epoch", os.Getenv("SOURCE_DATE_EPOCH"), "Timestamp of the archived files, in seconds (the commit time).")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := checkVersion(*version); err != nil {
		return err
	}
	ps, err := parsePlatforms(*platforms)
	if err != nil {
		return err
	}
	t, err := epochTime(*epoch)
	if err != nil {
		return err
	}
	licenseText, err := os.ReadFile(filepath.Join(*root, "LICENSE"))
	if err != nil {
		return fmt.Errorf("the archives carry the LICENSE: %w", err)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	sums := map[string]string{}
	for _, p := range ps {
		bin := filepath.Join(*out, "bin", p.OS+"-"+p.Arch, binaryName(p))
		fmt.Fprintf(stderr, "[plugin] go build %s\n", p)
		if err := goBuild(ctx, *root, "./cmd/kubectl-residency", p, *version, *commit, bin); err != nil {
			return err
		}
		data, err := os.ReadFile(bin)
		if err != nil {
			return err
		}
		files := []file{{name: binaryName(p), mode: 0o755, data: data}, {name: "LICENSE", mode: 0o644, data: licenseText}}
		var archive []byte
		if p.OS == "windows" {
			archive, err = zipArchive(files, t)
		} else {
			archive, err = tarGzArchive(files, t)
		}
		if err != nil {
			return err
		}
		name := archiveName(*version, p)
		if err := os.WriteFile(filepath.Join(*out, name), archive, 0o644); err != nil {
			return err
		}
		sum := sha256.Sum256(archive)
		sums[name] = hex.EncodeToString(sum[:])
	}
	// Checksums of archives built earlier for other platforms stay (make release-local may build
	// a subset); a rebuilt archive's line is replaced.
	old, err := readChecksums(filepath.Join(*out, checksumsFile))
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	for name, sum := range old {
		if _, ok := sums[name]; !ok {
			if _, err := os.Stat(filepath.Join(*out, name)); err == nil {
				sums[name] = sum
			}
		}
	}
	if err := writeChecksums(filepath.Join(*out, checksumsFile), sums); err != nil {
		return err
	}
	for _, p := range ps {
		name := archiveName(*version, p)
		fmt.Fprintf(stdout, "%s  %s\n", sums[name], filepath.Join(*out, name))
	}
	return nil
}

var semver = regexp.MustCompile(`^v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$`)

// checkVersion insists on what krew insists on: a semantic version with a leading "v".
func checkVersion(v string) error {
	if !semver.MatchString(v) {
		return usagef("--version %q: want a semantic version with a leading v, e.g. v0.1.0 (krew requires one)", v)
	}
	return nil
}

// tarGzArchive packs files with fixed timestamps, root ownership and no gzip name or time, so
// the same binaries give the same bytes and the same checksum.
func tarGzArchive(files []file, t time.Time) ([]byte, error) {
	var buf bytes.Buffer
	gz, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	tw := tar.NewWriter(gz)
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: int64(f.mode.Perm()), Size: int64(len(f.data)), ModTime: t, Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func zipArchive(files []file, t time.Time) ([]byte, error) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range files {
		h := &zip.FileHeader{Name: f.name, Method: zip.Deflate, Modified: t}
		h.SetMode(f.mode.Perm())
		w, err := zw.CreateHeader(h)
		if err != nil {
			return nil, err
		}
		if _, err := w.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// readChecksums reads a sha256sum-format file: "HEX  NAME" per line.
func readChecksums(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	sums := map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		sum, name, ok := strings.Cut(line, "  ")
		if !ok || len(sum) != 64 {
			return nil, fmt.Errorf("%s:%d: want \"SHA256  NAME\", got %q", path, n, line)
		}
		sums[strings.TrimPrefix(name, "*")] = sum
	}
	return sums, sc.Err()
}

func writeChecksums(path string, sums map[string]string) error {
	names := make([]string, 0, len(sums))
	for n := range sums {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "%s  %s\n", sums[n], n)
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// krewPlatform is what the manifest template sees for one platform.
type krewPlatform struct {
	OS, Arch, URI, SHA256, Bin string
}

func krewCommand(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("krew", stderr)
	tmplPath := fs.String("template", "plugins/residency.yaml.tmpl", "The krew manifest template.")
	sumsPath := fs.String("checksums", "bin/release/"+checksumsFile, "The checksums file `release plugin` wrote.")
	version := fs.String("version", "", "Release version, as given to `release plugin` (required).")
	platforms := fs.String("platforms", allPlatforms, "The platforms the manifest lists; each needs its archive's checksum.")
	baseURL := fs.String("base-url", defaultSource+"/releases/download", "Where the release assets are downloaded from; the version is appended.")
	out := fs.String("out", "bin/release/plugins/residency.yaml", "The rendered manifest; - for standard output.")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := checkVersion(*version); err != nil {
		return err
	}
	ps, err := parsePlatforms(*platforms)
	if err != nil {
		return err
	}
	sums, err := readChecksums(*sumsPath)
	if err != nil {
		return err
	}
	var kps []krewPlatform
	for _, p := range ps {
		name := archiveName(*version, p)
		sum, ok := sums[name]
		if !ok {
			return fmt.Errorf("%s has no checksum for %s: build it with `release plugin --platforms %s`", *sumsPath, name, p)
		}
		kps = append(kps, krewPlatform{OS: p.OS, Arch: p.Arch, SHA256: sum, Bin: binaryName(p),
			URI: strings.TrimSuffix(*baseURL, "/") + "/" + *version + "/" + name})
	}
	text, err := os.ReadFile(*tmplPath)
	if err != nil {
		return err
	}
	tmpl, err := template.New(filepath.Base(*tmplPath)).Option("missingkey=error").Parse(string(text))
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, map[string]any{"Version": *version, "Platforms": kps}); err != nil {
		return err
	}
	if *out == "-" {
		_, err := stdout.Write(buf.Bytes())
		return err
	}
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(*out, buf.Bytes(), 0o644); err != nil {
		return err
	}
	fmt.Fprintln(stdout, *out)
	return nil
}
