package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/catalog"
	"github.com/brickyard/brickyard/registry"
	"github.com/brickyard/brickyard/sign"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
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

// artifact builds the common part of the artifact from the flags, looking
// parents up in the catalog. It writes nothing.
func (f *publishFlags) artifact(ctx context.Context, e *env, kind artifact.Kind, name, version string) (*artifact.Artifact, error) {
	if err := artifact.ValidateName(name); err != nil {
		return nil, err
	}
	v, err := artifact.ParseVersion(version)
	if err != nil {
		return nil, err
	}
	a := &artifact.Artifact{Name: name, Kind: kind, Version: v,
		Build: artifact.Build{Builder: f.builder, Source: f.source, Revision: f.revision}}
	if f.platform != "" {
		if a.Platform, err = artifact.ParsePlatform(f.platform); err != nil {
			return nil, err
		}
	}
	if a.Build.Created, err = buildTime(f.created); err != nil {
		return nil, err
	}
	for _, p := range f.parents {
		r, err := e.lookup(ctx, p, "")
		if err != nil {
			return nil, fmt.Errorf("parent %s: %w", p, err)
		}
		if len(a.Parents) == 0 {
			tag, _ := artifact.Tag(r.Version)
			a.BaseName = r.Name + ":" + tag
		}
		a.Parents = append(a.Parents, r.Digest)
	}
	for _, kv := range f.annotations {
		k, val, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, usageError{fmt.Errorf("annotation %q: want KEY=VALUE", kv)}
		}
		if a.Annotations == nil {
			a.Annotations = map[string]string{}
		}
		a.Annotations[k] = val
	}
	// Refuse a taken version before any blob moves: versions are immutable.
	if r, err := e.lookup(ctx, name+"@"+version, f.platform); err == nil {
		return nil, fmt.Errorf("%s is already published (%s %s): versions are immutable, publish a new version: %w",
			a.Ref(), r.Kind, r.Digest, catalog.ErrDuplicateVersion)
	}
	return a, nil
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
	return time.Now().UTC().Truncate(time.Second), nil
}

// finish publishes a to the store, records it, and signs it if asked to,
// then prints the result. Each step is idempotent, so a publish that failed
// half-way is resumed by running it again.
func (f *publishFlags) finish(ctx context.Context, e *env, a *artifact.Artifact) error {
	var signer *sign.Signer
	if f.provenance && f.key == "" {
		return usageError{fmt.Errorf("--provenance needs --key: provenance is signed")}
	}
	if f.key != "" {
		var err error
		if signer, err = loadSigner(f.key); err != nil {
			return err
		}
	}
	enc, err := registry.Publish(ctx, e.store, a)
	if err != nil {
		return err
	}
	rec := catalog.Record{
		Name: a.Name, Kind: a.Kind, Version: a.Version, Digest: enc.Descriptor.Digest,
		Platform: a.Platform, Parents: a.Parents, Created: a.Build.Created,
		Store: "oci-layout", Repository: a.Name, Actor: defaultActor(),
		MediaType: enc.Descriptor.MediaType, Size: enc.Descriptor.Size,
	}
	if err := e.cat.Record(ctx, rec); err != nil {
		return fmt.Errorf("record %s: %w", a.Ref(), err)
	}
	res := publishResult{Ref: a.Ref(), Kind: a.Kind, Digest: enc.Descriptor.Digest, Parents: a.Parents}
	res.Tag, _ = artifact.Tag(a.Version)
	if signer != nil {
		s, err := signAndRecord(ctx, e, signer, rec)
		if err != nil {
			return err
		}
		res.SignedBy = s.KeyID
		if f.provenance {
			if _, err := attestProvenance(ctx, e, signer, &f.prov, rec); err != nil {
				return err
			}
			res.Provenance = sign.PredicateSLSAProvenance
		}
	}
	if e.json {
		return e.printJSON(res)
	}
	fmt.Fprintf(e.out, "published %s (%s) %s\n", res.Ref, res.Kind, res.Digest)
	if res.SignedBy != "" {
		fmt.Fprintf(e.out, "signed    %s by %s\n", res.Ref, res.SignedBy)
	}
	if res.Provenance != "" {
		fmt.Fprintf(e.out, "attested  %s: SLSA provenance v1\n", res.Ref)
	}
	return nil
}

type publishResult struct {
	Ref        string          `json:"ref"`
	Kind       artifact.Kind   `json:"kind"`
	Tag        string          `json:"tag"`
	Digest     digest.Digest   `json:"digest"`
	Parents    []digest.Digest `json:"parents,omitempty"`
	SignedBy   string          `json:"signedBy,omitempty"`
	Provenance string          `json:"provenance,omitempty"` // predicate type of the attached attestation
}

func newPublishVMDiskCmd(e *env) *cobra.Command {
	var f publishFlags
	var bootable bool
	var firmware string
	cmd := &cobra.Command{
		Use:   "vm-disk NAME VERSION FILE...",
		Short: "Publish disk files (qcow2, vmdk, vhdx, vhd, raw, ova, box) of one build as one version",
		Long: `Publish the disk files of one build as one version of a VM-disk artifact: one
manifest layer per file, its format and virtual size detected from its header.
Each file is read once, hashed while it is written to the store.`,
		Args: args(cobra.MinimumNArgs(3)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			ctx := cmd.Context()
			if err := e.open(ctx); err != nil {
				return err
			}
			a, err := f.artifact(ctx, e, artifact.KindVMDisk, argv[0], argv[1])
			if err != nil {
				return err
			}
			for _, path := range argv[2:] {
				if _, err := os.Stat(path); err != nil {
					return fmt.Errorf("disk file: %w", err)
				}
			}
			for _, path := range argv[2:] {
				d, err := registry.PushDisk(ctx, e.store, a.Name, path, e.progressFor(path))
				if err != nil {
					return err
				}
				d.Bootable, d.Firmware = bootable, firmware
				a.Disks = append(a.Disks, d)
			}
			return f.finish(ctx, e, a)
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&bootable, "bootable", false, "the disks hold a bootable system")
	cmd.Flags().StringVar(&firmware, "firmware", "", "firmware the disks boot with: bios or uefi")
	return cmd
}

func newPublishMachineImageCmd(e *env) *cobra.Command {
	var f publishFlags
	var provider, owner, bootMode string
	var images, snapshots []string
	cmd := &cobra.Command{
		Use:   "machine-image NAME VERSION --owner ACCOUNT --image REGION=ID...",
		Short: "Publish a machine image (an AMI and its copies per region) as one version",
		Args:  args(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			ctx := cmd.Context()
			if err := e.open(ctx); err != nil {
				return err
			}
			a, err := f.artifact(ctx, e, artifact.KindMachineImage, argv[0], argv[1])
			if err != nil {
				return err
			}
			mi := &artifact.MachineImage{Provider: provider, Owner: owner, BootMode: bootMode, Images: map[string]string{}}
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
			a.MachineImage = mi
			return f.finish(ctx, e, a)
		},
	}
	f.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&provider, "provider", "aws", "cloud provider: aws, gcp, azure")
	fl.StringVar(&owner, "owner", "", "account that owns the images, e.g. an AWS account id (required)")
	fl.StringArrayVar(&images, "image", nil, "REGION=IMAGE_ID (repeatable, at least one)")
	fl.StringArrayVar(&snapshots, "snapshot", nil, "REGION=SNAPSHOT_ID backing the image (repeatable)")
	fl.StringVar(&bootMode, "boot-mode", "", "uefi or legacy-bios")
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
			if err := e.open(ctx); err != nil {
				return err
			}
			a, err := f.artifact(ctx, e, artifact.KindOCIImage, argv[0], argv[1])
			if err != nil {
				return err
			}
			var desc ocispec.Descriptor
			if ref, ok := strings.CutPrefix(from, "docker://"); ok {
				src, err := e.parseEndpoint(ctx, ref)
				if err != nil {
					return err
				}
				if desc, err = src.store.Resolve(ctx, src.repo, src.tag); err != nil {
					return fmt.Errorf("--from %s: %w", from, err)
				}
				if err := registry.CopyGraph(ctx, src.store, src.repo, e.store, a.Name, desc); err != nil {
					return fmt.Errorf("--from %s: %w", from, err)
				}
			} else {
				img, err := readLayoutImage(from)
				if err != nil {
					return err
				}
				if desc, err = registry.PushImage(ctx, e.store, a.Name, img); err != nil {
					return err
				}
			}
			a.Image = &desc
			return f.finish(ctx, e, a)
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&from, "from", "", "the image: DIR:TAG (an OCI layout) or docker://HOST/REPO:TAG (a registry) (required)")
	_ = cmd.MarkFlagRequired("from")
	return cmd
}

// readLayoutImage opens the image tagged TAG in the OCI layout DIR, given as "DIR:TAG".
func readLayoutImage(from string) (v1.Image, error) {
	i := strings.LastIndex(from, ":")
	if i <= 0 || i == len(from)-1 {
		return nil, usageError{fmt.Errorf("--from %q: want OCI_LAYOUT_DIR:TAG", from)}
	}
	dir, tag := from[:i], from[i+1:]
	p, err := layout.FromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("--from %s: not an OCI image layout: %w", dir, err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		return nil, fmt.Errorf("--from %s: %w", dir, err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("--from %s: %w", dir, err)
	}
	for _, d := range m.Manifests {
		if d.Annotations["org.opencontainers.image.ref.name"] == tag {
			img, err := p.Image(d.Digest)
			if err != nil {
				return nil, fmt.Errorf("--from %s: tag %s: %w", dir, tag, err)
			}
			return img, nil
		}
	}
	return nil, fmt.Errorf("--from %s: no image tagged %q in %s/index.json: %w", from, tag, dir, registry.ErrNotFound)
}
