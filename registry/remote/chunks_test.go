package remote

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// countingReader counts Reads and fails the test if read once closed.
type countingReader struct {
	r      io.Reader
	closed atomic.Bool
	t      *testing.T
}

func (c *countingReader) Read(b []byte) (int, error) {
	if c.closed.Load() {
		c.t.Error("source read after stop returned")
	}
	return c.r.Read(b)
}

// TestReadChunks reads a source one chunk ahead and gives every byte back
// in order; stopping midway ends the reading goroutine before stop returns.
func TestReadChunks(t *testing.T) {
	data := bytes.Repeat([]byte("brickyard"), (5*uploadChunk/2)/9+1)
	chunks, stop := readChunks(context.Background(), bytes.NewReader(data), 0)
	var got []byte
	var last error
	for c := range chunks {
		got = append(got, c.b...)
		last = c.err
		c.done()
	}
	stop()
	if !bytes.Equal(got, data) || last != io.ErrUnexpectedEOF {
		t.Fatalf("read %d of %d bytes, last error %v", len(got), len(data), last)
	}

	chunks, stop = readChunks(context.Background(), bytes.NewReader(data[:100]), 100)
	c := <-chunks
	if len(c.b) != 100 || cap(c.b) != 101 || c.err != io.ErrUnexpectedEOF {
		t.Fatalf("a 100-byte blob: chunk of %d bytes (buffer %d), error %v", len(c.b), cap(c.b), c.err)
	}
	if _, more := <-chunks; more {
		t.Fatal("a 100-byte blob read as more than one chunk")
	}
	stop()

	src := &countingReader{r: bytes.NewReader(data), t: t}
	chunks, stop = readChunks(context.Background(), src, int64(len(data)))
	c = <-chunks
	if len(c.b) != uploadChunk {
		t.Fatalf("first chunk %d bytes", len(c.b))
	}
	stop()
	src.closed.Store(true)
}

// TestChunkedPushStalledSource: a push from a source that cannot seek and
// stops sending (a pipe whose writer stalls) ends promptly when its context
// does, with an error wrapping the context's.
func TestChunkedPushStalledSource(t *testing.T) {
	s, err := New(inProcess(t))
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	t.Cleanup(func() { pw.CloseWithError(errors.New("test over")) })
	go pw.Write(bytes.Repeat([]byte("b"), 1000)) // then nothing more
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		_, err := s.PushBlob(ctx, "stalled", ocispec.Descriptor{MediaType: "application/octet-stream"}, pr)
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "stalled") {
			t.Errorf("push from a stalled source = %v, want context.DeadlineExceeded naming the repository", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("push from a stalled source returned after %v", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("push from a stalled source did not return 5 s after its context ended")
	}
}
