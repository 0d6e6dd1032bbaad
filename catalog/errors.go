package catalog

import (
	"errors"

	"github.com/brickyard/brickyard/internal/errdef"
)

// Sentinel errors; test with errors.Is. Verification failures (ErrUnsigned,
// ErrUntrusted, ErrRevoked, ErrLogTampered, and a verifier's own, such as
// a *sign.VerificationError) all match ErrNotTrusted
// and are never the same error as ErrNotFound.
var (
	// ErrNotFound is the same error as registry.ErrNotFound: a record,
	// like a blob or a tag, is absent.
	ErrNotFound = errdef.ErrNotFound
	// ErrNotTrusted is matched by every trust failure (the same error as
	// sign.ErrNotTrusted).
	ErrNotTrusted        = errdef.ErrNotTrusted
	ErrDuplicateVersion  = errors.New("version already recorded with another digest")
	ErrUnknownParent     = errors.New("parent is not in the catalog")
	ErrUnsigned          = errdef.ErrUnsigned  // the same error as sign.ErrUnsigned
	ErrUntrusted         = errdef.ErrUntrusted // the same error as sign.ErrUntrusted
	ErrRevoked           = errdef.ErrRevoked
	ErrInvalidConstraint = errors.New("invalid semver range")
	ErrSchemaTooNew      = errors.New("catalog schema is newer than this program")
	ErrInvalidChange     = errors.New("invalid change")
	ErrInvalidSchedule   = errors.New("invalid schedule")
	ErrCycle             = errors.New("lineage cycle")
	// ErrLogTampered: the event log does not match its signed
	// checkpoints; a trust failure, so it also matches ErrNotTrusted.
	ErrLogTampered = errdef.NotTrusted("event log tampered with")
	// ErrRecordMismatch: a record says something other than the manifest
	// it names (see Record.Matches).
	ErrRecordMismatch = errors.New("record contradicts the stored manifest")
	ErrDeleted        = errors.New("deleted from its store")
)
