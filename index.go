package brickyard

import (
	"context"
	"fmt"

	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/catalog"
	"github.com/brickyard/brickyard/registry"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// IndexRequest publishes the outputs of several builds of one version (the
// builders of one `packer build`, or one build per platform) as one
// version: an OCI image index (image-spec v1.1 §image-index, artifactType
// application/vnd.brickyard.index.v1) over one artifact manifest per
// build. Meta names the version, its parents and build time; each member
// is an artifact of its own kind with the same name, version, parents and
// build time.
type IndexRequest struct {
	Meta
	Members []MemberRequest
}

// MemberRequest is one build of an IndexRequest: exactly one of Files,
// MachineImage and From is set, as in DiskRequest, MachineImageRequest and
// OCIImageRequest.
type MemberRequest struct {
	// Build names the build, e.g. Packer's "qemu.web"; unique within the
	// index, it is the member's artifact.AnnotationBuild.
	Build string
	// Platform is "os/arch[/variant]"; default the IndexRequest's.
	Platform string
	// Builder defaults to the IndexRequest's Build.Builder.
	Builder string

	Files            []string // disk files (a VM-disk member)
	Bootable         bool
	Firmware         string
	AllowBackingFile bool

	MachineImage *artifact.MachineImage // a machine-image member
	From         string                 // a container image (an OCI-image member)
}

func (m MemberRequest) kind() (artifact.Kind, error) {
	var kinds []artifact.Kind
	if len(m.Files) > 0 {
		kinds = append(kinds, artifact.KindVMDisk)
	}
	if m.MachineImage != nil {
		kinds = append(kinds, artifact.KindMachineImage)
	}
	if m.From != "" {
		kinds = append(kinds, artifact.KindOCIImage)
	}
	if len(kinds) != 1 {
		return "", fmt.Errorf("build %q: give exactly one of disk files, a machine image or an image to track: %w", m.Build, artifact.ErrInvalidArtifact)
	}
	return kinds[0], nil
}

// PublishIndex publishes req as one version: each member is pushed to the
// store as an artifact manifest of its kind, untagged (disk blobs
// streamed, images copied, as the single-kind publishes do), then the
// index over them is published under the version tag (immutable, as
// ever), recorded in the catalog, and signed if asked to: the catalog
// records the version once, by the index digest, with kind
// artifact.KindIndex, the parents of req and, as platform, the one
// platform all members name (else none). The members are reached from the
// index (Client.Members); signing the index covers them, as cosign does
// for a multi-platform image, since the index names each by digest.
//
// Everything is checked before anything is written (names, version,
// parents, signer, each member's kind and unique build name); the version
// tag is written last, so a publish that fails leaves no version, and what
// it pushed is taken back (Discard) where the store can. An identical
// publish is a no-op (Published.Existed): with no build time given, that
// of the stored index is used.
//
// Errors: those of PublishDisk, PublishMachineImage and PublishOCIImage,
// naming the member's build; artifact.ErrInvalidArtifact for no member, a
// member with no or several contents, or a build name repeated or empty.
func (c *Client) PublishIndex(ctx context.Context, req IndexRequest) (_ Published, err error) {
	meta := req.Meta
	idx, err := c.prepare(ctx, artifact.KindIndex, meta)
	if err != nil {
		return Published{}, err
	}
	if len(req.Members) == 0 {
		return Published{}, fmt.Errorf("publish %s: an index needs at least one build: %w", idx.Ref(), artifact.ErrInvalidArtifact)
	}
	seen := map[string]bool{}
	for _, m := range req.Members {
		if _, err := m.kind(); err != nil {
			return Published{}, fmt.Errorf("publish %s: %w", idx.Ref(), err)
		}
		if m.Build == "" || seen[m.Build] {
			return Published{}, fmt.Errorf("publish %s: build name %q empty or repeated: each member needs its own: %w", idx.Ref(), m.Build, artifact.ErrInvalidArtifact)
		}
		seen[m.Build] = true
	}
	if meta.Build.Created.IsZero() {
		meta.Build.Created = idx.Build.Created
		if stored, err := c.storedIndex(ctx, idx); err == nil {
			meta.Build.Created = stored.Build.Created
		}
	}
	idx.Build.Created = meta.Build.Created
	var pushed []digest.Digest
	defer func() {
		if err != nil && len(pushed) > 0 {
			err = registry.Discard(ctx, c.store, registry.Written{Repo: idx.Name, Blobs: pushed}, err)
		}
	}()
	for _, mr := range req.Members {
		d, blobs, err := c.pushMember(ctx, meta, mr)
		pushed = append(pushed, blobs...)
		if err != nil {
			return Published{}, fmt.Errorf("publish %s: build %s: %w", idx.Ref(), mr.Build, err)
		}
		idx.Members = append(idx.Members, d)
	}
	idx.Platform = artifact.IndexPlatform(idx.Members)
	return c.finish(ctx, idx, meta)
}

// pushMember makes the artifact of one build of an index and pushes it,
// untagged. It returns its descriptor in the index and the digests of what
// it pushed (to take back if the publish fails).
func (c *Client) pushMember(ctx context.Context, meta Meta, mr MemberRequest) (ocispec.Descriptor, []digest.Digest, error) {
	kind, _ := mr.kind()
	m := meta
	if mr.Platform != "" {
		m.Platform = mr.Platform
	}
	if mr.Builder != "" {
		m.Build.Builder = mr.Builder
	}
	a, err := c.prepare(ctx, kind, m)
	if err != nil {
		return ocispec.Descriptor{}, nil, err
	}
	switch kind {
	case artifact.KindVMDisk:
		err = c.pushDisks(ctx, a, DiskRequest{Meta: m, Files: mr.Files, Bootable: mr.Bootable, Firmware: mr.Firmware, AllowBackingFile: mr.AllowBackingFile})
	case artifact.KindMachineImage:
		mi := *mr.MachineImage
		a.MachineImage = &mi
	case artifact.KindOCIImage:
		err = c.pushImage(ctx, a, mr.From)
	}
	var blobs []digest.Digest
	for _, d := range a.Disks {
		blobs = append(blobs, d.Digest)
	}
	if err != nil {
		return ocispec.Descriptor{}, blobs, err
	}
	e, err := registry.PushArtifact(ctx, c.store, a)
	if err != nil {
		return ocispec.Descriptor{}, blobs, err
	}
	blobs = append(blobs, e.Descriptor.Digest, e.ConfigDesc.Digest)
	return artifact.MemberDescriptor(e, a.Platform, mr.Build), blobs, nil
}

// storedIndex returns the index the store holds under idx's version tag.
func (c *Client) storedIndex(ctx context.Context, idx *artifact.Artifact) (*artifact.Artifact, error) {
	tag, _ := artifact.Tag(idx.Version)
	desc, err := c.store.Resolve(ctx, idx.Name, tag)
	if err != nil {
		return nil, err
	}
	a, _, _, err := registry.FetchArtifact(ctx, c.store, idx.Name, desc)
	if err != nil {
		return nil, err
	}
	if a.Kind != artifact.KindIndex {
		return nil, fmt.Errorf("%s:%s is a %s: %w", idx.Name, tag, a.Kind, ErrWrongKind)
	}
	return a, nil
}

// Member is one build of a KindIndex version, as Members reads it.
type Member struct {
	Build      string // artifact.AnnotationBuild
	Descriptor ocispec.Descriptor
	Artifact   *artifact.Artifact // decoded from the member's manifest and config
}

// Members reads the members of r, a KindIndex record, from its store: each
// manifest by the digest the index names (the store checks it as it
// reads), decoded strictly, and checked to carry r's name and version.
// For any other kind it returns r's own artifact as the one member.
//
// Errors: artifact.ErrInvalidArtifact for a member of another name or
// version; the store's and the decoder's errors, naming r and the build.
func (c *Client) Members(ctx context.Context, r catalog.Record) ([]Member, error) {
	st, err := c.StoreOf(r)
	if err != nil {
		return nil, err
	}
	a, _, _, err := registry.FetchArtifact(ctx, st, r.Repository, descOf(r))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.Ref(), err)
	}
	if a.Kind != artifact.KindIndex {
		return []Member{{Descriptor: descOf(r), Artifact: a}}, nil
	}
	var out []Member
	for _, d := range a.Members {
		build := d.Annotations[artifact.AnnotationBuild]
		ma, _, _, err := registry.FetchArtifact(ctx, st, r.Repository, d)
		if err != nil {
			return nil, fmt.Errorf("%s: build %s: %w", r.Ref(), build, err)
		}
		if ma.Name != a.Name || ma.Version.Original() != a.Version.Original() {
			return nil, fmt.Errorf("%s: build %s is %s: %w", r.Ref(), build, ma.Ref(), artifact.ErrInvalidArtifact)
		}
		out = append(out, Member{Build: build, Descriptor: d, Artifact: ma})
	}
	return out, nil
}
