package artifact

import "errors"

// Sentinel errors. Functions wrap them with the offending input; test with errors.Is.
var (
	ErrInvalidName         = errors.New("invalid artifact name")
	ErrInvalidVersion      = errors.New("invalid semantic version")
	ErrInvalidKind         = errors.New("invalid artifact kind")
	ErrInvalidPlatform     = errors.New("invalid platform")
	ErrInvalidDigest       = errors.New("invalid digest")
	ErrInvalidDiskFormat   = errors.New("invalid disk format")
	ErrInvalidArtifact     = errors.New("invalid artifact")
	ErrUnknownArtifactType = errors.New("unknown artifactType")
	ErrUnknownMediaType    = errors.New("unknown media type")
	ErrInvalidManifest     = errors.New("invalid manifest")
	ErrInvalidConfig       = errors.New("invalid config")
	ErrTooLarge            = errors.New("exceeds size limit")
	ErrKindMismatch        = errors.New("config kind contradicts manifest artifactType")
	ErrDigestMismatch      = errors.New("digest mismatch")
)
