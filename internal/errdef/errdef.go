// Package errdef holds the sentinel errors shared by packages that must not
// import each other (sign, registry, catalog), so that errors.Is works
// across them. Importers see them as registry.ErrNotFound,
// catalog.ErrNotFound (the same error), sign.ErrUnsigned, catalog.ErrUnsigned
// and so on.
package errdef

import "errors"

// ErrNotTrusted is matched (errors.Is) by every trust failure: each
// sentinel made by NotTrusted, in sign and catalog alike, so a caller
// that only needs "refused for trust" tests this one error, and one that
// needs the reason tests the specific sentinel.
var ErrNotTrusted = errors.New("not trusted")

// trustError is a specific trust failure; it also matches ErrNotTrusted.
type trustError struct{ msg string }

func (e *trustError) Error() string        { return e.msg }
func (e *trustError) Is(target error) bool { return target == ErrNotTrusted }

// NotTrusted returns a new sentinel for one kind of trust failure, with
// message msg: errors.Is matches it and ErrNotTrusted.
func NotTrusted(msg string) error { return &trustError{msg: msg} }

var (
	// ErrNotFound is returned when a blob, manifest, tag, repository or
	// catalog record is absent.
	ErrNotFound = errors.New("not found")
	// ErrUnsigned is returned when an artifact has no signature at all.
	ErrUnsigned = NotTrusted("unsigned")
	// ErrUntrusted is returned when signatures exist but none verifies
	// with a trusted key.
	ErrUntrusted = NotTrusted("no signature verifies with a trusted key")
	// ErrRevoked is returned when an artifact has been revoked.
	ErrRevoked = NotTrusted("revoked")
)
