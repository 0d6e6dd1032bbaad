package ocistore

import (
	"context"
	"fmt"
	"io"

	"github.com/brickyard/brickyard/artifact"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Fetcher is what reading an artifact back needs of a store.
type Fetcher interface {
	Fetch(ctx context.Context, repo string, desc ocispec.Descriptor) (io.ReadCloser, error)
}

// FetchArtifact reads the manifest desc of repository repo and its config
// back from st and decodes them (artifact.Decode, strict); for an OCI
// image index, a KindIndex (artifact.DecodeIndex) with a nil config. The manifest and
// config are read within artifact.MaxManifestSize and
// artifact.MaxConfigSize; a store that verifies digests as it reads (all of
// brickyard's do) guarantees they are the bytes desc names. Nothing is
// fetched for a descriptor that does not name a manifest
// (artifact.ValidateManifestDescriptor), and the config is not fetched for
// a manifest that is not valid OCI as desc's media type
// (artifact.ParseOCI); those errors wrap artifact.ErrInvalidOCI. A desc
// without a media type (a catalog record may have none) is taken for an
// OCI image manifest, which every artifact is. It returns the artifact
// and the raw manifest and config.
func FetchArtifact(ctx context.Context, st Fetcher, repo string, desc ocispec.Descriptor) (a *artifact.Artifact, manifest, cfg []byte, err error) {
	if desc.MediaType == "" {
		desc.MediaType = ocispec.MediaTypeImageManifest
	}
	if err := artifact.ValidateManifestDescriptor(desc); err != nil {
		return nil, nil, nil, fmt.Errorf("%s@%s: %w", repo, desc.Digest, err)
	}
	if manifest, err = ReadAll(ctx, st, repo, desc, artifact.MaxManifestSize); err != nil {
		return nil, nil, nil, fmt.Errorf("fetch manifest %s@%s: %w", repo, desc.Digest, err)
	}
	if _, err := artifact.ParseOCI(desc.MediaType, manifest); err != nil {
		return nil, nil, nil, fmt.Errorf("manifest %s@%s: %w", repo, desc.Digest, err)
	}
	if desc.MediaType == ocispec.MediaTypeImageIndex {
		// A KindIndex has no config.
		if a, err = artifact.DecodeIndex(manifest); err != nil {
			return nil, nil, nil, fmt.Errorf("%s@%s: %w", repo, desc.Digest, err)
		}
		return a, manifest, nil, nil
	}
	m, _, err := artifact.ParseManifest(manifest)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("manifest %s@%s: %w", repo, desc.Digest, err)
	}
	if cfg, err = ReadAll(ctx, st, repo, m.Config, artifact.MaxConfigSize); err != nil {
		return nil, nil, nil, fmt.Errorf("fetch config of %s@%s: %w", repo, desc.Digest, err)
	}
	if a, err = artifact.Decode(manifest, cfg); err != nil {
		return nil, nil, nil, fmt.Errorf("%s@%s: %w", repo, desc.Digest, err)
	}
	return a, manifest, cfg, nil
}

// ReadAll reads the content desc describes from repository repo of st,
// at most limit bytes: a descriptor or content over limit is an error
// wrapping artifact.ErrTooLarge, caught before more than limit+1 bytes are
// read.
func ReadAll(ctx context.Context, st Fetcher, repo string, desc ocispec.Descriptor, limit int64) ([]byte, error) {
	if desc.Size > limit {
		return nil, fmt.Errorf("%s of %d bytes: %w (limit %d)", desc.Digest, desc.Size, artifact.ErrTooLarge, limit)
	}
	rc, err := st.Fetch(ctx, repo, desc)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: over %d bytes: %w", desc.Digest, limit, artifact.ErrTooLarge)
	}
	return b, nil
}

// MachineImages returns the machine images that a, read from repo in st,
// holds: a itself if it is a machine image, the machine-image members of
// an index (one Packer run of several builders), fetched and decoded as
// FetchArtifact does, or none for any other kind. An error names the
// member's build (artifact.AnnotationBuild) and wraps FetchArtifact's.
func MachineImages(ctx context.Context, st Fetcher, repo string, a *artifact.Artifact) ([]*artifact.Artifact, error) {
	switch a.Kind {
	case artifact.KindMachineImage:
		return []*artifact.Artifact{a}, nil
	case artifact.KindIndex:
	default:
		return nil, nil
	}
	var images []*artifact.Artifact
	for _, m := range a.Members {
		if m.ArtifactType != artifact.ArtifactTypeMachineImage {
			continue
		}
		ma, _, _, err := FetchArtifact(ctx, st, repo, m)
		if err != nil {
			return nil, fmt.Errorf("build %s: %w", m.Annotations[artifact.AnnotationBuild], err)
		}
		images = append(images, ma)
	}
	return images, nil
}
