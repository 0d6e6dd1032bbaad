package remote

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/brickyard/brickyard/registry"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestVerifierTrimsLongerBlob: a blob longer than its descriptor says is
// an error, and the Read that finds it returns only the bytes the
// descriptor allows.
func TestVerifierTrimsLongerBlob(t *testing.T) {
	body := []byte("0123456789")
	desc := ocispec.Descriptor{Digest: digest.FromBytes(body), Size: int64(len(body))}
	v := newVerifier(io.NopCloser(bytes.NewReader(append(body, "extra"...))), desc, "test")
	b := make([]byte, 64)
	n, err := v.Read(b)
	if !errors.Is(err, registry.ErrDigestMismatch) || n != len(body) || !bytes.Equal(b[:n], body) {
		t.Fatalf("Read of a blob 5 bytes longer than its descriptor = %d bytes %q, %v; want the %d bytes it says and ErrDigestMismatch", n, b[:n], err, len(body))
	}
	if n, err := v.Read(b); n != 0 || !errors.Is(err, registry.ErrDigestMismatch) {
		t.Errorf("Read after = %d, %v", n, err)
	}
}
