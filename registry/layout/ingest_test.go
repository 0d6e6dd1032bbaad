package layout

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"testing/iotest"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"
)

// TestIngestSizes ingests blobs around the chunk and O_DIRECT block
// boundaries, read in odd-sized pieces, and checks every byte on disk and
// the digest: full chunks take the direct path, the tail the page cache.
// Half the runs give ingest the size, which sizes the first buffer.
func TestIngestSizes(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	data := make([]byte, 3*chunkSize+directAlign+17)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	for _, n := range []int{0, 1, directAlign - 1, directAlign, directAlign + 1, chunkSize - 1, chunkSize, chunkSize + 1, 2*chunkSize + directAlign, len(data)} {
		for _, halves := range []bool{false, true} {
			want := data[:n]
			f, err := os.Create(filepath.Join(t.TempDir(), "blob"))
			if err != nil {
				t.Fatal(err)
			}
			r := bytes.NewReader(want)
			var src io.Reader = r
			var desc ocispec.Descriptor
			if halves {
				src = iotest.HalfReader(r)
				desc.Size = int64(n)
			}
			d, got, err := ingest(context.Background(), f, src, desc)
			if err != nil {
				t.Fatalf("%d bytes: %v", n, err)
			}
			f.Close()
			if got != int64(n) || d != digest.FromBytes(want) {
				t.Fatalf("%d bytes: got %s (%d bytes), want %s", n, d, got, digest.FromBytes(want))
			}
			onDisk, err := os.ReadFile(f.Name())
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(onDisk, want) {
				t.Fatalf("%d bytes (half reads %v): the file differs from what was read", n, halves)
			}
		}
	}
}

// TestChunkWriterPaths writes the same bytes through each of chunkWriter's
// paths: direct while aligned (with O_DSYNC or without), buffered once an
// unaligned chunk has moved the offset, and buffered only where the file
// system refuses O_DIRECT.
func TestChunkWriterPaths(t *testing.T) {
	block := bytes.Repeat([]byte("0123456789abcdef"), chunkSize/16)
	for _, tc := range []struct {
		name     string
		noDirect bool
		sizes    []int
		idle     bool // the writer is ahead: O_DSYNC for every other chunk
	}{
		{"aligned", false, []int{chunkSize, chunkSize, 100}, false},
		{"aligned, some O_DSYNC", false, []int{chunkSize, chunkSize, chunkSize, 100}, true},
		{"unaligned first", false, []int{100, chunkSize, chunkSize}, false},
		{"unaligned middle", false, []int{chunkSize, directAlign + 3, chunkSize}, true},
		{"buffered", true, []int{chunkSize, chunkSize, 100}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := os.Create(filepath.Join(t.TempDir(), "blob"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			w := &chunkWriter{f: f, noDirect: tc.noDirect}
			h := sha256.New()
			for i, n := range tc.sizes {
				b := alignedBuffer(n)
				copy(b, block)
				h.Write(b)
				w.idle = tc.idle && i%2 == 0
				if err := w.write(b); err != nil {
					t.Fatal(err)
				}
			}
			t.Logf("direct I/O used: %v", w.direct != nil)
			w.close()
			if err := f.Sync(); err != nil {
				t.Fatal(err)
			}
			onDisk, err := os.ReadFile(f.Name())
			if err != nil {
				t.Fatal(err)
			}
			if got, want := digest.FromBytes(onDisk), digest.NewDigest(digest.SHA256, h); got != want || int64(len(onDisk)) != w.off {
				t.Fatalf("on disk %s (%d bytes), wrote %s (%d bytes)", got, len(onDisk), want, w.off)
			}
		})
	}
}

func TestAlignedBuffer(t *testing.T) {
	for _, n := range []int{1, directAlign, chunkSize} {
		b := alignedBuffer(n)
		if len(b) != n || cap(b) != n {
			t.Fatalf("alignedBuffer(%d): len %d cap %d", n, len(b), cap(b))
		}
		if addr := addressOf(b); addr%directAlign != 0 {
			t.Fatalf("alignedBuffer(%d) at %#x, not a multiple of %d", n, addr, directAlign)
		}
	}
}

// TestIngestSparse ingests a disk-like blob with whole chunks of zeros at
// the start, in the middle and at the end, and one almost-zero chunk (a
// single byte set in its last block): the bytes read back are the same,
// the file is as long as the blob, and the zero chunks take no space.
func TestIngestSparse(t *testing.T) {
	data := make([]byte, 6*chunkSize+100)
	copy(data[chunkSize:], bytes.Repeat([]byte("data"), chunkSize/4))   // chunk 1: data
	data[3*chunkSize-1] = 1                                             // chunk 2: zeros but its last byte
	copy(data[4*chunkSize:], bytes.Repeat([]byte("more"), chunkSize/4)) // chunk 4: data
	// chunks 0, 3 and 5 are zeros, and so is the 100-byte tail.
	for _, tail := range []int{100, 0} {
		want := data[:len(data)-100+tail]
		f, err := os.Create(filepath.Join(t.TempDir(), "blob"))
		if err != nil {
			t.Fatal(err)
		}
		d, n, err := ingest(context.Background(), f, bytes.NewReader(want), ocispec.Descriptor{Size: int64(len(want))})
		if err != nil {
			t.Fatal(err)
		}
		var st unix.Stat_t
		if err := unix.Fstat(int(f.Fd()), &st); err != nil {
			t.Fatal(err)
		}
		f.Close()
		if n != int64(len(want)) || d != digest.FromBytes(want) {
			t.Fatalf("tail %d: got %s (%d bytes), want %s", tail, d, n, digest.FromBytes(want))
		}
		onDisk, err := os.ReadFile(f.Name())
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(onDisk, want) {
			t.Fatalf("tail %d: the file (%d bytes) differs from what was read (%d bytes)", tail, len(onDisk), len(want))
		}
		// Three chunks hold data; allow a block of slack per extent.
		if used := st.Blocks * 512; used > 3*chunkSize+16*directAlign {
			t.Errorf("tail %d: %d bytes allocated for %d bytes with three chunks of data: the zeros were written", tail, used, len(want))
		}
	}
}
