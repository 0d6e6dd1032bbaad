package layout

import (
	"fmt"
	"hash"
	"io"
	"os"

	"github.com/brickyard/brickyard/internal/ocistore"
	"github.com/brickyard/brickyard/registry"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// verifyReader checks at EOF that a blob has its descriptor's digest and,
// when the descriptor gives one, its size.
type verifyReader struct {
	f    *os.File
	h    hash.Hash
	desc ocispec.Descriptor
	n    int64 // position in the blob
	// hashed is how many bytes from the start have been hashed: a Seek
	// back leaves it, so bytes read again are not hashed twice.
	hashed int64
	what   string
	skip   bool // SkipVerify was called: check the size only
	// hinted is the end of the range the kernel has been asked to read
	// ahead (readAhead).
	hinted int64
}

// readAhead is how far ahead of a reader a blob is asked into the page
// cache (posix_fadvise POSIX_FADV_WILLNEED, which starts the reads and
// returns). Blobs are written with O_DIRECT and so are not cached after a
// publish, and a reader that takes a chunk and then works on it (a push
// reads an upload chunk, then waits for the network) would otherwise leave
// the disk idle in between: a 2 GiB push from an uncached layout took
// 12.7-15.3 s without this, against 10.9-11.4 s from the page cache.
const readAhead = 64 << 20

func (v *verifyReader) Read(b []byte) (int, error) {
	if end := v.n + int64(len(b)) + readAhead/2; end > v.hinted {
		// One call covers a read of any size. Only a hint: an error (a
		// file system without readahead) costs nothing but the speed-up.
		willNeed(v.f, v.hinted, end-v.hinted+readAhead/2)
		v.hinted = end + readAhead/2
	}
	n, err := v.f.Read(b)
	v.n += int64(n)
	if !v.skip && v.n > v.hashed {
		v.h.Write(b[n-int(v.n-v.hashed) : n])
		v.hashed = v.n
	}
	if v.skip {
		if err == io.EOF && v.desc.Size > 0 && v.n != v.desc.Size {
			return n, fmt.Errorf("%s: blob %s on disk has %d bytes (want %d): %w", v.what, v.desc.Digest, v.n, v.desc.Size, registry.ErrDigestMismatch)
		}
		return n, err
	}
	if err == io.EOF {
		got := digest.NewDigest(digest.SHA256, v.h)
		if got != v.desc.Digest || (v.desc.Size > 0 && v.n != v.desc.Size) {
			return n, fmt.Errorf("%s: blob %s on disk has digest %s and %d bytes (want %d): %w",
				v.what, v.desc.Digest, got, v.n, v.desc.Size, registry.ErrDigestMismatch)
		}
	}
	return n, err
}

// Seek implements io.Seeker from the start or the current position, for a
// push that resumes after a dropped connection. Unless SkipVerify was
// called it refuses to skip bytes not yet read, which would escape the
// digest check.
func (v *verifyReader) Seek(offset int64, whence int) (int64, error) {
	abs, err := ocistore.SeekOffset(v.what, v.desc, v.n, offset, whence)
	if err != nil {
		return v.n, err
	}
	if abs < 0 || (!v.skip && abs > v.hashed) {
		return v.n, fmt.Errorf("%s: blob %s: seek to %d: only offsets up to %d, the bytes verified so far, can be reached", v.what, v.desc.Digest, abs, v.hashed)
	}
	if abs == v.n {
		return abs, nil
	}
	if _, err := v.f.Seek(abs, io.SeekStart); err != nil {
		return v.n, err
	}
	v.n, v.hinted = abs, abs
	return abs, nil
}

func (v *verifyReader) Close() error { return v.f.Close() }

// Verifies implements registry.VerifyingReader.
func (v *verifyReader) Verifies() ocispec.Descriptor { return v.desc }

// SkipVerify implements registry.SkipVerifier.
func (v *verifyReader) SkipVerify() { v.skip = true }
