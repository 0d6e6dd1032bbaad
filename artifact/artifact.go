package artifact

import (
	"fmt"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Artifact is one build product of one kind, for one platform, at one
// version. Once encoded and pushed it is immutable; its identity is the
// digest of its OCI manifest (see Encode).
type Artifact struct {
	Name     string          // repository name, per ValidateName
	Kind     Kind            // what the artifact stands for
	Version  *semver.Version // Semantic Versioning 2.0.0, per ParseVersion
	Platform Platform        // where it runs; may be zero for platform-independent artifacts
	Build    Build           // how it was built
	// Parents are the manifest digests of the artifacts this one was built
	// from (a base disk, a base AMI...), in the order the build used them.
	Parents []digest.Digest
	// BaseName optionally names the first parent, e.g. "base:1.0.0"; it becomes
	// the org.opencontainers.image.base.name annotation.
	BaseName string
	// Annotations are extra manifest annotations. Keys that Encode sets itself
	// (see StandardAnnotations) are refused.
	Annotations map[string]string

	MachineImage *MachineImage       // set for KindMachineImage only
	Disks        []Disk              // set for KindVMDisk only: one entry per disk file
	Image        *ocispec.Descriptor // set for KindOCIImage only: the tracked manifest or index
	// Members are set for KindIndex only: the descriptors of the per-build
	// artifact manifests, in build order, each with its artifactType, its
	// platform (if any) and the AnnotationBuild naming the build.
	Members []ocispec.Descriptor
}

// AnnotationBuild names the build (e.g. Packer's "qemu.web") that made a
// member of an index, on its descriptor.
const AnnotationBuild = "dev.brickyard.build"

// Build says how an artifact was built.
type Build struct {
	Builder  string    `json:"builder,omitempty"`  // e.g. "packer/amazon-ebs" or "qemu-img"
	Source   string    `json:"source,omitempty"`   // source repository URL
	Revision string    `json:"revision,omitempty"` // source revision, e.g. a git commit
	Created  time.Time `json:"created"`            // build time, encoded as RFC 3339 in UTC
}

// MachineImage is the content of a KindMachineImage artifact: one image
// copied to several regions of one provider account.
type MachineImage struct {
	Provider string `json:"provider"` // "aws", "gcp", "azure"
	Owner    string `json:"owner"`    // the account (AWS account id, GCP project...) that owns the images
	// Images maps region → image id, e.g. "eu-west-1" → "ami-0abc...".
	Images map[string]string `json:"images"`
	// Snapshots maps region → ids of the snapshots backing the image there.
	Snapshots map[string][]string `json:"snapshots,omitempty"`
	BootMode  string              `json:"bootMode,omitempty"` // "uefi", "legacy-bios" or "" when unknown
	// ImageName is the provider's name of the image (an AMI's Name), which
	// may differ from the artifact's name; "" when unknown.
	ImageName string `json:"imageName,omitempty"`
	// Tags are the provider's tags of the image when it was recorded
	// (imported), key → value.
	Tags map[string]string `json:"tags,omitempty"`
}

// Disk is one disk file of a KindVMDisk artifact; it becomes one manifest
// layer whose media type is Format.MediaType().
type Disk struct {
	Format      DiskFormat    `json:"format"`
	VirtualSize int64         `json:"virtualSize"` // bytes the guest sees
	Title       string        `json:"title"`       // file name, the layer's org.opencontainers.image.title
	Digest      digest.Digest `json:"digest"`      // of the file's bytes, as pushed
	Size        int64         `json:"size"`        // of the file's bytes, as pushed
	Bootable    bool          `json:"bootable,omitempty"`
	Firmware    string        `json:"firmware,omitempty"` // "bios", "uefi" or ""
	// Facts is what the disk inspector (artifact/disk) found in the file's
	// headers when it was published; nil in artifacts published before
	// brickyard inspected disks.
	Facts *DiskFacts `json:"facts,omitempty"`
}

// DiskFacts are the facts about a disk file that decide whether it is safe
// to hand to a hypervisor, as the disk inspector (artifact/disk) read them
// from its headers. Published disks carry them in the config blob, so they
// are covered by the artifact's signature.
type DiskFacts struct {
	// Inspector names the rule set that produced the facts, e.g. "brickyard-disk/1".
	Inspector string `json:"inspector"`
	// Subformat: "v2"/"v3" (qcow2), the createType (vmdk), "fixed"/"dynamic" (vhd).
	Subformat string `json:"subformat,omitempty"`
	// ClusterSize is the qcow2 cluster size or vhdx block size, in bytes.
	ClusterSize int64 `json:"clusterSize,omitempty"`
	// Features lists the feature bits set (qcow2: "lazy_refcounts",
	// "extended_l2", "compression_type=zstd", "bitmaps"...).
	Features []string `json:"features,omitempty"`
	// BackingFile and BackingFormat are set only for an overlay published
	// with explicit consent; BackingDigest is then the digest of the disk
	// of a parent artifact that the backing file names.
	BackingFile   string        `json:"backingFile,omitempty"`
	BackingFormat DiskFormat    `json:"backingFormat,omitempty"`
	BackingDigest digest.Digest `json:"backingDigest,omitempty"`
	// Members are the disks inside an OVA or a Vagrant box.
	Members []DiskMember `json:"members,omitempty"`
}

// DiskMember is one disk file inside an OVA or a Vagrant box.
type DiskMember struct {
	Name        string `json:"name"`   // member name in the archive
	Format      string `json:"format"` // as qemu-img names it: qcow2, vmdk, vpc, vhdx, raw
	Subformat   string `json:"subformat,omitempty"`
	VirtualSize int64  `json:"virtualSize"` // bytes the guest sees
}

// Ref returns "name@version", the human form of an artifact's identity.
func (a *Artifact) Ref() string {
	if a.Version == nil {
		return a.Name
	}
	return a.Name + "@" + a.Version.Original()
}

// Validate checks that a is complete and consistent for its kind: a valid
// name and version, known kind, well-formed parent digests without repeats,
// and the kind's content (and only that kind's) set. It returns an error
// wrapping one of the package's sentinel errors that names the artifact and
// the problem.
func (a *Artifact) Validate() error {
	if err := ValidateName(a.Name); err != nil {
		return err
	}
	if a.Version == nil {
		return fmt.Errorf("artifact %s: version is missing: %w", a.Name, ErrInvalidVersion)
	}
	if _, err := ParseVersion(a.Version.Original()); err != nil {
		return fmt.Errorf("artifact %s: %w", a.Name, err)
	}
	if _, err := Tag(a.Version); err != nil {
		return fmt.Errorf("artifact %s: %w", a.Name, err)
	}
	ref := a.Ref()
	if !a.Kind.Valid() {
		return fmt.Errorf("artifact %s: kind %q: %w", ref, a.Kind, ErrInvalidKind)
	}
	if !a.Platform.IsZero() {
		if _, err := ParsePlatform(a.Platform.String()); err != nil {
			return fmt.Errorf("artifact %s: %w", ref, err)
		}
	}
	seen := map[digest.Digest]bool{}
	for _, p := range a.Parents {
		if err := p.Validate(); err != nil {
			return fmt.Errorf("artifact %s: parent %q: %w: %v", ref, p, ErrInvalidDigest, err)
		}
		if seen[p] {
			return fmt.Errorf("artifact %s: parent %s listed twice: %w", ref, p, ErrInvalidArtifact)
		}
		seen[p] = true
	}
	if a.BaseName != "" && len(a.Parents) == 0 {
		return fmt.Errorf("artifact %s: base name %q given without a parent digest: %w", ref, a.BaseName, ErrInvalidArtifact)
	}
	for k := range a.Annotations {
		if StandardAnnotations[k] || indexAnnotations[k] {
			return fmt.Errorf("artifact %s: annotation %q is set by brickyard itself: %w", ref, k, ErrInvalidArtifact)
		}
	}
	if (a.MachineImage != nil) != (a.Kind == KindMachineImage) ||
		(len(a.Disks) > 0) != (a.Kind == KindVMDisk) ||
		(a.Image != nil) != (a.Kind == KindOCIImage) ||
		(len(a.Members) > 0) != (a.Kind == KindIndex) {
		return fmt.Errorf("artifact %s: a %s needs its own content (and no other kind's): %w", ref, a.Kind, ErrInvalidArtifact)
	}
	switch a.Kind {
	case KindMachineImage:
		return a.MachineImage.validate(ref)
	case KindVMDisk:
		for i := range a.Disks {
			d := &a.Disks[i]
			if err := d.validate(ref); err != nil {
				return err
			}
			if d.Facts != nil && d.Facts.BackingFile != "" && len(a.Parents) == 0 {
				return fmt.Errorf("artifact %s: disk %q is an overlay of %q but the artifact records no parent: %w", ref, d.Title, d.Facts.BackingFile, ErrInvalidArtifact)
			}
		}
	case KindIndex:
		return a.validateMembers(ref)
	case KindOCIImage:
		if err := a.Image.Digest.Validate(); err != nil {
			return fmt.Errorf("artifact %s: image digest %q: %w: %v", ref, a.Image.Digest, ErrInvalidDigest, err)
		}
		if !trackableMediaTypes[a.Image.MediaType] {
			return fmt.Errorf("artifact %s: image media type %q: %w (want an OCI or Docker manifest or index)", ref, a.Image.MediaType, ErrUnknownMediaType)
		}
		if a.Image.Size <= 0 {
			return fmt.Errorf("artifact %s: image size %d: %w", ref, a.Image.Size, ErrInvalidArtifact)
		}
	}
	return nil
}

func (a *Artifact) validateMembers(ref string) error {
	if p := IndexPlatform(a.Members); a.Platform != p {
		return fmt.Errorf("artifact %s: platform %q, its members' is %q: %w", ref, a.Platform, p, ErrInvalidArtifact)
	}
	seen := map[digest.Digest]bool{}
	for i, m := range a.Members {
		what := fmt.Sprintf("artifact %s: member %d (%s)", ref, i, m.Annotations[AnnotationBuild])
		if m.MediaType != ocispec.MediaTypeImageManifest {
			return fmt.Errorf("%s: media type %q: %w (want a brickyard artifact manifest)", what, m.MediaType, ErrUnknownMediaType)
		}
		k, err := KindOfArtifactType(m.ArtifactType)
		if err != nil || k == KindIndex {
			return fmt.Errorf("%s: artifactType %q: %w (want a machine-image, vm-disk or oci-image artifact)", what, m.ArtifactType, ErrUnknownArtifactType)
		}
		if err := m.Digest.Validate(); err != nil {
			return fmt.Errorf("%s: digest %q: %w: %v", what, m.Digest, ErrInvalidDigest, err)
		}
		if m.Size <= 0 || m.Size > MaxManifestSize {
			return fmt.Errorf("%s: size %d: %w", what, m.Size, ErrInvalidArtifact)
		}
		if seen[m.Digest] {
			return fmt.Errorf("%s: %s listed twice: %w", what, m.Digest, ErrInvalidArtifact)
		}
		seen[m.Digest] = true
		if m.Platform != nil {
			if _, err := ParsePlatform(Platform{OS: m.Platform.OS, Architecture: m.Platform.Architecture, Variant: m.Platform.Variant}.String()); err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
		}
	}
	return nil
}

func (m *MachineImage) validate(ref string) error {
	if m.Provider == "" || m.Owner == "" {
		return fmt.Errorf("artifact %s: machine image needs a provider and an owner account: %w", ref, ErrInvalidArtifact)
	}
	if len(m.Images) == 0 {
		return fmt.Errorf("artifact %s: machine image has no region → image id: %w", ref, ErrInvalidArtifact)
	}
	for region, id := range m.Images {
		if region == "" || id == "" {
			return fmt.Errorf("artifact %s: machine image region %q → image id %q: both must be set: %w", ref, region, id, ErrInvalidArtifact)
		}
	}
	for region := range m.Snapshots {
		if _, ok := m.Images[region]; !ok {
			return fmt.Errorf("artifact %s: snapshots for region %q, which has no image: %w", ref, region, ErrInvalidArtifact)
		}
	}
	return nil
}

func (d *Disk) validate(ref string) error {
	if !d.Format.Valid() {
		return fmt.Errorf("artifact %s: disk %q: format %q: %w", ref, d.Title, d.Format, ErrInvalidDiskFormat)
	}
	if d.Title == "" {
		return fmt.Errorf("artifact %s: a %s disk has no title (file name): %w", ref, d.Format, ErrInvalidArtifact)
	}
	if err := d.Digest.Validate(); err != nil {
		return fmt.Errorf("artifact %s: disk %q: digest %q: %w: %v", ref, d.Title, d.Digest, ErrInvalidDigest, err)
	}
	if d.Size <= 0 || d.VirtualSize < 0 {
		return fmt.Errorf("artifact %s: disk %q: size %d, virtual size %d: %w", ref, d.Title, d.Size, d.VirtualSize, ErrInvalidArtifact)
	}
	if f := d.Facts; f != nil && (f.BackingFile != "" || f.BackingDigest != "") {
		if f.BackingFile == "" || !f.BackingFormat.Valid() {
			return fmt.Errorf("artifact %s: disk %q: backing file %q of format %q: %w", ref, d.Title, f.BackingFile, f.BackingFormat, ErrInvalidArtifact)
		}
		if err := f.BackingDigest.Validate(); err != nil {
			return fmt.Errorf("artifact %s: disk %q: backing digest %q: %w: %v", ref, d.Title, f.BackingDigest, ErrInvalidDigest, err)
		}
	}
	return nil
}

// trackableMediaTypes are what an OCI-image artifact may track as its subject.
var trackableMediaTypes = map[string]bool{
	ocispec.MediaTypeImageManifest:                              true,
	ocispec.MediaTypeImageIndex:                                 true,
	"application/vnd.docker.distribution.manifest.v2+json":      true,
	"application/vnd.docker.distribution.manifest.list.v2+json": true,
}

// Stored names an artifact where a store holds it: what checking it there
// needs (its signature, its owner, its provenance), with no catalog at hand.
// catalog.Record.Stored returns it; package sign's verifiers take it, so
// that sign and catalog need not import each other.
type Stored struct {
	Name    string
	Version string // semver, as published
	Kind    Kind
	// Store is the store's name as the catalog records it, e.g.
	// "oci-layout" or "registry.example:5000/team"; Repository is the
	// repository within it.
	Store      string
	Repository string
	// Manifest is the artifact's manifest: media type, digest (its
	// identity) and size in bytes.
	Manifest ocispec.Descriptor
	Parents  []digest.Digest // the artifacts it was built from
}

// Ref returns "name@version".
func (s Stored) Ref() string { return s.Name + "@" + s.Version }
