package catalog

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/Masterminds/semver/v3"
	"github.com/brickyard/brickyard/artifact"
	"github.com/opencontainers/go-digest"
)

// Verifier checks an artifact's signature in the store where it lives. It
// returns the id of the trusted key that verified the manifest digest d in
// repository repo, or an error, wrapping ErrUnsigned if there is no
// signature at all. Package sign satisfies it (sign.StoreVerifier); the
// catalog never imports sign.
type Verifier interface {
	Verify(ctx context.Context, repo string, d digest.Digest) (keyID string, err error)
}

// Query asks for the newest version of Name within Constraint for Platform.
type Query struct {
	Name string
	// Constraint is a semver range in Masterminds/semver syntax: "^1.2",
	// "~1.2.3", ">=1.0, <2", "1.x". Prereleases match only when the range
	// names one (">=1.2.0-rc.0").
	Constraint string
	// Platform, if not zero, must match the artifact's (artifact.Platform.Matches).
	Platform artifact.Platform
}

// Resolve returns the highest version of q.Name that matches q.Constraint
// and q.Platform and whose signature v verifies in the store, trying
// candidates from the highest down (the catalog's own signature records are
// not trusted for this). The record returned carries the digest that was verified:
// hand that on, never a tag. v must not be nil: resolution never skips
// signature checks.
//
// Errors: ErrInvalidConstraint for a bad range; ErrNotFound when no version
// matches; ErrUnsigned when versions match but none has a signature;
// ErrUntrusted when some are signed but no signature verifies. The last two
// also wrap the verifier's last error.
func Resolve(ctx context.Context, c Lister, q Query, v Verifier) (Record, error) {
	if v == nil {
		return Record{}, errors.New("catalog.Resolve: nil Verifier: resolution for deployment always checks signatures")
	}
	con, err := semver.NewConstraint(q.Constraint)
	if err != nil {
		return Record{}, fmt.Errorf("range %q: %w: %v", q.Constraint, ErrInvalidConstraint, err)
	}
	recs, err := c.Versions(ctx, q.Name)
	if err != nil {
		return Record{}, err
	}
	var tried []string
	var lastErr error
	anySigned := false
	for i := len(recs) - 1; i >= 0; i-- {
		r := recs[i]
		if !con.Check(r.Version) || (!q.Platform.IsZero() && !r.Platform.Matches(q.Platform)) {
			continue
		}
		tried = append(tried, r.Version.Original())
		_, err := v.Verify(ctx, r.Repository, r.Digest)
		if err == nil {
			return r, nil
		}
		if ctx.Err() != nil {
			return Record{}, ctx.Err()
		}
		if !errors.Is(err, ErrUnsigned) {
			anySigned = true
			lastErr = err
		}
	}
	what := q.Name + " " + q.Constraint
	if !q.Platform.IsZero() {
		what += " for " + q.Platform.String()
	}
	switch {
	case len(tried) == 0:
		return Record{}, fmt.Errorf("%s: no version matches: %w", what, ErrNotFound)
	case !anySigned:
		return Record{}, fmt.Errorf("%s: %s match but none is signed: %w", what, strings.Join(tried, ", "), ErrUnsigned)
	}
	return Record{}, fmt.Errorf("%s: %s match but no signature verifies with a trusted key: %w (last: %w)", what, strings.Join(tried, ", "), ErrUntrusted, lastErr)
}
