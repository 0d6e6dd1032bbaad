package artifact

import (
	"fmt"
	"regexp"
	"strings"
)

// Platform is the os/architecture[/variant] an artifact runs on, with the
// values of Go's GOOS/GOARCH as used by OCI image-spec §image-index platform.
type Platform struct {
	OS           string `json:"os"`
	Architecture string `json:"architecture"`
	Variant      string `json:"variant,omitempty"`
}

var platformPartRe = regexp.MustCompile(`^[a-z0-9_]+$`)

// ParsePlatform parses "os/arch" or "os/arch/variant", e.g. "linux/amd64" or
// "linux/arm64/v8". It returns an error wrapping ErrInvalidPlatform otherwise.
func ParsePlatform(s string) (Platform, error) {
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 3 {
		return Platform{}, fmt.Errorf("platform %q: %w (want os/arch or os/arch/variant, e.g. linux/amd64)", s, ErrInvalidPlatform)
	}
	for _, p := range parts {
		if !platformPartRe.MatchString(p) {
			return Platform{}, fmt.Errorf("platform %q: %w (part %q is not lowercase letters, digits or '_')", s, ErrInvalidPlatform, p)
		}
	}
	p := Platform{OS: parts[0], Architecture: parts[1]}
	if len(parts) == 3 {
		p.Variant = parts[2]
	}
	return p, nil
}

// String returns "os/arch" or "os/arch/variant".
func (p Platform) String() string {
	if p.Variant == "" {
		return p.OS + "/" + p.Architecture
	}
	return p.OS + "/" + p.Architecture + "/" + p.Variant
}

// IsZero reports whether no part of p is set.
func (p Platform) IsZero() bool { return p == Platform{} }

// Matches reports whether an artifact built for p can run where want is asked
// for: OS and architecture equal, and variant equal when want names one.
func (p Platform) Matches(want Platform) bool {
	return p.OS == want.OS && p.Architecture == want.Architecture &&
		(want.Variant == "" || p.Variant == want.Variant)
}
