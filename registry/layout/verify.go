package layout

import (
	"fmt"
	"hash"
	"io"
	"os"

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
	n    int64
	what string
	skip bool // SkipVerify was called: check the size only
}

func (v *verifyReader) Read(b []byte) (int, error) {
	n, err := v.f.Read(b)
	v.n += int64(n)
	if v.skip {
		if err == io.EOF && v.desc.Size > 0 && v.n != v.desc.Size {
			return n, fmt.Errorf("%s: blob %s on disk has %d bytes (want %d): %w", v.what, v.desc.Digest, v.n, v.desc.Size, registry.ErrDigestMismatch)
		}
		return n, err
	}
	v.h.Write(b[:n])
	if err == io.EOF {
		got := digest.NewDigest(digest.SHA256, v.h)
		if got != v.desc.Digest || (v.desc.Size > 0 && v.n != v.desc.Size) {
			return n, fmt.Errorf("%s: blob %s on disk has digest %s and %d bytes (want %d): %w",
				v.what, v.desc.Digest, got, v.n, v.desc.Size, registry.ErrDigestMismatch)
		}
	}
	return n, err
}

func (v *verifyReader) Close() error { return v.f.Close() }

// Verifies implements registry.VerifyingReader.
func (v *verifyReader) Verifies() ocispec.Descriptor { return v.desc }

// SkipVerify implements registry.SkipVerifier.
func (v *verifyReader) SkipVerify() { v.skip = true }
