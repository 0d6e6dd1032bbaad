// Package errdef holds the sentinel errors shared by packages that must not
// import each other (sign, registry, catalog), so that errors.Is works
// across them. Importers see them as registry.ErrNotFound, sign.ErrUnsigned,
// catalog.ErrUnsigned and so on.
package errdef

import "errors"

var (
	// ErrNotFound is returned when a blob, manifest, tag or repository is absent.
	ErrNotFound = errors.New("not found")
	// ErrUnsigned is returned when an artifact has no signature at all.
	ErrUnsigned = errors.New("unsigned")
	// ErrUntrusted is returned when signatures exist but none verifies
	// with a trusted key.
	ErrUntrusted = errors.New("no signature verifies with a trusted key")
	// ErrRevoked is returned when an artifact has been revoked.
	ErrRevoked = errors.New("revoked")
)
