// Package packer maps what a Packer build produced to brickyard artifacts:
// the builder artifacts a post-processor receives (BuilderId, Files, Id) and
// the builds listed in the JSON file written by Packer's `manifest`
// post-processor (the format of packer-plugin-sdk's manifest: a "builds" list
// of name, builder_type, build_time, files, artifact_id, packer_run_uuid and
// custom_data, plus "last_run_uuid").
//
// It imports no Packer package: the plugin in examples/packer-plugin-brickyard
// (its own module) passes plain values in, and `brickyard import
// packer-manifest` reads the file, so that importing brickyard never drags in
// Packer's dependency tree.
package packer

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/brickyard/brickyard/artifact"
)

// Sentinel errors; test with errors.Is.
var (
	// ErrInvalidManifest: the manifest file is not the manifest
	// post-processor's JSON, or exceeds MaxManifestSize.
	ErrInvalidManifest = errors.New("invalid packer manifest")
	// ErrNoOutput: a builder artifact has neither disk files nor an id
	// brickyard can record.
	ErrNoOutput = errors.New("builder artifact has no files and no id to publish")
	// ErrUnsupportedBuilder: a builder whose artifact brickyard does not know
	// how to record.
	ErrUnsupportedBuilder = errors.New("unsupported builder")
)

// MaxManifestSize bounds the manifest file read by ParseManifest, in bytes.
const MaxManifestSize = 16 << 20

// Build is one Packer build's output, as a post-processor sees it or as the
// manifest post-processor wrote it.
type Build struct {
	// Name is the build's name, e.g. "web" (HCL2 source name) or
	// "qemu.web".
	Name string `json:"name"`
	// BuilderType is the manifest's builder_type, e.g. "qemu", "amazon-ebs".
	BuilderType string `json:"builder_type"`
	// BuilderID is the artifact's BuilderId(), e.g. "transcend.qemu"; empty
	// when read from a manifest file.
	BuilderID string `json:"-"`
	// BuildTime is when the build finished (the manifest's build_time, Unix
	// seconds).
	BuildTime int64 `json:"build_time"`
	// Files are the artifact's files (Files()), paths as Packer gives them.
	Files []File `json:"files"`
	// ArtifactID is the artifact's Id(): "eu-west-1:ami-0abc,us-east-1:ami-0def"
	// for amazon-ebs, an image reference for docker push.
	ArtifactID string `json:"artifact_id"`
	// RunUUID identifies the `packer build` run (packer_run_uuid).
	RunUUID string `json:"packer_run_uuid"`
	// CustomData is the manifest post-processor's custom_data.
	CustomData map[string]string `json:"custom_data,omitempty"`
}

// File is one file of a build.
type File struct {
	Name string `json:"name"`
	Size int64  `json:"size"`
}

// Manifest is the manifest post-processor's file.
type Manifest struct {
	Builds      []Build `json:"builds"`
	LastRunUUID string  `json:"last_run_uuid"`
}

// ParseManifest reads the manifest post-processor's JSON from r, at most
// MaxManifestSize bytes. Unknown fields are ignored (Packer adds some over
// versions); a missing builds list, a build with no name or builder_type, or
// a negative size or time is an error wrapping ErrInvalidManifest.
func ParseManifest(r io.Reader) (*Manifest, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxManifestSize+1))
	if err != nil {
		return nil, fmt.Errorf("packer manifest: %w", err)
	}
	if len(b) > MaxManifestSize {
		return nil, fmt.Errorf("packer manifest: larger than %d bytes: %w", MaxManifestSize, ErrInvalidManifest)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("packer manifest: %v: %w", err, ErrInvalidManifest)
	}
	if m.Builds == nil {
		return nil, fmt.Errorf("packer manifest: no \"builds\" list: %w", ErrInvalidManifest)
	}
	for i, b := range m.Builds {
		switch {
		case b.Name == "" || b.BuilderType == "":
			return nil, fmt.Errorf("packer manifest: build %d: name and builder_type are required: %w", i, ErrInvalidManifest)
		case b.BuildTime < 0:
			return nil, fmt.Errorf("packer manifest: build %s: negative build_time: %w", b.Name, ErrInvalidManifest)
		}
		for _, f := range b.Files {
			if f.Name == "" || f.Size < 0 {
				return nil, fmt.Errorf("packer manifest: build %s: file %q of size %d: %w", b.Name, f.Name, f.Size, ErrInvalidManifest)
			}
		}
	}
	return &m, nil
}

// Run returns the builds of the run uuid ("" = LastRunUUID), sorted by
// name. The manifest post-processor appends to its file across runs; only one
// run's builds make a version.
func (m *Manifest) Run(uuid string) []Build {
	if uuid == "" {
		uuid = m.LastRunUUID
	}
	var out []Build
	for _, b := range m.Builds {
		if b.RunUUID == uuid {
			out = append(out, b)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Created returns the build time, or the zero time if unknown.
func (b Build) Created() time.Time {
	if b.BuildTime == 0 {
		return time.Time{}
	}
	return time.Unix(b.BuildTime, 0).UTC()
}

// Output is what a build produced, in brickyard's terms.
type Output struct {
	Kind artifact.Kind
	// Disks are the paths of disk files (KindVMDisk); files that are not
	// disks (a .vmx, an .ovf next to its .vmdk, logs) are left out by the
	// caller after detection, see DiskCandidates.
	Disks []string
	// Images maps region → AMI id (KindMachineImage).
	Images map[string]string
	// ImageRef is the pushed image reference (KindOCIImage):
	// HOST[:PORT]/REPO:TAG, optionally followed by @sha256:<hex>, the
	// repository digest docker-push reports.
	ImageRef string
}

// Builder ids and manifest builder types of the builders whose artifacts
// are disk files.
var diskBuilders = map[string]bool{
	"packer.file": true, "file": true,
	"transcend.qemu": true, "qemu": true,
	"mitchellh.vmware": true, "mitchellh.vmware-esx": true, "vmware-iso": true, "vmware-vmx": true,
	"mitchellh.virtualbox": true, "virtualbox-iso": true, "virtualbox-ovf": true, "virtualbox-vm": true,
	"packer.post-processor.artifice": true, "artifice": true,
	"packer.post-processor.compress": true,
	"packer.post-processor.vagrant":  true, "vagrant": true,
	"null": true, "fnoeding.null": true, // null + shell-local + artifice: the files come from artifice
}

var amiBuilders = map[string]bool{
	"mitchellh.amazonebs": true, "amazon-ebs": true,
	"mitchellh.amazon.ebssurrogate": true, "amazon-ebssurrogate": true,
	"mitchellh.amazon.instance": true, "amazon-instance": true,
	"packer.post-processor.amazon-import": true, "amazon-import": true,
}

var dockerBuilders = map[string]bool{
	"packer.post-processor.docker-push": true, "docker-push": true,
	"packer.post-processor.docker-tag": true, "docker-tag": true,
	"packer.post-processor.docker-import": true, // what docker-push hands on
	"packer.docker":                       true, "docker": true,
}

// amiID is an AMI id, per the EC2 API's "ami-" + 8 or 17 hex digits.
var amiID = regexp.MustCompile(`^ami-[0-9a-f]{8}([0-9a-f]{9})?$`)

// region is an AWS region name such as eu-west-1 or us-gov-west-1.
var region = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d$`)

// Classify says what b produced: disk files, AMIs by region, or a pushed
// image reference. It errs with ErrNoOutput when the builder artifact holds
// nothing to record and ErrUnsupportedBuilder for a builder it does not
// know; errors name the build.
func Classify(b Build) (Output, error) {
	id := b.BuilderID
	if id == "" {
		id = b.BuilderType
	}
	switch {
	case amiBuilders[id]:
		imgs, err := ParseAMIs(b.ArtifactID)
		if err != nil {
			return Output{}, fmt.Errorf("build %s: %w", b.Name, err)
		}
		return Output{Kind: artifact.KindMachineImage, Images: imgs}, nil
	case dockerBuilders[id]:
		if b.ArtifactID == "" {
			return Output{}, fmt.Errorf("build %s (%s): %w", b.Name, id, ErrNoOutput)
		}
		if !strings.Contains(b.ArtifactID, "/") {
			// The docker builder's own artifact is a local image id.
			return Output{}, fmt.Errorf("build %s (%s): %q is a local image, in no registry: push it (docker-tag, docker-push) before brickyard: %w", b.Name, id, b.ArtifactID, ErrNoOutput)
		}
		return Output{Kind: artifact.KindOCIImage, ImageRef: b.ArtifactID}, nil
	case diskBuilders[id]:
		if len(b.Files) == 0 {
			return Output{}, fmt.Errorf("build %s (%s): %w", b.Name, id, ErrNoOutput)
		}
		out := Output{Kind: artifact.KindVMDisk}
		for _, f := range b.Files {
			out.Disks = append(out.Disks, f.Name)
		}
		return out, nil
	case len(b.Files) == 0 && b.ArtifactID == "":
		return Output{}, fmt.Errorf("build %s (%s): %w", b.Name, id, ErrNoOutput)
	}
	return Output{}, fmt.Errorf("build %s: builder %q: %w", b.Name, id, ErrUnsupportedBuilder)
}

// ParseAMIs parses an amazon-ebs artifact id, "region:ami-id" pairs joined by
// commas, into region → AMI id. Errors wrap ErrNoOutput (empty) or
// ErrInvalidManifest (a malformed pair, a repeated region).
func ParseAMIs(id string) (map[string]string, error) {
	if strings.TrimSpace(id) == "" {
		return nil, fmt.Errorf("amazon artifact id is empty: %w", ErrNoOutput)
	}
	out := map[string]string{}
	for _, pair := range strings.Split(id, ",") {
		r, ami, ok := strings.Cut(strings.TrimSpace(pair), ":")
		if !ok || !region.MatchString(r) || !amiID.MatchString(ami) {
			return nil, fmt.Errorf("amazon artifact id %q: want region:ami-id pairs: %w", pair, ErrInvalidManifest)
		}
		if _, dup := out[r]; dup {
			return nil, fmt.Errorf("amazon artifact id %q: region %s twice: %w", id, r, ErrInvalidManifest)
		}
		out[r] = ami
	}
	return out, nil
}
