package catalog

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
)

// EventDeleted is the event of a tombstone: an artifact deleted from its
// store (by a retention plan). The record stays, with its lineage and
// history; only the stored bytes are gone.
const EventDeleted = "deleted"

// Deletion is an artifact's tombstone: who deleted it from its store,
// when, and under which retention plan and rule.
type Deletion struct {
	Plan  string // digest of the retention plan applied, e.g. "sha256:..."
	Rule  string // the plan's reason for the deletion
	Actor string
	At    time.Time // when it was recorded, to the second, UTC (set by the catalog)
}

// Validate checks a deletion request.
func (x Deletion) Validate(d digest.Digest) error {
	if strings.TrimSpace(x.Actor) == "" || strings.TrimSpace(x.Plan) == "" {
		return fmt.Errorf("%s: a deletion needs an actor and a plan: %w", d, ErrInvalidChange)
	}
	return nil
}

// Tombstones records deletions.
type Tombstones interface {
	// MarkDeleted records that artifact d was deleted from its store, after
	// the store's delete: Record.Deleted is set from then on, Resolve and
	// SetChannel skip it. Marking an artifact already marked is a no-op (a
	// resumed retention apply does it again). Errors, with nothing written:
	// ErrNotFound for an unknown d, ErrInvalidChange without an actor or
	// a plan.
	MarkDeleted(ctx context.Context, d digest.Digest, x Deletion) error
}

// LogHead identifies the state of a catalog: the number of events in its
// log and the hash of the last one ("" for an empty log). Any change to
// the catalog appends an event, so an equal head means an unchanged
// catalog (the log is hash-chained: a rewritten one has another hash).
type LogHead struct {
	Size int64  `json:"size"`
	Hash string `json:"hash"`
}

// Snapshot is what Scanner.Scan returns besides the records.
type Snapshot struct {
	Head     LogHead         // the event log's head as of the scan
	Channels []ChannelChange // every channel move, oldest first
}

// Scanner reads a whole catalog in one pass, for retention plans and
// reports over millions of records: one consistent read (a read-only
// transaction), a few sequential scans, no query per record.
type Scanner interface {
	// Scan calls fn with every record in publication order (parents
	// before children), with Parents, Lifecycle, Signatures and Deleted
	// filled (Visibility is not), and returns the log head and the
	// channel moves as of the same read. fn must not keep r's address:
	// the next call reuses it. Records may share their *semver.Version
	// values: fn must not modify them. An error from fn stops the scan and is
	// returned.
	Scan(ctx context.Context, fn func(r *Record) error) (Snapshot, error)
}
