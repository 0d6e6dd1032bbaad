package brickyard

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"

	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/artifact/disk"
	"github.com/brickyard/brickyard/artifact/packer"
)

// PackerRequest publishes the builds of one `packer build` run as one
// version: the Packer post-processor and `brickyard import packer-manifest`
// both make one.
type PackerRequest struct {
	Meta
	// Builds are the run's builds (see packer.Stage and Manifest.Run). One
	// build is published as one artifact of its kind; several as one index
	// (PublishIndex) with one member per build.
	Builds []packer.Build
	// Dir resolves relative file paths of the builds (Packer's working
	// directory, or the manifest file's); "" for the current directory.
	Dir string
	// Owner is the account that owns the AMIs of an amazon builder; with
	// AMIs set, the one EC2 reports is used when Owner is empty.
	Owner string
	// AMIs, if set, looks up each AMI of an amazon build in EC2: its owner
	// account and the snapshots backing it are recorded with it.
	AMIs AMIDescriber
}

// AMIDescriber looks AMIs up in EC2; registry/ec2.Client satisfies it.
type AMIDescriber interface {
	// DescribeAMI returns the owner account of AMI id in region and the ids
	// of the EBS snapshots backing it, or an error (not found, denied).
	DescribeAMI(ctx context.Context, region, id string) (owner string, snapshots []string, err error)
}

// PackerPublished is what PublishPacker did.
type PackerPublished struct {
	Published
	// Skipped are the builds' files that are not disks (a .vmx or .ovf next
	// to its .vmdk, logs): they are not published.
	Skipped []string
}

// PublishPacker publishes req's builds as one version: a single build as
// an artifact of the kind it produced (PublishDisk, PublishMachineImage or
// PublishOCIImage; a pushed image is read from its registry), several as
// one index over one artifact per build (PublishIndex), each member named
// by its build (the build's name, prefixed by its builder type when two
// builds share a name), with the checks and errors of those. Errors also
// wrap packer.ErrNoOutput (a build with no files and no id, or no file
// that is a disk) and packer.ErrUnsupportedBuilder, naming the build.
// Meta.Build.Created defaults to the newest build time of the builds, and
// Meta.Build.Builder to "packer/" and their builder types.
func (c *Client) PublishPacker(ctx context.Context, req PackerRequest) (PackerPublished, error) {
	if len(req.Builds) == 0 {
		return PackerPublished{}, fmt.Errorf("builds of %s@%s: none: %w", req.Name, req.Version, packer.ErrNoOutput)
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
	names := map[string]int{}
	for _, b := range req.Builds {
		names[b.Name]++
	}
	var members []MemberRequest
	for _, b := range req.Builds {
		out, err := packer.Classify(b)
		if err != nil {
			return res, err
		}
		mr := MemberRequest{Build: b.Name, Builder: "packer/" + builderName(b)}
		if names[b.Name] > 1 {
			mr.Build = builderName(b) + "." + b.Name
		}
		switch out.Kind {
		case artifact.KindVMDisk:
			for _, f := range out.Disks {
				if !filepath.IsAbs(f) && req.Dir != "" {
					f = filepath.Join(req.Dir, f)
				}
				if _, err := disk.InspectFile(f); errors.Is(err, disk.ErrNotDisk) {
					res.Skipped = append(res.Skipped, f)
					continue
				}
				mr.Files = append(mr.Files, f)
			}
			if len(mr.Files) == 0 {
				return res, fmt.Errorf("build %s of %s@%s: none of %q is a disk: %w", b.Name, m.Name, m.Version, out.Disks, packer.ErrNoOutput)
			}
		case artifact.KindMachineImage:
			mi, err := c.amazonImage(ctx, req, out.Images)
			if err != nil {
				return res, fmt.Errorf("build %s of %s@%s: %w", b.Name, m.Name, m.Version, err)
			}
			mr.MachineImage = &mi
		case artifact.KindOCIImage:
			mr.From = "docker://" + out.ImageRef
		}
		members = append(members, mr)
	}
	var err error
	if len(members) > 1 {
		res.Published, err = c.PublishIndex(ctx, IndexRequest{Meta: m, Members: members})
		return res, err
	}
	mr := members[0]
	switch {
	case len(mr.Files) > 0:
		res.Published, err = c.PublishDisk(ctx, DiskRequest{Meta: m, Files: mr.Files})
	case mr.MachineImage != nil:
		res.Published, err = c.PublishMachineImage(ctx, MachineImageRequest{Meta: m, MachineImage: *mr.MachineImage})
	default:
		res.Published, err = c.PublishOCIImage(ctx, OCIImageRequest{Meta: m, From: mr.From})
	}
	return res, err
}

// amazonImage is the machine image of an amazon build's AMIs (region →
// id): owner req.Owner and, with req.AMIs, the owner and snapshots EC2
// reports. An AMI that EC2 does not know, or owned by another account than
// req.Owner, is an error naming it.
func (c *Client) amazonImage(ctx context.Context, req PackerRequest, images map[string]string) (artifact.MachineImage, error) {
	mi := artifact.MachineImage{Provider: "aws", Owner: req.Owner, Images: images}
	if req.AMIs == nil {
		return mi, nil
	}
	regions := make([]string, 0, len(images))
	for r := range images {
		regions = append(regions, r)
	}
	sort.Strings(regions)
	for _, r := range regions {
		owner, snaps, err := req.AMIs.DescribeAMI(ctx, r, images[r])
		if err != nil {
			return mi, fmt.Errorf("AMI %s in %s: %w", images[r], r, err)
		}
		switch {
		case mi.Owner == "":
			mi.Owner = owner
		case owner != mi.Owner:
			return mi, fmt.Errorf("AMI %s in %s is owned by account %s, not %s (owner): %w", images[r], r, owner, mi.Owner, artifact.ErrInvalidArtifact)
		}
		if len(snaps) > 0 {
			if mi.Snapshots == nil {
				mi.Snapshots = map[string][]string{}
			}
			mi.Snapshots[r] = snaps
		}
	}
	return mi, nil
}
func builderName(b packer.Build) string {
	if b.BuilderType != "" {
		return b.BuilderType
	}
	return b.BuilderID
}
