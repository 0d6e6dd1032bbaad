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
	chunks, stop := readChunks(bytes.NewReader(data))
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

	src := &countingReader{r: bytes.NewReader(data), t: t}
	chunks, stop = readChunks(src)
	c := <-chunks
	if len(c.b) != uploadChunk {
		t.Fatalf("first chunk %d bytes", len(c.b))
	}
	stop()
	src.closed.Store(true)
}
