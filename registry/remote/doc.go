// Package remote is a registry.Store over any OCI distribution registry
// (distribution spec v1.1), built on go-containerregistry's transport:
// credentials from the docker config.json and credential helpers
// (authn.DefaultKeychain) or explicit ones, plain HTTP only when asked for
// (WithInsecure) or for loopback addresses, and retries with backoff on
// 5xx, 429 and connection resets for every request that can be replayed.
//
// Blobs stream: a multi-GB disk is read once, hashed while it is uploaded,
// and committed with the digest computed on the way; after a dropped
// connection only what the registry does not hold is read and sent again. A blob the registry
// already has is not uploaded again. Manifests are pushed only when every
// blob they reference is present, so a tag never points at a manifest with
// missing blobs.
//
// A registry is outside input, and may lie: every listing that follows
// Link headers (the catalog, tags, referrers) stops at MaxPages pages and
// MaxListingSize bytes, and at a Link naming a page already read or
// another host (registry.ErrTooManyPages); a manifest is read within 4
// MiB and must have the digest asked for and be valid OCI as its
// Content-Type says (artifact.ParseOCI).
package remote
