// Package registry is where artifacts are stored: the Store contract and
// what brickyard builds on it.
//
// Store is the contract every store meets — an OCI image-layout directory
// (registry/layout, the embedded default) or any OCI distribution registry
// (registry/remote) — made of small interfaces (Fetcher, Exister,
// BlobPusher, ManifestPusher, Tagger, Resolver, TagLister, Deleter) so that
// a consumer asks only for what it uses. registrytest is the conformance
// suite every Store passes.
//
// Publish pushes an encoded artifact blobs first, manifest next, immutable
// version tag last, so that a tag never points at a manifest whose blobs are
// missing, and a failed publish leaves no tag. PushDisk streams a disk file
// in one pass, hashing it on the way; PushImage copies a container image in.
package registry
