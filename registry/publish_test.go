package registry_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/artifact/disk"
	"github.com/brickyard/brickyard/registry"
	"github.com/brickyard/brickyard/registry/layout"
)

func newLayout(t *testing.T) *layout.Store {
	t.Helper()
	s, err := layout.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestPublishVMDisk(t *testing.T) {
	ctx := context.Background()
	s := newLayout(t)
	path := filepath.Join(t.TempDir(), "base.raw")
	if err := os.WriteFile(path, bytes.Repeat([]byte{0xab}, 8<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	var last, total int64
	d, err := registry.PushDisk(ctx, s, "base", path, func(done, all int64) { last, total = done, all })
	if err != nil {
		t.Fatal(err)
	}
	if d.Format != artifact.DiskRaw || d.VirtualSize != 8<<20 || d.Size != 8<<20 || d.Title != "base.raw" {
		t.Errorf("disk %+v", d)
	}
	if last != total || total != 8<<20 {
		t.Errorf("progress ended at %d of %d", last, total)
	}
	v, _ := artifact.ParseVersion("1.0.0")
	a := &artifact.Artifact{Name: "base", Kind: artifact.KindVMDisk, Version: v, Disks: []artifact.Disk{d}}
	e, err := registry.Publish(ctx, s, a)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Resolve(ctx, "base", "1.0.0")
	if err != nil || got.Digest != e.Descriptor.Digest {
		t.Fatalf("tag 1.0.0 = %v, %v", got.Digest, err)
	}
	// Publishing the very same artifact again is a no-op.
	if _, err := registry.Publish(ctx, s, a); err != nil {
		t.Fatalf("re-publish of the same artifact: %v", err)
	}
	// Other content under the same version is refused and changes nothing.
	a.Build.Revision = "another"
	_, err = registry.Publish(ctx, s, a)
	if !errors.Is(err, registry.ErrImmutableTag) || !strings.Contains(err.Error(), "base@1.0.0") {
		t.Fatalf("re-publish with other content: %v", err)
	}
	if got, _ := s.Resolve(ctx, "base", "1.0.0"); got.Digest != e.Descriptor.Digest {
		t.Fatalf("the version tag moved to %s", got.Digest)
	}
}

func TestPublishRefusesInvalid(t *testing.T) {
	s := newLayout(t)
	v, _ := artifact.ParseVersion("1.0.0")
	_, err := registry.Publish(context.Background(), s, &artifact.Artifact{Name: "web", Kind: artifact.KindMachineImage, Version: v})
	if !errors.Is(err, artifact.ErrInvalidArtifact) {
		t.Fatalf("machine image without images: %v", err)
	}
	if repos, _ := s.Repositories(context.Background()); len(repos) != 0 {
		t.Errorf("a refused publish wrote %v", repos)
	}
}

func TestPushDiskBadFiles(t *testing.T) {
	ctx := context.Background()
	s := newLayout(t)
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.qcow2")
	if _, err := registry.PushDisk(ctx, s, "web", missing, nil); !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing file: %v", err)
	}
	text := filepath.Join(dir, "notes.txt")
	os.WriteFile(text, []byte("not a disk\n"), 0o644)
	if _, err := registry.PushDisk(ctx, s, "web", text, nil); !errors.Is(err, disk.ErrNotDisk) || !strings.Contains(err.Error(), text) {
		t.Errorf("text file: %v", err)
	}
	if repos, _ := s.Repositories(ctx); len(repos) != 0 {
		t.Errorf("refused disks were pushed: %v", repos)
	}
}

// TestPublishConcurrentReferrers publishes eight OCI-image artifacts
// tracking one image at once into a layout store: the image's referrers
// tag schema index lists all eight (the read-modify-write holds the
// layout's lock).
func TestPublishConcurrentReferrers(t *testing.T) {
	ctx := context.Background()
	s := newLayout(t)
	image := pushImage(t, s, "app", "the image")
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Go(func() {
			v, _ := artifact.ParseVersion(fmt.Sprintf("1.0.%d", i))
			_, err := registry.Publish(ctx, s, &artifact.Artifact{Name: "app", Kind: artifact.KindOCIImage, Version: v, Image: &image})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	refs, err := registry.Referrers(ctx, s, "app", image.Digest, "")
	if err != nil || len(refs) != 8 {
		t.Fatalf("referrers after 8 concurrent publishes: %d, %v; want 8", len(refs), err)
	}
}
