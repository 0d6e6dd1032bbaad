package ec2

import (
	"errors"
	"testing"
)

// FuzzParsePrincipals feeds principals (policy input) to ParsePrincipals:
// it returns permissions or ErrInvalidPrincipal, and what it accepts is
// normalised (sorted, no repeats) and grants nothing beyond itself.
func FuzzParsePrincipals(f *testing.F) {
	for _, s := range []string{"aws:111111111111", "aws:arn:aws:organizations::111111111111:organization/o-abcdefghij", "arn:aws:organizations::111111111111:ou/o-abcdefghij/ou-ab12-abcdefgh", "aws:12", "gcp:project", ""} {
		f.Add(s, s)
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		p, err := ParsePrincipals(false, []string{a, b})
		if err != nil {
			if !errors.Is(err, ErrInvalidPrincipal) {
				t.Fatalf("error %v does not wrap ErrInvalidPrincipal", err)
			}
			return
		}
		if !p.Equal(p.normal()) || !p.Beyond(p).IsZero() || p.Public {
			t.Fatalf("%q, %q → %+v", a, b, p)
		}
	})
}
