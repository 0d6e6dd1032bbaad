package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/brickyard/brickyard/artifact"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// CopyOption configures Copy and CopyGraph.
type CopyOption func(*copyOptions)

type copyOptions struct {
	progress func(blob ocispec.Descriptor, done, total int64)
}

// WithProgress calls fn as each blob moves, with the blob's descriptor and
// the bytes sent so far out of its size; the CLI draws it as a bar.
func WithProgress(fn func(blob ocispec.Descriptor, done, total int64)) CopyOption {
	return func(o *copyOptions) { o.progress = fn }
}

// CopySource is what Copy reads from.
type CopySource interface {
	Fetcher
	Resolver
}

// CopyTarget is what Copy writes to.
type CopyTarget interface {
	Exister
	BlobPusher
	ManifestPusher
	Tagger
}

// Copy copies the manifest (or index, with everything under it) that tag
// points at in src's repository srcRepo to dst's repository dstRepo, under
// the same tag, preserving digests, the way `oras cp -r` and `cosign copy`
// do: blobs first (streamed, skipped when dst has them), then manifests,
// then the tag. It also carries along what is attached to it by tag: the
// cosign signature ("sha256-<hex>.sig"), attestation (".att") and the
// referrers tag schema index ("sha256-<hex>"), when src has them.
//
// tag is immutable in dst (Tagger.Tag): copying onto a tag that points at
// other content returns an error wrapping ErrImmutableTag. It returns the
// descriptor copied.
func Copy(ctx context.Context, src CopySource, srcRepo string, dst CopyTarget, dstRepo, tag string, opts ...CopyOption) (ocispec.Descriptor, error) {
	var o copyOptions
	for _, opt := range opts {
		opt(&o)
	}
	desc, err := src.Resolve(ctx, srcRepo, tag)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("copy %s:%s: %w", srcRepo, tag, err)
	}
	if err := CopyGraph(ctx, src, srcRepo, dst, dstRepo, desc, opts...); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("copy %s:%s to %s: %w", srcRepo, tag, dstRepo, err)
	}
	if err := dst.Tag(ctx, dstRepo, desc, tag); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("copy %s:%s to %s: %w", srcRepo, tag, dstRepo, err)
	}
	for _, suffix := range []string{".sig", ".att", ""} {
		attached := desc.Digest.Algorithm().String() + "-" + desc.Digest.Encoded() + suffix
		ad, err := src.Resolve(ctx, srcRepo, attached)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return desc, fmt.Errorf("copy %s:%s: %w", srcRepo, attached, err)
		}
		if err := CopyGraph(ctx, src, srcRepo, dst, dstRepo, ad, opts...); err != nil {
			return desc, fmt.Errorf("copy %s:%s to %s: %w", srcRepo, attached, dstRepo, err)
		}
		if err := dst.Move(ctx, dstRepo, ad, attached); err != nil {
			return desc, fmt.Errorf("copy %s:%s to %s: %w", srcRepo, attached, dstRepo, err)
		}
	}
	return desc, nil
}

// CopyGraph copies desc, a manifest or index, and everything it references
// (but its subject) from src's repository srcRepo to dst's dstRepo, children
// before parents, blobs streamed and skipped when dst has them. It tags
// nothing.
func CopyGraph(ctx context.Context, src CopySource, srcRepo string, dst CopyTarget, dstRepo string, desc ocispec.Descriptor, opts ...CopyOption) error {
	var o copyOptions
	for _, opt := range opts {
		opt(&o)
	}
	if ok, err := dst.Exists(ctx, dstRepo, desc); err != nil {
		return err
	} else if ok {
		return nil
	}
	if desc.Size > artifact.MaxManifestSize {
		return fmt.Errorf("manifest %s of %d bytes: %w", desc.Digest, desc.Size, ErrTooLarge)
	}
	rc, err := src.Fetch(ctx, srcRepo, desc)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(io.LimitReader(rc, artifact.MaxManifestSize+1))
	rc.Close()
	if err != nil {
		return err
	}
	var m struct {
		MediaType string               `json:"mediaType"`
		Config    *ocispec.Descriptor  `json:"config"`
		Layers    []ocispec.Descriptor `json:"layers"`
		Manifests []ocispec.Descriptor `json:"manifests"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		return fmt.Errorf("manifest %s: %w: %v", desc.Digest, artifact.ErrInvalidManifest, err)
	}
	for _, child := range m.Manifests {
		if err := CopyGraph(ctx, src, srcRepo, dst, dstRepo, child, opts...); err != nil {
			return err
		}
	}
	blobs := m.Layers
	if m.Config != nil {
		blobs = append([]ocispec.Descriptor{*m.Config}, blobs...)
	}
	for _, b := range blobs {
		if err := copyBlob(ctx, src, srcRepo, dst, dstRepo, b, o.progress); err != nil {
			return err
		}
	}
	mediaType := desc.MediaType
	if mediaType == "" {
		mediaType = m.MediaType
	}
	_, err = dst.PushManifest(ctx, dstRepo, mediaType, body)
	return err
}

func copyBlob(ctx context.Context, src CopySource, srcRepo string, dst CopyTarget, dstRepo string, b ocispec.Descriptor, progress func(ocispec.Descriptor, int64, int64)) error {
	if ok, err := dst.Exists(ctx, dstRepo, b); err != nil || ok {
		return err
	}
	if len(b.Data) > 0 {
		_, err := dst.PushBlob(ctx, dstRepo, b, bytes.NewReader(b.Data))
		return err
	}
	rc, err := src.Fetch(ctx, srcRepo, b)
	if err != nil {
		return fmt.Errorf("blob %s: %w", b.Digest, err)
	}
	defer rc.Close()
	var r io.Reader = rc
	if progress != nil {
		// Keep the VerifyingReader visible to dst, so it need not hash again.
		r = &verifyingProgress{progressReader: progressReader{r: rc, total: b.Size, fn: func(done, total int64) { progress(b, done, total) }}, rc: rc}
	}
	if _, err := dst.PushBlob(ctx, dstRepo, b, r); err != nil {
		return fmt.Errorf("blob %s: %w", b.Digest, err)
	}
	return nil
}

// verifyingProgress reports progress and, when its source is a
// VerifyingReader, passes that on.
type verifyingProgress struct {
	progressReader
	rc io.Reader
}

func (v *verifyingProgress) Verifies() ocispec.Descriptor {
	if vr, ok := v.rc.(VerifyingReader); ok {
		return vr.Verifies()
	}
	return ocispec.Descriptor{}
}

// SkipVerify passes registry.SkipVerifier on to the source.
func (v *verifyingProgress) SkipVerify() {
	if sv, ok := v.rc.(SkipVerifier); ok {
		sv.SkipVerify()
	}
}
