package catalog

import (
	"context"
	"fmt"
	"io"
	"slices"

	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/internal/ocistore"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// RecordOf derives the record of the artifact stored as manifest (its
// descriptor desc, its config blob cfg) in repository repo of the store
// named store: name, kind, version, platform, parents and build time come
// from the decoded manifest and config (artifact.Decode, strict), digest,
// media type and size from desc, checked against the manifest bytes. This
// is the only way a record should be made: never a literal, which can
// contradict what is stored. Actor is left for the caller.
//
// Errors: artifact.ErrDigestMismatch if manifest is not the content desc
// names; artifact's decoding errors otherwise, naming desc.
func RecordOf(store, repo string, desc ocispec.Descriptor, manifest, cfg []byte) (Record, error) {
	if digest.FromBytes(manifest) != desc.Digest || int64(len(manifest)) != desc.Size {
		return Record{}, fmt.Errorf("record of %s in %s: the manifest bytes are not %s (%d bytes): %w", desc.Digest, repo, desc.Digest, desc.Size, artifact.ErrDigestMismatch)
	}
	a, err := artifact.Decode(manifest, cfg)
	if err != nil {
		return Record{}, fmt.Errorf("record of %s in %s: %w", desc.Digest, repo, err)
	}
	return Record{Name: a.Name, Kind: a.Kind, Version: a.Version, Digest: desc.Digest, Platform: a.Platform,
		Parents: a.Parents, Created: a.Build.Created, Store: store, Repository: repo,
		MediaType: desc.MediaType, Size: desc.Size}, nil
}

// Fetcher reads content back from a store; registry stores satisfy it.
type Fetcher interface {
	Fetch(ctx context.Context, repo string, desc ocispec.Descriptor) (io.ReadCloser, error)
}

// FetchRecord reads the manifest r names (r.Digest in r.Repository) back
// from st and checks that r says what the manifest says: the same name,
// kind, version (build metadata included), platform, parents and build
// time. A catalog that has the store at hand calls it before recording r,
// so that no record contradicts what is stored.
//
// Errors: ErrRecordMismatch naming the first field that differs; the
// store's errors (ErrNotFound if the manifest is absent).
func FetchRecord(ctx context.Context, st Fetcher, r Record) error {
	desc := ocispec.Descriptor{MediaType: r.MediaType, Digest: r.Digest, Size: r.Size}
	_, manifest, cfg, err := ocistore.FetchArtifact(ctx, st, r.Repository, desc)
	if err != nil {
		return fmt.Errorf("check record %s against the store: %w", r.Ref(), err)
	}
	want, err := RecordOf(r.Store, r.Repository, desc, manifest, cfg)
	if err != nil {
		return err
	}
	return r.Matches(want)
}

// Matches returns nil if r and stored agree on everything the manifest
// records (name, kind, version with its build metadata, platform, parents,
// build time to the second), else an error wrapping ErrRecordMismatch that
// names the first field that differs.
func (r Record) Matches(stored Record) error {
	field := ""
	switch {
	case r.Name != stored.Name:
		field = "name " + r.Name + ", stored " + stored.Name
	case r.Kind != stored.Kind:
		field = fmt.Sprintf("kind %s, stored %s", r.Kind, stored.Kind)
	case r.Version == nil || r.Version.Original() != stored.Version.Original():
		field = fmt.Sprintf("version %v, stored %s", r.Version, stored.Version)
	case r.Platform != stored.Platform:
		field = fmt.Sprintf("platform %q, stored %q", r.Platform, stored.Platform)
	case !slices.Equal(r.Parents, stored.Parents):
		field = fmt.Sprintf("parents %v, stored %v", r.Parents, stored.Parents)
	case !r.Created.Truncate(1e9).Equal(stored.Created.Truncate(1e9)):
		field = fmt.Sprintf("created %s, stored %s", r.Created, stored.Created)
	case r.Digest != stored.Digest || (r.MediaType != "" && r.MediaType != stored.MediaType) || (r.Size != 0 && r.Size != stored.Size):
		field = fmt.Sprintf("descriptor %s %s %d, stored %s %s %d", r.MediaType, r.Digest, r.Size, stored.MediaType, stored.Digest, stored.Size)
	}
	if field == "" {
		return nil
	}
	return fmt.Errorf("record %s: %s: %w", r.Ref(), field, ErrRecordMismatch)
}
