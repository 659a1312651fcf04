package main

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/crypto/x509roots/fallback/bundle"
)

// The image's fixed facts. UID/GID 65532 is the "nonroot" user of distroless images, which the
// chart's securityContext (runAsUser 65532) and the "restricted" Pod Security Standard expect.
const (
	nonroot       = 65532
	managerPath   = "manager"
	caBundlePath  = "etc/ssl/certs/ca-certificates.crt"
	defaultSource = "https://github.com/residency-operator/residency-operator"
	license       = "Apache-2.0"
)

// imageOptions are the inputs of an image build; the same options over the same sources give the
// same index digest.
type imageOptions struct {
	root      string // the operator's repository, where the manager's main package is
	out       string // output folder
	platforms []platform
	version   string
	commit    string
	epoch     time.Time
	source    string
	ref       string // the reference written into the layout's index.json (org.opencontainers.image.ref.name)
}

func imageCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("image", stderr)
	var o imageOptions
	var platforms, epoch string
	fs.StringVar(&o.root, "root", ".", "The operator's repository.")
	fs.StringVar(&o.out, "out", "bin/image", "Output folder: oci/ (OCI layout), residency-operator.oci.tar, sbom.spdx.json, digest, bin/.")
	fs.StringVar(&platforms, "platforms", "linux/amd64,linux/arm64", "Comma-separated OS/ARCH list.")
	fs.StringVar(&o.version, "version", "dev", "Version stamped into the manager and the image labels.")
	fs.StringVar(&o.commit, "commit", "", "Commit stamped into the manager and the revision label.")
	fs.StringVar(&epoch, "source-date-epoch", os.Getenv("SOURCE_DATE_EPOCH"), "Timestamp of every file and of the config, in seconds (the commit time).")
	fs.StringVar(&o.source, "source", defaultSource, "The org.opencontainers.image.source label.")
	fs.StringVar(&o.ref, "ref", "residency-operator:dev", "The image reference recorded in the OCI layout.")
	if err := parse(fs, args); err != nil {
		return err
	}
	var err error
	if o.platforms, err = parsePlatforms(platforms); err != nil {
		return err
	}
	for _, p := range o.platforms {
		if p.OS != "linux" {
			return usagef("platform %s: the manager image is for linux only", p)
		}
	}
	if o.epoch, err = epochTime(epoch); err != nil {
		return err
	}
	start := time.Now()
	digest, err := buildImage(ctx, o, stderr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s %s (%s, %s)\n", o.ref, digest, strings.Join(platformNames(o.platforms), ","), time.Since(start).Round(100*time.Millisecond))
	return nil
}

func platformNames(ps []platform) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.String())
	}
	return out
}

// buildImage compiles the manager for each platform and writes the image; it returns the index digest.
func buildImage(ctx context.Context, o imageOptions, log io.Writer) (v1.Hash, error) {
	binDir := filepath.Join(o.out, "bin")
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return v1.Hash{}, err
	}
	binaries := map[platform]string{}
	for _, p := range o.platforms {
		bin := filepath.Join(binDir, "manager-"+p.OS+"-"+p.Arch)
		fmt.Fprintf(log, "[image] go build %s\n", p)
		if err := goBuild(ctx, o.root, ".", p, o.version, o.commit, bin); err != nil {
			return v1.Hash{}, err
		}
		binaries[p] = bin
	}
	idx, err := imageIndex(o, binaries)
	if err != nil {
		return v1.Hash{}, err
	}
	return writeImage(o, idx, binaries[o.platforms[0]])
}

// goBuild cross-compiles a main package: static (no cgo), no local paths (-trimpath), no build ID
// (it hashes inputs that include the toolchain's location), version and commit stamped. No VCS
// stamp either: it records whether the work tree is dirty, so a clone, a worktree and a source
// tarball of the same commit would give different binaries; the commit is stamped explicitly.
func goBuild(ctx context.Context, root, pkg string, p platform, version, commit, out string) error {
	abs, err := filepath.Abs(out)
	if err != nil {
		return err
	}
	ldflags := fmt.Sprintf("-s -w -buildid= -X main.version=%s -X main.commit=%s", version, commit)
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false", "-ldflags", ldflags, "-o", abs, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+p.OS, "GOARCH="+p.Arch, "GOFLAGS=-mod=readonly")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s for %s: %w\n%s", pkg, p, err, out)
	}
	return nil
}

// imageIndex assembles one image per platform from scratch (no base image to pull) and an OCI
// index over them.
func imageIndex(o imageOptions, binaries map[platform]string) (v1.ImageIndex, error) {
	base, err := baseLayer(o.epoch)
	if err != nil {
		return nil, err
	}
	labels := map[string]string{
		"org.opencontainers.image.title":       "residency-operator",
		"org.opencontainers.image.description": "Keeps personal data inside the jurisdictions a privacy policy permits.",
		"org.opencontainers.image.source":      o.source,
		"org.opencontainers.image.url":         o.source,
		"org.opencontainers.image.version":     o.version,
		"org.opencontainers.image.revision":    o.commit,
		"org.opencontainers.image.licenses":    license,
		"org.opencontainers.image.created":     o.epoch.Format(time.RFC3339),
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, p := range o.platforms {
		data, err := os.ReadFile(binaries[p])
		if err != nil {
			return nil, err
		}
		managerLayer, err := layer(o.epoch, []file{{name: managerPath, mode: 0o755, data: data}})
		if err != nil {
			return nil, err
		}
		img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
		img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
		img, err = mutate.ConfigFile(img, &v1.ConfigFile{
			Architecture: p.Arch,
			OS:           p.OS,
			Created:      v1.Time{Time: o.epoch},
			Config: v1.Config{
				User:       fmt.Sprintf("%d:%d", nonroot, nonroot),
				Entrypoint: []string{"/" + managerPath},
				WorkingDir: "/",
				Env:        []string{"SSL_CERT_FILE=/" + caBundlePath},
				Labels:     labels,
			},
			RootFS: v1.RootFS{Type: "layers"},
		})
		if err != nil {
			return nil, err
		}
		img, err = mutate.Append(img,
			mutate.Addendum{Layer: base, History: v1.History{Created: v1.Time{Time: o.epoch}, CreatedBy: "release image: CA certificates, nonroot user"}},
			mutate.Addendum{Layer: managerLayer, History: v1.History{Created: v1.Time{Time: o.epoch}, CreatedBy: "release image: /manager " + o.version}},
		)
		if err != nil {
			return nil, err
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: p.OS, Architecture: p.Arch}},
		})
	}
	anns := map[string]string{}
	for _, k := range []string{"source", "version", "revision", "licenses", "created"} {
		anns["org.opencontainers.image."+k] = labels["org.opencontainers.image."+k]
	}
	return mutate.Annotations(idx, anns).(v1.ImageIndex), nil
}

// writeImage writes the OCI layout, an OCI archive of it, the SBOM and the digest; it replaces
// what an earlier build left so that no stale blob lingers in the layout.
func writeImage(o imageOptions, idx v1.ImageIndex, sbomBinary string) (v1.Hash, error) {
	digest, err := idx.Digest()
	if err != nil {
		return v1.Hash{}, err
	}
	dir := filepath.Join(o.out, "oci")
	if err := os.RemoveAll(dir); err != nil {
		return v1.Hash{}, err
	}
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		return v1.Hash{}, err
	}
	if err := lp.AppendIndex(idx, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": o.ref})); err != nil {
		return v1.Hash{}, err
	}
	if err := writeTarOfDir(dir, filepath.Join(o.out, "residency-operator.oci.tar"), o.epoch); err != nil {
		return v1.Hash{}, err
	}
	sbom, err := spdxSBOM(sbomBinary, o, digest)
	if err != nil {
		return v1.Hash{}, err
	}
	if err := os.WriteFile(filepath.Join(o.out, "sbom.spdx.json"), sbom, 0o644); err != nil {
		return v1.Hash{}, err
	}
	if err := os.WriteFile(filepath.Join(o.out, "digest"), []byte(digest.String()+"\n"), 0o644); err != nil {
		return v1.Hash{}, err
	}
	return digest, nil
}

// file is one regular file or (mode with os.ModeDir) folder of a layer, owned by uid/gid.
type file struct {
	name     string
	mode     os.FileMode
	uid, gid int
	data     []byte
}

// baseLayer holds what a static Go binary needs from an operating system: root certificates for
// TLS to anything outside the cluster, a passwd and group entry for the nonroot user (so the UID
// has a name and a home), and a writable /tmp.
func baseLayer(epoch time.Time) (v1.Layer, error) {
	certs, err := caBundle()
	if err != nil {
		return nil, err
	}
	return layer(epoch, []file{
		{name: "etc", mode: os.ModeDir | 0o755},
		{name: "etc/group", mode: 0o644, data: []byte(fmt.Sprintf("root:x:0:\nnonroot:x:%d:\n", nonroot))},
		{name: "etc/nsswitch.conf", mode: 0o644, data: []byte("hosts: files dns\n")},
		{name: "etc/passwd", mode: 0o644, data: []byte(fmt.Sprintf(
			"root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:/home/nonroot:/sbin/nologin\n", nonroot, nonroot))},
		{name: "etc/ssl", mode: os.ModeDir | 0o755},
		{name: "etc/ssl/certs", mode: os.ModeDir | 0o755},
		{name: caBundlePath, mode: 0o644, data: certs},
		{name: "home", mode: os.ModeDir | 0o755},
		{name: "home/nonroot", mode: os.ModeDir | 0o700, uid: nonroot, gid: nonroot},
		{name: "tmp", mode: os.ModeDir | os.ModeSticky | 0o777},
	})
}

// caBundle is the Mozilla NSS root store as golang.org/x/crypto/x509roots/fallback ships it: pinned
// by go.sum, so the bundle changes only when that module does, and no registry or distribution
// package is needed. Roots with a distrust-after date are left out: a PEM file cannot carry that
// constraint, and without it they would be trusted for certificates issued after the date.
func caBundle() ([]byte, error) {
	var buf bytes.Buffer
	n := 0
	for root := range bundle.Roots() {
		if root.Constraint != nil {
			continue
		}
		if _, err := x509.ParseCertificate(root.Certificate); err != nil {
			return nil, fmt.Errorf("a root of the CA bundle does not parse: %w", err)
		}
		if err := pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: root.Certificate}); err != nil {
			return nil, err
		}
		n++
	}
	if n < 50 {
		return nil, fmt.Errorf("the CA bundle has %d roots; expected the NSS store's 100 or more", n)
	}
	return buf.Bytes(), nil
}

// layer writes files into a gzipped OCI layer with fixed owners, modes and timestamps.
func layer(epoch time.Time, files []file) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	sort.Slice(files, func(i, j int) bool { return files[i].name < files[j].name })
	for _, f := range files {
		h := &tar.Header{
			Name:    f.name,
			Mode:    int64(f.mode.Perm()),
			Uid:     f.uid,
			Gid:     f.gid,
			ModTime: epoch,
			Format:  tar.FormatPAX,
		}
		if f.mode&os.ModeSticky != 0 {
			h.Mode |= 0o1000
		}
		if f.mode.IsDir() {
			h.Typeflag = tar.TypeDir
			h.Name += "/"
		} else {
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(f.data))
		}
		// PAX without access and change times: only ModTime, which is fixed.
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(types.OCILayer), tarball.WithCompressedCaching)
}

// writeTarOfDir writes dir as a tar file (an "OCI archive" when dir is an OCI layout, which
// podman, skopeo, containerd's ctr import and kind load image-archive read), with sorted entries,
// fixed timestamps and no owners, so the archive is as reproducible as the layout.
func writeTarOfDir(dir, out string, epoch time.Time) error {
	var paths []string
	if err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path != dir {
			paths = append(paths, path)
		}
		return nil
	}); err != nil {
		return err
	}
	sort.Strings(paths)
	tmp := out + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer func() { _ = os.Remove(tmp) }()
	tw := tar.NewWriter(f)
	for _, path := range paths {
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		info, err := os.Lstat(path)
		if err != nil {
			return err
		}
		h := &tar.Header{Name: filepath.ToSlash(rel), ModTime: epoch, Mode: 0o644, Typeflag: tar.TypeReg, Size: info.Size(), Format: tar.FormatPAX}
		if info.IsDir() {
			h.Name, h.Mode, h.Typeflag, h.Size = h.Name+"/", 0o755, tar.TypeDir, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if !info.IsDir() {
			src, err := os.Open(path)
			if err != nil {
				return err
			}
			_, err = io.Copy(tw, src)
			_ = src.Close()
			if err != nil {
				return err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, out)
}
