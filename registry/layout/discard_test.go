package layout

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/brickyard/brickyard/registry"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// pushImage pushes a config and a layer of the given contents and a
// manifest over them to repo, and returns the three descriptors.
func pushImage(t *testing.T, s *Store, repo, cfg, layer string) (m, c, l ocispec.Descriptor) {
	t.Helper()
	ctx := context.Background()
	c, err := s.PushBlob(ctx, repo, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig}, strings.NewReader(cfg))
	if err != nil {
		t.Fatal(err)
	}
	l, err = s.PushBlob(ctx, repo, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer}, strings.NewReader(layer))
	if err != nil {
		t.Fatal(err)
	}
	mf := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: c, Layers: []ocispec.Descriptor{l}}
	mf.SchemaVersion = 2
	b, _ := json.Marshal(mf)
	if m, err = s.PushManifest(ctx, repo, ocispec.MediaTypeImageManifest, b); err != nil {
		t.Fatal(err)
	}
	return m, c, l
}

func has(s *Store, repo string, d digest.Digest) bool {
	ok, _ := s.Exists(context.Background(), repo, ocispec.Descriptor{Digest: d})
	return ok
}

// TestDiscard: Discard removes the blobs it is given that nothing reaches,
// keeps those a tagged manifest or another stored manifest references
// (or a kept manifest of its list does), removes the tags it is given
// first, and removes a repository it
// leaves with no tag and no blob, with its parents up to the root, but
// not a parent that holds another repository.
func TestDiscard(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	s, _ := New(root)

	// A tagged image sharing its layer with a failed operation's.
	kept, _, shared := pushImage(t, s, "team/web", "cfg-1", "shared layer")
	if err := s.Tag(ctx, "team/web", kept, "1.0.0"); err != nil {
		t.Fatal(err)
	}
	// Another writer's manifest, pushed, not yet tagged.
	_, _, pending := pushImage(t, s, "team/web", "cfg-2", "pending layer")
	// The failed operation's manifest, config and layers.
	failedM, failedC, _ := pushImage(t, s, "team/web", "cfg-3", "shared layer")
	own, _ := s.PushBlob(ctx, "team/web", ocispec.Descriptor{}, strings.NewReader("own layer"))
	if err := s.Discard(ctx, "team/web", nil, []digest.Digest{failedM.Digest, failedC.Digest, shared.Digest, pending.Digest, own.Digest}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		what string
		d    digest.Digest
		want bool
	}{
		{"its manifest", failedM.Digest, false}, {"its config", failedC.Digest, false}, {"its own layer", own.Digest, false},
		{"a layer a tagged manifest shares", shared.Digest, true}, {"a layer an untagged manifest references", pending.Digest, true},
		{"the tagged manifest", kept.Digest, true},
	} {
		if has(s, "team/web", c.d) != c.want {
			t.Errorf("%s (%s): present = %v, want %v", c.what, c.d, !c.want, c.want)
		}
	}

	// A tagged manifest of the list is kept, and what it references.
	m2, c2, _ := pushImage(t, s, "team/web", "cfg-4", "layer 4")
	if err := s.Move(ctx, "team/web", m2, "sha256-x"); err != nil {
		t.Fatal(err)
	}
	if err := s.Discard(ctx, "team/web", nil, []digest.Digest{m2.Digest, c2.Digest}); err != nil {
		t.Fatal(err)
	}
	if !has(s, "team/web", m2.Digest) || !has(s, "team/web", c2.Digest) {
		t.Error("a tagged manifest in the list, or its config, was removed")
	}
	// Unless the operation made that tag: then the tag goes first.
	if err := s.Discard(ctx, "team/web", []string{"sha256-x"}, []digest.Digest{m2.Digest, c2.Digest}); err != nil {
		t.Fatal(err)
	}
	if has(s, "team/web", m2.Digest) || has(s, "team/web", c2.Digest) {
		t.Error("the manifest of a tag the operation made, or its config, is still there")
	}
	if tags, _ := s.Tags(ctx, "team/web"); strings.Join(tags, ",") != "1.0.0" {
		t.Errorf("tags = %v, want 1.0.0 alone", tags)
	}

	// A repository left empty goes, with its empty parents; a parent
	// holding another repository stays.
	if _, err := s.PushBlob(ctx, "team/app/x", ocispec.Descriptor{}, strings.NewReader("b")); err != nil {
		t.Fatal(err)
	}
	m3, c3, l3 := pushImage(t, s, "team/app", "c", "l")
	if err := s.Discard(ctx, "team/app", nil, []digest.Digest{m3.Digest, c3.Digest, l3.Digest}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "team", "app", ocispec.ImageLayoutFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the emptied layout of team/app is still there: %v", err)
	}
	if repos, _ := s.Repositories(ctx); strings.Join(repos, ",") != "team/app/x,team/web" {
		t.Errorf("repositories = %v, want team/app/x and team/web", repos)
	}
	m4, c4, l4 := pushImage(t, s, "solo/a/b", "c", "l")
	if err := s.Discard(ctx, "solo/a/b", nil, []digest.Digest{m4.Digest, c4.Digest, l4.Digest}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "solo")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the empty parents of solo/a/b are still there: %v", err)
	}
	if err := s.Discard(ctx, "never/made", nil, nil); err != nil {
		t.Errorf("Discard of a repository that does not exist: %v", err)
	}
}

// TestFailedPushLeavesNoLayout: a blob push that fails in a repository it
// created leaves no layout directory; in an existing one the layout stays.
func TestFailedPushLeavesNoLayout(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	s, _ := New(root)
	want := ocispec.Descriptor{Digest: digest.FromString("other"), Size: 5}
	if _, err := s.PushBlob(ctx, "new/repo", want, strings.NewReader("bytes")); !errors.Is(err, registry.ErrDigestMismatch) {
		t.Fatalf("push of other bytes: %v", err)
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Errorf("a failed push left %v", entries)
	}
	if _, err := s.PushBlob(ctx, "web", ocispec.Descriptor{}, strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PushBlob(ctx, "web", want, strings.NewReader("bytes")); err == nil {
		t.Fatal("push of other bytes succeeded")
	}
	if _, err := os.Stat(filepath.Join(root, "web", ocispec.ImageLayoutFile)); err != nil {
		t.Errorf("an existing repository lost its layout: %v", err)
	}
}

// TestDiscardRacesPublish runs Discard of a failed operation's blobs
// against a concurrent writer that found the same blob present and pushes
// and tags a manifest over it: either the writer's manifest push fails
// with ErrNotFound (Discard came first) or the blob stays; a tag never
// names a manifest whose blob is gone.
func TestDiscardRacesPublish(t *testing.T) {
	ctx := context.Background()
	for i := range 30 {
		s, _ := New(t.TempDir())
		layer, err := s.PushBlob(ctx, "web", ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer}, strings.NewReader("shared"))
		if err != nil {
			t.Fatal(err)
		}
		cfg, _ := s.PushBlob(ctx, "web", ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig}, strings.NewReader("{}"))
		mf := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: cfg, Layers: []ocispec.Descriptor{layer}}
		mf.SchemaVersion = 2
		b, _ := json.Marshal(mf)
		var wg sync.WaitGroup
		wg.Add(2)
		go func() {
			defer wg.Done()
			s.Discard(ctx, "web", nil, []digest.Digest{layer.Digest})
		}()
		var pushErr error
		go func() {
			defer wg.Done()
			var m ocispec.Descriptor
			if m, pushErr = s.PushManifest(ctx, "web", ocispec.MediaTypeImageManifest, b); pushErr == nil {
				pushErr = s.Tag(ctx, "web", m, "1.0.0")
			}
		}()
		wg.Wait()
		switch {
		case pushErr == nil && !has(s, "web", layer.Digest):
			t.Fatalf("round %d: 1.0.0 is tagged and its layer is gone", i)
		case pushErr != nil && !errors.Is(pushErr, registry.ErrNotFound):
			t.Fatalf("round %d: %v", i, pushErr)
		}
	}
}
