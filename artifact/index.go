package artifact

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Annotations of a KindIndex's image index that carry what an artifact's
// config blob carries (an index has no config): its name, every parent
// digest in order (comma-separated) and its builder. Like
// StandardAnnotations, callers cannot set them.
const (
	AnnotationName    = "dev.brickyard.name"
	AnnotationParents = "dev.brickyard.parents"
	AnnotationBuilder = "dev.brickyard.builder"
)

// IndexPlatform is the platform of an index whose members are ms: the one
// platform they all name, else zero (members without a platform, or for
// several platforms, as a multi-architecture index is).
func IndexPlatform(ms []ocispec.Descriptor) Platform {
	var p Platform
	for i, m := range ms {
		if m.Platform == nil {
			return Platform{}
		}
		mp := Platform{OS: m.Platform.OS, Architecture: m.Platform.Architecture, Variant: m.Platform.Variant}
		if i > 0 && mp != p {
			return Platform{}
		}
		p = mp
	}
	return p
}

// MemberDescriptor returns the descriptor under which the encoded member
// artifact e, made by the build named build, is listed in an index: its
// media type, artifactType, digest and size, p as its platform (if not
// zero) and build as its AnnotationBuild (if not empty).
func MemberDescriptor(e *Encoded, p Platform, build string) ocispec.Descriptor {
	d := e.Descriptor
	if !p.IsZero() {
		d.Platform = &ocispec.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant}
	}
	if build != "" {
		d.Annotations = map[string]string{AnnotationBuild: build}
	}
	return d
}

// encodeIndex is Encode for a KindIndex (validated already): an OCI image
// index (image-spec v1.1 §image-index) with the brickyard artifactType,
// Members as its manifests, and the annotations of a manifest plus
// AnnotationName, AnnotationParents and AnnotationBuilder. It has no
// config and no layers.
func encodeIndex(a *Artifact) (*Encoded, error) {
	an := annotations(a)
	an[AnnotationName] = a.Name
	if len(a.Parents) > 0 {
		ps := make([]string, len(a.Parents))
		for i, p := range a.Parents {
			ps[i] = p.String()
		}
		an[AnnotationParents] = strings.Join(ps, ",")
	}
	if a.Build.Builder != "" {
		an[AnnotationBuilder] = a.Build.Builder
	}
	idx := ocispec.Index{
		MediaType:    ocispec.MediaTypeImageIndex,
		ArtifactType: ArtifactTypeIndex,
		Manifests:    a.Members,
		Annotations:  an,
	}
	idx.SchemaVersion = 2
	b, err := json.Marshal(idx)
	if err != nil {
		return nil, fmt.Errorf("artifact %s: encode index: %w", a.Ref(), err)
	}
	return &Encoded{Manifest: b, Descriptor: ocispec.Descriptor{
		MediaType:    ocispec.MediaTypeImageIndex,
		ArtifactType: ArtifactTypeIndex,
		Digest:       digest.FromBytes(b),
		Size:         int64(len(b)),
	}}, nil
}

// DecodeIndex is the inverse of Encode for a KindIndex: it parses b
// strictly (ParseOCI, then the brickyard artifactType, every member a
// brickyard artifact manifest) and checks that re-encoding gives back b,
// byte for byte. Errors wrap ErrInvalidOCI, ErrInvalidManifest,
// ErrUnknownArtifactType or Artifact.Validate's.
func DecodeIndex(b []byte) (*Artifact, error) {
	if _, err := ParseOCI(ocispec.MediaTypeImageIndex, b); err != nil {
		return nil, err
	}
	var idx ocispec.Index
	if err := json.Unmarshal(b, &idx); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidManifest, err)
	}
	if idx.MediaType != ocispec.MediaTypeImageIndex {
		return nil, fmt.Errorf("%w: mediaType %q, want %q", ErrInvalidManifest, idx.MediaType, ocispec.MediaTypeImageIndex)
	}
	if idx.ArtifactType != ArtifactTypeIndex {
		return nil, fmt.Errorf("index artifactType %q: %w (want %q)", idx.ArtifactType, ErrUnknownArtifactType, ArtifactTypeIndex)
	}
	an := idx.Annotations
	v, err := ParseVersion(an[ocispec.AnnotationVersion])
	if err != nil {
		return nil, fmt.Errorf("%w: index version annotation: %w", ErrInvalidManifest, err)
	}
	a := &Artifact{
		Name: an[AnnotationName], Kind: KindIndex, Version: v, Members: idx.Manifests,
		Platform: IndexPlatform(idx.Manifests),
		Build: Build{Builder: an[AnnotationBuilder], Source: an[ocispec.AnnotationSource],
			Revision: an[ocispec.AnnotationRevision]},
		BaseName: an[ocispec.AnnotationBaseImageName],
	}
	if c := an[ocispec.AnnotationCreated]; c != "" {
		if a.Build.Created, err = time.Parse(time.RFC3339, c); err != nil {
			return nil, fmt.Errorf("%w: index created annotation %q: %v", ErrInvalidManifest, c, err)
		}
	}
	if ps := an[AnnotationParents]; ps != "" {
		for _, p := range strings.Split(ps, ",") {
			a.Parents = append(a.Parents, digest.Digest(p))
		}
	}
	for k, val := range an {
		if !StandardAnnotations[k] && !indexAnnotations[k] {
			if a.Annotations == nil {
				a.Annotations = map[string]string{}
			}
			a.Annotations[k] = val
		}
	}
	e, err := Encode(a)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidManifest, err)
	}
	if e.Descriptor.Digest != digest.FromBytes(b) {
		return nil, fmt.Errorf("%w: index is not in canonical form or carries fields brickyard does not write", ErrInvalidManifest)
	}
	return a, nil
}

var indexAnnotations = map[string]bool{AnnotationName: true, AnnotationParents: true, AnnotationBuilder: true}

// Member returns the member of index a made by build (AnnotationBuild), or
// false.
func (a *Artifact) Member(build string) (ocispec.Descriptor, bool) {
	for _, m := range a.Members {
		if m.Annotations[AnnotationBuild] == build {
			return m, true
		}
	}
	return ocispec.Descriptor{}, false
}
