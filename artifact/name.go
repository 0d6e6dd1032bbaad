package artifact

import (
	"fmt"
	"regexp"
)

// MaxNameLength is the longest artifact name accepted, in bytes. It is the
// limit the CNCF distribution registry applies to a repository name.
const MaxNameLength = 255

// MinNameLength is the shortest artifact name accepted, in bytes: cosign
// (through go-containerregistry's name.NewRepository, which wants 2 to 255
// characters) cannot sign, verify or copy a repository of one character,
// so such a name is refused before anything is written rather than giving
// a published version nobody can sign.
const MinNameLength = 2

// nameRe is the repository-name grammar of the OCI distribution spec
// (§pulling-manifests: [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*).
var nameRe = regexp.MustCompile(`^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$`)

// ValidateName checks that name follows the OCI distribution repository-name
// grammar and is MinNameLength to MaxNameLength bytes long. It returns an error wrapping
// ErrInvalidName that quotes the name otherwise.
func ValidateName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("name is empty: %w", ErrInvalidName)
	case len(name) < MinNameLength:
		return fmt.Errorf("name %q is %d byte long, under the minimum of %d that cosign can sign: %w", name, len(name), MinNameLength, ErrInvalidName)
	case len(name) > MaxNameLength:
		return fmt.Errorf("name %.40q... is %d bytes, over the limit of %d: %w", name, len(name), MaxNameLength, ErrInvalidName)
	case !nameRe.MatchString(name):
		return fmt.Errorf("name %q: %w (want lowercase letters and digits separated by '.', '_', '__', '-' or '/', per the OCI distribution spec)", name, ErrInvalidName)
	}
	return nil
}
