package catalog

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/brickyard/brickyard/artifact"
	"github.com/opencontainers/go-digest"
)

// Verifier checks an artifact in the store where it lives: its signature,
// and whatever else a trust policy demands (owner, provenance). It returns
// the id of the trusted key that verified the manifest digest
// a.Manifest.Digest in repository a.Repository, or an error: wrapping
// ErrUnsigned if there is no signature at all, ErrUntrusted if none
// verifies with a trusted key, or the policy's own errors. Package sign
// satisfies it (sign.StoreVerifier, sign.PolicyVerifier); the catalog never
// imports sign, nor sign the catalog: both know artifact.Stored
// (Record.Stored).
type Verifier interface {
	Verify(ctx context.Context, a artifact.Stored) (keyID string, err error)
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
// and q.Platform, is not revoked now, and that v verifies in the store, trying
// candidates from the highest down (the catalog's own signature records are
// not trusted for this), skipping tombstones (ErrDeleted). The record
// returned carries the digest that was verified: hand that on, never a
// tag. A deprecated artifact is returned with a warning in Record.Warnings.
// v must not be nil: resolution never skips verification.
//
// Errors: ErrInvalidConstraint for a bad range; ErrNotFound when no version
// matches. When versions match but none passes, the error names each
// version with its reason and wraps the reason of the newest one: ErrRevoked,
// ErrUnsigned, ErrUntrusted, or the verifier's own (a policy's owner or
// provenance errors), so errors.Is tells them apart.
func Resolve(ctx context.Context, c Lister, q Query, v Verifier) (Record, error) {
	if v == nil {
		return Record{}, errors.New("catalog.Resolve: nil Verifier: resolution for deployment always checks signatures")
	}
	con, err := semver.NewConstraint(q.Constraint)
	if err != nil {
		return Record{}, fmt.Errorf("range %q: %w: %v", q.Constraint, ErrInvalidConstraint, err)
	}
	var heads []Head
	hl, fast := c.(HeadLister)
	if fast {
		heads, err = hl.VersionHeads(ctx, q.Name)
	} else {
		var recs []Record
		recs, err = c.Versions(ctx, q.Name)
		for _, r := range recs {
			heads = append(heads, Head{Digest: r.Digest, Version: r.Version, Platform: r.Platform, rec: &r})
		}
	}
	if err != nil {
		return Record{}, err
	}
	var reasons []string
	var newest error
	now := time.Now()
	from, to := 0, len(heads)
	if lo, hi, ok := majorRange(q.Constraint); ok {
		from, to = majorWindow(heads, lo, hi) // skip majors the range cannot match
	}
	for i := to - 1; i >= from; i-- {
		h := heads[i]
		if !con.Check(h.Version) || (!q.Platform.IsZero() && !h.Platform.Matches(q.Platform)) {
			continue
		}
		var r Record
		if h.rec != nil {
			r = *h.rec
		} else if r, err = hl.Get(ctx, h.Digest); err != nil {
			return Record{}, err
		}
		state, change := r.Status(now)
		if r.Deleted != nil {
			err = fmt.Errorf("deleted by %s at %s under plan %s: %w", r.Deleted.Actor, r.Deleted.At.Format(time.RFC3339), r.Deleted.Plan, ErrDeleted)
		} else if state == StateRevoked {
			err = fmt.Errorf("%s: %w", change.Describe(), ErrRevoked)
		} else if _, err = v.Verify(ctx, r.Stored()); err == nil {
			if state == StateDeprecated {
				r.Warnings = append(r.Warnings, r.Ref()+" is "+change.Describe())
			}
			return r, nil
		}
		if ctx.Err() != nil {
			return Record{}, ctx.Err()
		}
		if newest == nil {
			newest = err
		}
		reasons = append(reasons, r.Version.Original()+": "+err.Error())
	}
	what := q.Name + " " + q.Constraint
	if !q.Platform.IsZero() {
		what += " for " + q.Platform.String()
	}
	if newest == nil {
		return Record{}, fmt.Errorf("%s: no version matches: %w", what, ErrNotFound)
	}
	return Record{}, &ResolveError{What: what, Reasons: reasons, Err: newest}
}

// Head is the little Resolve needs to pick candidates: a record's digest,
// version and platform.
type Head struct {
	Digest   digest.Digest
	Version  *semver.Version
	Platform artifact.Platform
	rec      *Record
}

// HeadLister is an optional, faster path for Resolve: VersionHeads returns
// the heads of name's records in ascending semver order (then platform),
// cheaply (the SQL backends keep them cached until the catalog changes),
// and Resolve reads whole records with Get only for the candidates it
// checks.
type HeadLister interface {
	VersionHeads(ctx context.Context, name string) ([]Head, error)
	Get(ctx context.Context, d digest.Digest) (Record, error)
}

// ResolveError is Resolve's error when versions match but none may be
// deployed. Unwrap gives the newest version's reason.
type ResolveError struct {
	What    string   // the query, e.g. "web ^2 for linux/amd64"
	Reasons []string // "version: reason", newest first
	Err     error
}

func (e *ResolveError) Error() string {
	return fmt.Sprintf("%s: %d version(s) match, none may be deployed:\n  %s", e.What, len(e.Reasons), strings.Join(e.Reasons, "\n  "))
}

func (e *ResolveError) Unwrap() error { return e.Err }

// ChannelLister is what ResolveChannel needs of a catalog.
type ChannelLister interface {
	Lister
	Channels
}

// ResolveChannel returns the record channel of q.Name points at, for
// q.Platform (zero: any), after the same checks as Resolve: not revoked
// now, verified by v. If q.Constraint is not empty the channel's version
// must match it ("the newest 2.x on channel prod" is "2.x" and "prod").
//
// Errors: ErrNotFound if the channel is unset or its version does not
// match constraint or platform; ErrInvalidConstraint; otherwise as Resolve.
func ResolveChannel(ctx context.Context, c ChannelLister, q Query, channel string, v Verifier) (Record, error) {
	name, constraint := q.Name, q.Constraint
	ch, err := c.Channel(ctx, name, channel)
	if err != nil {
		return Record{}, err
	}
	exact, err := semver.StrictNewVersion(ch.Version)
	if err != nil {
		return Record{}, fmt.Errorf("channel %s/%s points at %q: %w", name, channel, ch.Version, err)
	}
	if constraint != "" {
		con, err := semver.NewConstraint(constraint)
		if err != nil {
			return Record{}, fmt.Errorf("range %q: %w: %v", constraint, ErrInvalidConstraint, err)
		}
		if !con.Check(exact) {
			return Record{}, fmt.Errorf("channel %s/%s points at %s, outside %s: %w", name, channel, ch.Version, constraint, ErrNotFound)
		}
	}
	// Versions are unique up to build metadata (which ranges ignore), so
	// "=" with the version selects the channel's target only.
	pinned := fmt.Sprintf("=%d.%d.%d", exact.Major(), exact.Minor(), exact.Patch())
	if exact.Prerelease() != "" {
		pinned += "-" + exact.Prerelease()
	}
	r, err := Resolve(ctx, c, Query{Name: name, Constraint: pinned, Platform: q.Platform}, v)
	if err != nil {
		return Record{}, fmt.Errorf("channel %s/%s (%s): %w", name, channel, ch.Version, err)
	}
	return r, nil
}
