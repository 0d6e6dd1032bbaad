package layout

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/registry"
	"github.com/brickyard/brickyard/registry/registrytest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func newStore(t *testing.T) registry.Store {
	t.Helper()
	s, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) { registrytest.Run(t, newStore) }

func TestCorruptBlobCaught(t *testing.T) {
	ctx := context.Background()
	s := newStore(t).(*Store)
	d, err := s.PushBlob(ctx, "web", ocispec.Descriptor{}, strings.NewReader("original bytes"))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(s.Root(), "web", "blobs", "sha256", d.Digest.Encoded())
	if err := os.WriteFile(p, []byte("damaged bytes!"), 0o644); err != nil {
		t.Fatal(err)
	}
	rc, err := s.Fetch(ctx, "web", d)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := io.ReadAll(rc); !errors.Is(err, registry.ErrDigestMismatch) {
		t.Fatalf("damaged blob read without error: %v", err)
	}
}

func TestLeftoverIngestIgnored(t *testing.T) {
	ctx := context.Background()
	s := newStore(t).(*Store)
	if _, err := s.PushBlob(ctx, "web", ocispec.Descriptor{}, strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	// A crash in the middle of an ingest leaves a temporary file behind.
	if err := os.WriteFile(filepath.Join(s.Root(), "web", "blobs", "sha256", ".ingest-crashed"), []byte("half"), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := s.PushBlob(ctx, "web", ocispec.Descriptor{}, strings.NewReader("half"))
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.Exists(ctx, "web", d); !ok {
		t.Fatal("blob not stored beside a leftover ingest file")
	}
}

func TestReservedRepositoryName(t *testing.T) {
	s := newStore(t)
	for _, repo := range []string{"web/blobs", "Web", "../web", ""} {
		if _, err := s.Tags(context.Background(), repo); !errors.Is(err, artifact.ErrInvalidName) {
			t.Errorf("repository %q: %v", repo, err)
		}
	}
}

// TestTwoStoresShareTheLock uses two Store values on one directory, as
// two processes would: the lock file, not the mutex, must serialise them.
func TestTwoStoresShareTheLock(t *testing.T) {
	dir := t.TempDir()
	a, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var descs []ocispec.Descriptor
	for _, s := range []*Store{a, b} {
		d, err := s.PushManifest(ctx, "web", ocispec.MediaTypeImageManifest, emptyManifest(t, s, s == a))
		if err != nil {
			t.Fatal(err)
		}
		descs = append(descs, d)
	}
	done := make(chan error, 200)
	for i := range 100 {
		go func() { done <- a.Move(ctx, "web", descs[0], "a"+string(rune('a'+i%26))+string(rune('0'+i/26))) }()
		go func() { done <- b.Move(ctx, "web", descs[1], "b"+string(rune('a'+i%26))+string(rune('0'+i/26))) }()
	}
	for range 200 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	tags, err := a.Tags(ctx, "web")
	if err != nil || len(tags) != 200 {
		t.Fatalf("%d tags after 200 concurrent tag writes from two stores (lost updates?): %v", len(tags), err)
	}
}

func emptyManifest(t *testing.T, s *Store, first bool) []byte {
	t.Helper()
	ctx := context.Background()
	if _, err := s.PushBlob(ctx, "web", ocispec.DescriptorEmptyJSON, strings.NewReader("{}")); err != nil {
		t.Fatal(err)
	}
	at := "application/vnd.example.a"
	if !first {
		at = "application/vnd.example.b"
	}
	return []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"` + at +
		`","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2}]}`)
}

// TestStandardToolsRead checks that skopeo and umoci read what brickyard
// writes: a real artifact, published.
func TestStandardToolsRead(t *testing.T) {
	for _, tool := range []string{"skopeo", "umoci"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("SKIPPED LOUDLY: %s is not installed (scripts/test installs it); interop not checked", tool)
		}
	}
	ctx := context.Background()
	s := newStore(t).(*Store)
	v, _ := artifact.ParseVersion("1.2.0-rc.1+build.7")
	e, err := registry.Publish(ctx, s, &artifact.Artifact{Name: "golden/web", Kind: artifact.KindMachineImage, Version: v,
		MachineImage: &artifact.MachineImage{Provider: "aws", Owner: "123456789012", Images: map[string]string{"eu-west-1": "ami-1"}}})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(s.Root(), "golden", "web")
	out, err := exec.Command("skopeo", "inspect", "--raw", "oci:"+dir+":1.2.0-rc.1_build.7").Output()
	if err != nil {
		t.Fatalf("skopeo inspect --raw: %v", err)
	}
	if string(out) != string(e.Manifest) {
		t.Errorf("skopeo read other bytes:\n%s\nwant\n%s", out, e.Manifest)
	}
	out, err = exec.Command("umoci", "ls", "--layout", dir).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "1.2.0-rc.1_build.7" {
		t.Errorf("umoci ls: %v\n%s", err, out)
	}
}

// TestCopyFromDamagedStore: a blob copied from another store through its
// verifying reader is not hashed twice, yet a damaged source is still
// caught and nothing is committed.
func TestCopyFromDamagedStore(t *testing.T) {
	ctx := context.Background()
	src, dst := newStore(t).(*Store), newStore(t).(*Store)
	body := strings.Repeat("disk bytes ", 300_000)
	d, err := src.PushBlob(ctx, "web", ocispec.Descriptor{}, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	rc, err := src.Fetch(ctx, "web", d)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := dst.PushBlob(ctx, "web", d, rc); err != nil || got.Digest != d.Digest {
		t.Fatalf("copy of a sound blob: %v, %v", got, err)
	}
	rc.Close()
	p := filepath.Join(src.Root(), "web", "blobs", "sha256", d.Digest.Encoded())
	damaged := []byte(body)
	damaged[1000] ^= 1
	if err := os.WriteFile(p, damaged, 0o644); err != nil {
		t.Fatal(err)
	}
	other := newStore(t).(*Store)
	rc, err = src.Fetch(ctx, "web", d)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := other.PushBlob(ctx, "web", d, rc); !errors.Is(err, registry.ErrDigestMismatch) {
		t.Fatalf("copy of a damaged blob: %v", err)
	}
	if ok, _ := other.Exists(ctx, "web", d); ok {
		t.Fatal("a damaged blob was committed")
	}
}

// failingReader gives n bytes of data, then calls on (if set) and returns
// err, or, if err is nil, data without end.
type failingReader struct {
	n   int
	err error
	on  func()
}

func (f *failingReader) Read(b []byte) (int, error) {
	if f.n == 0 {
		if f.on != nil {
			f.on()
		}
		if f.err != nil {
			return 0, f.err
		}
		f.n = len(b)
	}
	m := min(len(b), f.n)
	for i := range b[:m] {
		b[i] = 'x'
	}
	f.n -= m
	return m, nil
}

// TestIngestStopsCleanly: a source that fails, or a context cancelled,
// midway through a multi-chunk blob stops the push with that error and
// leaves neither a blob nor an ingest file behind.
func TestIngestStopsCleanly(t *testing.T) {
	broken := errors.New("connection reset")
	ctx, cancel := context.WithCancel(context.Background())
	for _, tc := range []struct {
		name string
		ctx  context.Context
		r    io.Reader
		want error
	}{
		{"source error", context.Background(), &failingReader{n: 5*chunkSize + 17, err: broken}, broken},
		{"cancelled", ctx, &failingReader{n: 3 * chunkSize, on: cancel}, context.Canceled}, // endless after cancelling
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := New(dir)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.PushBlob(tc.ctx, "web", ocispec.Descriptor{MediaType: "application/octet-stream"}, tc.r); !errors.Is(err, tc.want) {
				t.Fatalf("PushBlob = %v, want %v", err, tc.want)
			}
			entries, _ := os.ReadDir(filepath.Join(dir, "web", "blobs", "sha256"))
			if len(entries) != 0 {
				t.Errorf("left behind: %v", entries)
			}
		})
	}
}
