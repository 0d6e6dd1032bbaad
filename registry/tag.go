package registry

import (
	"fmt"
	"regexp"
)

// tagRe is the tag grammar of the OCI distribution spec v1.1.
var tagRe = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$`)

// ValidateTag checks tag against the OCI distribution spec's grammar,
// [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}, and returns an error wrapping
// ErrInvalidRef that quotes it otherwise.
func ValidateTag(tag string) error {
	if !tagRe.MatchString(tag) {
		return fmt.Errorf("tag %q: %w (want [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127})", tag, ErrInvalidRef)
	}
	return nil
}
