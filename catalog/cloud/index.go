package cloud

import (
	"context"
	"fmt"

	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/catalog"
	"github.com/brickyard/brickyard/internal/ocistore"
	"github.com/brickyard/brickyard/registry"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Known is a machine-image artifact of the catalog with the content its
// manifest's config holds (regions → image ids, snapshots, owner).
type Known struct {
	Record catalog.Record
	Image  *artifact.MachineImage
}

// Index maps a provider's images to the catalog's machine-image artifacts.
type Index struct {
	Artifacts []Known
	byImage   map[string]int // "region/image-id" → position in Artifacts
}

// Catalog is what BuildIndex reads of a catalog.
type Catalog interface {
	catalog.Lister
}

// Stores returns the store that holds a record's artifact.
type Stores func(catalog.Record) (registry.Fetcher, error)

// OneStore is Stores for a single store holding every artifact.
func OneStore(st registry.Fetcher) Stores {
	return func(catalog.Record) (registry.Fetcher, error) { return st, nil }
}

// BuildIndex reads every machine-image record of cat whose provider is
// provider ("aws"), and every index record with such a member, and its content from the store stores gives for it
// (the record's Repository there). A record whose manifest cannot be read is an error naming
// it: an index with holes would make audits report known images as
// unknown.
func BuildIndex(ctx context.Context, cat Catalog, stores Stores, provider string) (*Index, error) {
	names, err := cat.Names(ctx)
	if err != nil {
		return nil, err
	}
	ix := &Index{byImage: map[string]int{}}
	for _, n := range names {
		rs, err := cat.Versions(ctx, n)
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			if r.Kind != artifact.KindMachineImage && r.Kind != artifact.KindIndex {
				continue
			}
			st, err := stores(r)
			if err != nil {
				return nil, fmt.Errorf("index %s (%s): %w", r.Ref(), r.Digest, err)
			}
			a, _, _, err := registry.FetchArtifact(ctx, st, r.Repository, ocispec.Descriptor{MediaType: r.MediaType, Digest: r.Digest, Size: r.Size})
			if err != nil {
				return nil, fmt.Errorf("index %s (%s): %w", r.Ref(), r.Digest, err)
			}
			// The machine-image members of an index (one Packer build of
			// several builders) are known as the index's record.
			images, err := ocistore.MachineImages(ctx, st, r.Repository, a)
			if err != nil {
				return nil, fmt.Errorf("index %s (%s): %w", r.Ref(), r.Digest, err)
			}
			for _, a := range images {
				if a.MachineImage != nil && a.MachineImage.Provider == provider {
					ix.Add(Known{Record: r, Image: a.MachineImage})
				}
			}
		}
	}
	return ix, nil
}

// Add puts k in the index.
func (ix *Index) Add(k Known) {
	if ix.byImage == nil {
		ix.byImage = map[string]int{}
	}
	ix.Artifacts = append(ix.Artifacts, k)
	for region, id := range k.Image.Images {
		ix.byImage[region+"/"+id] = len(ix.Artifacts) - 1
	}
}

// Lookup returns the artifact that holds image id of region.
func (ix *Index) Lookup(region, id string) (Known, bool) {
	i, ok := ix.byImage[region+"/"+id]
	if !ok {
		return Known{}, false
	}
	return ix.Artifacts[i], true
}

// ByDigest returns the artifact whose record has digest d.
func (ix *Index) ByDigest(d digest.Digest) (Known, bool) {
	for _, k := range ix.Artifacts {
		if k.Record.Digest == d {
			return k, true
		}
	}
	return Known{}, false
}

// AllByDigest returns every artifact whose record has digest d: one for a
// machine image, one per AWS machine-image member for an index.
func (ix *Index) AllByDigest(d digest.Digest) []Known {
	var out []Known
	for _, k := range ix.Artifacts {
		if k.Record.Digest == d {
			out = append(out, k)
		}
	}
	return out
}

// LookupAny returns the artifact that holds image id in any region (image
// ids are unique across regions).
func (ix *Index) LookupAny(id string) (Known, bool) {
	for _, k := range ix.Artifacts {
		for _, v := range k.Image.Images {
			if v == id {
				return k, true
			}
		}
	}
	return Known{}, false
}
