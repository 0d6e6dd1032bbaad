package registry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/artifact/disk"
	"github.com/brickyard/brickyard/internal/faults"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Publisher is what Publish needs of a store.
type Publisher interface {
	BlobPusher
	ReferrerStore
}

// PublishOption configures Publish.
type PublishOption func(*publishOptions)

type publishOptions struct{ adoptBuildTime bool }

// AdoptBuildTime tells Publish that the artifact's build time is a default
// (the time of this run), not a fact its caller gave: if the version tag
// already holds an artifact equal to it in everything but the build time
// (same name, kind, version, platform, parents, build info, annotations and
// content: layer digests, machine images, tracked image), Publish adopts
// the stored one instead of failing. This is what makes a publish that was
// interrupted after its tag and before its catalog record complete on the
// next run, and an identical publish a no-op.
func AdoptBuildTime() PublishOption { return func(o *publishOptions) { o.adoptBuildTime = true } }

// Publication is what Publish did.
type Publication struct {
	// Encoded is what the version tag holds: its Descriptor.Digest is the
	// artifact's identity.
	*artifact.Encoded
	// Artifact is the artifact the tag holds: the one given, or the stored
	// one Publish adopted (whose build time may differ).
	Artifact *artifact.Artifact
	// Existed is true when the tag already held this content: Publish wrote
	// nothing but what an interrupted earlier publish may have left undone
	// (the tracked image's referrer).
	Existed bool
}

// Publish pushes a, whose disk blobs (if any) are already in the store, to
// repository a.Name. Order of writes: config and empty blobs, then the
// manifest, then the immutable version tag (artifact.Tag), then, for an
// OCI-image artifact, its entry among the tracked image's referrers (see
// AddReferrer). Each write is idempotent, and nothing refers to a blob or
// manifest before it is complete, so a publish stopped at any point is
// completed by publishing again.
//
// If the tag already points at a's encoding, or (with AdoptBuildTime) at
// an artifact that differs from a only by its build time, Publish returns
// that with Existed set. If it points at other content, the error wraps
// ErrImmutableTag, names both digests, and the tag is unchanged. A
// publisher that loses a race for the tag gets the same answer, after
// checking whether the winner published the same content.
//
// A publish that fails has a Discarder store (the layout store) take back
// its layers (the disk blobs), config and manifest if nothing else
// reaches them.
func Publish(ctx context.Context, s Publisher, a *artifact.Artifact, opts ...PublishOption) (_ *Publication, err error) {
	var o publishOptions
	for _, opt := range opts {
		opt(&o)
	}
	e, err := artifact.Encode(a)
	if err != nil {
		return nil, fmt.Errorf("publish %s: %w", a.Ref(), err)
	}
	defer func() {
		if err != nil {
			blobs := []digest.Digest{e.Descriptor.Digest}
			if e.Config != nil {
				blobs = append(blobs, e.ConfigDesc.Digest)
			}
			for _, l := range e.Layers {
				blobs = append(blobs, l.Digest)
			}
			err = Discard(ctx, s, Written{Repo: a.Name, Blobs: blobs}, err)
		}
	}()
	tag, _ := artifact.Tag(a.Version) // Encode validated it
	pub, err := existing(ctx, s, a, e, tag, o)
	if err != nil || pub != nil {
		return pub, err
	}
	if err := pushEncoded(ctx, s, a, e); err != nil {
		return nil, err
	}
	faults.Point("manifest")
	if err := s.Tag(ctx, a.Name, e.Descriptor, tag); err != nil {
		if errors.Is(err, ErrImmutableTag) {
			// Another publisher won the tag between the check and now.
			if pub, perr := existing(ctx, s, a, e, tag, o); perr != nil || pub != nil {
				return pub, perr
			}
		}
		return nil, fmt.Errorf("publish %s: tag %s: %w", a.Ref(), tag, err)
	}
	faults.Point("tag")
	pub = &Publication{Encoded: e, Artifact: a}
	return pub, addReferrer(ctx, s, pub)
}

// ArtifactPusher is what PushArtifact needs of a store.
type ArtifactPusher interface {
	BlobPusher
	ManifestPusher
}

// PushArtifact pushes a, whose disk blobs (if any) are already in the
// store, to repository a.Name without tagging it: its config and empty
// blobs, then its manifest. It is how the members of an index are stored
// before the index that lists them is published (Publish), which tags the
// version only once every member is in the store. It returns a's encoding.
// Errors: a's validation errors (a KindIndex is refused: publish it), the
// store's, naming a.
func PushArtifact(ctx context.Context, s ArtifactPusher, a *artifact.Artifact) (*artifact.Encoded, error) {
	if a.Kind == artifact.KindIndex {
		return nil, fmt.Errorf("push %s: an index is published, not pushed: %w", a.Ref(), artifact.ErrInvalidArtifact)
	}
	e, err := artifact.Encode(a)
	if err != nil {
		return nil, fmt.Errorf("push %s: %w", a.Ref(), err)
	}
	return e, pushEncoded(ctx, s, a, e)
}

// pushEncoded pushes e, the encoding of a: config and empty blobs (none for
// an index) and the manifest or index.
func pushEncoded(ctx context.Context, s ArtifactPusher, a *artifact.Artifact, e *artifact.Encoded) error {
	if a.Kind != artifact.KindIndex {
		if _, err := s.PushBlob(ctx, a.Name, e.ConfigDesc, bytes.NewReader(e.Config)); err != nil {
			return fmt.Errorf("publish %s: push config: %w", a.Ref(), err)
		}
		if len(a.Disks) == 0 {
			if _, err := s.PushBlob(ctx, a.Name, ocispec.DescriptorEmptyJSON, bytes.NewReader(ocispec.DescriptorEmptyJSON.Data)); err != nil {
				return fmt.Errorf("publish %s: push empty blob: %w", a.Ref(), err)
			}
		}
	}
	if _, err := s.PushManifest(ctx, a.Name, e.Descriptor.MediaType, e.Manifest); err != nil {
		return fmt.Errorf("publish %s: push manifest: %w", a.Ref(), err)
	}
	return nil
}

// existing returns what the version tag holds if it is a (or, with
// o.adoptBuildTime, a but for the build time), after completing its
// referrer; nil if the tag does not exist; or an error wrapping
// ErrImmutableTag naming both digests if it holds other content.
func existing(ctx context.Context, s Publisher, a *artifact.Artifact, e *artifact.Encoded, tag string, o publishOptions) (*Publication, error) {
	cur, err := s.Resolve(ctx, a.Name, tag)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("publish %s: %w", a.Ref(), err)
	}
	if cur.Digest == e.Descriptor.Digest {
		pub := &Publication{Encoded: e, Artifact: a, Existed: true}
		return pub, addReferrer(ctx, s, pub)
	}
	taken := func(why string) error {
		return fmt.Errorf("publish %s: %s:%s points at %s, not %s (%s): versions are immutable, publish a new version: %w",
			a.Ref(), a.Name, tag, cur.Digest, e.Descriptor.Digest, why, ErrImmutableTag)
	}
	if !o.adoptBuildTime || a.Kind == artifact.KindIndex {
		return nil, taken("other content or another build time")
	}
	stored, manifest, cfg, err := FetchArtifact(ctx, s, a.Name, cur)
	if err != nil {
		return nil, taken(fmt.Sprintf("and it cannot be read back: %v", err))
	}
	same := *a
	same.Build.Created = stored.Build.Created
	if se, err := artifact.Encode(&same); err != nil || se.Descriptor.Digest != cur.Digest {
		return nil, taken("other content")
	}
	m, _, err := artifact.ParseManifest(manifest)
	if err != nil {
		return nil, taken(err.Error())
	}
	cur.ArtifactType = m.ArtifactType
	pub := &Publication{Existed: true, Artifact: stored, Encoded: &artifact.Encoded{
		Manifest: manifest, Descriptor: cur, Config: cfg, ConfigDesc: m.Config, Layers: m.Layers}}
	return pub, addReferrer(ctx, s, pub)
}

// addReferrer lists an OCI-image artifact among the referrers of the image
// it tracks, so that oras discover and the like find it from the image.
// Publishing again completes this step if it failed.
func addReferrer(ctx context.Context, s Publisher, pub *Publication) error {
	if pub.Artifact.Image == nil {
		return nil
	}
	if err := AddReferrer(ctx, s, pub.Artifact.Name, pub.Artifact.Image.Digest, pub.Descriptor); err != nil {
		return fmt.Errorf("publish %s: %w", pub.Artifact.Ref(), err)
	}
	return nil
}

// PushDisk inspects the disk file at path (disk.Inspect, with opts) and
// refuses it before anything is written if it is unsafe to hand to a
// hypervisor (an error wrapping disk.ErrUnsafeDisk that names the file and
// each reason) or unreadable (disk.ErrNotDisk, ErrTruncated, ErrCorrupt);
// then it streams it into repository repo in one pass, hashing it on the
// way (a store resuming after a failure may seek back over the file), and
// returns the artifact.Disk to put in a VM-disk artifact, its Facts being
// what the inspector found. If progress is not nil it is called with the
// file's bytes read so far and its total size. Errors name the path.
func PushDisk(ctx context.Context, s BlobPusher, repo, path string, progress func(done, total int64), opts ...disk.Option) (artifact.Disk, error) {
	f, err := os.Open(path)
	if err != nil {
		return artifact.Disk{}, fmt.Errorf("push disk: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return artifact.Disk{}, fmt.Errorf("push disk: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return artifact.Disk{}, fmt.Errorf("push disk %s: not a regular file: %w", path, disk.ErrNotDisk)
	}
	info, err := disk.Inspect(path, f, fi.Size(), opts...)
	if err != nil {
		return artifact.Disk{}, err
	}
	var r io.Reader = f
	if progress != nil {
		r = &progressReader{r: f, total: info.Size, fn: progress}
	}
	desc, err := s.PushBlob(ctx, repo, ocispec.Descriptor{MediaType: info.Format.MediaType(), Size: info.Size}, r)
	if err != nil {
		return artifact.Disk{}, fmt.Errorf("push disk %s: %w", path, err)
	}
	if desc.Size != info.Size {
		return artifact.Disk{}, fmt.Errorf("push disk %s: %d bytes pushed, file has %d (changed while reading?): %w", path, desc.Size, info.Size, ErrDigestMismatch)
	}
	facts := info.Facts
	return artifact.Disk{
		Format:      info.Format,
		VirtualSize: info.VirtualSize,
		Title:       filepath.Base(path),
		Digest:      desc.Digest,
		Size:        desc.Size,
		Facts:       &facts,
	}, nil
}

// PushDisks inspects every disk file in paths first (disk.InspectFile,
// with opts), so that nothing is written when one of them is unsafe or
// unreadable, then pushes each with PushDisk, which inspects it again as
// it opens it. progress, if not nil, gives the progress callback for a
// path (or nil). The disks come back in the order of paths. If a push
// fails, a Discarder store takes back the disks already pushed that
// nothing reaches (see Discard).
func PushDisks(ctx context.Context, s BlobPusher, repo string, paths []string, progress func(path string) func(done, total int64), opts ...disk.Option) ([]artifact.Disk, error) {
	var errs []error
	for _, p := range paths {
		if _, err := disk.InspectFile(p, opts...); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	disks := make([]artifact.Disk, 0, len(paths))
	for _, p := range paths {
		var fn func(done, total int64)
		if progress != nil {
			fn = progress(p)
		}
		d, err := PushDisk(ctx, s, repo, p, fn, opts...)
		if err != nil {
			// The disks already pushed go too, unless something reaches them.
			pushed := make([]digest.Digest, len(disks))
			for i, d := range disks {
				pushed[i] = d.Digest
			}
			return nil, Discard(ctx, s, Written{Repo: repo, Blobs: pushed}, err)
		}
		disks = append(disks, d)
	}
	return disks, nil
}

// BackingFromParents is the disk.Option that lets a qcow2 overlay be
// published (see disk.AllowBackingFile) when its backing file is a disk of
// one of parents, the artifacts the one being published records as its
// parents: the header must name it by that disk's title and format. The
// overlay's facts then record the parent disk's digest.
func BackingFromParents(parents ...*artifact.Artifact) disk.Option {
	return disk.AllowBackingFile(func(name string, format artifact.DiskFormat) (digest.Digest, error) {
		for _, p := range parents {
			for _, d := range p.Disks {
				if d.Title == name && d.Format == format {
					return d.Digest, nil
				}
			}
		}
		return "", fmt.Errorf("no parent artifact has a %s disk named %q", format, name)
	})
}

// CheckDisk inspects disk d of artifact a as it was read back from a store
// (r, size bytes), before it is handed to a deploy tool: the file must be
// safe (disk.Inspect), in the format the artifact records, and any backing
// file must be the one the signed record names, a disk of a parent. It
// returns an error wrapping disk.ErrUnsafeDisk (or the inspector's other
// sentinels) that names the disk and each reason.
func CheckDisk(a *artifact.Artifact, d artifact.Disk, r io.ReaderAt, size int64) (disk.Info, error) {
	var opts []disk.Option
	if f := d.Facts; f != nil && f.BackingFile != "" && len(a.Parents) > 0 {
		opts = append(opts, disk.AllowBackingFile(func(name string, format artifact.DiskFormat) (digest.Digest, error) {
			if name == f.BackingFile && format == f.BackingFormat {
				return f.BackingDigest, nil
			}
			return "", fmt.Errorf("the signed record names backing file %q (%s), not this one", f.BackingFile, f.BackingFormat)
		}))
	}
	info, err := disk.Inspect(d.Title, r, size, opts...)
	if err != nil {
		return info, err
	}
	if info.Format != d.Format {
		return info, fmt.Errorf("disk %s is recorded as %s but inspects as %s (%s): %w", d.Title, d.Format, info.Format, info.Probe, disk.ErrUnsafeDisk)
	}
	return info, nil
}

type progressReader struct {
	r     io.Reader
	done  int64
	total int64
	fn    func(done, total int64)
}

// Seek passes a seek on to the source if it can seek (a push resuming
// after a dropped connection goes back to where the registry stands) and
// reports the new position, counted from the start of the source, as
// progress. A source that cannot seek gives errors.ErrUnsupported.
func (p *progressReader) Seek(offset int64, whence int) (int64, error) {
	s, ok := p.r.(io.Seeker)
	if !ok {
		return 0, errors.ErrUnsupported
	}
	pos, err := s.Seek(offset, whence)
	if err == nil && pos != p.done {
		p.done = pos
		p.fn(p.done, p.total)
	}
	return pos, err
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.done += int64(n)
	if n > 0 || errors.Is(err, io.EOF) {
		p.fn(p.done, p.total)
	}
	return n, err
}
