package catalog

import (
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

func TestValidateDigest(t *testing.T) {
	for d, ok := range map[digest.Digest]bool{
		digest.FromString("x"):                             true,
		"sha256:" + digest.Digest(strings.Repeat("A", 64)): false,
		"sha256:" + digest.Digest(strings.Repeat("g", 64)): false,
		"sha256:" + digest.Digest(strings.Repeat("a", 63)): false,
		"sha256:": false,
		"":        false,
		"md5:" + digest.Digest(strings.Repeat("a", 32)): false,
	} {
		if err := validateDigest(d); (err == nil) != ok || (err == nil) != (d.Validate() == nil) { // the fast path agrees with go-digest
			t.Errorf("validateDigest(%q) = %v, go-digest says %v", d, err, d.Validate())
		}
	}
}
