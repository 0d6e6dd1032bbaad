package layout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/registry"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

var _ registry.Discarder = (*Store)(nil)

// Discard implements registry.Discarder: it removes tags (tags of
// repository repo a failed copy made: cosign's and the referrers tag
// schema's), then those of blobs (blobs and manifests it newly wrote) that
// nothing the repository holds reaches, and then the repository's layout
// directory, and the parents it leaves empty, if it holds no tag and no
// blob (nor an ingest under way).
//
// A blob is kept if a tag names it or a manifest or index stored in the
// repository (a tagged one, or one another writer has pushed and not yet
// tagged) references it, as config, layer, manifest or subject, or
// references a kept manifest in turn. It holds the repository's lock
// exclusively, as index.json updates do, while PushManifest and Tag hold
// it shared while they check that what they name is present and write:
// so a manifest never comes to name a blob Discard removes. A writer that
// found one of these blobs present and has not pushed its manifest yet
// gets ErrNotFound from PushManifest then, and nothing inconsistent is
// stored.
//
// What a killed process leaves (it runs no Discard) is for a garbage
// collection to remove.
func (s *Store) Discard(ctx context.Context, repo string, tags []string, blobs []digest.Digest) error {
	dir, err := s.dir(repo)
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(dir, ocispec.ImageLayoutFile)); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	unlock, err := lockRepo(dir, lockExclusive)
	if err != nil {
		return err
	}
	defer unlock()
	idx, err := readIndex(dir)
	if err != nil {
		return err
	}
	if len(tags) > 0 {
		untag := map[string]bool{}
		for _, t := range tags {
			untag[t] = true
		}
		kept := idx.Manifests[:0]
		for _, m := range idx.Manifests {
			if !untag[m.Annotations[ocispec.AnnotationRefName]] {
				kept = append(kept, m)
			}
		}
		if len(kept) < len(idx.Manifests) {
			idx.Manifests = kept
			b, err := json.Marshal(idx)
			if err != nil {
				return err
			}
			if err := writeAtomic(filepath.Join(dir, ocispec.ImageIndexFile), b); err != nil {
				return err
			}
		}
	}
	discard := map[digest.Digest]bool{}
	for _, d := range blobs {
		if d.Validate() == nil && d.Algorithm() == digest.SHA256 {
			discard[d] = true
		}
	}
	keep := map[digest.Digest]bool{}
	for _, m := range idx.Manifests {
		keep[m.Digest] = true
	}
	// Every manifest stored that is not to be discarded keeps what it
	// references; so do the ones to be discarded that are kept, in turn.
	entries, err := os.ReadDir(filepath.Join(dir, "blobs", "sha256"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	for _, e := range entries {
		d := digest.NewDigestFromEncoded(digest.SHA256, e.Name())
		if d.Validate() == nil && !discard[d] {
			keepReferenced(dir, d, keep)
		}
	}
	for done := map[digest.Digest]bool{}; ; {
		more := false
		for d := range discard {
			if keep[d] && !done[d] {
				done[d], more = true, true
				keepReferenced(dir, d, keep)
			}
		}
		if !more {
			break
		}
	}
	for d := range discard {
		if keep[d] {
			continue
		}
		if err := os.Remove(blobPath(dir, d)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s: discard %s: %w", repo, d, err)
		}
	}
	if len(idx.Manifests) > 0 {
		return nil
	}
	if left, err := os.ReadDir(filepath.Join(dir, "blobs", "sha256")); err != nil && !errors.Is(err, fs.ErrNotExist) || len(left) > 0 {
		return err
	}
	return s.removeLayout(dir)
}

// keepReferenced marks in keep what blob d references, if it is a manifest
// or an index (a blob of at most artifact.MaxManifestSize bytes that
// artifact.ParseOCI accepts).
func keepReferenced(dir string, d digest.Digest, keep map[digest.Digest]bool) {
	p := blobPath(dir, d)
	if fi, err := os.Stat(p); err != nil || fi.Size() > artifact.MaxManifestSize || fi.Size() < 2 {
		return
	}
	b, err := os.ReadFile(p)
	if err != nil || b[0] != '{' {
		return
	}
	m, err := artifact.ParseOCI("", b)
	if err != nil {
		return
	}
	for _, r := range m.References() {
		keep[r.Digest] = true
	}
	if m.Subject != nil {
		keep[m.Subject.Digest] = true
	}
}

// removeLayout removes the layout directory dir, which holds no tag and no
// blob, and then its parents up to the store's root while they are empty.
// A directory that holds anything else (a nested repository) stays.
func (s *Store) removeLayout(dir string) error {
	for _, name := range []string{ocispec.ImageIndexFile, ocispec.ImageLayoutFile, ".lock", ".mutable-tags.lock", ".gc.lock"} {
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	for _, d := range []string{filepath.Join(dir, "blobs", "sha256"), filepath.Join(dir, "blobs")} {
		if err := os.Remove(d); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil // another writer's ingest
		}
	}
	root := filepath.Clean(s.root)
	for d := dir; d != root && len(d) > len(root); d = filepath.Dir(d) {
		if os.Remove(d) != nil {
			break
		}
	}
	return syncDir(root)
}

// lockRepo takes the repository lock of the layout dir (flock(2) on its
// .lock file: LOCK_EX for index.json updates and Discard, LOCK_SH for
// PushManifest and Tag's checks) and returns what releases it.
func lockRepo(dir string, how lockHow) (func(), error) {
	return flockFile(filepath.Join(dir, ".lock"), how, "lock "+dir)
}
