package ocistore

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/brickyard/brickyard/artifact"
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
// its manifest is checked first (artifact.ParseOCI: errors wrap
// artifact.ErrInvalidOCI), then layers and config, each streamed once and
// checked against its digest, skipping blobs the store already has when
// it can tell (an Exists method), then the manifest. It returns the
// manifest's descriptor and the digests of the blobs it wrote (also when
// it fails, so that the caller can take them back). registry.PushImage
// (container images) and package sign (cosign signature manifests) both
// use it.
func PushImage(ctx context.Context, s ImagePusher, repo string, img v1.Image) (_ ocispec.Descriptor, created []digest.Digest, err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("push image to %s: %w", repo, err)
		}
	}()
	raw, err := img.RawManifest()
	if err != nil {
		return ocispec.Descriptor{}, nil, err
	}
	mt, err := img.MediaType()
	if err != nil {
		return ocispec.Descriptor{}, nil, err
	}
	m, err := artifact.ParseOCI(string(mt), raw)
	if err != nil {
		return ocispec.Descriptor{}, nil, err
	}
	if m.Config == nil {
		return ocispec.Descriptor{}, nil, fmt.Errorf("%s is an index, not an image: %w", mt, artifact.ErrInvalidManifest)
	}
	layers, err := img.Layers()
	if err != nil {
		return ocispec.Descriptor{}, nil, err
	}
	ex, canCheck := s.(exister)
	push := func(desc ocispec.Descriptor, open func() (io.ReadCloser, error)) error {
		if canCheck {
			if ok, err := ex.Exists(ctx, repo, desc); err != nil {
				return err
			} else if ok {
				return nil
			}
		}
		rc, err := open()
		if err != nil {
			return err
		}
		_, err = s.PushBlob(ctx, repo, desc, rc)
		rc.Close()
		if err != nil {
			return err
		}
		created = append(created, desc.Digest)
		return nil
	}
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return ocispec.Descriptor{}, created, fmt.Errorf("layer digest: %w", err)
		}
		size, err := l.Size()
		if err != nil {
			return ocispec.Descriptor{}, created, fmt.Errorf("layer %s: %w", d, err)
		}
		lmt, err := l.MediaType()
		if err != nil {
			return ocispec.Descriptor{}, created, fmt.Errorf("layer %s: %w", d, err)
		}
		desc := ocispec.Descriptor{MediaType: string(lmt), Digest: digest.Digest(d.String()), Size: size}
		if err := push(desc, l.Compressed); err != nil {
			return ocispec.Descriptor{}, created, fmt.Errorf("layer %s: %w", d, err)
		}
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return ocispec.Descriptor{}, created, fmt.Errorf("config: %w", err)
	}
	if err := push(*m.Config, func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(cfg)), nil }); err != nil {
		return ocispec.Descriptor{}, created, fmt.Errorf("config: %w", err)
	}
	desc, err := s.PushManifest(ctx, repo, string(mt), raw)
	return desc, created, err
}
