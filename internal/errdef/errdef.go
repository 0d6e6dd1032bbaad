// Package errdef holds the sentinel errors shared by packages that must not
// import each other (sign and registry), so that errors.Is works across them.
// Importers see them as registry.ErrNotFound and so on.
package errdef

import "errors"

// ErrNotFound is returned when a blob, manifest, tag or repository is absent.
var ErrNotFound = errors.New("not found")
