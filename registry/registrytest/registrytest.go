// Package registrytest is the conformance suite every registry.Store must
// pass: the layout store, the in-process registry of go-containerregistry
// and a real CNCF distribution registry. A store's tests call Run with a
// function that returns a new, empty store.
package registrytest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/registry"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Option adjusts the suite to what a kind of store can promise.
type Option func(*config)

type config struct{ atomicTags, referrersArtifactType bool }

// WithoutAtomicTags is for stores over the OCI distribution API, which has
// no compare-and-set on tags: concurrent Tag calls of one tag to different
// manifests cannot be refused atomically there, so that case is skipped.
func WithoutAtomicTags() Option { return func(c *config) { c.atomicTags = false } }

// WithWrongReferrersArtifactType is for go-containerregistry's in-process
// registry with referrers support on: its referrers API reports a
// referrer's artifactType from the config media type rather than from the
// manifest's artifactType, against the distribution spec, so the suite
// checks only that the referrer is listed.
func WithWrongReferrersArtifactType() Option {
	return func(c *config) { c.referrersArtifactType = false }
}

// Run runs the suite; newStore must return a new, empty store each call.
func Run(t *testing.T, newStore func(t *testing.T) registry.Store, opts ...Option) {
	cfg := config{atomicTags: true, referrersArtifactType: true}
	for _, o := range opts {
		o(&cfg)
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, s registry.Store)
	}{
		{"BlobRoundTrip", testBlobRoundTrip},
		{"BlobDigestMismatch", testBlobDigestMismatch},
		{"BlobCancelled", testBlobCancelled},
		{"FetchMissing", testFetchMissing},
		{"FetchSeek", testFetchSeek},
		{"ManifestNeedsBlobs", testManifestNeedsBlobs},
		{"ManifestTooLarge", testManifestTooLarge},
		{"TagImmutable", testTagImmutable},
		{"Move", testMove},
		{"InvalidTag", testInvalidTag},
		{"TagsAndDelete", testTagsAndDelete},
		{"ConcurrentTag", testConcurrentTag},
		{"Referrers", func(t *testing.T, s registry.Store) { testReferrers(t, s, cfg.referrersArtifactType) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "ConcurrentTag" && !cfg.atomicTags {
				t.Skip("the store cannot create tags atomically (WithoutAtomicTags)")
			}
			tc.fn(t, newStore(t))
		})
	}
}

const repo = "conformance/web"

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func read(t testing.TB, s registry.Store, d ocispec.Descriptor) []byte {
	t.Helper()
	rc, err := s.Fetch(context.Background(), repo, d)
	must(t, err)
	defer rc.Close()
	b, err := io.ReadAll(rc)
	must(t, err)
	return b
}

// manifest pushes a config and one layer with the given content and returns
// the image manifest referencing them (not yet pushed).
func manifest(t testing.TB, s registry.Store, content string) []byte {
	t.Helper()
	ctx := context.Background()
	cfg, err := s.PushBlob(ctx, repo, ocispec.Descriptor{MediaType: "application/vnd.brickyard.config.v1+json"}, strings.NewReader(`{"c":"`+content+`"}`))
	must(t, err)
	layer, err := s.PushBlob(ctx, repo, ocispec.Descriptor{MediaType: "application/vnd.brickyard.disk.raw"}, strings.NewReader(content))
	must(t, err)
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, ArtifactType: "application/vnd.brickyard.vm-disk.v1", Config: cfg, Layers: []ocispec.Descriptor{layer}}
	m.SchemaVersion = 2
	b, err := json.Marshal(m)
	must(t, err)
	return b
}

func pushManifest(t testing.TB, s registry.Store, content string) ocispec.Descriptor {
	t.Helper()
	d, err := s.PushManifest(context.Background(), repo, ocispec.MediaTypeImageManifest, manifest(t, s, content))
	must(t, err)
	return d
}

func testBlobRoundTrip(t *testing.T, s registry.Store) {
	ctx := context.Background()
	body := bytes.Repeat([]byte("brickyard "), 100_000) // 1 MB, more than one read
	want := ocispec.Descriptor{MediaType: "application/octet-stream", Digest: digest.FromBytes(body), Size: int64(len(body))}
	got, err := s.PushBlob(ctx, repo, ocispec.Descriptor{MediaType: want.MediaType}, bytes.NewReader(body))
	must(t, err)
	if got.Digest != want.Digest || got.Size != want.Size || got.MediaType != want.MediaType {
		t.Fatalf("PushBlob = %+v, want %+v", got, want)
	}
	if ok, err := s.Exists(ctx, repo, want); !ok || err != nil {
		t.Fatalf("Exists = %v, %v", ok, err)
	}
	if !bytes.Equal(read(t, s, want), body) {
		t.Fatal("fetched bytes differ")
	}
	// Pushing it again, with its digest known, is a no-op that need not read.
	again, err := s.PushBlob(ctx, repo, want, errReader{})
	if err != nil || again.Digest != want.Digest {
		t.Fatalf("push of a present blob = %+v, %v", again, err)
	}
	// Without a digest, a size is only a hint: a wrong one changes nothing.
	for _, hint := range []int64{5, want.Size + 1000} {
		got, err := s.PushBlob(ctx, repo, ocispec.Descriptor{Size: hint}, bytes.NewReader(body))
		if err != nil || got.Digest != want.Digest || got.Size != want.Size {
			t.Errorf("push with size hint %d = %+v, %v", hint, got, err)
		}
	}
	// A zero-length blob is a blob.
	empty, err := s.PushBlob(ctx, repo, ocispec.Descriptor{}, bytes.NewReader(nil))
	if err != nil || empty.Digest != digest.FromBytes(nil) || empty.Size != 0 {
		t.Fatalf("empty blob = %+v, %v", empty, err)
	}
}

// testFetchSeek: the reader Fetch returns for a blob can seek back, for a
// push that resumes after a dropped connection, and still verifies the
// blob; it refuses to skip bytes it has not verified.
func testFetchSeek(t *testing.T, s registry.Store) {
	ctx := context.Background()
	body := bytes.Repeat([]byte("0123456789"), 100_000)
	d, err := s.PushBlob(ctx, repo, ocispec.Descriptor{MediaType: "application/octet-stream"}, bytes.NewReader(body))
	must(t, err)
	rc, err := s.Fetch(ctx, repo, d)
	must(t, err)
	defer rc.Close()
	rs, ok := rc.(io.ReadSeeker)
	if !ok {
		t.Fatalf("Fetch returned a %T, which cannot seek", rc)
	}
	if _, err := io.ReadFull(rs, make([]byte, 300_000)); err != nil {
		t.Fatal(err)
	}
	if _, err := rs.Seek(400_000, io.SeekStart); err == nil {
		t.Error("seek past bytes not yet verified succeeded")
	}
	if pos, err := rs.Seek(-200_003, io.SeekCurrent); err != nil || pos != 99_997 {
		t.Fatalf("seek back = %d, %v", pos, err)
	}
	rest, err := io.ReadAll(rs)
	if err != nil || !bytes.Equal(rest, body[99_997:]) {
		t.Fatalf("after a seek back, read %d bytes, %v", len(rest), err)
	}
	// Once told to skip verifying, it can seek anywhere in the blob.
	rc2, err := s.Fetch(ctx, repo, d)
	must(t, err)
	defer rc2.Close()
	if sv, ok := rc2.(registry.SkipVerifier); ok {
		sv.SkipVerify()
		if _, err := rc2.(io.Seeker).Seek(700_000, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		rest, err := io.ReadAll(rc2)
		if err != nil || !bytes.Equal(rest, body[700_000:]) {
			t.Fatalf("after a seek forward, read %d bytes, %v", len(rest), err)
		}
		// Back, then to the very end: nothing more to read, and no error.
		for _, at := range []int64{0, d.Size} {
			if _, err := rc2.(io.Seeker).Seek(at, io.SeekStart); err != nil {
				t.Fatal(err)
			}
		}
		if n, err := rc2.Read(make([]byte, 10)); n != 0 || err != io.EOF {
			t.Fatalf("read at the end = %d, %v; want 0, EOF", n, err)
		}
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("read although the blob is present") }

func testBlobDigestMismatch(t *testing.T, s registry.Store) {
	ctx := context.Background()
	body := []byte("the real bytes")
	claimed := ocispec.Descriptor{Digest: digest.FromString("other bytes"), Size: int64(len(body))}
	if _, err := s.PushBlob(ctx, repo, claimed, bytes.NewReader(body)); !errors.Is(err, registry.ErrDigestMismatch) {
		t.Fatalf("digest mismatch: %v", err)
	}
	for _, d := range []ocispec.Descriptor{claimed, {Digest: digest.FromBytes(body), Size: int64(len(body))}} {
		if ok, _ := s.Exists(ctx, repo, d); ok {
			t.Errorf("a refused blob is visible as %s", d.Digest)
		}
	}
	wrongSize := ocispec.Descriptor{Digest: digest.FromBytes(body), Size: 3}
	if _, err := s.PushBlob(ctx, repo, wrongSize, bytes.NewReader(body)); !errors.Is(err, registry.ErrDigestMismatch) {
		t.Errorf("size mismatch: %v", err)
	}
}

// cancelReader cancels its context after the first read.
type cancelReader struct {
	cancel context.CancelFunc
	n      int
}

func (c *cancelReader) Read(b []byte) (int, error) {
	c.n++
	if c.n > 1 {
		c.cancel()
	}
	if c.n > 100 {
		return 0, io.EOF
	}
	for i := range b {
		b[i] = 'x'
	}
	return len(b), nil
}

func testBlobCancelled(t *testing.T, s registry.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	_, err := s.PushBlob(ctx, repo, ocispec.Descriptor{}, &cancelReader{cancel: cancel})
	if err == nil {
		t.Fatal("a push cancelled in the middle succeeded")
	}
	tags, _ := s.Tags(context.Background(), repo)
	if len(tags) != 0 {
		t.Errorf("tags after a cancelled push: %v", tags)
	}
}

func testFetchMissing(t *testing.T, s registry.Store) {
	ctx := context.Background()
	d := ocispec.Descriptor{MediaType: "application/octet-stream", Digest: digest.FromString("absent"), Size: 6}
	// A repository with a tag exists for every store (the distribution
	// registry knows no repository without tags).
	must(t, s.Tag(ctx, repo, pushManifest(t, s, "make the repository exist"), "0.1.0"))
	if _, err := s.Fetch(ctx, repo, d); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("Fetch missing blob: %v", err)
	}
	if ok, err := s.Exists(ctx, repo, d); ok || err != nil {
		t.Errorf("Exists missing blob = %v, %v", ok, err)
	}
	if _, err := s.Resolve(ctx, repo, "1.0.0"); !errors.Is(err, registry.ErrTagNotFound) || errors.Is(err, registry.ErrRepositoryNotFound) {
		t.Errorf("Resolve missing tag: %v, want ErrTagNotFound", err)
	}
	if _, err := s.Resolve(ctx, "conformance/no-such-repo", "1.0.0"); !errors.Is(err, registry.ErrRepositoryNotFound) || !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("Resolve in a missing repository: %v, want ErrRepositoryNotFound", err)
	}
}

func testManifestNeedsBlobs(t *testing.T, s registry.Store) {
	ctx := context.Background()
	var m ocispec.Manifest
	must(t, json.Unmarshal(manifest(t, s, "present"), &m))
	m.Layers = append(m.Layers, ocispec.Descriptor{MediaType: "application/vnd.brickyard.disk.raw", Digest: digest.FromString("never pushed"), Size: 12})
	b, _ := json.Marshal(m)
	_, err := s.PushManifest(ctx, repo, ocispec.MediaTypeImageManifest, b)
	if !errors.Is(err, registry.ErrNotFound) || !strings.Contains(err.Error(), digest.FromString("never pushed").String()) {
		t.Fatalf("manifest with a missing blob: %v, want ErrNotFound naming it", err)
	}
	if ok, _ := s.Exists(ctx, repo, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(b), Size: int64(len(b))}); ok {
		t.Error("a refused manifest is stored")
	}
}

func testManifestTooLarge(t *testing.T, s registry.Store) {
	var m ocispec.Manifest
	must(t, json.Unmarshal(manifest(t, s, "big"), &m))
	m.Annotations = map[string]string{"pad": strings.Repeat("x", 4<<20)}
	b, _ := json.Marshal(m)
	if _, err := s.PushManifest(context.Background(), repo, ocispec.MediaTypeImageManifest, b); !errors.Is(err, registry.ErrTooLarge) {
		t.Fatalf("manifest over 4 MiB: %v", err)
	}
}

func testTagImmutable(t *testing.T, s registry.Store) {
	ctx := context.Background()
	a, b := pushManifest(t, s, "a"), pushManifest(t, s, "b")
	must(t, s.Tag(ctx, repo, a, "1.0.0"))
	must(t, s.Tag(ctx, repo, a, "1.0.0"))
	err := s.Tag(ctx, repo, b, "1.0.0")
	if !errors.Is(err, registry.ErrImmutableTag) || !strings.Contains(err.Error(), "1.0.0") {
		t.Fatalf("re-tag with other content: %v", err)
	}
	got, err := s.Resolve(ctx, repo, "1.0.0")
	must(t, err)
	if got.Digest != a.Digest {
		t.Fatalf("the tag moved to %s", got.Digest)
	}
	if err := s.Tag(ctx, repo, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("x"), Size: 1}, "2.0.0"); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("tagging an absent manifest: %v", err)
	}
}

func testMove(t *testing.T, s registry.Store) {
	ctx := context.Background()
	a, b := pushManifest(t, s, "a"), pushManifest(t, s, "b")
	must(t, s.Move(ctx, repo, a, "sha256-abc.sig"))
	must(t, s.Move(ctx, repo, b, "sha256-abc.sig"))
	got, err := s.Resolve(ctx, repo, "sha256-abc.sig")
	must(t, err)
	if got.Digest != b.Digest || got.Size != b.Size {
		t.Fatalf("Move did not re-point: %+v", got)
	}
	if !bytes.Equal(read(t, s, got), read(t, s, b)) {
		t.Error("resolved manifest bytes differ")
	}
}

func testInvalidTag(t *testing.T, s registry.Store) {
	ctx := context.Background()
	a := pushManifest(t, s, "a")
	for _, tag := range []string{"", "1.0.0+build", "-x", strings.Repeat("a", 129), "a/b"} {
		if err := s.Tag(ctx, repo, a, tag); !errors.Is(err, registry.ErrInvalidRef) {
			t.Errorf("Tag %q: %v", tag, err)
		}
	}
}

func testTagsAndDelete(t *testing.T, s registry.Store) {
	ctx := context.Background()
	a, b := pushManifest(t, s, "a"), pushManifest(t, s, "b")
	must(t, s.Tag(ctx, repo, b, "1.10.0"))
	must(t, s.Tag(ctx, repo, a, "1.2.0"))
	must(t, s.Tag(ctx, repo, a, "latest-a"))
	tags, err := s.Tags(ctx, repo)
	must(t, err)
	if fmt.Sprint(tags) != "[1.10.0 1.2.0 latest-a]" {
		t.Errorf("Tags = %v, want lexical order", tags)
	}
	must(t, s.Delete(ctx, repo, a))
	tags, err = s.Tags(ctx, repo)
	must(t, err)
	if fmt.Sprint(tags) != "[1.10.0]" {
		t.Errorf("Tags after Delete = %v", tags)
	}
	if _, err := s.Resolve(ctx, repo, "1.2.0"); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("Resolve deleted: %v", err)
	}
	if _, err := s.Tags(ctx, "conformance/never-pushed"); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("Tags of an unknown repository: %v", err)
	}
}

func testConcurrentTag(t *testing.T, s registry.Store) {
	ctx := context.Background()
	var descs []ocispec.Descriptor
	for i := range 8 {
		descs = append(descs, pushManifest(t, s, fmt.Sprint("publisher ", i)))
	}
	var wg sync.WaitGroup
	errs := make([]error, len(descs))
	for i, d := range descs {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = s.Tag(ctx, repo, d, "3.0.0") }()
	}
	wg.Wait()
	won := -1
	for i, err := range errs {
		switch {
		case err == nil && won >= 0:
			t.Errorf("publishers %d and %d both tagged 3.0.0", won, i)
		case err == nil:
			won = i
		case !errors.Is(err, registry.ErrImmutableTag):
			t.Errorf("publisher %d: %v", i, err)
		}
	}
	if won < 0 {
		t.Fatal("nobody won the tag")
	}
	got, err := s.Resolve(ctx, repo, "3.0.0")
	must(t, err)
	if got.Digest != descs[won].Digest {
		t.Errorf("3.0.0 points at %s, the winner pushed %s", got.Digest, descs[won].Digest)
	}
}

// testReferrers publishes an OCI-image artifact tracking an image and finds
// it among the image's referrers, through the API or the tag schema.
func testReferrers(t *testing.T, s registry.Store, checkArtifactType bool) {
	ctx := context.Background()
	rs, ok := s.(registry.ReferrerStore)
	if !ok {
		t.Skip("the store cannot hold referrers")
	}
	image := pushManifest(t, s, "the tracked image")
	if refs, err := registry.Referrers(ctx, rs, repo, image.Digest, ""); err != nil || len(refs) != 0 {
		t.Fatalf("referrers before any = %v, %v", refs, err)
	}
	v, _ := artifact.ParseVersion("1.0.0")
	a := &artifact.Artifact{Name: repo, Kind: artifact.KindOCIImage, Version: v, Image: &image}
	e, err := registry.Publish(ctx, s, a)
	must(t, err)
	_, err = registry.Publish(ctx, s, a)
	must(t, err)
	refs, err := registry.Referrers(ctx, rs, repo, image.Digest, "")
	must(t, err)
	if len(refs) != 1 || refs[0].Digest != e.Descriptor.Digest {
		t.Fatalf("referrers = %+v, want the artifact once", refs)
	}
	if !checkArtifactType {
		return
	}
	refs, err = registry.Referrers(ctx, rs, repo, image.Digest, artifact.ArtifactTypeOCIImage)
	must(t, err)
	if len(refs) != 1 || refs[0].ArtifactType != artifact.ArtifactTypeOCIImage {
		t.Errorf("referrers of artifactType %s = %+v, want the artifact", artifact.ArtifactTypeOCIImage, refs)
	}
	if refs, _ := registry.Referrers(ctx, rs, repo, image.Digest, "application/vnd.example.other"); len(refs) != 0 {
		t.Errorf("the artifactType filter let through %+v", refs)
	}
	_, native := s.(registry.ReferrerLister)
	if native {
		_, native, _ = s.(registry.ReferrerLister).Referrers(ctx, repo, image.Digest)
	}
	_, err = s.Resolve(ctx, repo, registry.ReferrersTag(image.Digest))
	if native == (err == nil) {
		t.Errorf("referrers API %v, yet tag schema index present: %v", native, err == nil)
	}
}
