package disk

import (
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
)

// countingReaderAt counts the bytes and calls a ReaderAt serves.
type countingReaderAt struct {
	r            io.ReaderAt
	bytes, calls atomic.Int64
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.bytes.Add(int64(n))
	c.calls.Add(1)
	return n, err
}

// bigDisks are 2 GiB sparse disks of each main format.
var bigDisks = []struct{ file, args string }{
	{"2g.qcow2", "create -q -f qcow2 %s 2G"},
	{"2g-2m-clusters.qcow2", "create -q -f qcow2 -o cluster_size=2M %s 2G"},
	{"2g.vmdk", "create -q -f vmdk %s 2G"},
	{"2g-stream.vmdk", "convert -O vmdk -o subformat=streamOptimized %r %s"},
	{"2g.vhdx", "create -q -f vhdx %s 2G"},
	{"2g.vhd", "create -q -f vpc %s 2G"},
	{"2g-fixed.vhd", "create -q -f vpc -o subformat=fixed %s 2G"},
	{"2g.raw", "create -q -f raw %s 2G"},
}

func makeBigDisks(t testing.TB) []string {
	needQemuImg(t)
	dir := t.TempDir()
	raw := filepath.Join(dir, "src.raw")
	qemuImg(t, "create", "-q", "-f", "raw", raw, "2G")
	var paths []string
	for _, d := range bigDisks {
		p := filepath.Join(dir, d.file)
		edit(replaceR(d.args, raw), nil)(t, dir, p)
		paths = append(paths, p)
	}
	return paths
}

func replaceR(s, raw string) string {
	for i := 0; i+1 < len(s); i++ {
		if s[i:i+2] == "%r" {
			return s[:i] + raw + s[i+2:]
		}
	}
	return s
}

// maxHeaderBytes is what the inspector may read of a disk: its headers.
const maxHeaderBytes = 512 << 10

// TestReadsOnlyHeaders: inspecting a 2 GiB disk of each format reads a few
// hundred KiB at most, counted through the io.ReaderAt.
func TestReadsOnlyHeaders(t *testing.T) {
	for _, p := range makeBigDisks(t) {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		fi, _ := f.Stat()
		c := &countingReaderAt{r: f}
		info, err := Inspect(p, c, fi.Size())
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if info.VirtualSize < 2<<30 || info.VirtualSize > 2<<30+(16<<20) {
			t.Errorf("%s: virtual size %d", filepath.Base(p), info.VirtualSize)
		}
		if c.bytes.Load() > maxHeaderBytes {
			t.Errorf("%s: read %d bytes, more than %d", filepath.Base(p), c.bytes.Load(), maxHeaderBytes)
		}
		t.Logf("%-22s %-5s file %10d bytes: read %6d bytes in %2d reads", filepath.Base(p), info.Probe, fi.Size(), c.bytes.Load(), c.calls.Load())
	}
}

// BenchmarkInspect inspects a 2 GiB sparse disk of each main format
// (goal: a few MiB read at most, under 5 ms), reporting the bytes read.
func BenchmarkInspect(b *testing.B) {
	for _, p := range makeBigDisks(b) {
		b.Run(filepath.Base(p), func(b *testing.B) {
			f, err := os.Open(p)
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			fi, _ := f.Stat()
			c := &countingReaderAt{r: f}
			for b.Loop() {
				if _, err := Inspect(p, c, fi.Size()); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(c.bytes.Load())/float64(b.N), "bytes-read/op")
			b.ReportMetric(float64(c.calls.Load())/float64(b.N), "reads/op")
		})
	}
}
