package registry

import (
	"bytes"
	"context"
	"fmt"

	"github.com/brickyard/brickyard/artifact"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
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
func PushImage(ctx context.Context, s ImagePusher, repo string, img v1.Image) (_ ocispec.Descriptor, err error) {
	var created []digest.Digest
	defer func() {
		if err != nil {
			err = Discard(ctx, s, repo, nil, created, fmt.Errorf("push image to %s: %w", repo, err))
		}
	}()
	raw, err := img.RawManifest()
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	mt, err := img.MediaType()
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	m, err := artifact.ParseOCI(string(mt), raw)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	if m.Config == nil {
		return ocispec.Descriptor{}, fmt.Errorf("%s is an index, not an image: %w", mt, artifact.ErrInvalidManifest)
	}
	layers, err := img.Layers()
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("layer digest: %w", err)
		}
		size, err := l.Size()
		if err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("layer %s: %w", d, err)
		}
		mt, err := l.MediaType()
		if err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("layer %s: %w", d, err)
		}
		desc := ocispec.Descriptor{MediaType: string(mt), Digest: digest.Digest(d.String()), Size: size}
		if ok, err := s.Exists(ctx, repo, desc); err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("layer %s: %w", d, err)
		} else if ok {
			continue
		}
		rc, err := l.Compressed()
		if err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("layer %s: %w", d, err)
		}
		_, err = s.PushBlob(ctx, repo, desc, rc)
		rc.Close()
		if err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("layer %s: %w", d, err)
		}
		created = append(created, desc.Digest)
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("config: %w", err)
	}
	if ok, err := s.Exists(ctx, repo, *m.Config); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("config: %w", err)
	} else if !ok {
		if _, err := s.PushBlob(ctx, repo, *m.Config, bytes.NewReader(cfg)); err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("config: %w", err)
		}
		created = append(created, m.Config.Digest)
	}
	return s.PushManifest(ctx, repo, string(mt), raw)
}
