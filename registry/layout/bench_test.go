package layout_test

import (
	"context"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"
	"unsafe"

	"github.com/brickyard/brickyard/registry"
	"github.com/brickyard/brickyard/registry/layout"
	"golang.org/x/sys/unix"
)

// benchFile returns a 1 GiB raw disk file: $BRICKYARD_BENCH_FILE if set,
// else one written once into the benchmark's temporary directory.
func benchFile(b *testing.B) (string, int64) {
	b.Helper()
	if p := os.Getenv("BRICKYARD_BENCH_FILE"); p != "" {
		fi, err := os.Stat(p)
		if err != nil {
			b.Fatal(err)
		}
		return p, fi.Size()
	}
	const size = 1 << 30
	p := filepath.Join(b.TempDir(), "bench.raw")
	f, err := os.Create(p)
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	for written := 0; written < size; written += len(buf) {
		for i := 0; i < len(buf); i += 8 {
			v := rng.Uint64()
			for j := range 8 {
				buf[i+j] = byte(v >> (8 * j))
			}
		}
		if _, err := f.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return p, size
}

// BenchmarkPublishDisk pushes a 1 GiB disk into a layout store with
// registry.PushDisk (read once, hashed while written, synced, renamed) and,
// in the same run, measures peers over the same file: Go's
// crypto/sha256 alone (the reference; goal ratio ≥ 0.8) and a plain
// durable copy — io.Copy to a file, then fsync, no hashing — which is the
// disk's floor for the usual way to write a file that survives a crash.
// A third peer, the same bytes written with direct I/O and then fsync
// (directCopy, dd's oflag=direct conv=fsync), is the fastest durable write
// of this disk: its ratio to sha256 ("ratio-disk-floor") bounds the ratio
// any publish that survives a crash can reach here. It reports each
// throughput and the ratios publish/sha256 ("ratio"),
// publish/durable-copy ("ratio-vs-disk") and publish/disk floor
// ("ratio-vs-disk-floor"). It then times the same ingest
// in two parts, the overlapped read-hash-write pipeline and the fsync
// after it, and reports sha256/pipeline ("ratio-unsynced") and the fsync's
// seconds ("fsync-s"): where the time goes. Nothing is deleted until the
// end: on a file system mounted with discard, deleting a GiB slows the
// writes that follow it, whichever peer comes next.
//
// It runs on two disks of 1 GiB: "random", every byte random (the worst
// case, nothing to skip), and "sparse", a raw disk with 256 MiB of random
// data in four places and holes elsewhere, as a freshly installed raw VM
// disk mostly is; publish skips writing chunks of zeros, so there the
// hash is what bounds it.
//
//	go test -run='^$' -bench=PublishDisk -benchtime=3x ./registry/layout/
func BenchmarkPublishDisk(b *testing.B) {
	b.Run("random", func(b *testing.B) {
		path, size := benchFile(b)
		benchPublish(b, path, size)
	})
	b.Run("sparse", func(b *testing.B) {
		path, size := sparseBenchFile(b)
		benchPublish(b, path, size)
	})
}

// sparseBenchFile returns a 1 GiB raw disk with 64 MiB of random data at
// each of four offsets and holes elsewhere.
func sparseBenchFile(b *testing.B) (string, int64) {
	b.Helper()
	const size = 1 << 30
	p := filepath.Join(b.TempDir(), "sparse.raw")
	f, err := os.Create(p)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	buf := make([]byte, 64<<20)
	for _, off := range []int64{0, 300 << 20, 600 << 20, size - int64(len(buf))} {
		for i := 0; i < len(buf); i += 8 {
			v := rng.Uint64()
			for j := range 8 {
				buf[i+j] = byte(v >> (8 * j))
			}
		}
		if _, err := f.WriteAt(buf, off); err != nil {
			b.Fatal(err)
		}
	}
	return p, size
}

func benchPublish(b *testing.B, path string, size int64) {
	ctx := context.Background()
	var hashTime, copyTime, directTime, pushTime, pipeTime, syncTime time.Duration
	buf := make([]byte, 1<<20)
	b.SetBytes(size)
	b.ResetTimer()
	for range b.N {
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		h := sha256.New()
		if _, err := io.CopyBuffer(h, f, buf); err != nil {
			b.Fatal(err)
		}
		hashTime += time.Since(start)
		f.Close()

		dir := b.TempDir()
		start = time.Now()
		if err := durableCopy(path, filepath.Join(dir, "copy"), buf); err != nil {
			b.Fatal(err)
		}
		copyTime += time.Since(start)

		start = time.Now()
		if err := directCopy(path, filepath.Join(dir, "direct")); err != nil {
			b.Fatal(err)
		}
		directTime += time.Since(start)

		b.StopTimer()
		st, err := layout.New(dir)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start = time.Now()
		if _, err := registry.PushDisk(ctx, st, "bench", path, nil); err != nil {
			b.Fatal(err)
		}
		pushTime += time.Since(start)

		// The same ingest in two timed parts: the pipeline, then the fsync.
		if f, err = os.Open(path); err != nil {
			b.Fatal(err)
		}
		out, err := os.Create(filepath.Join(dir, "unsynced"))
		if err != nil {
			b.Fatal(err)
		}
		start = time.Now()
		if _, err := layout.IngestUnsynced(out, f, size); err != nil {
			b.Fatal(err)
		}
		pipeTime += time.Since(start)
		start = time.Now()
		if err := out.Sync(); err != nil {
			b.Fatal(err)
		}
		syncTime += time.Since(start)
		out.Close()
		f.Close()
	}
	mbps := func(d time.Duration) float64 { return float64(size) * float64(b.N) / d.Seconds() / 1e6 }
	b.ReportMetric(mbps(hashTime), "sha256-MB/s")
	b.ReportMetric(mbps(pushTime), "publish-MB/s")
	b.ReportMetric(mbps(copyTime), "durable-copy-MB/s")
	b.ReportMetric(hashTime.Seconds()/pushTime.Seconds(), "ratio")
	b.ReportMetric(copyTime.Seconds()/pushTime.Seconds(), "ratio-vs-disk")
	b.ReportMetric(mbps(directTime), "disk-floor-MB/s")
	b.ReportMetric(hashTime.Seconds()/directTime.Seconds(), "ratio-disk-floor")
	b.ReportMetric(directTime.Seconds()/pushTime.Seconds(), "ratio-vs-disk-floor")
	b.ReportMetric(hashTime.Seconds()/pipeTime.Seconds(), "ratio-unsynced")
	b.ReportMetric(syncTime.Seconds()/float64(b.N), "fsync-s")
}

// directCopy is the disk's floor for a durable write of src, with no
// hashing: what dd bs=4M oflag=direct conv=fsync does, the fastest way to
// store a file durably on the disks measured here. Its ratio to sha256
// ("ratio-disk-floor") bounds the ratio any durable publish can reach.
func directCopy(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	defer out.Close()
	direct, err := os.OpenFile(dst, os.O_WRONLY|unix.O_DIRECT, 0)
	if err != nil {
		return err
	}
	defer direct.Close()
	const chunk, align = 4 << 20, 4096
	raw := make([]byte, chunk+align)
	skip := int(-uintptr(unsafe.Pointer(unsafe.SliceData(raw))) & (align - 1))
	buf := raw[skip : skip+chunk]
	var off int64
	for {
		n, err := io.ReadFull(in, buf)
		whole := n &^ (align - 1)
		if whole > 0 {
			if _, werr := direct.WriteAt(buf[:whole], off); werr != nil {
				return werr
			}
		}
		if n > whole {
			if _, werr := out.WriteAt(buf[whole:n], off+int64(whole)); werr != nil {
				return werr
			}
		}
		off += int64(n)
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return err
		}
	}
	return out.Sync()
}

func durableCopy(src, dst string, buf []byte) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.CopyBuffer(out, in, buf); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
