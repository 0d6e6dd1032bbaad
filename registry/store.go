package registry

import (
	"context"
	"io"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Fetcher reads blobs and manifests by descriptor.
type Fetcher interface {
	// Fetch returns the content desc describes, from repository repo. The
	// reader verifies size and digest as it is read and fails with
	// ErrDigestMismatch at the end if they differ. It returns an error
	// wrapping ErrNotFound if the store does not hold it.
	Fetch(ctx context.Context, repo string, desc ocispec.Descriptor) (io.ReadCloser, error)
}

// VerifyingReader is what every Store's Fetch returns: a reader that, by
// the time it returns io.EOF, has checked that what it delivered has the
// digest and size of Verifies(). A store ingesting such a reader with that
// same expected descriptor need not hash the bytes a second time.
type VerifyingReader interface {
	io.Reader
	Verifies() ocispec.Descriptor
}

// SkipVerifier is implemented by a VerifyingReader that can stop hashing
// what it delivers. A destination that checks the digest itself before it
// commits calls SkipVerify before the first Read, so the bytes are hashed
// once, there, instead of twice: a registry (the distribution spec has it
// refuse a blob upload whose bytes do not match the digest of the closing
// PUT), or the layout store, which hashes in a pipeline stage of its own,
// alongside reading and writing, and renames a blob into place only if the
// digest matches. The reader still checks the size.
type SkipVerifier interface {
	SkipVerify()
}

// Exister tells whether a store holds a blob or manifest.
type Exister interface {
	// Exists reports whether repository repo holds the content desc describes.
	Exists(ctx context.Context, repo string, desc ocispec.Descriptor) (bool, error)
}

// BlobPusher ingests blobs.
type BlobPusher interface {
	// PushBlob streams r into repository repo as one blob, hashing it while
	// it is written, and returns its descriptor (media type from expected).
	// If expected.Digest is set, the blob is committed only if the bytes have
	// that digest and expected.Size; otherwise nothing is committed and the
	// error wraps ErrDigestMismatch. If expected.Digest is empty, the digest
	// and size are those of the bytes read, and expected.Size, if set, is
	// only a hint (a store may size its buffers by it). If r is an
	// io.Seeker, a store may seek it back to resume after a failure (the
	// readers Fetch returns for blobs can seek). The blob becomes visible only
	// once complete: a failed or cancelled push leaves nothing behind.
	PushBlob(ctx context.Context, repo string, expected ocispec.Descriptor, r io.Reader) (ocispec.Descriptor, error)
}

// ManifestPusher stores manifests and indexes.
type ManifestPusher interface {
	// PushManifest stores manifest (an OCI image manifest or index of the
	// given media type, at most 4 MiB) in repository repo, untagged, and
	// returns its descriptor. Every blob and manifest it references must
	// already be in the store, or it returns an error wrapping ErrNotFound
	// and stores nothing: blobs first, manifest last.
	PushManifest(ctx context.Context, repo, mediaType string, manifest []byte) (ocispec.Descriptor, error)
}

// Tagger points tags at manifests.
type Tagger interface {
	// Tag points tag at desc, a manifest already in repository repo. Tags
	// set this way are immutable: if tag already points at desc it is a
	// no-op; if it points elsewhere, it returns an error wrapping
	// ErrImmutableTag and changes nothing.
	Tag(ctx context.Context, repo string, desc ocispec.Descriptor, tag string) error
	// Move points tag at desc whatever it pointed at before. It is for the
	// tags that are mutable by design: cosign's "sha256-<hex>.sig" tags and
	// the referrers tag schema's "sha256-<hex>" index.
	Move(ctx context.Context, repo string, desc ocispec.Descriptor, tag string) error
}

// Resolver maps tags to descriptors.
type Resolver interface {
	// Resolve returns the descriptor of the manifest tag points at in
	// repository repo, or an error wrapping ErrNotFound.
	Resolve(ctx context.Context, repo, tag string) (ocispec.Descriptor, error)
}

// TagLister lists tags.
type TagLister interface {
	// Tags returns the tags of repository repo in lexical order, or an error
	// wrapping ErrNotFound if the repository does not exist.
	Tags(ctx context.Context, repo string) ([]string, error)
}

// Deleter removes manifests.
type Deleter interface {
	// Delete removes the manifest desc and every tag pointing at it from
	// repository repo. Blobs are left for the store's garbage collection.
	// It returns an error wrapping ErrNotFound if there is no such manifest.
	Delete(ctx context.Context, repo string, desc ocispec.Descriptor) error
}

// Store is the contract every artifact store meets: an OCI image-layout
// directory, a remote OCI distribution registry, and so on. Each part is a
// small interface of its own so that consumers ask only for what they use.
type Store interface {
	Fetcher
	Exister
	BlobPusher
	ManifestPusher
	Tagger
	Resolver
	TagLister
	Deleter
}
