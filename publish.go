package brickyard

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/artifact/disk"
	"github.com/brickyard/brickyard/catalog"
	"github.com/brickyard/brickyard/internal/faults"
	"github.com/brickyard/brickyard/registry"
	"github.com/brickyard/brickyard/sign"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Meta is what every published artifact carries, whatever its kind.
type Meta struct {
	Name    string // OCI repository-name grammar (artifact.ValidateName)
	Version string // Semantic Versioning 2.0.0, e.g. "1.2.0" or "1.2.0-rc.1+build.5"
	// Platform is "os/arch[/variant]", e.g. "linux/amd64"; empty for none.
	Platform string
	// Parents are the artifacts this one was built from: NAME@VERSION or
	// digests, each already in the catalog.
	Parents []string
	// Build says what built it; Build.Created defaults to the Client's
	// clock, to the second. A defaulted build time is not part of what
	// makes a publish the same as an earlier one: see PublishDisk.
	Build       artifact.Build
	Annotations map[string]string // extra manifest annotations
	// Sign signs the artifact with the Client's signer once it is stored.
	Sign bool
	// Provenance, if not nil, also attaches signed SLSA provenance v1 (see
	// Client.Attest); it needs Sign.
	Provenance *ProvenanceRequest
}

// DiskRequest publishes the disk files of one build as one version of a
// VM-disk artifact.
type DiskRequest struct {
	Meta
	// Files are paths of disk files (qcow2, vmdk, vhdx, vhd, raw, ova,
	// box): one manifest layer each, its format, virtual size and safety
	// facts read from its headers (artifact/disk), its title the file's
	// base name.
	Files    []string
	Bootable bool   // the disks hold a bootable system
	Firmware string // "bios", "uefi" or ""
	// AllowBackingFile lets a qcow2 overlay be published when its header
	// names, by file name and format, a disk of one of Parents as its
	// backing file (registry.BackingFromParents); never a host path.
	AllowBackingFile bool
}

// MachineImageRequest publishes a machine image (an AMI and its copies per
// region): a record, no bytes.
type MachineImageRequest struct {
	Meta
	MachineImage artifact.MachineImage
}

// OCIImageRequest tracks a container image as one version: the image is
// copied into the store and an artifact whose subject it is is published.
type OCIImageRequest struct {
	Meta
	// From is the image: "DIR:TAG", an OCI image layout (as umoci, skopeo
	// or buildah write it), or "docker://HOST[:PORT]/REPO:TAG", a registry,
	// optionally followed by "@sha256:<hex>", which the tag must hold.
	From string
}

// Published is what a publish did.
type Published struct {
	Record      catalog.Record // as recorded, derived from the stored manifest
	Tag         string         // the immutable version tag
	Signature   *sign.Signature
	Attestation *sign.Signature
	// Existed: the store and the catalog held this content already under
	// the version; nothing was published (a no-op).
	Existed bool
	// Completed: the store held it already (an earlier publish was
	// interrupted after its tag); this one recorded what was missing.
	Completed bool
	// AlreadySigned: the signer's signature was there already (recorded,
	// or stored by an interrupted run and now recorded); none was made.
	AlreadySigned bool
}

// PublishDisk publishes the disk files of req as one version of a VM-disk
// artifact in the Client's store, streamed (each file read once, hashed as
// it is written: to a registry store, straight to the registry), recorded
// in the catalog, and signed and attested if asked to. Name, version,
// platform, parents and files are all checked before anything is written:
// an unknown parent writes nothing. The record is derived from the stored
// manifest.
//
// Order of writes: blobs, manifest, version tag (registry.Publish), catalog
// record, signature in the store, signature in the catalog, attestation,
// then (Close) the event log's checkpoint. Each step finds what an
// interrupted earlier run did and completes it, so a publish killed at any
// point is completed by running it again: a version tag the catalog lacks
// is adopted when its content equals this publish's but for a defaulted
// build time (registry.AdoptBuildTime) and recorded; a signature by the
// signer that is stored but not recorded is recorded, not made again. An
// identical publish is a no-op (Published.Existed). A version taken by
// other content fails with registry.ErrImmutableTag naming both digests
// (for a VM disk, after its blobs were pushed: the store's GC collects
// them).
//
// Errors: artifact's validation errors; catalog.ErrNotFound for an unknown
// parent; registry.ErrImmutableTag for a version taken; ErrNoSigner;
// disk.ErrUnsafeDisk (naming the file and each reason) for a disk unsafe to
// hand to a hypervisor, and disk.Inspect's other errors for a file that is
// not a readable disk, before any file is written; the store's and
// catalog's errors, naming the input.
func (c *Client) PublishDisk(ctx context.Context, req DiskRequest) (Published, error) {
	a, err := c.prepare(ctx, artifact.KindVMDisk, req.Meta)
	if err != nil {
		return Published{}, err
	}
	if err := c.pushDisks(ctx, a, req); err != nil {
		return Published{}, err
	}
	return c.finish(ctx, a, req.Meta)
}

// pushDisks pushes the disk files of req into the store and sets them as
// a's disks.
func (c *Client) pushDisks(ctx context.Context, a *artifact.Artifact, req DiskRequest) error {
	if len(req.Files) == 0 {
		return fmt.Errorf("publish %s: no disk file: %w", a.Ref(), artifact.ErrInvalidArtifact)
	}
	for _, path := range req.Files {
		if _, err := os.Stat(path); err != nil {
			return fmt.Errorf("disk file: %w", err)
		}
	}
	var opts []disk.Option
	if req.AllowBackingFile {
		if len(req.Parents) == 0 {
			return fmt.Errorf("publish %s: an overlay's backing file must be a disk of a parent, and none is given: %w", a.Ref(), artifact.ErrInvalidArtifact)
		}
		var parents []*artifact.Artifact
		for _, p := range req.Parents {
			r, err := c.Lookup(ctx, p, "")
			if err != nil {
				return fmt.Errorf("publish %s: parent %s: %w", a.Ref(), p, err)
			}
			st, err := c.StoreOf(r)
			if err != nil {
				return err
			}
			pa, _, _, err := registry.FetchArtifact(ctx, st, r.Repository, descOf(r))
			if err != nil {
				return fmt.Errorf("publish %s: parent %s: %w", a.Ref(), p, err)
			}
			parents = append(parents, pa)
		}
		opts = append(opts, registry.BackingFromParents(parents...))
	}
	var progress func(path string) func(done, total int64)
	if c.o.progress != nil {
		progress = func(path string) func(done, total int64) {
			what := "push " + filepath.Base(path)
			return func(done, total int64) { c.o.progress(what, done, total) }
		}
	}
	disks, err := registry.PushDisks(ctx, c.store, a.Name, req.Files, progress, opts...)
	if err != nil {
		return err
	}
	for _, d := range disks {
		d.Bootable, d.Firmware = req.Bootable, req.Firmware
		a.Disks = append(a.Disks, d)
	}
	return nil
}

// PublishMachineImage publishes req's machine image as one version: a
// manifest with its metadata (provider, owner account, region → image id,
// snapshots), no blobs. Checks and errors as PublishDisk.
func (c *Client) PublishMachineImage(ctx context.Context, req MachineImageRequest) (Published, error) {
	a, err := c.prepare(ctx, artifact.KindMachineImage, req.Meta)
	if err != nil {
		return Published{}, err
	}
	mi := req.MachineImage
	a.MachineImage = &mi
	return c.finish(ctx, a, req.Meta)
}

// PublishOCIImage copies the container image req.From (manifest or index,
// with its blobs) into the store and publishes an OCI-image artifact whose
// subject it is, so that signatures and lineage attach to it. Checks and
// errors as PublishDisk; ErrInvalidRef for a malformed From;
// registry.ErrNotFound if the image is not there.
func (c *Client) PublishOCIImage(ctx context.Context, req OCIImageRequest) (Published, error) {
	a, err := c.prepare(ctx, artifact.KindOCIImage, req.Meta)
	if err != nil {
		return Published{}, err
	}
	if err := c.pushImage(ctx, a, req.From); err != nil {
		return Published{}, err
	}
	return c.finish(ctx, a, req.Meta)
}

// pushImage copies the container image from (see OCIImageRequest.From)
// into a's repository and sets it as a's tracked image.
func (c *Client) pushImage(ctx context.Context, a *artifact.Artifact, from string) error {
	var desc ocispec.Descriptor
	if ref, ok := strings.CutPrefix(from, "docker://"); ok {
		// A digest after the tag (as docker push reports it) must be what
		// the tag holds: the image the build pushed, not a later one.
		var want digest.Digest
		if i := strings.LastIndex(ref, "@"); i > 0 {
			if d, err := digest.Parse(ref[i+1:]); err == nil {
				ref, want = ref[:i], d
			}
		}
		src, err := c.endpoint(ref)
		if err != nil {
			return err
		}
		if desc, err = src.store.Resolve(ctx, src.repo, src.tag); err != nil {
			return fmt.Errorf("image %s: %w", from, err)
		}
		if want != "" && desc.Digest != want {
			return fmt.Errorf("image %s: the tag now holds %s: %w", from, desc.Digest, registry.ErrDigestMismatch)
		}
		if err := registry.CopyGraph(ctx, src.store, src.repo, c.store, desc, registry.ToRepository(a.Name)); err != nil {
			return fmt.Errorf("image %s: %w", from, err)
		}
	} else {
		img, err := readLayoutImage(from)
		if err != nil {
			return err
		}
		if desc, err = registry.PushImage(ctx, c.store, a.Name, img); err != nil {
			return err
		}
	}
	a.Image = &desc
	return nil
}

// prepare builds the common part of an artifact from m and checks all it
// can before anything is written: name, version, platform, annotations,
// parents (each in the catalog), the signer, and that the version is not
// taken.
func (c *Client) prepare(ctx context.Context, kind artifact.Kind, m Meta) (*artifact.Artifact, error) {
	if err := artifact.ValidateName(m.Name); err != nil {
		return nil, err
	}
	v, err := artifact.ParseVersion(m.Version)
	if err != nil {
		return nil, err
	}
	a := &artifact.Artifact{Name: m.Name, Kind: kind, Version: v, Build: m.Build}
	if m.Platform != "" {
		if a.Platform, err = artifact.ParsePlatform(m.Platform); err != nil {
			return nil, err
		}
	}
	if a.Build.Created.IsZero() {
		a.Build.Created = c.o.now().UTC().Truncate(time.Second)
	}
	if (m.Sign || m.Provenance != nil) && c.o.signer == nil {
		return nil, fmt.Errorf("publish %s: %w", a.Ref(), ErrNoSigner)
	}
	if m.Provenance != nil && !m.Sign {
		return nil, fmt.Errorf("publish %s: provenance is signed: ask for Sign as well: %w", a.Ref(), ErrNoSigner)
	}
	for _, p := range m.Parents {
		r, err := c.Lookup(ctx, p, "")
		if err != nil {
			return nil, fmt.Errorf("publish %s: parent %s: %w", a.Ref(), p, err)
		}
		if len(a.Parents) == 0 {
			tag, _ := artifact.Tag(r.Version)
			a.BaseName = r.Name + ":" + tag
		}
		a.Parents = append(a.Parents, r.Digest)
	}
	if len(m.Annotations) > 0 {
		a.Annotations = map[string]string{}
		for k, val := range m.Annotations {
			a.Annotations[k] = val
		}
	}
	return a, nil
}

// finish stores a (its blobs are in the store already), records the record
// derived from what was stored, and signs and attests it if m asks,
// completing what an interrupted earlier run left (see PublishDisk).
func (c *Client) finish(ctx context.Context, a *artifact.Artifact, m Meta) (Published, error) {
	var opts []registry.PublishOption
	if m.Build.Created.IsZero() {
		opts = append(opts, registry.AdoptBuildTime())
	}
	pub, err := registry.Publish(ctx, c.store, a, opts...)
	if err != nil {
		return Published{}, err
	}
	rec, err := catalog.RecordOf(c.storeName, a.Name, pub.Descriptor, pub.Manifest, pub.Config)
	if err != nil {
		return Published{}, err
	}
	rec.Actor = c.o.actor
	_, gerr := c.cat.Get(ctx, rec.Digest)
	if gerr != nil && !errors.Is(gerr, catalog.ErrNotFound) {
		return Published{}, gerr
	}
	recorded := gerr == nil
	if !recorded {
		if err := c.cat.Record(ctx, rec); err != nil {
			return Published{}, fmt.Errorf("record %s: %w (the store holds it as %s: publish it again, or run `brickyard catalog reconcile`, once mended)", a.Ref(), err, rec.Digest)
		}
		faults.Point("record")
	}
	if rec, err = c.cat.Get(ctx, rec.Digest); err != nil {
		return Published{}, err
	}
	out := Published{Record: rec, Existed: pub.Existed && recorded, Completed: pub.Existed && !recorded}
	out.Tag, _ = artifact.Tag(a.Version)
	if m.Sign {
		st, err := c.StoreOf(rec)
		if err != nil {
			return out, err
		}
		s, existed, err := signRecord(ctx, c.o.signer, st, c.cat, rec)
		if err != nil {
			return out, err
		}
		out.Signature, out.AlreadySigned = &s, existed
	}
	if m.Provenance != nil {
		// An interrupted earlier run may have attested it already.
		st, err := c.StoreOf(rec)
		if err != nil {
			return out, err
		}
		v, err := c.o.signer.Verifier()
		if err != nil {
			return out, err
		}
		if _, err := v.VerifyAttestation(ctx, st, rec.Repository, rec.Digest, sign.PredicateSLSAProvenance); err != nil {
			att, err := c.Attest(ctx, rec, *m.Provenance)
			if err != nil {
				return out, err
			}
			out.Attestation = &att
		} else {
			out.Attestation = &sign.Signature{Digest: rec.Digest, KeyID: c.o.signer.KeyID(), Tag: sign.AttestationTag(rec.Digest)}
		}
	}
	if m.Sign {
		if out.Record, err = c.cat.Get(ctx, rec.Digest); err != nil { // with its signature
			return out, err
		}
	}
	return out, nil
}

// readLayoutImage opens the image tagged TAG in the OCI layout DIR, given
// as "DIR:TAG".
func readLayoutImage(from string) (v1.Image, error) {
	i := strings.LastIndex(from, ":")
	if i <= 0 || i == len(from)-1 {
		return nil, fmt.Errorf("image %q: want OCI_LAYOUT_DIR:TAG or docker://HOST/REPO:TAG: %w", from, ErrInvalidRef)
	}
	dir, tag := from[:i], from[i+1:]
	p, err := layout.FromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("image %s: not an OCI image layout: %w", dir, err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", dir, err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", dir, err)
	}
	for _, d := range m.Manifests {
		if d.Annotations["org.opencontainers.image.ref.name"] == tag {
			img, err := p.Image(d.Digest)
			if err != nil {
				return nil, fmt.Errorf("image %s: tag %s: %w", dir, tag, err)
			}
			return img, nil
		}
	}
	return nil, fmt.Errorf("image %s: no image tagged %q in %s/index.json: %w", from, tag, dir, registry.ErrNotFound)
}
