package registry

import (
	"context"

	"github.com/brickyard/brickyard/internal/ocistore"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// ReferrerLister is implemented by stores that may answer the OCI
// distribution spec v1.1 referrers API natively (GET
// /v2/NAME/referrers/DIGEST). supported is false when the store has no such
// API, in which case callers use the referrers tag schema.
type ReferrerLister interface {
	Referrers(ctx context.Context, repo string, subject digest.Digest) (refs []ocispec.Descriptor, supported bool, err error)
}

// ReferrersTag returns the tag of the referrers tag schema for subject
// (distribution spec v1.1 §referrers-tag-schema): "<alg>-<hex>", e.g.
// "sha256-0a1b...".
func ReferrersTag(subject digest.Digest) string { return ocistore.ReferrersTag(subject) }

// ReferrerStore is what the referrers helpers need of a store.
type ReferrerStore interface {
	Fetcher
	Resolver
	ManifestPusher
	Tagger
}

// Referrers lists the manifests whose subject is subject in repository
// repo, keeping those of artifactType if it is not empty: through the
// referrers API when the store has it, else through the referrers tag
// schema. No referrers is an empty list, not an error.
func Referrers(ctx context.Context, s ReferrerStore, repo string, subject digest.Digest, artifactType string) ([]ocispec.Descriptor, error) {
	return ocistore.Referrers(ctx, s, repo, subject, artifactType)
}

// AddReferrer records that referrer (a manifest already in repository repo,
// whose subject is subject) refers to subject. A store with the referrers
// API indexes it itself when the manifest is pushed; for the others this
// adds it to the referrers tag schema index, once.
func AddReferrer(ctx context.Context, s ReferrerStore, repo string, subject digest.Digest, referrer ocispec.Descriptor) error {
	return ocistore.AddReferrer(ctx, s, repo, subject, referrer)
}
