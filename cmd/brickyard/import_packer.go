package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/brickyard/brickyard"
	"github.com/brickyard/brickyard/artifact/packer"
	"github.com/spf13/cobra"
)

func newImportPackerManifestCmd(e *env) *cobra.Command {
	var f publishFlags
	var run, dir, owner, channel string
	cmd := &cobra.Command{
		Use:   "packer-manifest FILE [NAME VERSION]",
		Short: "Record the builds of a Packer manifest post-processor's file as one version",
		Long: `Publish the builds of one run listed in the JSON file Packer's manifest
post-processor writes (its last run, or --run UUID) as one version: one
build as one artifact of its kind, the disk files of a build as a VM disk
(files that are not disks, such as .vmx or .ovf, are left out and listed),
the AMIs of an amazon build (region:ami-id) as a machine image (--owner
names the account); several builds as one OCI image index over one such
artifact per build, the version tag and the signature on the index.
Relative file paths are read from the manifest's directory (or --dir).
Without NAME and VERSION, the builds' custom_data keys "name" and "version"
give them (set custom_data in the manifest post-processor).`,
		Args: args(func(cmd *cobra.Command, argv []string) error {
			if len(argv) != 1 && len(argv) != 3 {
				return fmt.Errorf("want FILE, or FILE NAME VERSION; got %d arguments", len(argv))
			}
			return nil
		}),
		RunE: func(cmd *cobra.Command, argv []string) error {
			ctx := cmd.Context()
			file := argv[0]
			fh, err := os.Open(file)
			if err != nil {
				return err
			}
			man, err := packer.ParseManifest(fh)
			fh.Close()
			if err != nil {
				return fmt.Errorf("%s: %w", file, err)
			}
			builds := man.Run(run)
			if len(builds) == 0 {
				return fmt.Errorf("%s: no build of run %q: %w", file, run, packer.ErrNoOutput)
			}
			name, version, err := nameVersion(argv, builds)
			if err != nil {
				return fmt.Errorf("%s: %w", file, err)
			}
			m, err := f.meta(e, name, version)
			if err != nil {
				return err
			}
			if dir == "" {
				dir = filepath.Dir(file)
			}
			if err := e.open(ctx); err != nil {
				return err
			}
			res, err := e.c.PublishPacker(ctx, brickyard.PackerRequest{Meta: m, Builds: builds, Dir: dir, Owner: owner})
			if err != nil {
				return err
			}
			for _, s := range res.Skipped {
				fmt.Fprintf(e.err, "not a disk, left out: %s\n", s)
			}
			if channel != "" {
				if _, err := e.c.Promote(ctx, res.Record, channel, "import packer-manifest "+file); err != nil {
					return fmt.Errorf("published %s, but channel %s: %w", res.Record.Ref(), channel, err)
				}
			}
			return e.printPublished(res.Published)
		},
	}
	f.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&run, "run", "", "packer_run_uuid of the run to record (default: the manifest's last_run_uuid)")
	fl.StringVar(&dir, "dir", "", "directory relative file paths are read from (default: the manifest's)")
	fl.StringVar(&owner, "owner", "", "account that owns the AMIs of an amazon build")
	fl.StringVar(&channel, "channel", "", "point this channel at the version once published")
	return cmd
}

// nameVersion takes NAME and VERSION from the arguments, else from the
// custom_data of the builds, which must agree.
func nameVersion(argv []string, builds []packer.Build) (name, version string, err error) {
	if len(argv) == 3 {
		return argv[1], argv[2], nil
	}
	for _, b := range builds {
		n, v := b.CustomData["name"], b.CustomData["version"]
		if n == "" || v == "" {
			return "", "", usageError{fmt.Errorf("build %s has no custom_data name and version: give NAME VERSION", b.Name)}
		}
		if name != "" && (n != name || v != version) {
			return "", "", usageError{fmt.Errorf("builds disagree on custom_data name/version (%s@%s, %s@%s): give NAME VERSION", name, version, n, v)}
		}
		name, version = n, v
	}
	return name, version, nil
}

func newImportCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "import", Short: "Record artifacts that already exist elsewhere"}
	cmd.AddCommand(newImportPackerManifestCmd(e), newImportEC2Cmd(e))
	return cmd
}
