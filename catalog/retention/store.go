package retention

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/registry"
	"github.com/brickyard/brickyard/sign"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Stores opens the store a record names (Record.Store: "oci-layout" for a
// home's layout store, a registry's HOST[/NAMESPACE]...).
type Stores func(store string) (registry.Store, error)

// StoreBytes is what deleting a plan's artifacts reclaims in one store:
// every manifest deleted (the artifacts, their signatures, attestations,
// referrers and referrers indexes) and the blobs only they reach, each
// counted once; a blob a kept manifest still reaches reclaims nothing.
type StoreBytes struct {
	Store     string `json:"store"`
	Manifests int    `json:"manifests"`
	Blobs     int    `json:"blobs"`
	Bytes     int64  `json:"bytes"`
}

// Measure fills p.Reclaim from the stores: for each repository holding
// an artifact to delete, the blobs reached from what is deleted minus the
// blobs reached from every tag that stays. (Repositories of one registry
// may share blobs; each repository is counted on its own.)
func (p *Plan) Measure(ctx context.Context, stores Stores) error {
	dels := map[repoKey][]Decision{}
	var keys []repoKey
	for _, d := range p.Decisions {
		if !d.Delete {
			continue
		}
		k := repoKey{d.Store, d.Repository}
		if _, ok := dels[k]; !ok {
			keys = append(keys, k)
		}
		dels[k] = append(dels[k], d)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].store != keys[j].store {
			return keys[i].store < keys[j].store
		}
		return keys[i].repo < keys[j].repo
	})
	per := map[string]*StoreBytes{}
	p.Reclaim = nil
	for _, k := range keys {
		s, err := stores(k.store)
		if err != nil {
			return err
		}
		gone := map[digest.Digest]bool{}
		var goneDescs []ocispec.Descriptor
		for _, d := range dels[k] {
			desc := d.Descriptor()
			if ok, err := s.Exists(ctx, k.repo, desc); err != nil {
				return err
			} else if !ok {
				continue // dangling: nothing to reclaim
			}
			atts, err := attachments(ctx, s, k.repo, d.Digest)
			if err != nil {
				return err
			}
			for _, a := range append(atts, desc) {
				if !gone[a.Digest] {
					gone[a.Digest] = true
					goneDescs = append(goneDescs, a)
				}
			}
		}
		kept := map[digest.Digest]int64{}
		tags, err := s.Tags(ctx, k.repo)
		if err != nil && !errors.Is(err, registry.ErrNotFound) {
			return err
		}
		for _, t := range tags {
			desc, err := s.Resolve(ctx, k.repo, t)
			if err != nil {
				return err
			}
			if gone[desc.Digest] {
				continue
			}
			if err := reach(ctx, s, k.repo, desc, kept); err != nil {
				return err
			}
		}
		freed := map[digest.Digest]int64{}
		for _, desc := range goneDescs {
			if err := reach(ctx, s, k.repo, desc, freed); err != nil {
				return err
			}
		}
		sb := per[k.store]
		if sb == nil {
			sb = &StoreBytes{Store: k.store}
			per[k.store] = sb
		}
		sb.Manifests += len(goneDescs)
		for d, size := range freed {
			if _, still := kept[d]; !still {
				sb.Blobs++
				sb.Bytes += size
			}
		}
	}
	for _, sb := range per {
		p.Reclaim = append(p.Reclaim, *sb)
	}
	sort.Slice(p.Reclaim, func(i, j int) bool { return p.Reclaim[i].Store < p.Reclaim[j].Store })
	return nil
}

// fetchManifest reads a manifest or index, at most
// artifact.MaxManifestSize bytes.
func fetchManifest(ctx context.Context, s registry.Store, repo string, desc ocispec.Descriptor) ([]byte, error) {
	if desc.Size > artifact.MaxManifestSize {
		return nil, fmt.Errorf("%s@%s: manifest of %d bytes: %w", repo, desc.Digest, desc.Size, registry.ErrTooLarge)
	}
	rc, err := s.Fetch(ctx, repo, desc)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return nil, fmt.Errorf("%s@%s: %w", repo, desc.Digest, err)
	}
	return b, nil
}

// reach adds desc and every blob and manifest it references (config,
// layers, an index's manifests; not its subject) to seen, with sizes.
func reach(ctx context.Context, s registry.Store, repo string, desc ocispec.Descriptor, seen map[digest.Digest]int64) error {
	if _, ok := seen[desc.Digest]; ok {
		return nil
	}
	seen[desc.Digest] = desc.Size
	if !isManifest(desc.MediaType) {
		return nil
	}
	b, err := fetchManifest(ctx, s, repo, desc)
	if errors.Is(err, registry.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	seen[desc.Digest] = int64(len(b))
	var m struct {
		Config    *ocispec.Descriptor  `json:"config"`
		Layers    []ocispec.Descriptor `json:"layers"`
		Manifests []ocispec.Descriptor `json:"manifests"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("%s@%s: %w: %v", repo, desc.Digest, artifact.ErrInvalidManifest, err)
	}
	if m.Config != nil {
		seen[m.Config.Digest] = m.Config.Size
	}
	for _, l := range m.Layers {
		seen[l.Digest] = l.Size
	}
	for _, c := range m.Manifests {
		if err := reach(ctx, s, repo, c, seen); err != nil {
			return err
		}
	}
	return nil
}

func isManifest(mt string) bool {
	switch mt {
	case ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageIndex,
		"application/vnd.docker.distribution.manifest.v2+json", "application/vnd.docker.distribution.manifest.list.v2+json":
		return true
	}
	return false
}

// attachments returns what is attached to manifest d in repo, deepest
// first (an attachment's own attachments before it): its referrers
// (through the referrers API or the tag schema), the referrers tag
// schema's index, and cosign's signature and attestation tags.
func attachments(ctx context.Context, s registry.Store, repo string, d digest.Digest) ([]ocispec.Descriptor, error) {
	var out []ocispec.Descriptor
	seen := map[digest.Digest]bool{d: true}
	var walk func(d digest.Digest, depth int) error
	walk = func(d digest.Digest, depth int) error {
		if depth > 8 {
			return nil // attachments of attachments deeper than this are not brickyard's
		}
		refs, err := registry.Referrers(ctx, s, repo, d, "")
		if err != nil && !errors.Is(err, registry.ErrNotFound) {
			return fmt.Errorf("referrers of %s@%s: %w", repo, d, err)
		}
		for _, tag := range []string{registry.ReferrersTag(d), sign.SignatureTag(d), sign.AttestationTag(d)} {
			desc, err := s.Resolve(ctx, repo, tag)
			if errors.Is(err, registry.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			refs = append(refs, desc)
		}
		for _, r := range refs {
			if seen[r.Digest] {
				continue
			}
			seen[r.Digest] = true
			if err := walk(r.Digest, depth+1); err != nil {
				return err
			}
			out = append(out, r)
		}
		return nil
	}
	return out, walk(d, 0)
}

// StoreIdentities is an Identifier that reads each artifact's manifest
// and config from its store (artifact.Decode, strict): a machine image's
// region image ids, an OCI-image artifact's tracked image digest.
type StoreIdentities Stores

var _ Identifier = StoreIdentities(nil)

// Identities implements Identifier.
func (si StoreIdentities) Identities(ctx context.Context, d Decision) ([]string, error) {
	s, err := si(d.Store)
	if err != nil {
		return nil, err
	}
	mb, err := fetchManifest(ctx, s, d.Repository, d.Descriptor())
	if err != nil {
		return nil, err
	}
	m, _, err := artifact.ParseManifest(mb)
	if err != nil {
		return nil, err
	}
	if m.Config.Size > artifact.MaxConfigSize {
		return nil, fmt.Errorf("%s: config of %d bytes: %w", d.Ref(), m.Config.Size, registry.ErrTooLarge)
	}
	rc, err := s.Fetch(ctx, d.Repository, m.Config)
	if err != nil {
		return nil, err
	}
	cb, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		return nil, err
	}
	a, err := artifact.Decode(mb, cb)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", d.Ref(), err)
	}
	var ids []string
	if a.MachineImage != nil {
		for _, id := range a.MachineImage.Images {
			ids = append(ids, id)
		}
	}
	if a.Image != nil {
		ids = append(ids, a.Image.Digest.String())
	}
	return ids, nil
}
