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
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Publisher is what Publish needs of a store.
type Publisher interface {
	BlobPusher
	ReferrerStore
}

// Publish pushes a, whose disk blobs (if any) are already in the store, to
// repository a.Name: config and empty blobs first, then the manifest, then
// the immutable version tag (artifact.Tag), then, for an OCI-image artifact,
// its entry among the tracked image's referrers (see AddReferrer). It returns the encoding, whose
// Descriptor.Digest is the artifact's identity. Publishing the same artifact
// again is a no-op; publishing different content under an existing version
// returns an error wrapping ErrImmutableTag, and the tag is unchanged.
// A publish that fails has a Discarder store (the layout store) take back
// its layers (the disk blobs), config and manifest if nothing else
// reaches them.
func Publish(ctx context.Context, s Publisher, a *artifact.Artifact) (_ *artifact.Encoded, err error) {
	e, err := artifact.Encode(a)
	if err != nil {
		return nil, fmt.Errorf("publish %s: %w", a.Ref(), err)
	}
	defer func() {
		if err != nil {
			blobs := []digest.Digest{e.Descriptor.Digest, e.ConfigDesc.Digest}
			for _, l := range e.Layers {
				blobs = append(blobs, l.Digest)
			}
			err = Discard(ctx, s, a.Name, nil, blobs, err)
		}
	}()
	tag, _ := artifact.Tag(a.Version) // Encode validated it
	if _, err := s.PushBlob(ctx, a.Name, e.ConfigDesc, bytes.NewReader(e.Config)); err != nil {
		return nil, fmt.Errorf("publish %s: push config: %w", a.Ref(), err)
	}
	if len(a.Disks) == 0 {
		if _, err := s.PushBlob(ctx, a.Name, ocispec.DescriptorEmptyJSON, bytes.NewReader(ocispec.DescriptorEmptyJSON.Data)); err != nil {
			return nil, fmt.Errorf("publish %s: push empty blob: %w", a.Ref(), err)
		}
	}
	if _, err := s.PushManifest(ctx, a.Name, ocispec.MediaTypeImageManifest, e.Manifest); err != nil {
		return nil, fmt.Errorf("publish %s: push manifest: %w", a.Ref(), err)
	}
	if err := s.Tag(ctx, a.Name, e.Descriptor, tag); err != nil {
		return nil, fmt.Errorf("publish %s: tag %s: %w", a.Ref(), tag, err)
	}
	if a.Image != nil {
		// The tracked image's referrers list this artifact, so that oras
		// discover and the like find it from the image. Publishing again
		// completes this step if it failed.
		if err := AddReferrer(ctx, s, a.Name, a.Image.Digest, e.Descriptor); err != nil {
			return nil, fmt.Errorf("publish %s: %w", a.Ref(), err)
		}
	}
	return e, nil
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
			return nil, Discard(ctx, s, repo, nil, pushed, err)
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
