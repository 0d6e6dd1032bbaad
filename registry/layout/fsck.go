package layout

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Problem is one inconsistency Fsck found.
type Problem struct {
	Repository string `json:"repository"`
	// What: "corrupt blob" (does not hash to its name), "missing blob" (a
	// tagged manifest references it), "dangling tag" (its manifest is
	// missing or corrupt), "stale ingest" (a killed writer's file), "bad
	// index" (index.json does not parse).
	What     string `json:"what"`
	Ref      string `json:"ref"` // the blob's digest, the tag, or the file
	Detail   string `json:"detail,omitempty"`
	Repaired bool   `json:"repaired,omitempty"`
}

// FsckReport is what Fsck checked and found.
type FsckReport struct {
	Repositories int       `json:"repositories"`
	Tags         int       `json:"tags"`
	Blobs        int       `json:"blobs"` // re-hashed
	Bytes        int64     `json:"bytes"`
	Problems     []Problem `json:"problems"`
}

// FsckOptions configures Fsck.
type FsckOptions struct {
	// Repair removes corrupt blobs (so that publishing or copying the
	// artifact again restores them) and stale ingest files. Tags are never
	// changed: a dangling tag is reported, for a person to decide.
	Repair bool
}

// Fsck checks the whole store, as git fsck checks a repository: in every
// repository, index.json parses, every blob hashes to its name (each is
// read once, streamed), every tag resolves to a manifest that is present
// and intact, and every blob a tagged manifest or index reaches (config,
// layers, child manifests, subject) is present. Ingest files no live
// process holds are reported as stale. It changes nothing unless
// opts.Repair is set; then it holds each repository's collection lock
// exclusively while it repairs. The error is for failures to check (I/O),
// not for problems found, which are in the report.
func (s *Store) Fsck(ctx context.Context, opts FsckOptions) (FsckReport, error) {
	rep := FsckReport{Problems: []Problem{}}
	repos, err := s.Repositories(ctx)
	if err != nil {
		return rep, err
	}
	rep.Repositories = len(repos)
	for _, repo := range repos {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		dir, err := s.dir(repo)
		if err != nil {
			rep.Problems = append(rep.Problems, Problem{Repository: repo, What: "bad repository", Ref: repo, Detail: err.Error()})
			continue
		}
		if err := s.fsckRepo(ctx, repo, dir, opts, &rep); err != nil {
			return rep, fmt.Errorf("fsck %s: %w", repo, err)
		}
	}
	return rep, nil
}

func (s *Store) fsckRepo(ctx context.Context, repo, dir string, opts FsckOptions, rep *FsckReport) error {
	if opts.Repair {
		unlock, err := lockGC(dir, lockExclusive)
		if err != nil {
			return err
		}
		defer unlock()
	}
	add := func(p Problem) {
		p.Repository = repo
		rep.Problems = append(rep.Problems, p)
	}
	blobDir := filepath.Join(dir, "blobs", "sha256")
	entries, err := os.ReadDir(blobDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	corrupt := map[digest.Digest]bool{}
	present := map[digest.Digest]bool{}
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		p := filepath.Join(blobDir, e.Name())
		if strings.HasPrefix(e.Name(), ingestPrefix) {
			if held(p) {
				continue
			}
			pr := Problem{What: "stale ingest", Ref: p, Detail: "left by a killed publish or copy"}
			if opts.Repair && os.Remove(p) == nil {
				pr.Repaired = true
			}
			add(pr)
			continue
		}
		if strings.HasPrefix(e.Name(), ".") || e.IsDir() {
			continue
		}
		want := digest.NewDigestFromEncoded(digest.SHA256, e.Name())
		got, n, err := hashFile(p)
		if err != nil {
			return err
		}
		rep.Blobs++
		rep.Bytes += n
		if got == want {
			present[want] = true
			continue
		}
		corrupt[want] = true
		pr := Problem{What: "corrupt blob", Ref: want.String(), Detail: fmt.Sprintf("its %d bytes hash to %s", n, got)}
		if opts.Repair && os.Remove(p) == nil {
			pr.Repaired = true
		}
		add(pr)
	}
	idx, err := readIndex(dir)
	if err != nil {
		add(Problem{What: "bad index", Ref: filepath.Join(dir, ocispec.ImageIndexFile), Detail: err.Error()})
		return nil
	}
	reached := map[digest.Digest]bool{}
	var walk func(d ocispec.Descriptor, from string)
	walk = func(d ocispec.Descriptor, from string) {
		if reached[d.Digest] || d.Digest.Validate() != nil {
			return
		}
		reached[d.Digest] = true
		if !present[d.Digest] {
			if !corrupt[d.Digest] {
				add(Problem{What: "missing blob", Ref: d.Digest.String(), Detail: "referenced by " + from})
			}
			return
		}
		if d.MediaType != "" && !isManifest(d.MediaType) {
			return
		}
		refs, err := manifestRefs(dir, d)
		if err != nil {
			return // a blob that is no manifest, reported as corrupt or missing already
		}
		for _, r := range refs {
			walk(r, d.Digest.String())
		}
	}
	for _, m := range idx.Manifests {
		tag := m.Annotations[ocispec.AnnotationRefName]
		rep.Tags++
		if !present[m.Digest] {
			why := "its manifest is missing"
			if corrupt[m.Digest] {
				why = "its manifest is corrupt"
			}
			add(Problem{What: "dangling tag", Ref: tag, Detail: why + ": " + m.Digest.String()})
			continue
		}
		walk(m, "tag "+tag)
	}
	return nil
}

// held reports whether a live process holds the ingest file p locked.
func held(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	if err := tryLockFile(f); err != nil {
		return true
	}
	unlockFile(f)
	return false
}

// hashFile returns the SHA-256 digest and size of the file at p, streamed.
func hashFile(p string) (digest.Digest, int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", n, err
	}
	return digest.NewDigest(digest.SHA256, h), n, nil
}
