package remote

import (
	"crypto/sha256"
	"fmt"
	"hash"
	"io"

	"github.com/brickyard/brickyard/registry"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// verifier checks at EOF that a blob has its descriptor's size and digest,
// and refuses to read past the size, so a registry that sends too much or
// too little is caught.
type verifier struct {
	rc   io.ReadCloser
	h    hash.Hash
	desc ocispec.Descriptor
	n    int64
	what string
	skip bool // SkipVerify was called: check the size only
}

func newVerifier(rc io.ReadCloser, desc ocispec.Descriptor, what string) *verifier {
	return &verifier{rc: rc, h: sha256.New(), desc: desc, what: what}
}

func (v *verifier) Read(b []byte) (int, error) {
	if v.n > v.desc.Size {
		return 0, v.mismatch("longer than")
	}
	n, err := v.rc.Read(b)
	if !v.skip {
		v.h.Write(b[:n])
	}
	v.n += int64(n)
	if v.n > v.desc.Size {
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

func (v *verifier) Close() error { return v.rc.Close() }

// Verifies implements registry.VerifyingReader.
func (v *verifier) Verifies() ocispec.Descriptor { return v.desc }

// SkipVerify implements registry.SkipVerifier: the size is still checked.
func (v *verifier) SkipVerify() { v.skip = true }
