package main

import (
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// An SPDX 2.3 document, the fields this SBOM fills.
type spdxDocument struct {
	SPDXVersion       string             `json:"spdxVersion"`
	DataLicense       string             `json:"dataLicense"`
	SPDXID            string             `json:"SPDXID"`
	Name              string             `json:"name"`
	DocumentNamespace string             `json:"documentNamespace"`
	CreationInfo      spdxCreationInfo   `json:"creationInfo"`
	Packages          []spdxPackage      `json:"packages"`
	Relationships     []spdxRelationship `json:"relationships"`
}

type spdxCreationInfo struct {
	Created  string   `json:"created"`
	Creators []string `json:"creators"`
}

type spdxPackage struct {
	SPDXID           string            `json:"SPDXID"`
	Name             string            `json:"name"`
	VersionInfo      string            `json:"versionInfo,omitempty"`
	DownloadLocation string            `json:"downloadLocation"`
	FilesAnalyzed    bool              `json:"filesAnalyzed"`
	LicenseConcluded string            `json:"licenseConcluded"`
	LicenseDeclared  string            `json:"licenseDeclared"`
	CopyrightText    string            `json:"copyrightText"`
	Checksums        []spdxChecksum    `json:"checksums,omitempty"`
	ExternalRefs     []spdxExternalRef `json:"externalRefs,omitempty"`
	PrimaryPurpose   string            `json:"primaryPackagePurpose,omitempty"`
}

type spdxChecksum struct {
	Algorithm string `json:"algorithm"`
	Value     string `json:"checksumValue"`
}

type spdxExternalRef struct {
	Category string `json:"referenceCategory"`
	Type     string `json:"referenceType"`
	Locator  string `json:"referenceLocator"`
}

type spdxRelationship struct {
	Element string `json:"spdxElementId"`
	Type    string `json:"relationshipType"`
	Related string `json:"relatedSpdxElement"`
}

// spdxSBOM describes the image from the module graph linked into the manager, as the Go toolchain
// recorded it in the binary (what `go version -m` prints): the main module, every module it links
// (with replacements), the Go standard library, and the CA bundle's module. Its timestamp and
// namespace derive from the inputs, so the SBOM is as reproducible as the image.
func spdxSBOM(binary string, o imageOptions, digest v1.Hash) ([]byte, error) {
	info, err := buildinfo.ReadFile(binary)
	if err != nil {
		return nil, fmt.Errorf("reading the module list of %s: %w", binary, err)
	}
	imageID := "SPDXRef-Image"
	doc := spdxDocument{
		SPDXVersion:       "SPDX-2.3",
		DataLicense:       "CC0-1.0",
		SPDXID:            "SPDXRef-DOCUMENT",
		Name:              "residency-operator-" + o.version,
		DocumentNamespace: fmt.Sprintf("%s/sbom/%s", o.source, digest.Hex),
		CreationInfo: spdxCreationInfo{
			Created:  o.epoch.Format(time.RFC3339),
			Creators: []string{"Tool: residency-operator hack/tools/release", "Organization: residency-operator"},
		},
	}
	doc.Packages = append(doc.Packages, spdxPackage{
		SPDXID: imageID, Name: "residency-operator", VersionInfo: o.version,
		DownloadLocation: o.source, LicenseConcluded: "NOASSERTION", LicenseDeclared: license, CopyrightText: "NOASSERTION",
		Checksums:      []spdxChecksum{{Algorithm: "SHA256", Value: digest.Hex}},
		ExternalRefs:   []spdxExternalRef{{Category: "PACKAGE-MANAGER", Type: "purl", Locator: "pkg:oci/residency-operator@" + digest.String()}},
		PrimaryPurpose: "CONTAINER",
	})
	doc.Relationships = append(doc.Relationships, spdxRelationship{"SPDXRef-DOCUMENT", "DESCRIBES", imageID})

	mainID := spdxID(info.Main.Path)
	doc.Packages = append(doc.Packages, goPackage(mainID, info.Main.Path, o.version, license, "APPLICATION"))
	doc.Relationships = append(doc.Relationships, spdxRelationship{imageID, "CONTAINS", mainID})
	stdID := spdxID("stdlib")
	doc.Packages = append(doc.Packages, goPackage(stdID, "stdlib", info.GoVersion, "BSD-3-Clause", "LIBRARY"))
	doc.Relationships = append(doc.Relationships, spdxRelationship{mainID, "DEPENDS_ON", stdID})

	deps := append([]*debug.Module(nil), info.Deps...)
	sort.Slice(deps, func(i, j int) bool { return deps[i].Path < deps[j].Path })
	for _, d := range deps {
		m := d
		if d.Replace != nil {
			m = d.Replace
		}
		id := spdxID(m.Path + "@" + m.Version)
		p := goPackage(id, m.Path, m.Version, "NOASSERTION", "LIBRARY")
		if m.Sum != "" {
			// The go.sum hash (h1:, a SHA-256 over the module's files) has no SPDX algorithm of its
			// own; keep it where a reader can match it against go.sum.
			p.ExternalRefs = append(p.ExternalRefs, spdxExternalRef{Category: "OTHER", Type: "go-sum", Locator: m.Sum})
		}
		doc.Packages = append(doc.Packages, p)
		doc.Relationships = append(doc.Relationships, spdxRelationship{mainID, "DEPENDS_ON", id})
	}
	// The CA bundle in the base layer comes from this module (see caBundle).
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "golang.org/x/crypto/x509roots/fallback" {
				id := spdxID("ca-bundle " + d.Path + "@" + d.Version)
				p := goPackage(id, d.Path, d.Version, "MPL-2.0", "FILE")
				doc.Packages = append(doc.Packages, p)
				doc.Relationships = append(doc.Relationships, spdxRelationship{imageID, "CONTAINS", id})
			}
		}
	}
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

func goPackage(id, path, version, declared, purpose string) spdxPackage {
	p := spdxPackage{
		SPDXID: id, Name: path, VersionInfo: version,
		DownloadLocation: "NOASSERTION", LicenseConcluded: "NOASSERTION", LicenseDeclared: declared, CopyrightText: "NOASSERTION",
		PrimaryPurpose: purpose,
	}
	if version != "" && version != "(devel)" {
		name := path
		if path != "stdlib" {
			name = strings.ToLower(path)
		}
		p.ExternalRefs = []spdxExternalRef{{Category: "PACKAGE-MANAGER", Type: "purl", Locator: "pkg:golang/" + name + "@" + version}}
	}
	return p
}

// spdxID makes an SPDX identifier (letters, digits, "." and "-") that is unique per input.
func spdxID(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r < 128 && (r == '.' || r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			b.WriteRune(r)
		} else {
			b.WriteRune('-')
		}
	}
	sum := sha256.Sum256([]byte(s))
	return "SPDXRef-Package-" + b.String() + "-" + hex.EncodeToString(sum[:4])
}
