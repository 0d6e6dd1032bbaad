package remote

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"

	"github.com/brickyard/brickyard/internal/ocistore"
	"github.com/brickyard/brickyard/registry"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// verifier checks at EOF that a blob has its descriptor's size and digest,
// and refuses to read past the size (a Read that finds more returns only
// the bytes up to it, with the error), so a registry that sends too much
// or too little is caught.
type verifier struct {
	rc   io.ReadCloser
	h    hash.Hash
	desc ocispec.Descriptor
	n    int64 // position in the blob
	// hashed is how many bytes from the start have been hashed: a Seek
	// back leaves it, so bytes read again are not hashed twice.
	hashed int64
	what   string
	skip   bool // SkipVerify was called: check the size only
}

func newVerifier(rc io.ReadCloser, desc ocispec.Descriptor, what string) *verifier {
	return &verifier{rc: rc, h: sha256.New(), desc: desc, what: what}
}

func (v *verifier) Read(b []byte) (int, error) {
	if v.n > v.desc.Size {
		return 0, v.mismatch("longer than")
	}
	n, err := v.rc.Read(b)
	// Bytes past the size are not handed on.
	extra := max(0, v.n+int64(n)-v.desc.Size)
	n -= int(extra)
	v.n += int64(n)
	if !v.skip && v.n > v.hashed {
		v.h.Write(b[n-int(v.n-v.hashed) : n])
		v.hashed = v.n
	}
	if extra > 0 {
		v.n += extra
		return n, v.mismatch("longer than")
	}
	if err == io.EOF {
		if v.n != v.desc.Size {
			return n, v.mismatch("shorter than")
		}
		if !v.skip && digestOf(v.h) != v.desc.Digest {
			return n, fmt.Errorf("%s: blob %s: content has digest %s: %w", v.what, v.desc.Digest, digestOf(v.h), registry.ErrDigestMismatch)
		}
	}
	return n, err
}

func (v *verifier) mismatch(how string) error {
	return fmt.Errorf("%s: blob %s: %d bytes or more read, %s its descriptor's %d: %w", v.what, v.desc.Digest, v.n, how, v.desc.Size, registry.ErrDigestMismatch)
}

// Seek implements io.Seeker from the start or the current position, when
// the source can seek, for a push that resumes after a dropped connection.
// Unless SkipVerify was called it refuses to skip bytes not yet read,
// which would escape the digest check.
func (v *verifier) Seek(offset int64, whence int) (int64, error) {
	sk, ok := v.rc.(io.Seeker)
	if !ok {
		return v.n, errors.ErrUnsupported
	}
	abs, err := ocistore.SeekOffset(v.what, v.desc, v.n, offset, whence)
	if err != nil {
		return v.n, err
	}
	if abs < 0 || abs > v.desc.Size || (!v.skip && abs > v.hashed) {
		return v.n, fmt.Errorf("%s: blob %s: seek to %d: only offsets up to %d can be reached", v.what, v.desc.Digest, abs, min(v.desc.Size, v.hashed))
	}
	if _, err := sk.Seek(abs, io.SeekStart); err != nil {
		return v.n, err
	}
	v.n = abs
	return abs, nil
}

func (v *verifier) Close() error { return v.rc.Close() }

// Verifies implements registry.VerifyingReader.
func (v *verifier) Verifies() ocispec.Descriptor { return v.desc }

// SkipVerify implements registry.SkipVerifier: the size is still checked.
func (v *verifier) SkipVerify() { v.skip = true }
