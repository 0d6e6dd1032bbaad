package layout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/brickyard/brickyard/artifact"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Default grace periods of the garbage collection (see GCOptions).
const (
	// DefaultGCGrace keeps blobs written or used in the last hour: a
	// publish or copy between its first blob and its tag.
	DefaultGCGrace = time.Hour
	// DefaultIngestGrace keeps ingest files touched in the last ten
	// minutes, even unlocked.
	DefaultIngestGrace = 10 * time.Minute
)

// ingestPrefix starts the name of a blob being ingested (see PushBlob).
const ingestPrefix = ".ingest-"

// GCOptions configures GC.
type GCOptions struct {
	// Grace keeps unreachable blobs modified more recently than this (0:
	// DefaultGCGrace; negative: no grace). A blob's modification time is
	// when it was committed, or last found present by PushBlob,
	// PushManifest or Tag, which refresh it.
	Grace time.Duration
	// IngestGrace keeps ingest files modified more recently than this (0:
	// DefaultIngestGrace; negative: no grace). An ingest that a live
	// process holds is never removed, whatever its age.
	IngestGrace time.Duration
	// DryRun reports what would be removed and removes nothing.
	DryRun bool
}

// GCReport says what GC found and removed.
type GCReport struct {
	Repositories int
	Reachable    int             // blobs reached from the tags
	Removed      []digest.Digest // unreachable blobs removed (or, with DryRun, to remove)
	RemovedBytes int64
	Young        int   // unreachable blobs kept for their grace period
	Ingests      int   // stale ingest and temporary files removed
	IngestBytes  int64 // their size
}

// GC collects garbage in every repository of the store, as containerd's
// content store does: it removes the ingest files (".ingest-*",
// ".tmp-*") that no live process holds and that are older than
// IngestGrace, left by a killed publish or copy, then marks every blob a
// tag reaches (each tagged manifest or index, its config, layers, child
// manifests and subject, and, through the cosign and referrers tag-schema
// tags, which are tags too, signatures, attestations and referrers) and
// removes the unreachable blobs older than Grace.
//
// It is safe against concurrent writers, in this process and others: it
// holds each repository's collection lock exclusively while it marks and
// sweeps, and PushBlob, PushManifest, Tag and Delete hold it shared while
// they commit or find a blob present and refresh its modification time.
// So a blob that a publish has just committed or checked is at most Grace
// old when it is tagged; a publish slower than that between its first blob
// and its manifest fails cleanly (the manifest's blobs are missing, no tag
// is written) and succeeds when run again. Repositories whose index or
// tagged manifests cannot be read are not swept, and their error is
// returned after the others are done.
func (s *Store) GC(ctx context.Context, opts GCOptions) (GCReport, error) {
	grace, ingestGrace := opts.Grace, opts.IngestGrace
	if grace == 0 {
		grace = DefaultGCGrace
	}
	if ingestGrace == 0 {
		ingestGrace = DefaultIngestGrace
	}
	var rep GCReport
	repos, err := s.Repositories(ctx)
	if err != nil {
		return rep, err
	}
	rep.Repositories = len(repos)
	var errs []error
	for _, repo := range repos {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		dir, err := s.dir(repo)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := s.gcRepo(ctx, dir, grace, ingestGrace, opts.DryRun, &rep); err != nil {
			errs = append(errs, fmt.Errorf("gc %s: %w", repo, err))
		}
	}
	return rep, errors.Join(errs...)
}

func (s *Store) gcRepo(ctx context.Context, dir string, grace, ingestGrace time.Duration, dryRun bool, rep *GCReport) error {
	unlock, err := lockGC(dir, lockExclusive)
	if err != nil {
		return err
	}
	defer unlock()
	n, size := removeStale(dir, ingestGrace, dryRun)
	rep.Ingests += n
	rep.IngestBytes += size
	marked, err := mark(dir)
	if err != nil {
		return fmt.Errorf("nothing swept: %w", err)
	}
	rep.Reachable += len(marked)
	blobDir := filepath.Join(dir, "blobs", "sha256")
	entries, err := os.ReadDir(blobDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	now := time.Now()
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") || e.IsDir() {
			continue
		}
		d := digest.NewDigestFromEncoded(digest.SHA256, e.Name())
		if marked[d] {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		if grace > 0 && now.Sub(fi.ModTime()) < grace {
			rep.Young++
			continue
		}
		if !dryRun {
			if err := os.Remove(filepath.Join(blobDir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
		rep.Removed = append(rep.Removed, d)
		rep.RemovedBytes += fi.Size()
	}
	if !dryRun && len(rep.Removed) > 0 {
		return syncDir(blobDir)
	}
	return nil
}

// lockGC takes the repository's collection lock (flock(2) on
// DIR/.gc.lock, in an existing layout): how is LOCK_EX for the collector,
// LOCK_SH for writers.
func lockGC(dir string, how lockHow) (func(), error) {
	return flockFile(filepath.Join(dir, ".gc.lock"), how, "lock "+dir+" for garbage collection")
}

// flockFile takes flock(2) how on file, creating it, and returns what
// releases it; errors say what.
func flockFile(file string, how lockHow, what string) (func(), error) {
	f, err := os.OpenFile(file, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := lockFile(f, how); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return func() {
		unlockFile(f)
		f.Close()
	}, nil
}

// removeStale removes the ingest files of dir's blob directory and the
// temporary files of dir (writeAtomic's) that are older than grace and
// that no process holds locked (an ingest is locked by its writer from
// creation to commit; a killed writer's lock is gone with it), and
// returns how many it removed and their size.
func removeStale(dir string, grace time.Duration, dryRun bool) (int, int64) {
	var n int
	var size int64
	now := time.Now()
	for _, d := range []string{filepath.Join(dir, "blobs", "sha256"), dir} {
		entries, err := os.ReadDir(d)
		if err != nil {
			continue
		}
		for _, e := range entries {
			if !strings.HasPrefix(e.Name(), ingestPrefix) && !strings.HasPrefix(e.Name(), ".tmp-") {
				continue
			}
			fi, err := e.Info()
			if err != nil || (grace > 0 && now.Sub(fi.ModTime()) < grace) {
				continue
			}
			p := filepath.Join(d, e.Name())
			f, err := os.Open(p)
			if err != nil {
				continue
			}
			if tryLockFile(f) != nil {
				f.Close()
				continue // a live writer holds it
			}
			if dryRun || os.Remove(p) == nil {
				n++
				size += fi.Size()
			}
			f.Close()
		}
	}
	return n, size
}

// mark returns the blobs of dir that its tags reach.
func mark(dir string) (map[digest.Digest]bool, error) {
	idx, err := readIndex(dir)
	if err != nil {
		return nil, err
	}
	marked := map[digest.Digest]bool{}
	todo := slices.Clone(idx.Manifests)
	for i := range todo {
		if todo[i].MediaType == "" { // optional in index.json; what is tagged is a manifest or index
			todo[i].MediaType = ocispec.MediaTypeImageManifest
		}
	}
	for len(todo) > 0 {
		d := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		if marked[d.Digest] {
			continue
		}
		if err := d.Digest.Validate(); err != nil {
			return nil, fmt.Errorf("digest %q: %w", d.Digest, err)
		}
		marked[d.Digest] = true
		if !isManifest(d.MediaType) {
			continue
		}
		refs, err := manifestRefs(dir, d)
		if err != nil {
			return nil, err
		}
		todo = append(todo, refs...)
	}
	return marked, nil
}

// manifestMediaTypes are what mark reads as manifests or indexes.
var manifestMediaTypes = map[string]bool{
	ocispec.MediaTypeImageManifest:                              true,
	ocispec.MediaTypeImageIndex:                                 true,
	"application/vnd.docker.distribution.manifest.v2+json":      true,
	"application/vnd.docker.distribution.manifest.list.v2+json": true,
}

func isManifest(mediaType string) bool { return manifestMediaTypes[mediaType] }

// manifestRefs reads the manifest or index d from dir's blobs and returns
// what it references: config, layers, manifests and subject. A subject
// outside the repository is simply not there to mark.
func manifestRefs(dir string, d ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	if d.Size > artifact.MaxManifestSize {
		return nil, fmt.Errorf("manifest %s of %d bytes: %w", d.Digest, d.Size, artifact.ErrTooLarge)
	}
	b, err := os.ReadFile(blobPath(dir, d.Digest))
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", d.Digest, err)
	}
	if digest.FromBytes(b) != d.Digest {
		return nil, fmt.Errorf("manifest %s does not hash to its name: run brickyard fsck", d.Digest)
	}
	var m struct {
		Config    *ocispec.Descriptor  `json:"config"`
		Layers    []ocispec.Descriptor `json:"layers"`
		Manifests []ocispec.Descriptor `json:"manifests"`
		Subject   *ocispec.Descriptor  `json:"subject"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("manifest %s: %w: %v", d.Digest, artifact.ErrInvalidManifest, err)
	}
	refs := append(m.Layers, m.Manifests...)
	if m.Config != nil {
		refs = append(refs, *m.Config)
	}
	if m.Subject != nil && m.Subject.Digest.Validate() == nil {
		if _, err := os.Stat(blobPath(dir, m.Subject.Digest)); err == nil {
			refs = append(refs, *m.Subject)
		}
	}
	return refs, nil
}
