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
func Publish(ctx context.Context, s Publisher, a *artifact.Artifact) (*artifact.Encoded, error) {
	e, err := artifact.Encode(a)
	if err != nil {
		return nil, fmt.Errorf("publish %s: %w", a.Ref(), err)
	}
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

// PushDisk detects the format and virtual size of the disk file at path (see
// disk.DetectFile), streams it into repository repo in one pass, hashing it on
// the way (a store resuming after a failure may seek back over the file), and returns the artifact.Disk to put in a VM-disk artifact. If
// progress is not nil it is called with the file's bytes read so far and its
// total size. Errors name the path.
func PushDisk(ctx context.Context, s BlobPusher, repo, path string, progress func(done, total int64)) (artifact.Disk, error) {
	info, err := disk.DetectFile(path)
	if err != nil {
		return artifact.Disk{}, err
	}
	f, err := os.Open(path)
	if err != nil {
		return artifact.Disk{}, fmt.Errorf("push disk: %w", err)
	}
	defer f.Close()
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
	return artifact.Disk{
		Format:      info.Format,
		VirtualSize: info.VirtualSize,
		Title:       filepath.Base(path),
		Digest:      desc.Digest,
		Size:        desc.Size,
	}, nil
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
