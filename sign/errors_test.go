package sign_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/brickyard/brickyard/catalog"
	"github.com/brickyard/brickyard/registry"
	"github.com/brickyard/brickyard/sign"
)

// TestOneErrorVocabulary: every trust failure matches ErrNotTrusted and
// keeps its own sentinel, distinct from the others; key and policy errors
// and not-found are not trust failures; the catalog and the registry share
// one ErrNotFound.
func TestOneErrorVocabulary(t *testing.T) {
	trust := []error{sign.ErrUnsigned, sign.ErrUntrusted, sign.ErrInvalidSignature, sign.ErrOwnerMismatch,
		sign.ErrNoPolicy, sign.ErrProvenanceMissing, sign.ErrProvenanceMismatch, catalog.ErrRevoked,
		catalog.ErrUnsigned, catalog.ErrUntrusted, catalog.ErrLogTampered}
	for _, e := range trust {
		wrapped := fmt.Errorf("web@1.0.0: %w", e)
		if !errors.Is(wrapped, sign.ErrNotTrusted) || !errors.Is(wrapped, catalog.ErrNotTrusted) || !errors.Is(wrapped, e) {
			t.Errorf("%v: does not match ErrNotTrusted and itself", e)
		}
		for _, other := range trust {
			if other != e && errors.Is(wrapped, other) {
				t.Errorf("%v matches %v", e, other)
			}
		}
	}
	for _, e := range []error{sign.ErrInvalidKey, sign.ErrWrongPassword, sign.ErrInvalidPolicy, catalog.ErrNotFound, registry.ErrUnauthorized, registry.ErrDenied} {
		if errors.Is(e, sign.ErrNotTrusted) {
			t.Errorf("%v matches ErrNotTrusted", e)
		}
	}
	if catalog.ErrNotFound != registry.ErrNotFound || !errors.Is(fmt.Errorf("x: %w", registry.ErrTagNotFound), catalog.ErrNotFound) {
		t.Error("catalog.ErrNotFound and registry.ErrNotFound differ")
	}
}
