package ocistore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/internal/errdef"
	"github.com/brickyard/brickyard/internal/ocistore"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// memStore is the smallest store: content by digest and tags, with no
// referrers API, so referrers go through the tag schema.
type memStore struct {
	blobs map[digest.Digest][]byte
	tags  map[string]ocispec.Descriptor
}

func newMemStore() *memStore {
	return &memStore{blobs: map[digest.Digest][]byte{}, tags: map[string]ocispec.Descriptor{}}
}

func (m *memStore) Fetch(_ context.Context, repo string, d ocispec.Descriptor) (io.ReadCloser, error) {
	b, ok := m.blobs[d.Digest]
	if !ok {
		return nil, fmt.Errorf("%s@%s: %w", repo, d.Digest, errdef.ErrNotFound)
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

func (m *memStore) Resolve(_ context.Context, repo, tag string) (ocispec.Descriptor, error) {
	d, ok := m.tags[tag]
	if !ok {
		return d, fmt.Errorf("%s:%s: %w", repo, tag, errdef.ErrNotFound)
	}
	return d, nil
}

func (m *memStore) PushManifest(_ context.Context, _, mediaType string, b []byte) (ocispec.Descriptor, error) {
	d := ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(b), Size: int64(len(b))}
	m.blobs[d.Digest] = b
	return d, nil
}

func (m *memStore) Move(_ context.Context, _ string, d ocispec.Descriptor, tag string) error {
	m.tags[tag] = d
	return nil
}

func TestReadAllLimit(t *testing.T) {
	ctx := context.Background()
	st := newMemStore()
	d, _ := st.PushManifest(ctx, "r", "text/plain", []byte("0123456789"))
	if b, err := ocistore.ReadAll(ctx, st, "r", d, 10); err != nil || string(b) != "0123456789" {
		t.Errorf("ReadAll within the limit = %q, %v", b, err)
	}
	if _, err := ocistore.ReadAll(ctx, st, "r", d, 9); !errors.Is(err, artifact.ErrTooLarge) {
		t.Errorf("ReadAll of a descriptor over the limit = %v, want ErrTooLarge", err)
	}
	lying := d
	lying.Size = 5 // the content is longer than its descriptor says
	if _, err := ocistore.ReadAll(ctx, st, "r", lying, 9); !errors.Is(err, artifact.ErrTooLarge) {
		t.Errorf("ReadAll of content over the limit = %v, want ErrTooLarge", err)
	}
	if _, err := ocistore.ReadAll(ctx, st, "r", ocispec.Descriptor{Digest: digest.FromString("x")}, 9); !errors.Is(err, errdef.ErrNotFound) {
		t.Errorf("ReadAll of missing content = %v, want ErrNotFound", err)
	}
}

func TestReferrersTagSchema(t *testing.T) {
	ctx := context.Background()
	st := newMemStore()
	subject := digest.FromString("subject")
	if refs, err := ocistore.Referrers(ctx, st, "r", subject, ""); err != nil || refs == nil || len(refs) != 0 {
		t.Fatalf("Referrers of a subject with none = %v, %v; want an empty list", refs, err)
	}
	sig := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, ArtifactType: "application/vnd.example.sig", Digest: digest.FromString("sig"), Size: 3}
	for range 2 { // added once, however often
		if err := ocistore.AddReferrer(ctx, st, "r", subject, sig); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := st.tags[ocistore.ReferrersTag(subject)]; !ok {
		t.Errorf("no tag %s", ocistore.ReferrersTag(subject))
	}
	refs, err := ocistore.Referrers(ctx, st, "r", subject, "")
	if err != nil || len(refs) != 1 || refs[0].Digest != sig.Digest {
		t.Errorf("Referrers = %v, %v; want the one", refs, err)
	}
	if refs, err := ocistore.Referrers(ctx, st, "r", subject, "application/other"); err != nil || len(refs) != 0 {
		t.Errorf("Referrers of another artifactType = %v, %v; want none", refs, err)
	}
}

func TestFetchArtifactRejectsAnImage(t *testing.T) {
	ctx := context.Background()
	st := newMemStore()
	cfg := []byte(`{}`)
	cd, _ := st.PushManifest(ctx, "r", ocispec.MediaTypeImageConfig, cfg)
	m := fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":%q,"digest":%q,"size":%d},"layers":[]}`,
		ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageConfig, cd.Digest, cd.Size)
	md, _ := st.PushManifest(ctx, "r", ocispec.MediaTypeImageManifest, []byte(m))
	if _, _, _, err := ocistore.FetchArtifact(ctx, st, "r", md); err == nil {
		t.Error("FetchArtifact of a plain image manifest: no error")
	}
}

func TestReferences(t *testing.T) {
	d := func(s string) string {
		return `{"mediaType":"x","digest":"sha256:` + strings.Repeat(s, 64) + `","size":1}`
	}
	m := `{"schemaVersion":2,"mediaType":"` + ocispec.MediaTypeImageManifest + `","config":` + d("a") + `,"layers":[` + d("b") + `],"subject":` + d("c") + `}`
	refs, err := ocistore.References(ocispec.MediaTypeImageManifest, []byte(m))
	if err != nil {
		t.Fatal(err)
	}
	if len(refs) != 2 || refs[0].Digest.Encoded()[0] != 'a' || refs[1].Digest.Encoded()[0] != 'b' {
		t.Errorf("References = %v, want config then layer, no subject", refs)
	}
	idx := `{"schemaVersion":2,"manifests":[` + d("d") + `]}` // mediaType is optional
	if refs, err := ocistore.References(ocispec.MediaTypeImageIndex, []byte(idx)); err != nil || len(refs) != 1 {
		t.Errorf("References(index) = %v, %v; want one manifest", refs, err)
	}
	for name, b := range map[string]string{
		"not JSON":       `<html>`,
		"other type":     `{"mediaType":"` + ocispec.MediaTypeImageIndex + `"}`,
		"invalid digest": `{"layers":[{"digest":"sha256:nothex","size":1}]}`,
	} {
		if _, err := ocistore.References(ocispec.MediaTypeImageManifest, []byte(b)); !errors.Is(err, artifact.ErrInvalidManifest) {
			t.Errorf("%s: err = %v, want artifact.ErrInvalidManifest", name, err)
		}
	}
}

func TestSeekOffset(t *testing.T) {
	desc := ocispec.Descriptor{Digest: digest.FromString("x")}
	if abs, err := ocistore.SeekOffset("s", desc, 10, 5, io.SeekStart); abs != 5 || err != nil {
		t.Errorf("SeekStart: %d, %v", abs, err)
	}
	if abs, err := ocistore.SeekOffset("s", desc, 10, -4, io.SeekCurrent); abs != 6 || err != nil {
		t.Errorf("SeekCurrent: %d, %v", abs, err)
	}
	if _, err := ocistore.SeekOffset("s", desc, 10, 0, io.SeekEnd); !errors.Is(err, errors.ErrUnsupported) || !strings.Contains(err.Error(), desc.Digest.String()) {
		t.Errorf("SeekEnd: err = %v, want ErrUnsupported naming the blob", err)
	}
}
