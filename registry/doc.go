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
// missing, and a failed publish leaves no tag. PushDisk inspects a disk file
// (artifact/disk) and refuses one unsafe to hand to a hypervisor before
// writing anything, then streams it in one pass, hashing it on the way;
// PushDisks inspects several before pushing any; CheckDisk re-inspects a
// disk read back from a store before a deploy tool gets it. PushImage
// copies a container image in.
//
// Copy and CopyGraph read and check every manifest of what they copy
// (artifact.ValidateManifestDescriptor, artifact.ParseOCI) before any blob
// moves, so that Docker schema 1, media-type confusion (CVE-2021-41190) or
// a descriptor with a bad digest or size is refused before anything is
// fetched. A copy, image push or publish that fails has a Discarder store
// (the layout store) take back the tags, blobs and manifests it made that
// nothing else reaches, and the repository it leaves empty.
package registry
