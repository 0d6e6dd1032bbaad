package artifact

import (
	"fmt"
	"strings"
)

// Kind is what an artifact stands for. Its string form is the one used in the
// config blob's "kind" field and on the command line.
type Kind string

// The kinds of artifact brickyard models: three kinds of build product, and
// the index that makes several of them one version.
const (
	KindMachineImage Kind = "machine-image" // an AMI, GCE image or Azure image version
	KindVMDisk       Kind = "vm-disk"       // one or more disk files of one build
	KindOCIImage     Kind = "oci-image"     // a container image manifest or index, tracked by reference
	// KindIndex is one version built several ways (several Packer builders,
	// several platforms): an OCI image index over the per-build artifact
	// manifests, its Members.
	KindIndex Kind = "index"
)

// Kinds lists every kind in a stable order.
var Kinds = []Kind{KindMachineImage, KindVMDisk, KindOCIImage, KindIndex}

// The artifactType of each kind's manifest, per OCI image-spec v1.1 §artifactType.
const (
	ArtifactTypeMachineImage = "application/vnd.brickyard.machine-image.v1"
	ArtifactTypeVMDisk       = "application/vnd.brickyard.vm-disk.v1"
	ArtifactTypeOCIImage     = "application/vnd.brickyard.oci-image.v1"
	// ArtifactTypeIndex is the artifactType of a KindIndex's image index
	// (image-spec v1.1 §image-index artifactType).
	ArtifactTypeIndex = "application/vnd.brickyard.index.v1"
)

// MediaTypeConfig is the media type of the metadata JSON config blob shared by all kinds.
const MediaTypeConfig = "application/vnd.brickyard.config.v1+json"

// ArtifactType returns the manifest artifactType of k, or "" if k is not a known kind.
func (k Kind) ArtifactType() string {
	switch k {
	case KindMachineImage:
		return ArtifactTypeMachineImage
	case KindVMDisk:
		return ArtifactTypeVMDisk
	case KindOCIImage:
		return ArtifactTypeOCIImage
	case KindIndex:
		return ArtifactTypeIndex
	}
	return ""
}

// Valid reports whether k is one of Kinds.
func (k Kind) Valid() bool { return k.ArtifactType() != "" }

// ParseKind parses "machine-image", "vm-disk", "oci-image" or "index".
// It returns an error wrapping ErrInvalidKind otherwise.
func ParseKind(s string) (Kind, error) {
	k := Kind(s)
	if !k.Valid() {
		return "", fmt.Errorf("kind %q: %w (want one of machine-image, vm-disk, oci-image, index)", s, ErrInvalidKind)
	}
	return k, nil
}

// KindOfArtifactType maps a manifest artifactType back to its Kind.
// It returns an error wrapping ErrUnknownArtifactType for anything else.
func KindOfArtifactType(artifactType string) (Kind, error) {
	for _, k := range Kinds {
		if k.ArtifactType() == artifactType {
			return k, nil
		}
	}
	return "", fmt.Errorf("artifactType %q: %w", artifactType, ErrUnknownArtifactType)
}

// DiskFormat is the on-disk format of a VM disk file.
type DiskFormat string

// The disk formats brickyard recognises. OVA and Vagrant boxes are archives that
// hold a disk and its description; they are carried as they are.
const (
	DiskQCOW2   DiskFormat = "qcow2"
	DiskVMDK    DiskFormat = "vmdk"
	DiskVHDX    DiskFormat = "vhdx"
	DiskVHD     DiskFormat = "vhd" // also called "vpc" by qemu-img
	DiskRaw     DiskFormat = "raw"
	DiskOVA     DiskFormat = "ova"
	DiskVagrant DiskFormat = "box"
)

// DiskFormats lists every disk format in a stable order.
var DiskFormats = []DiskFormat{DiskQCOW2, DiskVMDK, DiskVHDX, DiskVHD, DiskRaw, DiskOVA, DiskVagrant}

const diskMediaTypePrefix = "application/vnd.brickyard.disk."

// MediaType returns the layer media type of a disk file in format f,
// e.g. "application/vnd.brickyard.disk.qcow2".
func (f DiskFormat) MediaType() string { return diskMediaTypePrefix + string(f) }

// Valid reports whether f is one of DiskFormats.
func (f DiskFormat) Valid() bool {
	for _, g := range DiskFormats {
		if f == g {
			return true
		}
	}
	return false
}

// ParseDiskFormat parses a disk format name; "vpc" is accepted for vhd.
// It returns an error wrapping ErrInvalidDiskFormat otherwise.
func ParseDiskFormat(s string) (DiskFormat, error) {
	if s == "vpc" {
		return DiskVHD, nil
	}
	f := DiskFormat(s)
	if !f.Valid() {
		return "", fmt.Errorf("disk format %q: %w", s, ErrInvalidDiskFormat)
	}
	return f, nil
}

// DiskFormatOfMediaType maps a layer media type back to its DiskFormat.
// It returns an error wrapping ErrUnknownMediaType for any other media type.
func DiskFormatOfMediaType(mediaType string) (DiskFormat, error) {
	if s, ok := strings.CutPrefix(mediaType, diskMediaTypePrefix); ok {
		if f := DiskFormat(s); f.Valid() {
			return f, nil
		}
	}
	return "", fmt.Errorf("layer media type %q: %w", mediaType, ErrUnknownMediaType)
}
