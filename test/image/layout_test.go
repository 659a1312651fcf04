package image_test

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// A reader of OCI image layouts written for this test alone, on purpose: the image is written with
// go-containerregistry, and reading it back with the same library would not catch what that
// library and our use of it get wrong together. Every blob read is checked against its digest.

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Platform    *struct {
		OS           string `json:"os"`
		Architecture string `json:"architecture"`
	} `json:"platform,omitempty"`
}

type index struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     string            `json:"mediaType"`
	Manifests     []descriptor      `json:"manifests"`
	Annotations   map[string]string `json:"annotations,omitempty"`
}

type manifest struct {
	MediaType string       `json:"mediaType"`
	Config    descriptor   `json:"config"`
	Layers    []descriptor `json:"layers"`
}

type imageConfig struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
	Created      string `json:"created"`
	Config       struct {
		User       string            `json:"User"`
		Entrypoint []string          `json:"Entrypoint"`
		Cmd        []string          `json:"Cmd"`
		Env        []string          `json:"Env"`
		Labels     map[string]string `json:"Labels"`
	} `json:"config"`
	RootFS struct {
		Type    string   `json:"type"`
		DiffIDs []string `json:"diff_ids"`
	} `json:"rootfs"`
}

type ociLayout struct{ dir string }

// blob reads a blob and fails unless its content matches the digest and the size.
func (l ociLayout) blob(d descriptor) ([]byte, error) {
	algo, hexDigest, ok := strings.Cut(d.Digest, ":")
	if !ok || algo != "sha256" {
		return nil, fmt.Errorf("digest %q: want sha256:HEX", d.Digest)
	}
	data, err := os.ReadFile(filepath.Join(l.dir, "blobs", "sha256", hexDigest))
	if err != nil {
		return nil, err
	}
	if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != hexDigest {
		return nil, fmt.Errorf("blob %s has digest sha256:%x", d.Digest, sum)
	}
	if int64(len(data)) != d.Size {
		return nil, fmt.Errorf("blob %s has %d bytes, its descriptor says %d", d.Digest, len(data), d.Size)
	}
	return data, nil
}

func (l ociLayout) json(d descriptor, out any) error {
	data, err := l.blob(d)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, out)
}

// top reads index.json.
func (l ociLayout) top() (index, error) {
	var idx index
	if _, err := os.Stat(filepath.Join(l.dir, "oci-layout")); err != nil {
		return idx, err
	}
	data, err := os.ReadFile(filepath.Join(l.dir, "index.json"))
	if err != nil {
		return idx, err
	}
	return idx, json.Unmarshal(data, &idx)
}

// entry is one file of a layer.
type entry struct {
	header *tar.Header
	data   []byte
}

// layerFiles unpacks a gzipped layer, checks its uncompressed digest against the config's diff_id
// and returns its entries by clean absolute path.
func (l ociLayout) layerFiles(d descriptor, diffID string) (map[string]entry, error) {
	data, err := l.blob(d)
	if err != nil {
		return nil, err
	}
	gz, err := gzip.NewReader(strings.NewReader(string(data)))
	if err != nil {
		return nil, fmt.Errorf("layer %s: %w", d.Digest, err)
	}
	h := sha256.New()
	tr := tar.NewReader(io.TeeReader(gz, h))
	files := map[string]entry{}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("layer %s: %w", d.Digest, err)
		}
		content, err := io.ReadAll(tr)
		if err != nil {
			return nil, err
		}
		files[path.Clean("/"+hdr.Name)] = entry{header: hdr, data: content}
	}
	// Drain the tar's end blocks so the hash covers the whole stream.
	if _, err := io.Copy(io.Discard, io.TeeReader(gz, h)); err != nil {
		return nil, err
	}
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != diffID {
		return nil, fmt.Errorf("layer %s: uncompressed digest %s, the config's diff_id says %s", d.Digest, got, diffID)
	}
	return files, nil
}
