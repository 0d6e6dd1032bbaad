package registry

import (
	"errors"
	"fmt"

	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/internal/errdef"
)

// Sentinel errors. Stores wrap them with the repository and reference; test
// with errors.Is.
var (
	ErrNotFound       = errdef.ErrNotFound
	ErrDigestMismatch = artifact.ErrDigestMismatch
	ErrTooLarge       = artifact.ErrTooLarge
	ErrImmutableTag   = errors.New("tag is immutable and points at another manifest")
	ErrInvalidRef     = errors.New("invalid reference")
	// ErrTooManyPages: a paginated listing (a registry's catalog, tags or
	// referrers) went on past its page limit, or its Link header named a
	// page already read.
	ErrTooManyPages = errors.New("listing does not end: too many pages")

	// ErrUnauthorized: the registry answered 401 (no credentials, or
	// rejected ones); ErrDenied: it answered 403 (the credentials lack the
	// right). Both come with the registry's own error, a
	// *transport.Error of go-containerregistry, also wrapped (errors.As).
	ErrUnauthorized = errors.New("unauthorized (HTTP 401)")
	ErrDenied       = errors.New("access denied (HTTP 403)")

	// ErrRepositoryNotFound and ErrTagNotFound say which part of a
	// reference is absent; both wrap ErrNotFound.
	ErrRepositoryNotFound = fmt.Errorf("repository %w", ErrNotFound)
	ErrTagNotFound        = fmt.Errorf("tag %w", ErrNotFound)
)
