package artifact

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Size caps for parsing outside input, in bytes.
const (
	MaxManifestSize = 4 << 20 // the limit the CNCF distribution registry applies to a manifest
	MaxConfigSize   = 4 << 20
)

// StandardAnnotations are the OCI image-spec §annotations keys that Encode
// derives from the artifact itself; callers cannot set them.
var StandardAnnotations = map[string]bool{
	ocispec.AnnotationVersion:         true,
	ocispec.AnnotationCreated:         true,
	ocispec.AnnotationRevision:        true,
	ocispec.AnnotationSource:          true,
	ocispec.AnnotationBaseImageDigest: true,
	ocispec.AnnotationBaseImageName:   true,
}

// Encoded is an artifact in its one OCI encoding: an image-spec v1.1 image
// manifest with an artifactType, a metadata config blob and the layers.
type Encoded struct {
	Manifest   []byte             // canonical manifest JSON; its digest is the artifact's identity
	Descriptor ocispec.Descriptor // of Manifest, with the artifactType set
	Config     []byte             // the metadata JSON
	ConfigDesc ocispec.Descriptor // of Config
	// Layers are the manifest's layers: one per disk file for a VM disk, else
	// the empty descriptor (its blob is ocispec.DescriptorEmptyJSON.Data).
	Layers []ocispec.Descriptor
}

// config is the JSON of the config blob. Its field set is version 1 of the
// schema; Decode refuses fields it does not know.
type config struct {
	SchemaVersion int                 `json:"schemaVersion"`
	Name          string              `json:"name"`
	Kind          Kind                `json:"kind"`
	Version       string              `json:"version"`
	Platform      *Platform           `json:"platform,omitempty"`
	Build         Build               `json:"build"`
	Parents       []digest.Digest     `json:"parents,omitempty"`
	MachineImage  *MachineImage       `json:"machineImage,omitempty"`
	Disks         []Disk              `json:"disks,omitempty"`
	Image         *ocispec.Descriptor `json:"image,omitempty"`
}

const configSchemaVersion = 1

// Encode validates a and returns its OCI encoding. Encoding is deterministic:
// the same artifact always yields the same bytes and so the same digest.
// It returns a's validation error (see Artifact.Validate) if a is invalid.
func Encode(a *Artifact) (*Encoded, error) {
	if err := a.Validate(); err != nil {
		return nil, err
	}
	if a.Kind == KindIndex {
		return encodeIndex(a)
	}
	cfg := config{
		SchemaVersion: configSchemaVersion,
		Name:          a.Name,
		Kind:          a.Kind,
		Version:       a.Version.Original(),
		Build:         a.Build,
		Parents:       a.Parents,
		MachineImage:  a.MachineImage,
		Disks:         a.Disks,
		Image:         a.Image,
	}
	cfg.Build.Created = cfg.Build.Created.UTC()
	if !a.Platform.IsZero() {
		p := a.Platform
		cfg.Platform = &p
	}
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("artifact %s: encode config: %w", a.Ref(), err)
	}
	e := &Encoded{
		Config: cfgJSON,
		ConfigDesc: ocispec.Descriptor{
			MediaType: MediaTypeConfig,
			Digest:    digest.FromBytes(cfgJSON),
			Size:      int64(len(cfgJSON)),
		},
	}
	for _, d := range a.Disks {
		e.Layers = append(e.Layers, ocispec.Descriptor{
			MediaType:   d.Format.MediaType(),
			Digest:      d.Digest,
			Size:        d.Size,
			Annotations: map[string]string{ocispec.AnnotationTitle: d.Title},
		})
	}
	if len(e.Layers) == 0 {
		e.Layers = []ocispec.Descriptor{ocispec.DescriptorEmptyJSON}
	}
	m := ocispec.Manifest{
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: a.Kind.ArtifactType(),
		Config:       e.ConfigDesc,
		Layers:       e.Layers,
		Subject:      a.Image,
		Annotations:  annotations(a),
	}
	m.SchemaVersion = 2
	if e.Manifest, err = json.Marshal(m); err != nil {
		return nil, fmt.Errorf("artifact %s: encode manifest: %w", a.Ref(), err)
	}
	e.Descriptor = ocispec.Descriptor{
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: m.ArtifactType,
		Digest:       digest.FromBytes(e.Manifest),
		Size:         int64(len(e.Manifest)),
	}
	return e, nil
}

func annotations(a *Artifact) map[string]string {
	an := maps.Clone(a.Annotations)
	if an == nil {
		an = map[string]string{}
	}
	an[ocispec.AnnotationVersion] = a.Version.Original()
	if !a.Build.Created.IsZero() {
		an[ocispec.AnnotationCreated] = a.Build.Created.UTC().Format(time.RFC3339)
	}
	if a.Build.Revision != "" {
		an[ocispec.AnnotationRevision] = a.Build.Revision
	}
	if a.Build.Source != "" {
		an[ocispec.AnnotationSource] = a.Build.Source
	}
	if len(a.Parents) > 0 {
		an[ocispec.AnnotationBaseImageDigest] = a.Parents[0].String()
	}
	if a.BaseName != "" {
		an[ocispec.AnnotationBaseImageName] = a.BaseName
	}
	return an
}

// ParseManifest strictly parses a brickyard artifact manifest: a valid OCI
// image manifest (ParseOCI, whose errors wrap ErrInvalidOCI) per OCI
// image-spec v1.1 §image-manifest, with its mediaType field set, a known
// brickyard artifactType, a config of MediaTypeConfig no larger than
// MaxConfigSize, and layers whose media types fit the kind. Errors wrap
// ErrTooLarge, ErrInvalidManifest, ErrUnknownArtifactType or
// ErrUnknownMediaType.
func ParseManifest(b []byte) (*ocispec.Manifest, Kind, error) {
	if _, err := ParseOCI(ocispec.MediaTypeImageManifest, b); err != nil {
		return nil, "", err
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, "", fmt.Errorf("%w: %v", ErrInvalidManifest, err)
	}
	if m.SchemaVersion != 2 {
		return nil, "", fmt.Errorf("%w: schemaVersion %d, want 2", ErrInvalidManifest, m.SchemaVersion)
	}
	if m.MediaType != ocispec.MediaTypeImageManifest {
		return nil, "", fmt.Errorf("%w: mediaType %q, want %q", ErrInvalidManifest, m.MediaType, ocispec.MediaTypeImageManifest)
	}
	kind, err := KindOfArtifactType(m.ArtifactType)
	if err != nil {
		return nil, "", err
	}
	if kind == KindIndex {
		return nil, "", fmt.Errorf("%w: artifactType %s on an image manifest: an index is an OCI image index", ErrInvalidManifest, m.ArtifactType)
	}
	if m.Config.MediaType != MediaTypeConfig {
		return nil, "", fmt.Errorf("config media type %q: %w (want %q)", m.Config.MediaType, ErrUnknownMediaType, MediaTypeConfig)
	}
	if m.Config.Size > MaxConfigSize {
		return nil, "", fmt.Errorf("config of %d bytes: %w (limit %d)", m.Config.Size, ErrTooLarge, MaxConfigSize)
	}
	if len(m.Layers) == 0 {
		return nil, "", fmt.Errorf("%w: no layers (want the empty descriptor when there is no content)", ErrInvalidManifest)
	}
	for i, l := range m.Layers {
		if kind == KindVMDisk {
			if _, err := DiskFormatOfMediaType(l.MediaType); err != nil {
				return nil, "", fmt.Errorf("layer %d: %w", i, err)
			}
		} else if l.MediaType != ocispec.MediaTypeEmptyJSON || len(m.Layers) != 1 {
			return nil, "", fmt.Errorf("%w: a %s has exactly one layer, the empty descriptor", ErrInvalidManifest, kind)
		}
	}
	if (m.Subject != nil) != (kind == KindOCIImage) {
		return nil, "", fmt.Errorf("%w: only an oci-image artifact has a subject", ErrInvalidManifest)
	}
	return &m, kind, nil
}

// IsIndex reports whether manifest's mediaType field is the OCI image
// index's: Decode then reads it as a KindIndex (DecodeIndex), with no
// config.
func IsIndex(manifest []byte) bool {
	var probe struct {
		MediaType string `json:"mediaType"`
	}
	return json.Unmarshal(manifest, &probe) == nil && probe.MediaType == ocispec.MediaTypeImageIndex
}

// Decode is the inverse of Encode: it parses manifest strictly (see
// ParseManifest), checks that config is the blob the manifest names (size and
// digest), decodes it refusing unknown fields, and checks that it agrees with
// the manifest: kind and artifactType, disks and layers, image and subject.
// Errors wrap ErrDigestMismatch, ErrInvalidConfig, ErrKindMismatch or the
// errors of ParseManifest and Artifact.Validate.
func Decode(manifest, cfgBlob []byte) (*Artifact, error) {
	if IsIndex(manifest) {
		return DecodeIndex(manifest)
	}
	m, kind, err := ParseManifest(manifest)
	if err != nil {
		return nil, err
	}
	if int64(len(cfgBlob)) != m.Config.Size || digest.FromBytes(cfgBlob) != m.Config.Digest {
		return nil, fmt.Errorf("config blob (%d bytes) is not %s (%d bytes): %w", len(cfgBlob), m.Config.Digest, m.Config.Size, ErrDigestMismatch)
	}
	var cfg config
	dec := json.NewDecoder(bytes.NewReader(cfgBlob))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidConfig, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data after the JSON object", ErrInvalidConfig)
	}
	if cfg.SchemaVersion != configSchemaVersion {
		return nil, fmt.Errorf("%w: schemaVersion %d, want %d", ErrInvalidConfig, cfg.SchemaVersion, configSchemaVersion)
	}
	if cfg.Kind != kind {
		return nil, fmt.Errorf("config kind %q, manifest artifactType %q: %w", cfg.Kind, m.ArtifactType, ErrKindMismatch)
	}
	v, err := ParseVersion(cfg.Version)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	a := &Artifact{
		Name:         cfg.Name,
		Kind:         cfg.Kind,
		Version:      v,
		Build:        cfg.Build,
		Parents:      cfg.Parents,
		MachineImage: cfg.MachineImage,
		Disks:        cfg.Disks,
		Image:        cfg.Image,
		BaseName:     m.Annotations[ocispec.AnnotationBaseImageName],
	}
	if cfg.Platform != nil {
		a.Platform = *cfg.Platform
	}
	for k, val := range m.Annotations {
		if !StandardAnnotations[k] {
			if a.Annotations == nil {
				a.Annotations = map[string]string{}
			}
			a.Annotations[k] = val
		}
	}
	if err := a.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	// Re-encoding must give back the very manifest: this checks in one place
	// that layers, subject and annotations agree with the config.
	e, err := Encode(a)
	if err != nil {
		return nil, err
	}
	if e.Descriptor.Digest != digest.FromBytes(manifest) {
		return nil, fmt.Errorf("%w: manifest does not agree with its config (layers, subject or annotations differ, or it is not in canonical form)", ErrInvalidManifest)
	}
	return a, nil
}
