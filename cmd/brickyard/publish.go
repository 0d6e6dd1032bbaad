package main

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/brickyard/brickyard"
	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/sign"
	"github.com/opencontainers/go-digest"
	"github.com/spf13/cobra"
)

// publishFlags are the flags every kind of publish shares.
type publishFlags struct {
	platform    string
	parents     []string
	builder     string
	source      string
	revision    string
	created     string
	annotations []string
	key         string
	provenance  bool
	prov        provenanceFlags
}

func newPublishCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "publish",
		Short: "Publish a build artifact as an immutable, semver-tagged OCI artifact and record it",
		Long: `Publish a build artifact as an immutable OCI artifact tagged with its version,
and record it in the catalog. Publishing the same content again is a no-op;
publishing other content under an existing version is refused. With --key,
the artifact is signed right after it is published.`,
	}
	cmd.AddCommand(newPublishVMDiskCmd(e), newPublishMachineImageCmd(e), newPublishOCIImageCmd(e))
	return cmd
}

func (f *publishFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.platform, "platform", "", "os/arch[/variant] the artifact runs on, e.g. linux/amd64")
	fl.StringArrayVar(&f.parents, "parent", nil, "artifact this one was built from: NAME@VERSION or a digest (repeatable)")
	fl.StringVar(&f.builder, "builder", "", "what built it, e.g. packer/qemu")
	fl.StringVar(&f.source, "source", "", "source repository URL")
	fl.StringVar(&f.revision, "revision", "", "source revision, e.g. a git commit")
	fl.StringVar(&f.created, "created", "", "build time, RFC 3339 (default: $SOURCE_DATE_EPOCH if set, else now)")
	fl.StringArrayVar(&f.annotations, "annotation", nil, "extra manifest annotation KEY=VALUE (repeatable)")
	fl.StringVar(&f.key, "key", "", "sign with this cosign private key (password from $COSIGN_PASSWORD)")
	fl.BoolVar(&f.provenance, "provenance", false, "also attach signed SLSA provenance v1 (needs --key; see `brickyard attest`)")
	f.prov.register(cmd)
}

// meta builds what every publish request carries from the flags and
// adds the signer to the client's options. It writes nothing.
func (f *publishFlags) meta(e *env, name, version string) (brickyard.Meta, error) {
	m := brickyard.Meta{Name: name, Version: version, Platform: f.platform, Parents: f.parents,
		Build: artifact.Build{Builder: f.builder, Source: f.source, Revision: f.revision}}
	var err error
	if m.Build.Created, err = buildTime(f.created); err != nil {
		return m, err
	}
	for _, kv := range f.annotations {
		k, val, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return m, usageError{fmt.Errorf("annotation %q: want KEY=VALUE", kv)}
		}
		if m.Annotations == nil {
			m.Annotations = map[string]string{}
		}
		m.Annotations[k] = val
	}
	if f.provenance && f.key == "" {
		return m, usageError{fmt.Errorf("--provenance needs --key: provenance is signed")}
	}
	if f.key != "" {
		m.Sign = true
		e.opts = append(e.opts, brickyard.WithKeyFile(f.key, []byte(os.Getenv("COSIGN_PASSWORD"))))
	}
	if f.provenance {
		p, err := f.prov.request()
		if err != nil {
			return m, err
		}
		m.Provenance = &p
	}
	return m, nil
}

func buildTime(s string) (time.Time, error) {
	if s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return time.Time{}, usageError{fmt.Errorf("--created %q: want RFC 3339, e.g. 2026-11-24T09:00:00Z", s)}
		}
		return t.UTC(), nil
	}
	if epoch := os.Getenv("SOURCE_DATE_EPOCH"); epoch != "" {
		sec, err := strconv.ParseInt(epoch, 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH %q: want seconds since 1970", epoch)
		}
		return time.Unix(sec, 0).UTC(), nil
	}
	// Zero: the Client stamps the time of this run, and knows it was not
	// given, so that republishing the same content is the same publish.
	return time.Time{}, nil
}

// print prints what a publish did.
func (e *env) printPublished(p brickyard.Published) error {
	r := p.Record
	res := publishResult{Ref: r.Ref(), Kind: r.Kind, Tag: p.Tag, Digest: r.Digest, Parents: r.Parents, Existed: p.Existed, AlreadySigned: p.AlreadySigned}
	if p.Signature != nil {
		res.SignedBy = p.Signature.KeyID
	}
	if p.Attestation != nil {
		res.Provenance = sign.PredicateSLSAProvenance
	}
	if e.json {
		return e.printJSON(res)
	}
	switch {
	case p.Existed:
		fmt.Fprintf(e.out, "already published %s (%s) %s with the same content: nothing to publish\n", res.Ref, res.Kind, res.Digest)
	case p.Completed:
		fmt.Fprintf(e.out, "published %s (%s) %s: the store held it already (an interrupted publish), now recorded\n", res.Ref, res.Kind, res.Digest)
	default:
		fmt.Fprintf(e.out, "published %s (%s) %s\n", res.Ref, res.Kind, res.Digest)
	}
	switch {
	case res.SignedBy != "" && p.AlreadySigned:
		fmt.Fprintf(e.out, "signed    %s by %s already\n", res.Ref, res.SignedBy)
	case res.SignedBy != "":
		fmt.Fprintf(e.out, "signed    %s by %s\n", res.Ref, res.SignedBy)
	}
	if res.Provenance != "" {
		fmt.Fprintf(e.out, "attested  %s: SLSA provenance v1\n", res.Ref)
	}
	return nil
}

type publishResult struct {
	Ref           string          `json:"ref"`
	Kind          artifact.Kind   `json:"kind"`
	Tag           string          `json:"tag"`
	Digest        digest.Digest   `json:"digest"`
	Parents       []digest.Digest `json:"parents,omitempty"`
	Existed       bool            `json:"existed,omitempty"` // the same content was published already: nothing done
	SignedBy      string          `json:"signedBy,omitempty"`
	AlreadySigned bool            `json:"alreadySigned,omitempty"`
	Provenance    string          `json:"provenance,omitempty"` // predicate type of the attached attestation
}

func newPublishVMDiskCmd(e *env) *cobra.Command {
	var f publishFlags
	var bootable, allowBacking bool
	var firmware string
	cmd := &cobra.Command{
		Use:   "vm-disk NAME VERSION FILE...",
		Short: "Publish disk files (qcow2, vmdk, vhdx, vhd, raw, ova, box) of one build as one version",
		Long: `Publish the disk files of one build as one version of a VM-disk artifact: one
manifest layer per file, its format, virtual size and safety facts read from
its headers. A disk that is unsafe to hand to a hypervisor is refused (exit 3)
before anything is written: a qcow2 naming a backing or data file, a vmdk
whose descriptor names extent files, an encrypted disk, unknown incompatible
features, a format brickyard does not publish (qed, vdi, iso...), a file two
formats claim. With --allow-backing-file, a qcow2 overlay is published when
its backing file is a disk of a --parent artifact, named by its file name
and format in the header. Each file is read once, hashed while it is
written to the store.`,
		Args: args(cobra.MinimumNArgs(3)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			m, err := f.meta(e, argv[0], argv[1])
			if err != nil {
				return err
			}
			if err := e.open(cmd.Context()); err != nil {
				return err
			}
			p, err := e.c.PublishDisk(cmd.Context(), brickyard.DiskRequest{Meta: m, Files: argv[2:], Bootable: bootable, Firmware: firmware, AllowBackingFile: allowBacking})
			if err != nil {
				return err
			}
			return e.printPublished(p)
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&bootable, "bootable", false, "the disks hold a bootable system")
	cmd.Flags().StringVar(&firmware, "firmware", "", "firmware the disks boot with: bios or uefi")
	cmd.Flags().BoolVar(&allowBacking, "allow-backing-file", false, "publish a qcow2 overlay whose backing file is a disk of a --parent artifact")
	return cmd
}

func newPublishMachineImageCmd(e *env) *cobra.Command {
	var f publishFlags
	var provider, owner, bootMode string
	var images, snapshots []string
	var af awsFlags
	var tagImages bool
	cmd := &cobra.Command{
		Use:   "machine-image NAME VERSION --owner ACCOUNT --image REGION=ID...",
		Short: "Publish a machine image (an AMI and its copies per region) as one version",
		Args:  args(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			ctx := cmd.Context()
			mi := artifact.MachineImage{Provider: provider, Owner: owner, BootMode: bootMode, Images: map[string]string{}}
			for _, kv := range images {
				region, id, ok := strings.Cut(kv, "=")
				if !ok {
					return usageError{fmt.Errorf("--image %q: want REGION=IMAGE_ID, e.g. eu-west-1=ami-0abc", kv)}
				}
				mi.Images[region] = id
			}
			for _, kv := range snapshots {
				region, id, ok := strings.Cut(kv, "=")
				if !ok {
					return usageError{fmt.Errorf("--snapshot %q: want REGION=SNAPSHOT_ID", kv)}
				}
				if mi.Snapshots == nil {
					mi.Snapshots = map[string][]string{}
				}
				mi.Snapshots[region] = append(mi.Snapshots[region], id)
			}
			for _, s := range mi.Snapshots {
				sort.Strings(s)
			}
			m, err := f.meta(e, argv[0], argv[1])
			if err != nil {
				return err
			}
			if err := e.open(ctx); err != nil {
				return err
			}
			p, err := e.c.PublishMachineImage(ctx, brickyard.MachineImageRequest{Meta: m, MachineImage: mi})
			if err != nil {
				return err
			}
			if err := e.printPublished(p); err != nil || !tagImages {
				return err
			}
			return e.tagPublished(ctx, &af, p.Record.Ref())
		},
	}
	f.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&provider, "provider", "aws", "cloud provider: aws, gcp, azure")
	fl.StringVar(&owner, "owner", "", "account that owns the images, e.g. an AWS account id (required)")
	fl.StringArrayVar(&images, "image", nil, "REGION=IMAGE_ID (repeatable, at least one)")
	fl.StringArrayVar(&snapshots, "snapshot", nil, "REGION=SNAPSHOT_ID backing the image (repeatable)")
	fl.StringVar(&bootMode, "boot-mode", "", "uefi or legacy-bios")
	af.registerTagging(cmd, &tagImages)
	return cmd
}

func newPublishOCIImageCmd(e *env) *cobra.Command {
	var f publishFlags
	var from string
	cmd := &cobra.Command{
		Use:   "oci-image NAME VERSION --from LAYOUT_DIR:TAG|docker://HOST/REPO:TAG",
		Short: "Track a container image as one version: copy it in and publish an artifact whose subject it is",
		Long: `Copy a container image (manifest or index, with its blobs) into the store,
from an OCI image layout (DIR:TAG, as umoci, skopeo or buildah write it) or
from a registry (docker://HOST/REPO:TAG, as skopeo names it), then publish an
OCI-image artifact whose subject is that image, so signatures and lineage
attach to it.`,
		Args: args(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			ctx := cmd.Context()
			m, err := f.meta(e, argv[0], argv[1])
			if err != nil {
				return err
			}
			if err := e.open(ctx); err != nil {
				return err
			}
			p, err := e.c.PublishOCIImage(ctx, brickyard.OCIImageRequest{Meta: m, From: from})
			if err != nil {
				return err
			}
			return e.printPublished(p)
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&from, "from", "", "the image: DIR:TAG (an OCI layout) or docker://HOST/REPO:TAG (a registry) (required)")
	_ = cmd.MarkFlagRequired("from")
	return cmd
}
