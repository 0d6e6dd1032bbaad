package registry

import (
	"bytes"
	"context"
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
	// created lists the blobs and manifests this copy wrote to the
	// destination that it did not hold before, and tagged the mutable tags
	// it made there (cosign's, the referrers tag schema's), for undo.
	created []digest.Digest
	tagged  []string
	dstRepo string // "": the source's repository
}

// ToRepository has Copy or CopyGraph write to repository repo of the
// destination instead of the repository of the same name as the source's.
func ToRepository(repo string) CopyOption {
	return func(o *copyOptions) { o.dstRepo = repo }
}

// target returns the destination repository for source repository srcRepo.
func (o *copyOptions) target(srcRepo string) string {
	if o.dstRepo == "" {
		return srcRepo
	}
	return o.dstRepo
}

// Discarder is implemented by stores that can take back what a failed
// operation wrote: the layout store. A registry collects what is left
// unreferenced itself (distribution's garbage collection).
type Discarder interface {
	// Discard removes tags, tags of repository repo that a failed
	// operation made (none of them existed before it), then those of blobs
	// (blobs and manifests it newly wrote there) that nothing the
	// repository holds reaches, then the repository itself if it is left
	// with no tag and no blob.
	Discard(ctx context.Context, repo string, tags []string, blobs []digest.Digest) error
}

// undo takes back what the copy that failed with err made (Discard).
func (o *copyOptions) undo(ctx context.Context, dst CopyTarget, dstRepo string, err error) error {
	return Discard(ctx, dst, Written{Repo: dstRepo, Tags: o.tagged, Blobs: o.created}, err)
}

// Written is what an operation wrote in repository Repo of a store and
// would take back if it failed: the Tags it made (none existed before
// it) and the Blobs (and manifests) it newly stored.
type Written struct {
	Repo  string
	Tags  []string
	Blobs []digest.Digest
}

// Discard has st, if it is a Discarder, take back w, what an operation
// that failed with err wrote (the blobs that nothing else reaches, see
// Discarder), even once ctx is done: an interrupted operation is cleaned
// up too. It returns err, with what went wrong in taking them back. Copy,
// CopyGraph, PushImage and Publish call it when they fail; a caller that
// pushed blobs before calling them (PushDisk) calls it when it gives up.
func Discard(ctx context.Context, st any, w Written, err error) error {
	d, ok := st.(Discarder)
	if !ok {
		return err
	}
	if derr := d.Discard(context.WithoutCancel(ctx), w.Repo, w.Tags, w.Blobs); derr != nil {
		return fmt.Errorf("%w (and taking back what it wrote failed: %v)", err, derr)
	}
	return err
}

// addReferrer is AddReferrer, noting the referrers tag schema index's tag
// in o.tagged if it makes it in a Discarder (the others are not asked to
// take back anything: no need to look).
func (o *copyOptions) addReferrer(ctx context.Context, dst CopyTarget, dstRepo string, subject digest.Digest, referrer ocispec.Descriptor) error {
	if _, ok := dst.(Discarder); !ok {
		return AddReferrer(ctx, dst, dstRepo, subject, referrer)
	}
	tag := ReferrersTag(subject)
	_, err := dst.Resolve(ctx, dstRepo, tag)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	absent := err != nil
	if err := AddReferrer(ctx, dst, dstRepo, subject, referrer); err != nil {
		return err
	}
	if absent {
		if _, err := dst.Resolve(ctx, dstRepo, tag); err == nil {
			o.tagged = append(o.tagged, tag)
		}
	}
	return nil
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
// points at in src's repository srcRepo to dst's repository of the same
// name (or the one ToRepository names), under the same tag, preserving digests, the way `oras cp -r` and `cosign copy`
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
//
// Every manifest is checked before any blob it references is fetched
// (artifact.ValidateManifestDescriptor, then artifact.ParseOCI): Docker
// schema 1, a manifest with both layers and manifests, a mediaType field
// that contradicts the media type it was served as, a descriptor without a
// media type, with a digest that does not parse or is not sha256, or with
// a negative or absurd size, is refused with an error wrapping
// artifact.ErrInvalidOCI. A copy that fails has a Discarder destination
// (the layout store) take back the blobs and manifests it wrote that
// nothing else reaches, and the repository if it is left empty.
func Copy(ctx context.Context, src CopySource, srcRepo string, dst CopyTarget, tag string, opts ...CopyOption) (ocispec.Descriptor, error) {
	var o copyOptions
	for _, opt := range opts {
		opt(&o)
	}
	dstRepo := o.target(srcRepo)
	desc, err := src.Resolve(ctx, srcRepo, tag)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("copy %s:%s: %w", srcRepo, tag, err)
	}
	fail := func(err error) (ocispec.Descriptor, error) {
		return ocispec.Descriptor{}, o.undo(ctx, dst, dstRepo, fmt.Errorf("copy %s:%s to %s: %w", srcRepo, tag, dstRepo, err))
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
			if err = dst.Move(ctx, dstRepo, ad, attached); err == nil {
				o.tagged = append(o.tagged, attached)
			}
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
			err = o.addReferrer(ctx, dst, dstRepo, subject.Digest, r)
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
	if !artifact.IsIndexMediaType(subject.MediaType) {
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

// indexManifests reads index from src, checks it (artifact.ParseOCI) and
// returns its manifests.
func indexManifests(ctx context.Context, src CopySource, repo string, index ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	b, err := ocistore.ReadAll(ctx, src, repo, index, artifact.MaxManifestSize)
	if err != nil {
		return nil, fmt.Errorf("index %s: %w", index.Digest, err)
	}
	m, err := artifact.ParseOCI(index.MediaType, b)
	if err != nil {
		return nil, fmt.Errorf("index %s: %w", index.Digest, err)
	}
	return m.Manifests, nil
}

// CopyGraph copies desc, a manifest or index, and everything it references
// (but its subject) from src's repository srcRepo to dst's repository of
// the same name (or the one ToRepository names), children
// before parents, blobs streamed and skipped when dst has them. Every
// manifest of the graph is read and checked first, as Copy does, so that
// an invalid one is refused before any blob is fetched. A manifest with a
// subject is recorded among the subject's referrers in dst (see
// AddReferrer), as the distribution spec asks of a push. It tags nothing
// else. If it fails, a Discarder dst takes back what it wrote, as in Copy.
func CopyGraph(ctx context.Context, src CopySource, srcRepo string, dst CopyTarget, desc ocispec.Descriptor, opts ...CopyOption) error {
	var o copyOptions
	for _, opt := range opts {
		opt(&o)
	}
	dstRepo := o.target(srcRepo)
	if _, err := copyGraph(ctx, src, srcRepo, dst, dstRepo, desc, &o); err != nil {
		return o.undo(ctx, dst, dstRepo, fmt.Errorf("copy %s@%s to %s: %w", srcRepo, desc.Digest, dstRepo, err))
	}
	return nil
}

// MaxGraphSize bounds the bytes of the manifests one copied graph (a
// manifest, or an index and the manifests under it) holds in memory while
// they are checked, before any blob moves: 64 MiB, thousands of times a
// multi-platform image's.
const MaxGraphSize = 64 << 20

// node is a manifest of a graph being copied, read and checked.
type node struct {
	desc ocispec.Descriptor
	body []byte
	m    *artifact.OCIManifest
}

// collect reads desc and the manifests under it that dst lacks from src,
// checking each (artifact.ValidateManifestDescriptor before it is fetched,
// artifact.ParseOCI after), and appends them to nodes children first.
// size counts the bytes read, within MaxGraphSize.
func collect(ctx context.Context, src CopySource, srcRepo string, dst CopyTarget, dstRepo string, desc ocispec.Descriptor, seen map[digest.Digest]bool, nodes *[]node, size *int64) error {
	if err := artifact.ValidateManifestDescriptor(desc); err != nil {
		return err
	}
	if seen[desc.Digest] {
		return nil
	}
	seen[desc.Digest] = true
	if ok, err := dst.Exists(ctx, dstRepo, desc); err != nil || ok {
		return err
	}
	body, err := ocistore.ReadAll(ctx, src, srcRepo, desc, artifact.MaxManifestSize)
	if err != nil {
		return fmt.Errorf("manifest %s: %w", desc.Digest, err)
	}
	if *size += int64(len(body)); *size > MaxGraphSize {
		return fmt.Errorf("manifest %s: the graph's manifests exceed %d bytes: %w", desc.Digest, MaxGraphSize, ErrTooLarge)
	}
	m, err := artifact.ParseOCI(desc.MediaType, body)
	if err != nil {
		return fmt.Errorf("manifest %s: %w", desc.Digest, err)
	}
	for _, child := range m.Manifests {
		if err := collect(ctx, src, srcRepo, dst, dstRepo, child, seen, nodes, size); err != nil {
			return err
		}
	}
	*nodes = append(*nodes, node{desc: desc, body: body, m: m})
	return nil
}

// copyGraph is CopyGraph without the undo; it reports whether it pushed
// desc (false: dst had it).
func copyGraph(ctx context.Context, src CopySource, srcRepo string, dst CopyTarget, dstRepo string, desc ocispec.Descriptor, o *copyOptions) (bool, error) {
	var nodes []node
	var size int64
	if err := collect(ctx, src, srcRepo, dst, dstRepo, desc, map[digest.Digest]bool{}, &nodes, &size); err != nil {
		return false, err
	}
	for _, n := range nodes {
		blobs := n.m.Layers
		if n.m.Config != nil {
			blobs = append([]ocispec.Descriptor{*n.m.Config}, blobs...)
		}
		for _, b := range blobs {
			if err := copyBlob(ctx, src, srcRepo, dst, dstRepo, b, o); err != nil {
				return false, err
			}
		}
		pushed, err := dst.PushManifest(ctx, dstRepo, n.desc.MediaType, n.body)
		if err != nil {
			return false, err
		}
		o.created = append(o.created, pushed.Digest)
		if n.m.Subject == nil {
			continue
		}
		// The descriptor the referrers API would list (distribution spec v1.1):
		// artifactType, else the config's media type, and the annotations.
		pushed.ArtifactType = n.m.ArtifactType
		if pushed.ArtifactType == "" && n.m.Config != nil {
			pushed.ArtifactType = n.m.Config.MediaType
		}
		pushed.Annotations = n.m.Annotations
		if err := o.addReferrer(ctx, dst, dstRepo, n.m.Subject.Digest, pushed); err != nil {
			return false, err
		}
	}
	return len(nodes) > 0, nil
}

// copyBlob copies blob b unless dst has it, and notes it in o.created.
func copyBlob(ctx context.Context, src CopySource, srcRepo string, dst CopyTarget, dstRepo string, b ocispec.Descriptor, o *copyOptions) error {
	if ok, err := dst.Exists(ctx, dstRepo, b); err != nil || ok {
		return err
	}
	progress := o.progress
	if len(b.Data) > 0 {
		if _, err := dst.PushBlob(ctx, dstRepo, b, bytes.NewReader(b.Data)); err != nil {
			return fmt.Errorf("blob %s: %w", b.Digest, err)
		}
		o.created = append(o.created, b.Digest)
		return nil
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
	o.created = append(o.created, b.Digest)
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
