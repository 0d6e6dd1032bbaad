package brickyard

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/catalog"
	"github.com/brickyard/brickyard/internal/sparse"
	"github.com/brickyard/brickyard/registry"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// FetchOptions tune FetchDisk.
type FetchOptions struct {
	// Format, if set, fetches only the disk of this format ("qcow2", ...).
	Format string
	// Force replaces files that exist.
	Force bool
	// Platform, if set ("os/arch[/variant]"), fetches only the disks of the
	// members of an index built for it.
	Platform string
	// Unverified skips the signature check. Without it, a Client with no
	// trusted key or policy refuses to fetch (ErrNoTrust).
	Unverified bool
}

func forPlatform(p string) string {
	if p == "" {
		return ""
	}
	return " for " + p
}

// FetchedDisk is one disk file FetchDisk wrote.
type FetchedDisk struct {
	Path string // the file written, DIR/TITLE
	Disk artifact.Disk
}

// FetchDisk writes the disk files of the VM-disk artifact r into dir
// (created if missing), each under its title; for an index (KindIndex),
// those of its VM-disk members (Members) for opts.Platform and of
// opts.Format, the index being what is verified: first r is checked not to be
// revoked and verified (Verify) unless opts.Unverified, and nothing is
// written if it fails; then each file is streamed from r's store into a
// temporary file in dir, its size and digest checked as it is read, synced,
// and renamed into place only if they match, and dir is synced: a failed
// fetch leaves no partial file. Before the rename, the disk inspector reads
// the file's headers (registry.CheckDisk): a disk unsafe to hand to a
// hypervisor (a backing file the signed record does not name, a data file,
// extent files, a format other than the recorded one...) is refused, even
// when signed, and leaves no file. Whole 4 MiB chunks of zeros become
// holes, so a raw disk stays sparse.
//
// Errors: catalog.ErrRevoked; ErrNoTrust and Verify's errors;
// disk.ErrUnsafeDisk (and the inspector's other errors); ErrWrongKind
// for another kind or no disk of opts.Format (or opts.Platform);
// ErrAmbiguous for two members' disks of one title; ErrExists for a file that
// exists without opts.Force; registry.ErrDigestMismatch; the store's and
// file system's errors. Each names r (and the file).
func (c *Client) FetchDisk(ctx context.Context, r catalog.Record, dir string, opts FetchOptions) ([]FetchedDisk, error) {
	// The lifecycle as it stands now, not as it was when r was read.
	now, err := c.cat.Get(ctx, r.Digest)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", r.Ref(), err)
	}
	r = now
	if st, ch := r.Status(c.o.now()); st == catalog.StateRevoked {
		return nil, fmt.Errorf("fetch %s: it is %s: %w", r.Ref(), ch.Describe(), catalog.ErrRevoked)
	}
	if !opts.Unverified {
		if _, err := c.Verify(ctx, r); err != nil {
			return nil, fmt.Errorf("fetch %s: %w", r.Ref(), err)
		}
	}
	st, err := c.StoreOf(r)
	if err != nil {
		return nil, err
	}
	members, err := c.Members(ctx, r)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", r.Ref(), err)
	}
	var want artifact.Platform
	if opts.Platform != "" {
		if want, err = artifact.ParsePlatform(opts.Platform); err != nil {
			return nil, fmt.Errorf("fetch %s: %w", r.Ref(), err)
		}
	}
	type pick struct {
		a *artifact.Artifact
		d artifact.Disk
	}
	var picks []pick
	var formats []string
	titles := map[string]string{}
	for _, m := range members {
		a := m.Artifact
		if a.Kind != artifact.KindVMDisk || (!want.IsZero() && !a.Platform.Matches(want)) {
			continue
		}
		for _, d := range a.Disks {
			formats = append(formats, string(d.Format))
			if opts.Format != "" && string(d.Format) != opts.Format {
				continue
			}
			if other, dup := titles[d.Title]; dup {
				return nil, fmt.Errorf("fetch %s: builds %s and %s both have a disk %s: pick one by format or platform: %w", r.Ref(), other, m.Build, d.Title, ErrAmbiguous)
			}
			titles[d.Title] = m.Build
			picks = append(picks, pick{a, d})
		}
	}
	if len(formats) == 0 {
		return nil, fmt.Errorf("fetch %s: a %s has no disk files to fetch%s: %w", r.Ref(), r.Kind, forPlatform(opts.Platform), ErrWrongKind)
	}
	if len(picks) == 0 {
		return nil, fmt.Errorf("fetch %s: no %s disk%s; it has %s: %w", r.Ref(), opts.Format, forPlatform(opts.Platform), strings.Join(formats, ", "), ErrWrongKind)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var done []FetchedDisk
	for _, p := range picks {
		path, err := c.fetchDisk(ctx, st, r.Repository, p.a, p.d, dir, opts.Force)
		if err != nil {
			return done, fmt.Errorf("fetch %s: %s: %w", r.Ref(), p.d.Title, err)
		}
		done = append(done, FetchedDisk{Path: path, Disk: p.d})
	}
	return done, nil
}

// fetchDisk writes disk d of repository repo in st to dir under its title,
// through a temporary file that is synced and renamed into place only once
// the store's reader has checked size and digest and the disk inspector
// has found it safe (registry.CheckDisk). It returns the path.
func (c *Client) fetchDisk(ctx context.Context, st registry.Fetcher, repo string, a *artifact.Artifact, d artifact.Disk, dir string, force bool) (string, error) {
	// The title comes from the manifest: it must name a file in dir, not
	// a path out of it.
	if d.Title == "" || d.Title != filepath.Base(d.Title) || d.Title == "." || d.Title == ".." || strings.ContainsAny(d.Title, `/\`) {
		return "", fmt.Errorf("title %q is not a plain file name: %w", d.Title, artifact.ErrInvalidArtifact)
	}
	path := filepath.Join(dir, d.Title)
	if _, err := os.Lstat(path); err == nil && !force {
		return "", fmt.Errorf("%s: %w (replace it with Force)", path, ErrExists)
	}
	rc, err := st.Fetch(ctx, repo, ocispec.Descriptor{MediaType: d.Format.MediaType(), Digest: d.Digest, Size: d.Size})
	if err != nil {
		return "", err
	}
	defer rc.Close()
	tmp, err := os.CreateTemp(dir, "."+d.Title+".fetch-*")
	if err != nil {
		return "", err
	}
	committed := false
	defer func() {
		if !committed {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	var progress func(int64)
	if c.o.progress != nil {
		progress = func(done int64) { c.o.progress("fetch "+d.Title, done, d.Size) }
	}
	n, err := sparse.Copy(tmp, rc, 4<<20, progress)
	if err != nil {
		return "", err
	}
	if n != d.Size {
		return "", fmt.Errorf("read %d bytes, the manifest says %d: %w", n, d.Size, registry.ErrDigestMismatch)
	}
	if _, err := registry.CheckDisk(a, d, tmp, n); err != nil {
		return "", err
	}
	if err := tmp.Chmod(0o644); err != nil {
		return "", err
	}
	if err := tmp.Sync(); err != nil {
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", err
	}
	committed = true
	// The rename is durable once the directory is synced.
	dirf, err := os.Open(dir)
	if err != nil {
		return path, err
	}
	defer dirf.Close()
	if err := dirf.Sync(); err != nil {
		return path, fmt.Errorf("sync %s after writing %s: %w", dir, d.Title, err)
	}
	return path, nil
}
