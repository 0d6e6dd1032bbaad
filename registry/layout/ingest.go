package layout

import (
	"context"
	"crypto/sha256"
	"errors"
	"hash"
	"io"
	"os"
	"sync/atomic"

	"github.com/brickyard/brickyard/registry"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"
)

// Ingest tuning. Reading, hashing and writing run as a pipeline of three
// goroutines passing a few 1 MiB buffers along, so ingesting costs about the
// slowest of the three instead of their sum (a blob fetched from a registry
// takes as long to read as to write); writeback of each 32 MiB window is
// started as soon as it is written, so the final fsync has little left to
// do and dirty memory stays bounded.
const (
	chunkSize   = 1 << 20
	chunks      = 6
	flushWindow = 32 << 20
)

// ingest copies r into f, hashing with SHA-256 on the way, and syncs f. It
// returns the digest and size of what was read. It stops when ctx is done.
// If r is a registry.VerifyingReader for want (a Fetch from another store),
// the bytes are hashed once: by ingest's own hash stage if r can skip its
// hash (registry.SkipVerifier), which then runs alongside reading and
// writing instead of inside r's Read; else by r, in which case ingest
// returns want's digest once r has reached EOF without error.
func ingest(ctx context.Context, f *os.File, r io.Reader, want ocispec.Descriptor) (digest.Digest, int64, error) {
	var h hash.Hash
	verified := false
	if vr, ok := r.(registry.VerifyingReader); ok && want.Digest != "" && vr.Verifies().Digest == want.Digest && vr.Verifies().Size == want.Size {
		if sv, ok := r.(registry.SkipVerifier); ok {
			sv.SkipVerify()
			h = sha256.New()
		} else {
			verified = true
		}
	} else {
		h = sha256.New()
	}
	n, err := pipeline(ctx, f, r, h)
	if err != nil {
		return "", n, err
	}
	if err := f.Sync(); err != nil {
		return "", n, err
	}
	if verified {
		return want.Digest, n, nil
	}
	return digest.NewDigest(digest.SHA256, h), n, nil
}

// pipeline reads r in chunks on the calling goroutine, hashes each into h
// (if not nil) on a second one and writes it to f on a third, starting
// writeback window by window. A buffer goes back to the free list only
// after it is written, so no buffer is read into while hashed or written.
// It returns the bytes written and the first error of any stage.
func pipeline(ctx context.Context, f *os.File, r io.Reader, h hash.Hash) (int64, error) {
	free := make(chan []byte, chunks)
	for range chunks {
		free <- make([]byte, chunkSize)
	}
	toWrite := make(chan []byte, chunks)
	first := toWrite
	if h != nil {
		toHash := make(chan []byte, chunks)
		first = toHash
		go func() {
			for b := range toHash {
				h.Write(b)
				toWrite <- b
			}
			close(toWrite)
		}()
	}
	var (
		written int64
		werr    error
		failed  atomic.Bool
	)
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		var flushed int64
		for b := range toWrite {
			if werr == nil {
				if _, err := f.Write(b); err != nil {
					werr = err
					failed.Store(true)
				} else {
					written += int64(len(b))
					if written-flushed >= flushWindow {
						startWriteback(f, flushed, written-flushed)
						flushed = written
					}
				}
			}
			free <- b[:cap(b)]
		}
	}()
	rerr := readChunks(ctx, r, free, first, &failed)
	close(first)
	<-wrote
	if werr != nil {
		return written, werr
	}
	return written, rerr
}

// readChunks reads r into buffers taken from free and hands them to out,
// until EOF, an error, ctx being done or failed being set.
func readChunks(ctx context.Context, r io.Reader, free <-chan []byte, out chan<- []byte, failed *atomic.Bool) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if failed.Load() {
			return nil // the writer's error is returned
		}
		b := <-free
		m, err := io.ReadFull(r, b)
		if m > 0 {
			out <- b[:m]
		}
		switch {
		case err == nil:
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			return nil
		default:
			return err
		}
	}
}

// startWriteback asks the kernel to start writing a range out (Linux
// sync_file_range); it is only a hint, so an error is ignored: the fsync at
// the end is what makes the blob durable.
func startWriteback(f *os.File, off, n int64) {
	_ = unix.SyncFileRange(int(f.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE)
}
