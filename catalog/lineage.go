package catalog

import (
	"context"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"
)

// Lineage is a DAG: an artifact may have several parents (a base AMI and a
// base disk, the stages of a multi-stage build) of any kinds. A record's
// parents must be in the catalog before it and records never change, so
// the only cycle one could try to make is an artifact naming itself, or an
// existing artifact recorded again with other parents; both are refused
// with ErrCycle or ErrInvalidChange.

// MaxPaths bounds the paths Paths returns.
const MaxPaths = 1000

// LineageReader is what the lineage queries need.
type LineageReader interface {
	Getter
	Lineage
}

// Paths returns every path of parent links from artifact from down to
// artifact to, each a slice of records starting with from and ending with
// to, at most MaxPaths of them; none if to is not built on from. Errors
// wrap ErrNotFound for an unknown digest.
func Paths(ctx context.Context, c LineageReader, from, to digest.Digest) ([][]Record, error) {
	start, err := c.Get(ctx, from)
	if err != nil {
		return nil, err
	}
	desc, err := c.Descendants(ctx, from)
	if err != nil {
		return nil, err
	}
	within := map[digest.Digest]Record{from: start}
	for _, r := range desc {
		within[r.Digest] = r
	}
	end, ok := within[to]
	if !ok {
		if _, err := c.Get(ctx, to); err != nil {
			return nil, err
		}
		return nil, nil
	}
	var out [][]Record
	var walk func(r Record, path []Record)
	walk = func(r Record, path []Record) {
		if len(out) >= MaxPaths {
			return
		}
		path = append([]Record{r}, path...)
		if r.Digest == from {
			out = append(out, path)
			return
		}
		for _, p := range r.Parents {
			if pr, ok := within[p]; ok {
				walk(pr, path)
			}
		}
	}
	walk(end, nil)
	return out, nil
}

// Staleness says that Record was built on Parent, and Parent's name has a
// newer version in the same semver stream: Newer.
type Staleness struct {
	Record Record
	Parent Record
	Newer  Record
}

// LineageLister is what OutOfDate needs of a catalog.
type LineageLister interface {
	LineageReader
	Lister
}

// OutOfDate checks artifact d and every descendant of d: each is out of
// date if one of its parents has a newer version in the parent's semver
// stream, that is a higher, non-prerelease, non-revoked version of the
// same name and platform with the same major version (HCP Packer's
// OUT_OF_DATE, decided by semver instead of by channel). It returns one
// Staleness per stale parent link, nearest first; none means up to date.
func OutOfDate(ctx context.Context, c LineageLister, d digest.Digest) ([]Staleness, error) {
	root, err := c.Get(ctx, d)
	if err != nil {
		return nil, err
	}
	desc, err := c.Descendants(ctx, d)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	newest := map[digest.Digest]*Record{} // parent digest → its newest stream-mate, nil if none
	var out []Staleness
	for _, r := range append([]Record{root}, desc...) {
		for _, p := range r.Parents {
			n, seen := newest[p]
			if !seen {
				if n, err = newerInStream(ctx, c, p, now); err != nil {
					return nil, err
				}
				newest[p] = n
			}
			if n != nil {
				pr, err := c.Get(ctx, p)
				if err != nil {
					return nil, err
				}
				out = append(out, Staleness{Record: r, Parent: pr, Newer: *n})
			}
		}
	}
	return out, nil
}

func newerInStream(ctx context.Context, c interface {
	Getter
	Lister
}, p digest.Digest, now time.Time) (*Record, error) {
	parent, err := c.Get(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("parent %s: %w", p, err)
	}
	all, err := c.Versions(ctx, parent.Name)
	if err != nil {
		return nil, err
	}
	var best *Record
	for i := range all {
		r := all[i]
		if r.Version.Prerelease() != "" || r.Version.Major() != parent.Version.Major() || !r.Version.GreaterThan(parent.Version) ||
			r.Platform != parent.Platform {
			continue
		}
		if s, _ := r.Status(now); s == StateRevoked {
			continue
		}
		if best == nil || r.Version.GreaterThan(best.Version) {
			best = &r
		}
	}
	return best, nil
}
