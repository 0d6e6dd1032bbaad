package ocistore

import (
	"bytes"
	"context"
	"fmt"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// ImagePusher is what PushImage needs of a store.
type ImagePusher interface {
	PushBlob(ctx context.Context, repo string, expected ocispec.Descriptor, r io.Reader) (ocispec.Descriptor, error)
	PushManifest(ctx context.Context, repo, mediaType string, manifest []byte) (ocispec.Descriptor, error)
}

// exister is the optional check PushImage uses to skip blobs a store has.
type exister interface {
	Exists(ctx context.Context, repo string, desc ocispec.Descriptor) (bool, error)
}

// PushImage stores a go-containerregistry image in repository repo of s:
// layers and config first, each streamed once and checked against its
// digest, skipping blobs the store already has when it can tell (an
// Exists method), then the manifest. It returns the manifest's descriptor.
// registry.PushImage (container images) and package sign (cosign
// signature manifests) both use it.
func PushImage(ctx context.Context, s ImagePusher, repo string, img v1.Image) (ocispec.Descriptor, error) {
	layers, err := img.Layers()
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("push image to %s: %w", repo, err)
	}
	ex, canCheck := s.(exister)
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("push image to %s: layer digest: %w", repo, err)
		}
		size, err := l.Size()
		if err != nil {
			return layerError(repo, d, err)
		}
		mt, err := l.MediaType()
		if err != nil {
			return layerError(repo, d, err)
		}
		desc := ocispec.Descriptor{MediaType: string(mt), Digest: digest.Digest(d.String()), Size: size}
		if canCheck {
			if ok, err := ex.Exists(ctx, repo, desc); err != nil {
				return layerError(repo, d, err)
			} else if ok {
				continue
			}
		}
		rc, err := l.Compressed()
		if err != nil {
			return layerError(repo, d, err)
		}
		_, err = s.PushBlob(ctx, repo, desc, rc)
		rc.Close()
		if err != nil {
			return layerError(repo, d, err)
		}
	}
	m, err := img.Manifest()
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("push image to %s: %w", repo, err)
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("push image to %s: config: %w", repo, err)
	}
	cfgDesc := ocispec.Descriptor{MediaType: string(m.Config.MediaType), Digest: digest.Digest(m.Config.Digest.String()), Size: m.Config.Size}
	if _, err := s.PushBlob(ctx, repo, cfgDesc, bytes.NewReader(cfg)); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("push image to %s: config: %w", repo, err)
	}
	raw, err := img.RawManifest()
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("push image to %s: %w", repo, err)
	}
	mt, err := img.MediaType()
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("push image to %s: %w", repo, err)
	}
	return s.PushManifest(ctx, repo, string(mt), raw)
}

func layerError(repo string, layer v1.Hash, err error) (ocispec.Descriptor, error) {
	return ocispec.Descriptor{}, fmt.Errorf("push image to %s: layer %s: %w", repo, layer, err)
}
