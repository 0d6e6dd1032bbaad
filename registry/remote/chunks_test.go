package remote

import (
	"bytes"
	"io"
	"sync/atomic"
	"testing"
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
	chunks, stop := readChunks(bytes.NewReader(data), 0)
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

	chunks, stop = readChunks(bytes.NewReader(data[:100]), 100)
	c := <-chunks
	if len(c.b) != 100 || cap(c.b) != 101 || c.err != io.ErrUnexpectedEOF {
		t.Fatalf("a 100-byte blob: chunk of %d bytes (buffer %d), error %v", len(c.b), cap(c.b), c.err)
	}
	if _, more := <-chunks; more {
		t.Fatal("a 100-byte blob read as more than one chunk")
	}
	stop()

	src := &countingReader{r: bytes.NewReader(data), t: t}
	chunks, stop = readChunks(src, int64(len(data)))
	c = <-chunks
	if len(c.b) != uploadChunk {
		t.Fatalf("first chunk %d bytes", len(c.b))
	}
	stop()
	src.closed.Store(true)
}
