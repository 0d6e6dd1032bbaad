package artifact

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/Masterminds/semver/v3"
)

// ParseVersion parses a strict Semantic Versioning 2.0.0 version: exactly
// MAJOR.MINOR.PATCH with optional -PRERELEASE and +BUILD, no "v" prefix.
// "1.2", "v1.2.3", "1.2.3.4" and "latest" are refused with an error wrapping
// ErrInvalidVersion that quotes the input.
func ParseVersion(s string) (*semver.Version, error) {
	if s == "" {
		return nil, fmt.Errorf("version is empty: %w", ErrInvalidVersion)
	}
	v, err := semver.StrictNewVersion(s)
	if err != nil {
		return nil, fmt.Errorf("version %q: %w: %v (want MAJOR.MINOR.PATCH, e.g. 1.4.0 or 2.0.0-rc.1)", s, ErrInvalidVersion, err)
	}
	return v, nil
}

// tagRe is the OCI distribution tag grammar: [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}.
var tagRe = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$`)

// Tag returns the OCI tag for version v: its semver string with "+" (build
// metadata, not legal in a tag) mapped to "_", as Helm does. It returns an
// error wrapping ErrInvalidVersion if the result is not a legal tag (over 128
// characters).
func Tag(v *semver.Version) (string, error) {
	t := strings.ReplaceAll(v.Original(), "+", "_")
	if !tagRe.MatchString(t) {
		return "", fmt.Errorf("version %q: tag %q is not a legal OCI tag: %w", v.Original(), t, ErrInvalidVersion)
	}
	return t, nil
}

// VersionOfTag is the inverse of Tag: it maps "_" back to "+" and parses the
// result strictly. A tag that is not a version (e.g. "latest" or a cosign
// "sha256-<hex>.sig" tag) returns an error wrapping ErrInvalidVersion.
func VersionOfTag(tag string) (*semver.Version, error) {
	return ParseVersion(strings.Replace(tag, "_", "+", 1))
}
