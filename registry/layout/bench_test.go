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

	"github.com/brickyard/brickyard/registry"
	"github.com/brickyard/brickyard/registry/layout"
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
// in the same run, measures two peers over the same file: Go's
// crypto/sha256 alone (the reference; goal ratio ≥ 0.8) and a plain
// durable copy — io.Copy to a file, then fsync, no hashing — which is the
// disk's own floor for any publish that survives a crash. It reports each
// throughput and the ratios publish/sha256 ("ratio") and
// publish/durable-copy ("ratio-vs-disk"). It then times the same ingest
// in two parts, the overlapped read-hash-write pipeline and the fsync
// after it, and reports sha256/pipeline ("ratio-unsynced") and the fsync's
// seconds ("fsync-s"): where the time goes. Nothing is deleted until the
// end: on a file system mounted with discard, deleting a GiB slows the
// writes that follow it, whichever peer comes next.
//
//	go test -run='^$' -bench=PublishDisk -benchtime=3x ./registry/layout/
func BenchmarkPublishDisk(b *testing.B) {
	path, size := benchFile(b)
	ctx := context.Background()
	var hashTime, copyTime, pushTime, pipeTime, syncTime time.Duration
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
	b.ReportMetric(hashTime.Seconds()/pipeTime.Seconds(), "ratio-unsynced")
	b.ReportMetric(syncTime.Seconds()/float64(b.N), "fsync-s")
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
