package layout

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/registry"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// publishDisk publishes a VM disk of random bytes as name@version and
// returns its manifest descriptor.
func publishDisk(t testing.TB, s *Store, name, version string, size int) ocispec.Descriptor {
	t.Helper()
	ctx := context.Background()
	b := make([]byte, size)
	rand.Read(b)
	d, err := s.PushBlob(ctx, name, ocispec.Descriptor{MediaType: artifact.DiskRaw.MediaType()}, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	v, _ := artifact.ParseVersion(version)
	pub, err := registry.Publish(ctx, s, &artifact.Artifact{Name: name, Kind: artifact.KindVMDisk, Version: v,
		Disks: []artifact.Disk{{Format: artifact.DiskRaw, Title: "disk.raw", Digest: d.Digest, Size: d.Size, VirtualSize: d.Size}}})
	if err != nil {
		t.Fatal(err)
	}
	return pub.Descriptor
}

// age sets the modification time of every file under dir to d ago.
func age(t *testing.T, dir string, d time.Duration) {
	t.Helper()
	old := time.Now().Add(-d)
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			os.Chtimes(p, old, old)
		}
		return nil
	})
}

func blobCount(t *testing.T, s *Store, repo string) int {
	t.Helper()
	es, err := os.ReadDir(filepath.Join(s.Root(), repo, "blobs", "sha256"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range es {
		if !strings.HasPrefix(e.Name(), ".") {
			n++
		}
	}
	return n
}

// TestGCSweepsWhatNoTagReaches publishes an OCI-image artifact (whose
// tracked image is reached only as its subject), a VM disk and a signature
// tag, leaves orphans (a blob, a manifest) and stale and live ingests, and
// checks that GC removes exactly the orphans and the unheld ingest, keeps
// young orphans for the grace period, and that everything tagged still
// verifies.
func TestGCSweepsWhatNoTagReaches(t *testing.T) {
	ctx := context.Background()
	s := newStore(t).(*Store)
	disk := publishDisk(t, s, "web", "1.0.0", 1<<20)
	image := pushImageManifest(t, s, "web")
	v, _ := artifact.ParseVersion("2.0.0")
	pub, err := registry.Publish(ctx, s, &artifact.Artifact{Name: "web", Kind: artifact.KindOCIImage, Version: v, Image: &image})
	if err != nil {
		t.Fatal(err)
	}
	sig, err := s.PushManifest(ctx, "web", ocispec.MediaTypeImageManifest, manifestOf(t, s, "web", "a signature"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Move(ctx, "web", sig, "sha256-"+disk.Digest.Encoded()+".sig"); err != nil {
		t.Fatal(err)
	}
	orphanBlob, _ := s.PushBlob(ctx, "web", ocispec.Descriptor{}, strings.NewReader("orphan"))
	orphanManifest, _ := s.PushManifest(ctx, "web", ocispec.MediaTypeImageManifest, manifestOf(t, s, "web", "orphan manifest"))
	blobs := filepath.Join(s.Root(), "web", "blobs", "sha256")
	os.WriteFile(filepath.Join(blobs, ".ingest-killed"), make([]byte, 4096), 0o644)
	live, err := os.Create(filepath.Join(blobs, ".ingest-live"))
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	lockFile(live, lockExclusive) // as a writer in another process holds it
	before := blobCount(t, s, "web")

	rep, err := s.GC(ctx, GCOptions{})
	if err != nil || len(rep.Removed) != 0 || rep.Young < 2 || rep.Ingests != 0 {
		t.Fatalf("GC of young orphans = %+v, %v; want them kept for the grace period", rep, err)
	}
	age(t, s.Root(), 2*time.Hour)
	rep, err = s.GC(ctx, GCOptions{DryRun: true})
	if err != nil || len(rep.Removed) != 3 || blobCount(t, s, "web") != before {
		t.Fatalf("dry run = %+v, %v; want 3 to remove (orphan blob, manifest and its config) and nothing removed", rep, err)
	}
	rep, err = s.GC(ctx, GCOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[digest.Digest]bool{orphanBlob.Digest: true, orphanManifest.Digest: true}
	for _, d := range rep.Removed {
		delete(want, d)
	}
	if len(want) != 0 || len(rep.Removed) != 3 || rep.Ingests != 1 {
		t.Fatalf("GC = %+v; want the orphan blob, manifest and config and the killed ingest removed", rep)
	}
	if _, err := os.Stat(live.Name()); err != nil {
		t.Errorf("GC removed an ingest a live writer holds: %v", err)
	}
	for _, d := range []ocispec.Descriptor{disk, pub.Descriptor} {
		if _, err := registry.VerifyContent(ctx, s, "web", d, false); err != nil {
			t.Errorf("after GC: %v", err)
		}
	}
	if _, err := registry.VerifyContent(ctx, s, "web", sig, false); err != nil {
		t.Errorf("signature after GC: %v", err)
	}
	if rep, err := s.Fsck(ctx, FsckOptions{}); err != nil || len(rep.Problems) != 0 {
		t.Errorf("fsck after GC = %+v, %v", rep, err)
	}
}

// TestStaleIngestRemovedOnOpen: New removes an unheld ingest older than
// DefaultIngestGrace and keeps a younger one.
func TestStaleIngestRemovedOnOpen(t *testing.T) {
	s := newStore(t).(*Store)
	publishDisk(t, s, "web", "1.0.0", 4096)
	blobs := filepath.Join(s.Root(), "web", "blobs", "sha256")
	old, young := filepath.Join(blobs, ".ingest-old"), filepath.Join(blobs, ".ingest-young")
	os.WriteFile(old, []byte("left by kill -9"), 0o644)
	os.WriteFile(young, []byte("maybe being created"), 0o644)
	then := time.Now().Add(-DefaultIngestGrace - time.Minute)
	os.Chtimes(old, then, then)
	if _, err := New(s.Root()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(old); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale ingest still there after New: %v", err)
	}
	if _, err := os.Stat(young); err != nil {
		t.Errorf("young ingest removed: %v", err)
	}
}

// TestGCConcurrentWithPublish runs publishers (4 goroutines, each its own
// Store value, as separate processes would be) while GC runs in a loop
// with a short grace (5 s, against the default hour: longer than a publish
// takes from its first blob to its manifest on a loaded machine) and
// orphans keep appearing, aged past it: no publish fails, everything
// published verifies afterwards, and the orphans go.
func TestGCConcurrentWithPublish(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	s, err := New(root)
	if err != nil {
		t.Fatal(err)
	}
	publishDisk(t, s, "web", "0.0.1", 4096) // the repository exists before the collector starts
	const grace = 5 * time.Second
	stop := make(chan struct{})
	var gcs, removed int
	var gcErr error
	var gcWG sync.WaitGroup
	gcWG.Add(1)
	go func() {
		defer gcWG.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			// An orphan, old enough to go at once.
			o, err := s.PushBlob(ctx, "web", ocispec.Descriptor{}, strings.NewReader(fmt.Sprint("orphan ", gcs)))
			if err == nil {
				then := time.Now().Add(-time.Hour)
				os.Chtimes(filepath.Join(root, "web", "blobs", "sha256", o.Digest.Encoded()), then, then)
			}
			rep, err := s.GC(ctx, GCOptions{Grace: grace})
			if err != nil {
				gcErr = err
				return
			}
			gcs++
			removed += len(rep.Removed)
		}
	}()
	var wg sync.WaitGroup
	published := make([][]ocispec.Descriptor, 4)
	errs := make([]error, 4)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ps, err := New(root)
			if err != nil {
				errs[w] = err
				return
			}
			for i := range 15 {
				published[w] = append(published[w], publishDisk(t, ps, "web", fmt.Sprintf("1.%d.%d", w, i), 64<<10))
			}
		}()
	}
	wg.Wait()
	close(stop)
	gcWG.Wait()
	if gcErr != nil {
		t.Fatal(gcErr)
	}
	for w, err := range errs {
		if err != nil {
			t.Fatalf("publisher %d: %v", w, err)
		}
	}
	n := 0
	for _, ds := range published {
		for _, d := range ds {
			if _, err := registry.VerifyContent(ctx, s, "web", d, false); err != nil {
				t.Errorf("published, then lost: %v", err)
			}
			n++
		}
	}
	if gcs < 3 || removed == 0 {
		t.Errorf("%d collections removed %d orphans: the test did not exercise the collector", gcs, removed)
	}
	t.Logf("%d publishes, %d collections alongside, %d orphans removed, nothing lost", n, gcs, removed)
}

// manifestOf pushes a config blob holding text and returns the bytes of an
// image manifest over it (with the empty layer), not yet pushed.
func manifestOf(t *testing.T, s *Store, repo, text string) []byte {
	t.Helper()
	ctx := context.Background()
	cfg, err := s.PushBlob(ctx, repo, ocispec.Descriptor{MediaType: "application/vnd.example.config+json"}, strings.NewReader(fmt.Sprintf("%q", text)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PushBlob(ctx, repo, ocispec.DescriptorEmptyJSON, bytes.NewReader(ocispec.DescriptorEmptyJSON.Data)); err != nil {
		t.Fatal(err)
	}
	return []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":%q,"digest":%q,"size":%d},"layers":[{"mediaType":%q,"digest":%q,"size":2}]}`,
		ocispec.MediaTypeImageManifest, cfg.MediaType, cfg.Digest, cfg.Size, ocispec.MediaTypeEmptyJSON, ocispec.DescriptorEmptyJSON.Digest))
}

// pushImageManifest pushes an untagged image manifest, as publish oci-image
// does before the artifact that tracks it.
func pushImageManifest(t *testing.T, s *Store, repo string) ocispec.Descriptor {
	t.Helper()
	d, err := s.PushManifest(context.Background(), repo, ocispec.MediaTypeImageManifest, manifestOf(t, s, repo, "the tracked image"))
	if err != nil {
		t.Fatal(err)
	}
	return d
}
