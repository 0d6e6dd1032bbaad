package catalog

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/brickyard/brickyard/artifact"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Record is what the catalog knows of one published artifact. Records are
// immutable once written; signatures are appended to them.
type Record struct {
	Name     string
	Kind     artifact.Kind
	Version  *semver.Version
	Digest   digest.Digest // manifest digest: the artifact's identity
	Platform artifact.Platform
	// Parents are the digests of the artifacts this one was built from, in
	// build order; each must already be in the catalog.
	Parents []digest.Digest
	// Created is the build time; Published is when the catalog recorded it
	// (set by the catalog). Both are kept to the second, in UTC.
	Created   time.Time
	Published time.Time
	// Store and Repository say where the artifact is stored, e.g.
	// "oci-layout" and "web"; the catalog does not interpret them.
	Store      string
	Repository string
	MediaType  string // of the manifest
	Size       int64  // of the manifest, in bytes
	Signatures []Signature
	// Actor is who recorded it (for the event log); "" is recorded as
	// "unknown".
	Actor string
	// Lifecycle is every lifecycle change, in the order recorded (set by
	// the catalog); Status evaluates it at a given time.
	Lifecycle []LifecycleChange
	// Visibility is the current visibility intent, nil if never set
	// (private).
	Visibility *VisibilityChange
	// Deleted is the tombstone of an artifact deleted from its store, nil
	// while it is stored (set by the catalog).
	Deleted *Deletion
	// Warnings are set by Resolve, e.g. for a deprecated artifact.
	Warnings []string
}

// Signature records that an artifact was signed.
type Signature struct {
	KeyID  string        // the signing key's fingerprint, as package sign computes it
	Digest digest.Digest // of the signature manifest in the store
	At     time.Time     // when it was recorded, to the second, UTC
}

// Ref returns "name@version".
func (r Record) Ref() string { return r.Name + "@" + r.Version.Original() }

// Stored returns where r's artifact is stored and what checking it there
// needs: what a Verifier is given.
func (r Record) Stored() artifact.Stored {
	s := artifact.Stored{Name: r.Name, Kind: r.Kind, Store: r.Store, Repository: r.Repository,
		Manifest: ocispec.Descriptor{MediaType: r.MediaType, Digest: r.Digest, Size: r.Size}, Parents: r.Parents}
	if r.Version != nil {
		s.Version = r.Version.Original()
	}
	return s
}

// Validate checks a record before it is written: valid name, version, kind,
// digest, platform and parent digests. Errors wrap the artifact package's
// sentinels and name the input.
func (r Record) Validate() error {
	if err := artifact.ValidateName(r.Name); err != nil {
		return err
	}
	if r.Version == nil {
		return fmt.Errorf("record %s: version is missing: %w", r.Name, artifact.ErrInvalidVersion)
	}
	if _, err := artifact.ParseVersion(r.Version.Original()); err != nil {
		return fmt.Errorf("record %s: %w", r.Name, err)
	}
	if !r.Kind.Valid() {
		return fmt.Errorf("record %s: kind %q: %w", r.Ref(), r.Kind, artifact.ErrInvalidKind)
	}
	if err := validateDigest(r.Digest); err != nil {
		return fmt.Errorf("record %s: digest %q: %w: %v", r.Ref(), r.Digest, artifact.ErrInvalidDigest, err)
	}
	if !r.Platform.IsZero() {
		if _, err := artifact.ParsePlatform(r.Platform.String()); err != nil {
			return fmt.Errorf("record %s: %w", r.Ref(), err)
		}
	}
	seen := map[digest.Digest]bool{}
	for _, p := range r.Parents {
		if err := validateDigest(p); err != nil {
			return fmt.Errorf("record %s: parent %q: %w: %v", r.Ref(), p, artifact.ErrInvalidDigest, err)
		}
		if p == r.Digest {
			return fmt.Errorf("record %s: parent %s is the artifact itself: %w", r.Ref(), p, ErrCycle)
		}
		if seen[p] {
			return fmt.Errorf("record %s: parent %s is listed twice: %w", r.Ref(), p, artifact.ErrInvalidArtifact)
		}
		seen[p] = true
	}
	return nil
}

// validateDigest is d.Validate() with a fast path for the common case, a
// lowercase sha256 digest: go-digest checks the hex with a regular
// expression, which cost a few percent of a bulk ingest of a million
// records. Anything else goes to go-digest, which says what is wrong.
func validateDigest(d digest.Digest) error {
	const prefix = "sha256:"
	if len(d) == len(prefix)+64 && string(d[:len(prefix)]) == prefix {
		ok := true
		for _, c := range []byte(d[len(prefix):]) {
			if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
				ok = false
				break
			}
		}
		if ok {
			return nil
		}
	}
	return d.Validate()
}

// Recorder appends artifacts.
type Recorder interface {
	// Record appends r (Published is set by the catalog). Recording the same
	// digest again is a no-op. It returns an error wrapping
	// ErrDuplicateVersion if another digest is recorded under the same name,
	// version and platform, ErrUnknownParent if a parent is not in the
	// catalog, or r's validation error; in each case nothing is written.
	Record(ctx context.Context, r Record) error
}

// BatchRecorder records many artifacts at once, for bulk ingest and
// rebuilds: every record of rs in order (parents first) in one
// transaction, all or none; errors as Recorder.Record, naming the record.
type BatchRecorder interface {
	RecordBatch(ctx context.Context, rs []Record) error
}

// SignatureRecorder appends signatures.
type SignatureRecorder interface {
	// AddSignature appends s to the artifact d. The same signature digest
	// again is a no-op. It returns an error wrapping ErrNotFound if d is not
	// in the catalog.
	AddSignature(ctx context.Context, d digest.Digest, s Signature) error
}

// Getter reads one record.
type Getter interface {
	// Get returns the record of digest d, or an error wrapping ErrNotFound.
	Get(ctx context.Context, d digest.Digest) (Record, error)
}

// Lister lists records.
type Lister interface {
	// Versions returns the records of name in ascending semver order (then by
	// platform); an empty slice if there are none.
	Versions(ctx context.Context, name string) ([]Record, error)
	// Names returns every artifact name, in lexical order.
	Names(ctx context.Context) ([]string, error)
}

// Lineage walks the parent graph.
type Lineage interface {
	// Ancestors returns every artifact d was built from, directly or not,
	// nearest first (breadth-first; ties in publication order), each once.
	// ErrNotFound if d is unknown.
	Ancestors(ctx context.Context, d digest.Digest) ([]Record, error)
	// Children returns the artifacts built directly on d, oldest first.
	Children(ctx context.Context, d digest.Digest) ([]Record, error)
	// Descendants returns every artifact built on d, directly or not,
	// nearest first (breadth-first; ties in publication order), each once.
	// ErrNotFound if d is unknown.
	Descendants(ctx context.Context, d digest.Digest) ([]Record, error)
}

// Catalog is the contract every catalog backend meets (catalog/sqlite, and
// later catalog/postgres); catalogtest.Run checks it.
type Catalog interface {
	Recorder
	BatchRecorder
	SignatureRecorder
	Lifecycler
	Visibilities
	CloudActionRecorder
	Channels
	Tombstones
	Scanner
	Getter
	Lister
	Lineage
	EventLog
	Checkpointer
	io.Closer
}
