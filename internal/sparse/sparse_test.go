package sparse

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"testing/iotest"

	"golang.org/x/sys/unix"
)

func TestAllZero(t *testing.T) {
	b := make([]byte, 200<<10)
	if !AllZero(b) || !AllZero(nil) {
		t.Error("zeros not seen as zeros")
	}
	for _, i := range []int{0, 64<<10 - 1, 64 << 10, len(b) - 1} {
		b[i] = 1
		if AllZero(b) {
			t.Errorf("byte %d set, still all zero", i)
		}
		b[i] = 0
	}
}

// TestCopy copies data with zero chunks at the start, in the middle and at
// the end, read in odd pieces: the file has the same bytes and size, and
// the zero chunks take no blocks.
func TestCopy(t *testing.T) {
	const chunk = 1 << 20
	data := make([]byte, 6*chunk+100)
	copy(data[chunk:], bytes.Repeat([]byte("data"), chunk/4))
	data[3*chunk-1] = 1 // chunk 2: zeros but its last byte
	copy(data[4*chunk:], bytes.Repeat([]byte("more"), chunk/4))
	for _, want := range [][]byte{data, data[:6*chunk], data[:100], nil} {
		f, err := os.Create(filepath.Join(t.TempDir(), "out"))
		if err != nil {
			t.Fatal(err)
		}
		var seen int64
		n, err := Copy(f, iotest.HalfReader(bytes.NewReader(want)), chunk, func(done int64) { seen = done })
		if err != nil || n != int64(len(want)) || seen != n {
			t.Fatalf("Copy = %d, %v (progress %d), want %d", n, err, seen, len(want))
		}
		var st unix.Stat_t
		if err := unix.Fstat(int(f.Fd()), &st); err != nil {
			t.Fatal(err)
		}
		f.Close()
		got, err := os.ReadFile(f.Name())
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%d bytes: the file (%d bytes, %v) differs", len(want), len(got), err)
		}
		if len(want) == len(data) && st.Blocks*512 > 3*chunk+64<<10 {
			t.Errorf("%d bytes allocated for three chunks of data", st.Blocks*512)
		}
	}
}
