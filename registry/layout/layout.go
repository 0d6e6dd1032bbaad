package layout

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/internal/faults"
	"github.com/brickyard/brickyard/internal/ocistore"
	"github.com/brickyard/brickyard/registry"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

var _ registry.Store = (*Store)(nil)

// Store is a registry.Store over a directory of OCI image layouts (OCI
// image-spec v1.1 §image-layout), one per repository: ROOT/REPO/oci-layout,
// ROOT/REPO/index.json (whose manifests carry the tag as the
// org.opencontainers.image.ref.name annotation) and ROOT/REPO/blobs/sha256/.
// skopeo (oci:ROOT/REPO:TAG), umoci, oras and crane read it as they read any
// layout. It is safe for concurrent use by goroutines and processes:
// index.json changes are serialised by a lock file and made atomic by rename.
type Store struct {
	root string
	mu   sync.Mutex // serialises index.json updates within the process; flock does across processes
}

// New returns a Store rooted at root, creating the directory if needed.
// It removes the ingest files that killed writers left (those no live
// process holds, older than DefaultIngestGrace; see GC, which also
// collects unreachable blobs).
func New(root string) (*Store, error) {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("layout store: %w", err)
	}
	s := &Store{root: root}
	repos, err := s.Repositories(context.Background())
	if err != nil {
		return nil, fmt.Errorf("layout store: %w", err)
	}
	for _, repo := range repos {
		removeStale(filepath.Join(root, filepath.FromSlash(repo)), DefaultIngestGrace, false)
	}
	return s, nil
}

// Root returns the store's directory.
func (s *Store) Root() string { return s.root }

// dir validates repo and returns its layout directory.
func (s *Store) dir(repo string) (string, error) {
	if err := artifact.ValidateName(repo); err != nil {
		return "", err
	}
	for _, part := range strings.Split(repo, "/") {
		if part == "blobs" {
			return "", fmt.Errorf("repository %q: a path component named \"blobs\" would collide with a layout's blob directory in this store: %w", repo, artifact.ErrInvalidName)
		}
	}
	return filepath.Join(s.root, filepath.FromSlash(repo)), nil
}

func blobPath(dir string, d digest.Digest) string {
	return filepath.Join(dir, "blobs", d.Algorithm().String(), d.Encoded())
}

// ensureLayout creates the layout skeleton of a repository if missing.
func ensureLayout(dir string) error {
	if err := os.MkdirAll(filepath.Join(dir, "blobs", "sha256"), 0o755); err != nil {
		return err
	}
	lf := filepath.Join(dir, ocispec.ImageLayoutFile)
	if _, err := os.Stat(lf); err == nil {
		return nil
	}
	b, _ := json.Marshal(ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})
	return writeAtomic(lf, b)
}

// Exists implements registry.Exister. A blob found present has its
// modification time refreshed, under the repository's collection lock, so
// that a garbage collection running now or within its grace period keeps
// it for the writer that is about to reference it (see GC).
func (s *Store) Exists(ctx context.Context, repo string, desc ocispec.Descriptor) (bool, error) {
	dir, err := s.dir(repo)
	if err != nil {
		return false, err
	}
	if err := desc.Digest.Validate(); err != nil {
		return false, fmt.Errorf("%s: digest %q: %w: %v", repo, desc.Digest, registry.ErrInvalidRef, err)
	}
	p := blobPath(dir, desc.Digest)
	if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
		return false, nil // no lock needed to say so: a collection only removes
	}
	unlock, err := lockGC(dir, lockShared)
	if err != nil {
		return false, err
	}
	defer unlock()
	return present(dir, desc)
}

// present reports whether dir holds the blob desc (of desc.Size, if set)
// and refreshes its modification time; the caller holds the collection
// lock.
func present(dir string, desc ocispec.Descriptor) (bool, error) {
	p := blobPath(dir, desc.Digest)
	fi, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if desc.Size > 0 && fi.Size() != desc.Size {
		return false, nil
	}
	now := time.Now()
	_ = os.Chtimes(p, now, now) // only a hint for the collector's grace: a read-only store cannot be collected either
	return true, nil
}

// Fetch implements registry.Fetcher. The reader checks size and digest as
// it is read and returns ErrDigestMismatch at EOF if a blob on disk was
// damaged.
func (s *Store) Fetch(ctx context.Context, repo string, desc ocispec.Descriptor) (io.ReadCloser, error) {
	dir, err := s.dir(repo)
	if err != nil {
		return nil, err
	}
	if err := desc.Digest.Validate(); err != nil {
		return nil, fmt.Errorf("%s: digest %q: %w: %v", repo, desc.Digest, registry.ErrInvalidRef, err)
	}
	f, err := os.Open(blobPath(dir, desc.Digest))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %s: %w", repo, desc.Digest, registry.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	return &verifyReader{f: f, h: sha256.New(), desc: desc, what: repo}, nil
}

// PushBlob implements registry.BlobPusher, containerd-style: the bytes go
// to a temporary file in the repository's blob directory and through a
// SHA-256 hash in one pass (see ingest), are synced, and are renamed into
// place only when digest and size match. A blob already present is not read
// again. A failed push that created the repository's layout removes it.
func (s *Store) PushBlob(ctx context.Context, repo string, expected ocispec.Descriptor, r io.Reader) (ocispec.Descriptor, error) {
	dir, err := s.dir(repo)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	if expected.Digest != "" {
		if err := expected.Digest.Validate(); err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("%s: digest %q: %w: %v", repo, expected.Digest, registry.ErrInvalidRef, err)
		}
		if expected.Digest.Algorithm() != digest.SHA256 {
			return ocispec.Descriptor{}, fmt.Errorf("%s: digest %s: only sha256 is supported: %w", repo, expected.Digest, registry.ErrInvalidRef)
		}
		if ok, err := s.Exists(ctx, repo, expected); err != nil || ok {
			return expected, err
		}
	}
	_, statErr := os.Stat(filepath.Join(dir, ocispec.ImageLayoutFile))
	if err := ensureLayout(dir); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("%s: %w", repo, err)
	}
	tmp, err := os.CreateTemp(filepath.Join(dir, "blobs", "sha256"), ingestPrefix+"*")
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("%s: %w", repo, err)
	}
	committed := false
	defer func() {
		if !committed {
			tmp.Close()
			os.Remove(tmp.Name())
			if statErr != nil {
				// This push made the repository: a failed one leaves none.
				s.Discard(context.WithoutCancel(ctx), repo, nil, nil)
			}
		}
	}()
	// Held until the file is closed: GC removes an ingest only once no
	// live process holds it (a killed writer's lock goes with it).
	if err := lockFile(tmp, lockExclusive); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("%s: lock %s: %w", repo, tmp.Name(), err)
	}
	d, n, err := ingest(ctx, tmp, r, expected)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("%s: push blob: %w", repo, err)
	}
	got := ocispec.Descriptor{MediaType: expected.MediaType, Digest: d, Size: n}
	if expected.Digest != "" && (got.Digest != expected.Digest || got.Size != expected.Size) {
		return ocispec.Descriptor{}, fmt.Errorf("%s: push blob: got %s (%d bytes), want %s (%d bytes): %w",
			repo, got.Digest, got.Size, expected.Digest, expected.Size, registry.ErrDigestMismatch)
	}
	faults.Point("ingest")
	unlock, err := lockGC(dir, lockShared)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("%s: push blob: %w", repo, err)
	}
	defer unlock()
	// The rename gives the blob the ingest's modification time: now, as the
	// collector's grace wants it.
	if err := os.Rename(tmp.Name(), blobPath(dir, got.Digest)); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("%s: push blob: %w", repo, err)
	}
	committed = true
	tmp.Close()
	if err := syncDir(filepath.Join(dir, "blobs", "sha256")); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("%s: push blob: %w", repo, err)
	}
	faults.Point("blob")
	return got, nil
}

// PushManifest implements registry.ManifestPusher. Every blob and manifest
// the manifest references must be present, except its subject, which the
// OCI spec allows to be elsewhere.
func (s *Store) PushManifest(ctx context.Context, repo, mediaType string, manifest []byte) (ocispec.Descriptor, error) {
	if len(manifest) > artifact.MaxManifestSize {
		return ocispec.Descriptor{}, fmt.Errorf("%s: manifest of %d bytes: %w (limit %d)", repo, len(manifest), registry.ErrTooLarge, artifact.MaxManifestSize)
	}
	refs, err := ocistore.References(mediaType, manifest)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("%s: %w", repo, err)
	}
	// What it references is checked and the manifest written holding the
	// repository's lock shared, so that Discard, which holds it
	// exclusively, removes nothing in between. A repository that does not
	// exist yet has nothing to remove.
	if dir, err := s.dir(repo); err != nil {
		return ocispec.Descriptor{}, err
	} else if _, err := os.Stat(filepath.Join(dir, ocispec.ImageLayoutFile)); err == nil {
		unlock, err := lockRepo(dir, lockShared)
		if err != nil {
			return ocispec.Descriptor{}, err
		}
		defer unlock()
	}
	for _, d := range refs {
		ok, err := s.Exists(ctx, repo, d)
		if err != nil {
			return ocispec.Descriptor{}, err
		}
		if !ok {
			return ocispec.Descriptor{}, fmt.Errorf("%s: manifest references %s (%s), which is not in the store: push blobs first: %w", repo, d.Digest, d.MediaType, registry.ErrNotFound)
		}
	}
	desc := ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(manifest), Size: int64(len(manifest))}
	if _, err := s.PushBlob(ctx, repo, desc, bytes.NewReader(manifest)); err != nil {
		return ocispec.Descriptor{}, err
	}
	return desc, nil
}

// Tag implements registry.Tagger: tags are immutable.
func (s *Store) Tag(ctx context.Context, repo string, desc ocispec.Descriptor, tag string) error {
	return s.setTag(ctx, repo, desc, tag, false)
}

// Move implements registry.Tagger: it re-points tag.
func (s *Store) Move(ctx context.Context, repo string, desc ocispec.Descriptor, tag string) error {
	return s.setTag(ctx, repo, desc, tag, true)
}

func (s *Store) setTag(ctx context.Context, repo string, desc ocispec.Descriptor, tag string, move bool) error {
	dir, err := s.dir(repo)
	if err != nil {
		return err
	}
	if err := registry.ValidateTag(tag); err != nil {
		return fmt.Errorf("%s: %w", repo, err)
	}
	if err := desc.Digest.Validate(); err != nil {
		return fmt.Errorf("%s: digest %q: %w: %v", repo, desc.Digest, registry.ErrInvalidRef, err)
	}
	if _, err := os.Stat(filepath.Join(dir, ocispec.ImageLayoutFile)); err != nil {
		return fmt.Errorf("%s: tag %s: manifest %s is not in the store: %w", repo, tag, desc.Digest, registry.ErrNotFound)
	}
	// Held shared across the check and the index update, so that a
	// collection cannot remove the manifest in between.
	unlock, err := lockGC(dir, lockShared)
	if err != nil {
		return err
	}
	defer unlock()
	if ok, err := present(dir, desc); err != nil {
		return err
	} else if !ok {
		return fmt.Errorf("%s: tag %s: manifest %s is not in the store: %w", repo, tag, desc.Digest, registry.ErrNotFound)
	}
	return s.updateIndex(dir, func(idx *ocispec.Index) error {
		// Again under the lock, which Discard takes too.
		if ok, err := s.Exists(ctx, repo, desc); err != nil {
			return err
		} else if !ok {
			return fmt.Errorf("%s: tag %s: manifest %s is not in the store: %w", repo, tag, desc.Digest, registry.ErrNotFound)
		}
		entry := ocispec.Descriptor{MediaType: desc.MediaType, ArtifactType: desc.ArtifactType, Digest: desc.Digest, Size: desc.Size,
			Annotations: map[string]string{ocispec.AnnotationRefName: tag}}
		for i, m := range idx.Manifests {
			if m.Annotations[ocispec.AnnotationRefName] != tag {
				continue
			}
			if m.Digest == desc.Digest {
				return errUnchanged
			}
			if !move {
				return fmt.Errorf("%s:%s points at %s, not %s: versions are immutable: %w", repo, tag, m.Digest, desc.Digest, registry.ErrImmutableTag)
			}
			idx.Manifests[i] = entry
			return nil
		}
		idx.Manifests = append(idx.Manifests, entry)
		return nil
	})
}

// LockMutableTags implements ocistore.MutableTagLocker: an exclusive
// flock(2) on the repository's .mutable-tags.lock, which serialises the
// updates of its referrers tag schema indexes and cosign signature and
// attestation tags across goroutines and processes (flock locks belong to
// each open file, so two opens in one process exclude each other too).
func (s *Store) LockMutableTags(repo string) (func(), error) {
	dir, err := s.dir(repo)
	if err != nil {
		return nil, err
	}
	if err := ensureLayout(dir); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, ".mutable-tags.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := lockFile(f, lockExclusive); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock the mutable tags of %s: %w", dir, err)
	}
	return func() {
		unlockFile(f)
		f.Close()
	}, nil
}

// errUnchanged tells updateIndex that there is nothing to write.
var errUnchanged = errors.New("unchanged")

// updateIndex applies change to the repository's index.json under an
// exclusive lock (across processes) and writes it back atomically.
func (s *Store) updateIndex(dir string, change func(*ocispec.Index) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := ensureLayout(dir); err != nil {
		return err
	}
	unlock, err := lockRepo(dir, lockExclusive)
	if err != nil {
		return err
	}
	defer unlock()
	idx, err := readIndex(dir)
	if err != nil {
		return err
	}
	if err := change(&idx); err != nil {
		if err == errUnchanged {
			return nil
		}
		return err
	}
	b, err := json.Marshal(idx)
	if err != nil {
		return err
	}
	return writeAtomic(filepath.Join(dir, ocispec.ImageIndexFile), b)
}

func readIndex(dir string) (ocispec.Index, error) {
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{}}
	idx.SchemaVersion = 2
	b, err := os.ReadFile(filepath.Join(dir, ocispec.ImageIndexFile))
	if errors.Is(err, fs.ErrNotExist) {
		return idx, nil
	}
	if err != nil {
		return idx, err
	}
	if err := json.Unmarshal(b, &idx); err != nil {
		return idx, fmt.Errorf("%s: %w: %v", filepath.Join(dir, ocispec.ImageIndexFile), artifact.ErrInvalidManifest, err)
	}
	return idx, nil
}

// writeAtomic writes b to path through a synced temporary file and a rename,
// so readers see the old or the new content, never a mix.
func writeAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Resolve implements registry.Resolver.
func (s *Store) Resolve(ctx context.Context, repo, tag string) (ocispec.Descriptor, error) {
	dir, err := s.dir(repo)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	if _, err := os.Stat(filepath.Join(dir, ocispec.ImageLayoutFile)); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("%s:%s: %w", repo, tag, registry.ErrRepositoryNotFound)
	}
	idx, err := readIndex(dir)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	for _, m := range idx.Manifests {
		if m.Annotations[ocispec.AnnotationRefName] == tag {
			m.Annotations = nil
			return m, nil
		}
	}
	return ocispec.Descriptor{}, fmt.Errorf("%s:%s: %w", repo, tag, registry.ErrTagNotFound)
}

// Tags implements registry.TagLister.
func (s *Store) Tags(ctx context.Context, repo string) ([]string, error) {
	dir, err := s.dir(repo)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, ocispec.ImageLayoutFile)); err != nil {
		return nil, fmt.Errorf("%s: %w", repo, registry.ErrRepositoryNotFound)
	}
	idx, err := readIndex(dir)
	if err != nil {
		return nil, err
	}
	tags := []string{}
	for _, m := range idx.Manifests {
		if t := m.Annotations[ocispec.AnnotationRefName]; t != "" {
			tags = append(tags, t)
		}
	}
	sort.Strings(tags)
	return tags, nil
}

// Delete implements registry.Deleter: it removes every index.json entry
// for desc. Blobs stay until a garbage collection.
func (s *Store) Delete(ctx context.Context, repo string, desc ocispec.Descriptor) error {
	dir, err := s.dir(repo)
	if err != nil {
		return err
	}
	return s.updateIndex(dir, func(idx *ocispec.Index) error {
		kept := idx.Manifests[:0]
		for _, m := range idx.Manifests {
			if m.Digest != desc.Digest {
				kept = append(kept, m)
			}
		}
		if len(kept) == len(idx.Manifests) {
			return fmt.Errorf("%s: no manifest %s is tagged: %w", repo, desc.Digest, registry.ErrNotFound)
		}
		idx.Manifests = kept
		return nil
	})
}

// Repositories lists the store's repositories (directories holding an
// oci-layout file), in lexical order.
func (s *Store) Repositories(ctx context.Context) ([]string, error) {
	var repos []string
	err := filepath.WalkDir(s.root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "blobs" {
			return filepath.SkipDir
		}
		if !d.IsDir() && d.Name() == ocispec.ImageLayoutFile {
			rel, err := filepath.Rel(s.root, filepath.Dir(path))
			if err != nil {
				return err
			}
			repos = append(repos, filepath.ToSlash(rel))
		}
		return nil
	})
	sort.Strings(repos)
	return repos, err
}
