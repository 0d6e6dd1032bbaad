package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/catalog"
	"github.com/brickyard/brickyard/internal/sparse"
	"github.com/brickyard/brickyard/registry"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
)

// fetchedDisk is one disk file fetch wrote.
type fetchedDisk struct {
	File   string `json:"file"`
	Format string `json:"format"`
	Digest string `json:"digest"`
	Size   int64  `json:"size"`
}

func newFetchCmd(e *env) *cobra.Command {
	var output, platform, format, trustedRoot string
	var keys []string
	var force bool
	cmd := &cobra.Command{
		Use:   "fetch REF",
		Short: "Write a VM disk artifact's disk files out of its store, verified",
		Long: `Write the disk files of the VM disk artifact REF (NAME@VERSION, NAME@DIGEST
or a digest) into --output, each under its own file name (the layer's
org.opencontainers.image.title), as a deploy step does after resolve. Each
file is read once from the store the record names, its size and digest are
checked as it is read, and it is written to a temporary file, synced, and
renamed into place only if they match: a failed fetch leaves no partial
file. Whole 4 MiB chunks of zeros are left as holes, so a raw disk stays
sparse. With --key, the artifact's signature is checked first and nothing
is written unless it verifies. An existing file is not replaced unless
--force is given.

  brickyard fetch web@1.1.0 --format qcow2 --output /var/lib/images --key cosign.pub`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			ctx := cmd.Context()
			rec, err := e.openRecord(ctx, argv[0], platform)
			if err != nil {
				return err
			}
			ref := rec.Name + "@" + rec.Version.String()
			if st, ch := rec.Status(time.Now()); st == catalog.StateRevoked {
				return fmt.Errorf("fetch %s: it is %s: %w", ref, ch.Describe(), catalog.ErrRevoked)
			}
			if len(keys) > 0 {
				v, err := loadVerifier(keys, trustedRoot)
				if err != nil {
					return err
				}
				if _, err := e.keyVerifier(v).Verify(ctx, rec); err != nil {
					return fmt.Errorf("fetch %s: %w", ref, err)
				}
			}
			st, err := e.storeOf(rec)
			if err != nil {
				return err
			}
			a, _, _, err := registry.FetchArtifact(ctx, st, rec.Repository, ocispec.Descriptor{MediaType: rec.MediaType, Digest: rec.Digest, Size: rec.Size})
			if err != nil {
				return fmt.Errorf("fetch %s: %w", ref, err)
			}
			if a.Kind != artifact.KindVMDisk {
				return usageError{fmt.Errorf("fetch %s: a %s has no disk files to fetch (inspect shows what it records)", ref, a.Kind)}
			}
			var disks []artifact.Disk
			var formats []string
			for _, d := range a.Disks {
				formats = append(formats, string(d.Format))
				if format == "" || string(d.Format) == format {
					disks = append(disks, d)
				}
			}
			if len(disks) == 0 {
				return usageError{fmt.Errorf("fetch %s: no %s disk; it has %s", ref, format, strings.Join(formats, ", "))}
			}
			if err := os.MkdirAll(output, 0o755); err != nil {
				return err
			}
			var done []fetchedDisk
			for _, d := range disks {
				path, err := fetchDisk(ctx, e, st, rec.Repository, d, output, force)
				if err != nil {
					return fmt.Errorf("fetch %s: %s: %w", ref, d.Title, err)
				}
				done = append(done, fetchedDisk{File: path, Format: string(d.Format), Digest: d.Digest.String(), Size: d.Size})
			}
			if e.json {
				return e.printJSON(done)
			}
			for _, f := range done {
				fmt.Fprintf(e.out, "fetched %s %s (%s, %d bytes, %s)\n", ref, f.File, f.Format, f.Size, f.Digest)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", ".", "directory to write the disk files into")
	cmd.Flags().StringVar(&format, "format", "", "fetch only the disk of this format (qcow2, vmdk, vhdx, vhd, raw, ova, box)")
	cmd.Flags().StringVar(&platform, "platform", "", "pick the platform when a version has several")
	cmd.Flags().StringArrayVar(&keys, "key", nil, "verify the signature with this public key first (repeatable; any one suffices)")
	cmd.Flags().StringVar(&trustedRoot, "trusted-root", "", trustedRootUsage)
	cmd.Flags().BoolVar(&force, "force", false, "replace files that already exist")
	return cmd
}

// fetchDisk writes disk d of repository repo in st to dir under its title,
// through a temporary file that is synced and renamed into place only once
// the store's reader has checked size and digest. It returns the path.
func fetchDisk(ctx context.Context, e *env, st registry.Fetcher, repo string, d artifact.Disk, dir string, force bool) (string, error) {
	// The title comes from the manifest: it must name a file in dir, not
	// a path out of it.
	if d.Title == "" || d.Title != filepath.Base(d.Title) || d.Title == "." || d.Title == ".." || strings.ContainsRune(d.Title, os.PathSeparator) {
		return "", fmt.Errorf("title %q is not a plain file name", d.Title)
	}
	path := filepath.Join(dir, d.Title)
	if _, err := os.Lstat(path); err == nil && !force {
		return "", fmt.Errorf("%s exists (use --force to replace it)", path)
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
	if bar := e.newBar("fetch "+d.Title, d.Size); bar != nil {
		progress = func(done int64) { bar(done, d.Size) }
	}
	n, err := sparse.Copy(tmp, rc, 4<<20, progress)
	if err != nil {
		return "", err
	}
	if n != d.Size {
		return "", fmt.Errorf("read %d bytes, the manifest says %d: %w", n, d.Size, registry.ErrDigestMismatch)
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
