package ocistore

import (
	"errors"
	"fmt"
	"io"

	"github.com/brickyard/brickyard/artifact"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// References returns the descriptors a manifest or index b, pushed as
// mediaType, needs present in its repository: the config, the layers and
// the manifests, in that order; the subject is not among them, since the
// OCI distribution spec allows it to be elsewhere. Both the layout and the
// remote store check these before they write a manifest, so that no tag
// ever names a manifest whose blobs are missing.
//
// b must be valid OCI (artifact.ParseOCI): the error wraps
// artifact.ErrInvalidOCI (and so artifact.ErrInvalidManifest) when it is
// not JSON, names a mediaType other than mediaType (the field is only
// RECOMMENDED, so its absence is fine: umoci omits it), mixes an index's
// and an image manifest's fields, or references an invalid descriptor.
func References(mediaType string, b []byte) ([]ocispec.Descriptor, error) {
	m, err := artifact.ParseOCI(mediaType, b)
	if err != nil {
		return nil, err
	}
	return m.References(), nil
}

// SeekOffset returns the absolute offset that Seek(offset, whence) names
// in a blob read up to cur, for the stores' verifying readers, which seek
// from the start or the current position only (a push resuming after a
// dropped connection). io.SeekEnd gives an error naming what and desc and
// wrapping errors.ErrUnsupported; the caller checks the range.
func SeekOffset(what string, desc ocispec.Descriptor, cur, offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
		return offset, nil
	case io.SeekCurrent:
		return cur + offset, nil
	}
	return 0, fmt.Errorf("%s: blob %s: seek from the end: %w", what, desc.Digest, errors.ErrUnsupported)
}
