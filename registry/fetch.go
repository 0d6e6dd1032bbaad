package registry

import (
	"context"

	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/internal/ocistore"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// FetchArtifact reads the manifest desc of repository repo and its config
// back from st and decodes them (artifact.Decode, strict); for an OCI
// image index, a KindIndex with a nil config. The manifest and
// config are read within artifact.MaxManifestSize and
// artifact.MaxConfigSize; a store that verifies digests as it reads (all of
// brickyard's do) guarantees they are the bytes desc names. It returns the
// artifact and the raw manifest and config.
func FetchArtifact(ctx context.Context, st Fetcher, repo string, desc ocispec.Descriptor) (a *artifact.Artifact, manifest, cfg []byte, err error) {
	return ocistore.FetchArtifact(ctx, st, repo, desc)
}
