package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// pushCommand pushes the image index of an OCI layout (what `release image` wrote, or the same
// layout carried into an air-gapped network) to a registry. Credentials come from the Docker
// config file (~/.docker/config.json, $DOCKER_CONFIG, as `docker login` or podman write it), or
// from REGISTRY_USERNAME and REGISTRY_PASSWORD when both are set.
func pushCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("push", stderr)
	dir := fs.String("layout", "bin/image/oci", "The OCI layout folder (or its extracted OCI archive).")
	image := fs.String("image", "", "Where to push: REGISTRY/REPOSITORY:TAG (required).")
	insecure := fs.Bool("insecure", false, "Allow plain HTTP, for a registry on localhost or a lab mirror without TLS.")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *image == "" {
		return usagef("--image is required, e.g. --image registry.example.com/residency-operator:0.1.0")
	}
	var opts []name.Option
	if *insecure {
		opts = append(opts, name.Insecure)
	}
	ref, err := name.ParseReference(*image, opts...)
	if err != nil {
		return usagef("--image %q: %v", *image, err)
	}
	idx, err := layoutIndex(*dir)
	if err != nil {
		return err
	}
	digest, err := idx.Digest()
	if err != nil {
		return err
	}
	auth := remote.WithAuthFromKeychain(authn.DefaultKeychain)
	// In CI a token in the environment is simpler and safer than a config file on disk.
	if user, pass := os.Getenv("REGISTRY_USERNAME"), os.Getenv("REGISTRY_PASSWORD"); user != "" && pass != "" {
		auth = remote.WithAuth(&authn.Basic{Username: user, Password: pass})
	}
	if err := remote.WriteIndex(ref, idx, remote.WithContext(ctx), auth); err != nil {
		return fmt.Errorf("pushing to %s: %w", ref, err)
	}
	fmt.Fprintf(stdout, "%s@%s\n", ref.Context(), digest)
	return nil
}

// layoutIndex returns the one image index an OCI layout's index.json points at.
func layoutIndex(dir string) (v1.ImageIndex, error) {
	lp, err := layout.FromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("%s is not an OCI layout (run `make image` first): %w", dir, err)
	}
	top, err := lp.ImageIndex()
	if err != nil {
		return nil, err
	}
	m, err := top.IndexManifest()
	if err != nil {
		return nil, err
	}
	if len(m.Manifests) != 1 || !m.Manifests[0].MediaType.IsIndex() {
		return nil, fmt.Errorf("%s: want exactly one image index in index.json, found %d entries", dir, len(m.Manifests))
	}
	return top.ImageIndex(m.Manifests[0].Digest)
}
