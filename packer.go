package brickyard

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/artifact/disk"
	"github.com/brickyard/brickyard/artifact/packer"
)

// PackerRequest publishes the builds of one `packer build` run as one
// version: the Packer post-processor and `brickyard import packer-manifest`
// both make one.
type PackerRequest struct {
	Meta
	// Builds are the run's builds (see packer.Stage and Manifest.Run); their
	// outputs are merged by packer.Merge: disk files of several builders
	// become one VM-disk artifact, AMIs of several regions one machine image.
	Builds []packer.Build
	// Dir resolves relative file paths of the builds (Packer's working
	// directory, or the manifest file's); "" for the current directory.
	Dir string
	// Owner is the account that owns the AMIs of an amazon builder.
	Owner string
}

// PackerPublished is what PublishPacker did.
type PackerPublished struct {
	Published
	// Skipped are the builds' files that are not disks (a .vmx or .ovf next
	// to its .vmdk, logs): they are not published.
	Skipped []string
}

// PublishPacker publishes req's builds as one version of the kind they
// produced, with the checks and errors of PublishDisk, PublishMachineImage
// and PublishOCIImage (a pushed image is read from its registry). Errors
// also wrap packer.ErrNoOutput (a build with no files and no id),
// packer.ErrUnsupportedBuilder and packer.ErrMixedKinds, naming the build.
// Meta.Build.Created defaults to the newest build time of the builds, and
// Meta.Build.Builder to "packer/" and their builder types.
func (c *Client) PublishPacker(ctx context.Context, req PackerRequest) (PackerPublished, error) {
	out, err := packer.Merge(req.Builds)
	if err != nil {
		return PackerPublished{}, err
	}
	m := req.Meta
	for _, b := range req.Builds {
		if t := b.Created(); t.After(m.Build.Created) && req.Meta.Build.Created.IsZero() {
			m.Build.Created = t
		}
		if req.Meta.Build.Builder == "" {
			if m.Build.Builder != "" {
				m.Build.Builder += ","
			} else {
				m.Build.Builder = "packer/"
			}
			m.Build.Builder += builderName(b)
		}
	}
	var res PackerPublished
	switch out.Kind {
	case artifact.KindVMDisk:
		var files []string
		for _, f := range out.Disks {
			if !filepath.IsAbs(f) && req.Dir != "" {
				f = filepath.Join(req.Dir, f)
			}
			if _, err := disk.InspectFile(f); errors.Is(err, disk.ErrNotDisk) {
				res.Skipped = append(res.Skipped, f)
				continue
			}
			files = append(files, f)
		}
		if len(files) == 0 {
			return res, fmt.Errorf("builds of %s@%s: none of %q is a disk: %w", m.Name, m.Version, out.Disks, packer.ErrNoOutput)
		}
		res.Published, err = c.PublishDisk(ctx, DiskRequest{Meta: m, Files: files})
	case artifact.KindMachineImage:
		res.Published, err = c.PublishMachineImage(ctx, MachineImageRequest{Meta: m,
			MachineImage: artifact.MachineImage{Provider: "aws", Owner: req.Owner, Images: out.Images}})
	case artifact.KindOCIImage:
		res.Published, err = c.PublishOCIImage(ctx, OCIImageRequest{Meta: m, From: "docker://" + out.ImageRef})
	}
	return res, err
}

func builderName(b packer.Build) string {
	if b.BuilderType != "" {
		return b.BuilderType
	}
	return b.BuilderID
}
