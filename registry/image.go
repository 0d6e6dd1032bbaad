package registry

import (
	"context"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/brickyard/brickyard/internal/ocistore"
)

// ImagePusher is what PushImage needs of a store.
type ImagePusher interface {
	Exister
	BlobPusher
	ManifestPusher
}

// PushImage copies a container image (a go-containerregistry v1.Image, e.g.
// read from an OCI layout made by umoci or skopeo) into repository repo:
// its manifest is checked first (artifact.ParseOCI: errors wrap
// artifact.ErrInvalidOCI), then layers and config, each streamed once and
// checked against its digest, skipping blobs the store already has, then
// the manifest. It returns the manifest's descriptor, ready to be an
// OCI-image artifact's subject (artifact.Artifact.Image). If it fails, a
// Discarder store takes back the blobs it wrote (see Copy).
func PushImage(ctx context.Context, s ImagePusher, repo string, img v1.Image) (ocispec.Descriptor, error) {
	desc, created, err := ocistore.PushImage(ctx, s, repo, img)
	if err != nil {
		return ocispec.Descriptor{}, Discard(ctx, s, Written{Repo: repo, Blobs: created}, err)
	}
	return desc, nil
}
