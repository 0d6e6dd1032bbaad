package brickyard

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/catalog"
	"github.com/brickyard/brickyard/registry"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Lookup returns the catalog record ref names: "NAME@VERSION" (build
// metadata included if the version has some), "NAME@sha256:<hex>" or
// "sha256:<hex>". platform ("os/arch[/variant]"), if not empty, picks among
// the records of one version built for several platforms.
//
// Errors: ErrInvalidRef for a malformed ref; artifact.ErrInvalidName,
// ErrInvalidVersion or ErrInvalidPlatform; catalog.ErrNotFound (the same
// error as registry.ErrNotFound) if there is no such record; ErrAmbiguous
// if the version exists for several platforms and platform is empty.
func (c *Client) Lookup(ctx context.Context, ref, platform string) (catalog.Record, error) {
	name, sel, ok := strings.Cut(ref, "@")
	if !ok {
		if d, err := digest.Parse(ref); err == nil {
			return c.cat.Get(ctx, d)
		}
		return catalog.Record{}, fmt.Errorf("reference %q: want NAME@VERSION, NAME@DIGEST or a digest: %w", ref, ErrInvalidRef)
	}
	if err := artifact.ValidateName(name); err != nil {
		return catalog.Record{}, err
	}
	if d, err := digest.Parse(sel); err == nil {
		r, err := c.cat.Get(ctx, d)
		if err == nil && r.Name != name {
			return catalog.Record{}, fmt.Errorf("reference %q: digest belongs to %s, not %s: %w", ref, r.Name, name, catalog.ErrNotFound)
		}
		return r, err
	}
	v, err := artifact.ParseVersion(sel)
	if err != nil {
		return catalog.Record{}, err
	}
	var want artifact.Platform
	if platform != "" {
		if want, err = artifact.ParsePlatform(platform); err != nil {
			return catalog.Record{}, err
		}
	}
	recs, err := c.cat.Versions(ctx, name)
	if err != nil {
		return catalog.Record{}, err
	}
	var found []catalog.Record
	for _, r := range recs {
		if r.Version.Equal(v) && r.Version.Metadata() == v.Metadata() && (platform == "" || r.Platform.Matches(want)) {
			found = append(found, r)
		}
	}
	switch len(found) {
	case 0:
		return catalog.Record{}, fmt.Errorf("%s: no such version in the catalog: %w", ref, catalog.ErrNotFound)
	case 1:
		return found[0], nil
	}
	var ps []string
	for _, r := range found {
		ps = append(ps, r.Platform.String())
	}
	return catalog.Record{}, fmt.Errorf("%s exists for several platforms (%s): pick one: %w", ref, strings.Join(ps, ", "), ErrAmbiguous)
}

// Filter selects records for Find; a zero field selects everything.
type Filter struct {
	// Name is a path.Match pattern on the artifact name, e.g. "web-*".
	Name string
	Kind artifact.Kind
	// State is the lifecycle state now (active, deprecated, revoked).
	State catalog.State
	// Visibility lists intended visibilities to match, any of them
	// (private, shared, public); a record with none set is private.
	Visibility []string
	// Unsigned selects records the catalog holds no signature for.
	Unsigned bool
}

// Find returns the records that f selects, by name then in semver order.
// Errors: path.ErrBadPattern for a malformed Name; the catalog's errors.
func (c *Client) Find(ctx context.Context, f Filter) ([]catalog.Record, error) {
	if f.Name != "" {
		if _, err := path.Match(f.Name, ""); err != nil {
			return nil, fmt.Errorf("name pattern %q: %w", f.Name, err)
		}
	}
	names, err := c.cat.Names(ctx)
	if err != nil {
		return nil, err
	}
	now := c.o.now()
	var out []catalog.Record
	for _, n := range names {
		if ok, _ := path.Match(f.Name, n); f.Name != "" && !ok {
			continue
		}
		recs, err := c.cat.Versions(ctx, n)
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			if f.Kind != "" && r.Kind != f.Kind {
				continue
			}
			if st, _ := r.Status(now); f.State != "" && st != f.State {
				continue
			}
			vis := catalog.VisibilityPrivate
			if r.Visibility != nil {
				vis = r.Visibility.Level
			}
			if len(f.Visibility) > 0 && !slices.Contains(f.Visibility, vis) {
				continue
			}
			if f.Unsigned && len(r.Signatures) > 0 {
				continue
			}
			out = append(out, r)
		}
	}
	return out, nil
}

// BlobMatch is an artifact that holds a blob: its record and the
// descriptor of the blob in its manifest (a disk layer, with its title, or
// the config).
type BlobMatch struct {
	Record catalog.Record
	Blob   ocispec.Descriptor
}

// FindByBlob returns every recorded artifact whose own manifest holds the
// blob d as a layer or as its config (for an OCI-image artifact, not the
// tracked image's layers): a disk file found somewhere, hashed,
// names the artifact and version it came from. It reads each recorded
// manifest from its store (one small read per record); records whose store
// cannot be reached are skipped, and their errors joined in the error
// returned with the matches.
func (c *Client) FindByBlob(ctx context.Context, d digest.Digest) ([]BlobMatch, error) {
	if err := d.Validate(); err != nil {
		return nil, fmt.Errorf("blob digest %q: %w: %v", d, artifact.ErrInvalidDigest, err)
	}
	recs, err := c.Find(ctx, Filter{})
	if err != nil {
		return nil, err
	}
	var out []BlobMatch
	var errs []error
	for _, r := range recs {
		st, err := c.StoreOf(r)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		_, manifest, _, err := registry.FetchArtifact(ctx, st, r.Repository, ocispec.Descriptor{MediaType: r.MediaType, Digest: r.Digest, Size: r.Size})
		var m *ocispec.Manifest
		if err == nil {
			m, _, err = artifact.ParseManifest(manifest)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", r.Ref(), err))
			continue
		}
		for _, l := range append([]ocispec.Descriptor{m.Config}, m.Layers...) {
			if l.Digest == d {
				out = append(out, BlobMatch{Record: r, Blob: l})
				break
			}
		}
	}
	if len(errs) > 0 {
		return out, fmt.Errorf("find blob %s: %d record(s) not read: %w", d, len(errs), errors.Join(errs...))
	}
	return out, nil
}

// IdentifyFile hashes the file at path (SHA-256, streamed: a disk is never
// held in memory) and returns its digest and the recorded artifacts that
// hold it (see FindByBlob): a disk file found on a host, a share or a
// bucket becomes an artifact and version, or is unknown (no match).
func (c *Client) IdentifyFile(ctx context.Context, path string) (digest.Digest, []BlobMatch, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", nil, err
	}
	defer f.Close()
	d, err := digest.FromReader(f)
	if err != nil {
		return "", nil, fmt.Errorf("identify %s: %w", path, err)
	}
	ms, err := c.FindByBlob(ctx, d)
	return d, ms, err
}

// LookupImageID returns the record of the machine image that holds the
// provider image id (an AMI id, in any region): a machine-image artifact,
// or an index with a machine-image member that holds it (the index's
// record then). It reads the manifests of the catalog's machine images and
// indexes from their stores, newest version first.
//
// Errors: catalog.ErrNotFound if no artifact records id; the catalog's
// and the stores' errors, naming the record.
func (c *Client) LookupImageID(ctx context.Context, id string) (catalog.Record, error) {
	names, err := c.cat.Names(ctx)
	if err != nil {
		return catalog.Record{}, err
	}
	for _, n := range names {
		recs, err := c.cat.Versions(ctx, n)
		if err != nil {
			return catalog.Record{}, err
		}
		for i := len(recs) - 1; i >= 0; i-- {
			r := recs[i]
			if r.Kind != artifact.KindMachineImage && r.Kind != artifact.KindIndex || r.Deleted != nil {
				continue
			}
			ms, err := c.Members(ctx, r)
			if err != nil {
				return catalog.Record{}, err
			}
			for _, m := range ms {
				if mi := m.Artifact.MachineImage; mi != nil && slices.Contains(slices.Collect(maps.Values(mi.Images)), id) {
					return r, nil
				}
			}
		}
	}
	return catalog.Record{}, fmt.Errorf("image %s: no machine image in the catalog holds it: %w", id, catalog.ErrNotFound)
}
