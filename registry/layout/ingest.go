package layout

import (
	"context"
	"crypto/sha256"
	"errors"
	"hash"
	"io"
	"os"

	"github.com/brickyard/brickyard/registry"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"
)

// Ingest tuning. Hashing runs on one goroutine while the file is written on
// another, through a few 1 MiB buffers, so publishing costs about the
// slower of the two instead of their sum; writeback of each 32 MiB window
// is started as soon as it is written, so the final fsync has little left
// to do and dirty memory stays bounded.
const (
	chunkSize   = 1 << 20
	chunks      = 4
	flushWindow = 32 << 20
)

// ingest copies r into f, hashing with SHA-256 on the way, and syncs f. It
// returns the digest and size of what was read. It stops when ctx is done.
// If r is a registry.VerifyingReader for want (a Fetch from another store),
// r already checks the digest, so ingest does not hash again and returns
// want's digest once r has reached EOF without error.
func ingest(ctx context.Context, f *os.File, r io.Reader, want ocispec.Descriptor) (digest.Digest, int64, error) {
	if vr, ok := r.(registry.VerifyingReader); ok && want.Digest != "" && vr.Verifies().Digest == want.Digest && vr.Verifies().Size == want.Size {
		return ingestVerified(ctx, f, r, want)
	}
	h := sha256.New()
	free := make(chan []byte, chunks)
	for range chunks {
		free <- make([]byte, chunkSize)
	}
	toHash := make(chan []byte, chunks)
	hashed := make(chan struct{})
	go hashChunks(h, toHash, free, hashed)

	n, err := copyChunks(ctx, f, r, free, toHash)
	close(toHash)
	<-hashed
	if err != nil {
		return "", n, err
	}
	if err := f.Sync(); err != nil {
		return "", n, err
	}
	return digest.NewDigest(digest.SHA256, h), n, nil
}

func ingestVerified(ctx context.Context, f *os.File, r io.Reader, want ocispec.Descriptor) (digest.Digest, int64, error) {
	free := make(chan []byte, 1)
	free <- make([]byte, chunkSize)
	done := make(chan []byte, 1)
	go func() {
		for b := range done {
			free <- b[:cap(b)]
		}
	}()
	n, err := copyChunks(ctx, f, r, free, done)
	close(done)
	if err != nil {
		return "", n, err
	}
	if err := f.Sync(); err != nil {
		return "", n, err
	}
	return want.Digest, n, nil
}

func hashChunks(h hash.Hash, in <-chan []byte, free chan<- []byte, done chan<- struct{}) {
	for b := range in {
		h.Write(b)
		free <- b[:cap(b)]
	}
	close(done)
}

// copyChunks reads r in chunks, hands each to the hasher and writes it to
// f, starting writeback window by window. A buffer goes back to the free
// list only after it is hashed, and is taken again only after it is written,
// so no buffer is read and refilled at once.
func copyChunks(ctx context.Context, f *os.File, r io.Reader, free <-chan []byte, toHash chan<- []byte) (int64, error) {
	var n, flushed int64
	for {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		b := <-free
		m, rerr := io.ReadFull(r, b)
		if m > 0 {
			toHash <- b[:m]
			if _, err := f.Write(b[:m]); err != nil {
				return n, err
			}
			n += int64(m)
			if n-flushed >= flushWindow {
				startWriteback(f, flushed, n-flushed)
				flushed = n
			}
		}
		switch {
		case rerr == nil:
		case errors.Is(rerr, io.EOF), errors.Is(rerr, io.ErrUnexpectedEOF):
			return n, nil
		default:
			return n, rerr
		}
	}
}

// startWriteback asks the kernel to start writing a range out (Linux
// sync_file_range); it is only a hint, so an error is ignored: the fsync at
// the end is what makes the blob durable.
func startWriteback(f *os.File, off, n int64) {
	_ = unix.SyncFileRange(int(f.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE)
}
