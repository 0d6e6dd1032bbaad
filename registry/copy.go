package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/internal/ocistore"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// CopyOption configures Copy and CopyGraph.
type CopyOption func(*copyOptions)

type copyOptions struct {
	progress func(blob ocispec.Descriptor, done, total int64)
	merge    MergeFunc
}

// WithProgress calls fn as each blob moves, with the blob's descriptor and
// the bytes sent so far out of its size; the CLI draws it as a bar.
func WithProgress(fn func(blob ocispec.Descriptor, done, total int64)) CopyOption {
	return func(o *copyOptions) { o.progress = fn }
}

// A MergeFunc makes tag, a cosign signature or attestation tag
// ("sha256-<hex>.sig" or ".att") that already points at other signatures
// in repository repo of dst, hold those and the ones of incoming, a
// manifest Copy has just copied into repo. sign.MergeSignatures is one.
type MergeFunc func(ctx context.Context, dst CopyTarget, repo, tag string, incoming ocispec.Descriptor) error

// WithMerge has Copy call fn when the destination already has signatures
// or attestations of its own under a cosign tag, instead of failing.
func WithMerge(fn MergeFunc) CopyOption {
	return func(o *copyOptions) { o.merge = fn }
}

// CopySource is what Copy reads from.
type CopySource interface {
	Fetcher
	Resolver
}

// CopyTarget is what Copy writes to. It reads too: a copy adds to the
// referrers and signatures the destination already has.
type CopyTarget interface {
	Fetcher
	Resolver
	Exister
	BlobPusher
	ManifestPusher
	Tagger
}

// Copy copies the manifest (or index, with everything under it) that tag
// points at in src's repository srcRepo to dst's repository dstRepo, under
// the same tag, preserving digests, the way `oras cp -r` and `cosign copy`
// do. It also carries along what is attached to it, to the manifests of
// an index, and to those attachments in turn, to any depth: the cosign
// signature ("sha256-<hex>.sig") and
// attestation (".att") tags, and its referrers, listed through the OCI 1.1
// referrers API where src has it and the referrers tag schema where not,
// and recorded in dst the same way (see AddReferrer). Order: blobs
// (streamed, skipped when dst has them), manifests, attachments, and the
// tag last, so that a failed copy leaves no tag naming an artifact whose
// signatures did not arrive.
//
// Nothing dst holds is replaced: referrers are added to dst's own; a
// cosign tag that in dst points at other signatures is merged by the
// WithMerge function, or else is an error wrapping ErrImmutableTag. tag is
// immutable in dst (Tagger.Tag): copying onto a tag that points at other
// content returns an error wrapping ErrImmutableTag before anything is
// written. It returns the descriptor copied.
func Copy(ctx context.Context, src CopySource, srcRepo string, dst CopyTarget, dstRepo, tag string, opts ...CopyOption) (ocispec.Descriptor, error) {
	var o copyOptions
	for _, opt := range opts {
		opt(&o)
	}
	desc, err := src.Resolve(ctx, srcRepo, tag)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("copy %s:%s: %w", srcRepo, tag, err)
	}
	fail := func(err error) (ocispec.Descriptor, error) {
		return ocispec.Descriptor{}, fmt.Errorf("copy %s:%s to %s: %w", srcRepo, tag, dstRepo, err)
	}
	if cur, err := dst.Resolve(ctx, dstRepo, tag); err == nil && cur.Digest != desc.Digest {
		return fail(fmt.Errorf("%s:%s points at %s, not %s: %w", dstRepo, tag, cur.Digest, desc.Digest, ErrImmutableTag))
	} else if err != nil && !errors.Is(err, ErrNotFound) {
		return fail(err)
	}
	if _, err := copyGraph(ctx, src, srcRepo, dst, dstRepo, desc, &o); err != nil {
		return fail(err)
	}
	if err := copyAttached(ctx, src, srcRepo, dst, dstRepo, desc, map[digest.Digest]bool{}, &o); err != nil {
		return fail(err)
	}
	if err := dst.Tag(ctx, dstRepo, desc, tag); err != nil {
		return fail(err)
	}
	return desc, nil
}

// copyAttached copies what is attached to subject, by cosign tag or as a
// referrer, and what is attached to those in turn; seen holds the digests
// already done, so a cycle ends.
func copyAttached(ctx context.Context, src CopySource, srcRepo string, dst CopyTarget, dstRepo string, subject ocispec.Descriptor, seen map[digest.Digest]bool, o *copyOptions) error {
	if seen[subject.Digest] {
		return nil
	}
	seen[subject.Digest] = true
	for _, suffix := range []string{".sig", ".att"} {
		attached := ReferrersTag(subject.Digest) + suffix
		ad, err := src.Resolve(ctx, srcRepo, attached)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("%s:%s: %w", srcRepo, attached, err)
		}
		if _, err := copyGraph(ctx, src, srcRepo, dst, dstRepo, ad, o); err != nil {
			return fmt.Errorf("%s:%s: %w", srcRepo, attached, err)
		}
		cur, err := dst.Resolve(ctx, dstRepo, attached)
		switch {
		case errors.Is(err, ErrNotFound):
			err = dst.Move(ctx, dstRepo, ad, attached)
		case err != nil, cur.Digest == ad.Digest:
		case o.merge != nil:
			err = o.merge(ctx, dst, dstRepo, attached, ad)
		default:
			err = fmt.Errorf("%s:%s already holds other signatures, which a copy does not replace: %w", dstRepo, attached, ErrImmutableTag)
		}
		if err != nil {
			return fmt.Errorf("%s:%s: %w", dstRepo, attached, err)
		}
		if err := copyAttached(ctx, src, srcRepo, dst, dstRepo, ad, seen, o); err != nil {
			return err
		}
	}
	refs, err := ocistore.Referrers(ctx, src, srcRepo, subject.Digest, "")
	if err != nil {
		return fmt.Errorf("referrers of %s@%s: %w", srcRepo, subject.Digest, err)
	}
	for _, r := range refs {
		pushed, err := copyGraph(ctx, src, srcRepo, dst, dstRepo, r, o)
		if err == nil && !pushed {
			// dst had r: an earlier copy may have stopped before indexing
			// it (a push indexes it itself). AddReferrer adds each once.
			err = AddReferrer(ctx, dst, dstRepo, subject.Digest, r)
		}
		if err != nil {
			return fmt.Errorf("referrer %s of %s: %w", r.Digest, subject.Digest, err)
		}
		if err := copyAttached(ctx, src, srcRepo, dst, dstRepo, r, seen, o); err != nil {
			return err
		}
	}
	// What is attached to the manifests of an index (a multi-platform
	// image signed per platform) comes along too, as cosign copy does.
	if subject.MediaType != ocispec.MediaTypeImageIndex && subject.MediaType != dockerManifestList {
		return nil
	}
	children, err := indexManifests(ctx, src, srcRepo, subject)
	if err != nil {
		return err
	}
	for _, child := range children {
		if err := copyAttached(ctx, src, srcRepo, dst, dstRepo, child, seen, o); err != nil {
			return err
		}
	}
	return nil
}

// dockerManifestList is the media type of a Docker manifest list, the
// index of Docker's image manifest v2 schema 2.
const dockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"

// indexManifests reads index from src and returns its manifests.
func indexManifests(ctx context.Context, src CopySource, repo string, index ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	if index.Size > artifact.MaxManifestSize {
		return nil, fmt.Errorf("index %s of %d bytes: %w", index.Digest, index.Size, ErrTooLarge)
	}
	rc, err := src.Fetch(ctx, repo, index)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var idx ocispec.Index
	if err := json.NewDecoder(io.LimitReader(rc, artifact.MaxManifestSize+1)).Decode(&idx); err != nil {
		return nil, fmt.Errorf("index %s: %w: %v", index.Digest, artifact.ErrInvalidManifest, err)
	}
	return idx.Manifests, nil
}

// CopyGraph copies desc, a manifest or index, and everything it references
// (but its subject) from src's repository srcRepo to dst's dstRepo, children
// before parents, blobs streamed and skipped when dst has them. A manifest
// with a subject is recorded among the subject's referrers in dst (see
// AddReferrer), as the distribution spec asks of a push. It tags nothing
// else.
func CopyGraph(ctx context.Context, src CopySource, srcRepo string, dst CopyTarget, dstRepo string, desc ocispec.Descriptor, opts ...CopyOption) error {
	var o copyOptions
	for _, opt := range opts {
		opt(&o)
	}
	_, err := copyGraph(ctx, src, srcRepo, dst, dstRepo, desc, &o)
	return err
}

// copyGraph is CopyGraph; it reports whether it pushed desc (false: dst
// had it).
func copyGraph(ctx context.Context, src CopySource, srcRepo string, dst CopyTarget, dstRepo string, desc ocispec.Descriptor, o *copyOptions) (bool, error) {
	if ok, err := dst.Exists(ctx, dstRepo, desc); err != nil || ok {
		return false, err
	}
	if desc.Size > artifact.MaxManifestSize {
		return false, fmt.Errorf("manifest %s of %d bytes: %w", desc.Digest, desc.Size, ErrTooLarge)
	}
	rc, err := src.Fetch(ctx, srcRepo, desc)
	if err != nil {
		return false, err
	}
	body, err := io.ReadAll(io.LimitReader(rc, artifact.MaxManifestSize+1))
	rc.Close()
	if err != nil {
		return false, err
	}
	var m struct {
		MediaType    string               `json:"mediaType"`
		ArtifactType string               `json:"artifactType"`
		Config       *ocispec.Descriptor  `json:"config"`
		Layers       []ocispec.Descriptor `json:"layers"`
		Manifests    []ocispec.Descriptor `json:"manifests"`
		Subject      *ocispec.Descriptor  `json:"subject"`
		Annotations  map[string]string    `json:"annotations"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		return false, fmt.Errorf("manifest %s: %w: %v", desc.Digest, artifact.ErrInvalidManifest, err)
	}
	for _, child := range m.Manifests {
		if _, err := copyGraph(ctx, src, srcRepo, dst, dstRepo, child, o); err != nil {
			return false, err
		}
	}
	blobs := m.Layers
	if m.Config != nil {
		blobs = append([]ocispec.Descriptor{*m.Config}, blobs...)
	}
	for _, b := range blobs {
		if err := copyBlob(ctx, src, srcRepo, dst, dstRepo, b, o.progress); err != nil {
			return false, err
		}
	}
	mediaType := desc.MediaType
	if mediaType == "" {
		mediaType = m.MediaType
	}
	pushed, err := dst.PushManifest(ctx, dstRepo, mediaType, body)
	if err != nil || m.Subject == nil {
		return err == nil, err
	}
	// The descriptor the referrers API would list (distribution spec v1.1):
	// artifactType, else the config's media type, and the annotations.
	pushed.ArtifactType = m.ArtifactType
	if pushed.ArtifactType == "" && m.Config != nil {
		pushed.ArtifactType = m.Config.MediaType
	}
	pushed.Annotations = m.Annotations
	return true, AddReferrer(ctx, dst, dstRepo, m.Subject.Digest, pushed)
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
