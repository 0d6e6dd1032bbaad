package main

import (
	"errors"
	"fmt"

	"github.com/brickyard/brickyard"
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
renamed into place only if they match and the disk inspector finds it safe
to hand to a hypervisor (else exit 3, naming each reason): a failed fetch
leaves no partial file. Whole 4 MiB chunks of zeros are left as holes, so a raw disk stays
sparse. With --key, the artifact's signature is checked first and nothing
is written unless it verifies. An existing file is not replaced unless
--force is given.

  brickyard fetch web@1.1.0 --format qcow2 --output /var/lib/images --key cosign.pub`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			ctx := cmd.Context()
			if len(keys) > 0 {
				if err := e.trustKeys(keys, trustedRoot); err != nil {
					return err
				}
			}
			rec, err := e.openRecord(ctx, argv[0], platform)
			if err != nil {
				return err
			}
			ref := rec.Ref()
			fetched, err := e.c.FetchDisk(ctx, rec, output, brickyard.FetchOptions{Format: format, Platform: platform, Force: force, Unverified: len(keys) == 0})
			switch {
			case errors.Is(err, brickyard.ErrExists):
				return fmt.Errorf("%w (use --force to replace it)", err)
			case errors.Is(err, brickyard.ErrWrongKind):
				return usageError{err}
			case err != nil:
				return err
			}
			var done []fetchedDisk
			for _, f := range fetched {
				done = append(done, fetchedDisk{File: f.Path, Format: string(f.Disk.Format), Digest: f.Disk.Digest.String(), Size: f.Disk.Size})
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
