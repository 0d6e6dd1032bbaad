package brickyard

import (
	"context"
	"fmt"

	"github.com/brickyard/brickyard/catalog"
	"github.com/opencontainers/go-digest"
)

// ChangeLifecycle deprecates, revokes or reinstates (change.State) the
// artifact r; a revocation without NoCascade revokes everything built on
// it too. change.Actor defaults to the Client's actor. It returns the
// records changed, r first.
//
// Errors (nothing is written): catalog.ErrInvalidChange,
// ErrInvalidSchedule, ErrRevoked (already revoked), ErrNotFound; each
// names r.
func (c *Client) ChangeLifecycle(ctx context.Context, r catalog.Record, change catalog.LifecycleChange) ([]catalog.Record, error) {
	if change.Actor == "" {
		change.Actor = c.o.actor
	}
	changed, err := c.cat.ChangeLifecycle(ctx, r.Digest, change)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", change.State, r.Ref(), err)
	}
	var out []catalog.Record
	for _, d := range changed {
		cr, err := c.cat.Get(ctx, d)
		if err != nil {
			return out, err
		}
		out = append(out, cr)
	}
	return out, nil
}

// SetVisibility records r's intended visibility (private, shared with
// v.Principals, or public). v.Actor defaults to the Client's actor.
// Errors: catalog.ErrInvalidChange; catalog.ErrRevoked when making public
// an artifact revoked, or withdrawn for holding secrets; each names r.
func (c *Client) SetVisibility(ctx context.Context, r catalog.Record, v catalog.VisibilityChange) error {
	if v.Actor == "" {
		v.Actor = c.o.actor
	}
	if err := c.cat.SetVisibility(ctx, r.Digest, v); err != nil {
		return fmt.Errorf("visibility of %s: %w", r.Ref(), err)
	}
	return nil
}

// SetChannel points ch.Name's channel ch.Channel at ch.Version (refused
// for an unknown or revoked version). ch.Actor defaults to the Client's
// actor. It returns the channel as now set.
func (c *Client) SetChannel(ctx context.Context, ch catalog.ChannelChange) (catalog.ChannelChange, error) {
	if ch.Actor == "" {
		ch.Actor = c.o.actor
	}
	if err := c.cat.SetChannel(ctx, ch); err != nil {
		return catalog.ChannelChange{}, err
	}
	return c.cat.Channel(ctx, ch.Name, ch.Channel)
}

// Promote points channel at r's version: the promotion of a build, e.g.
// from dev to prod. Rolling back is catalog's RollbackChannel, or Promote
// of the older version.
func (c *Client) Promote(ctx context.Context, r catalog.Record, channel, reason string) (catalog.ChannelChange, error) {
	return c.SetChannel(ctx, catalog.ChannelChange{Name: r.Name, Channel: channel, Version: r.Version.Original(), Reason: reason})
}

// Node is an artifact in a lineage tree and the artifacts next to it:
// its parents, or its children (see Lineage).
type Node struct {
	Record catalog.Record
	Next   []Node
}

// Lineage returns the lineage tree of r: what it was built from, parents
// first in build order and theirs in turn, or with descendants what was
// built on it. The catalog refuses cycles; the walk guards against them
// anyway, so a damaged catalog cannot make it loop.
func (c *Client) Lineage(ctx context.Context, r catalog.Record, descendants bool) (Node, error) {
	next := func(r catalog.Record) ([]catalog.Record, error) {
		var out []catalog.Record
		for _, p := range r.Parents {
			pr, err := c.cat.Get(ctx, p)
			if err != nil {
				return nil, err
			}
			out = append(out, pr)
		}
		return out, nil
	}
	if descendants {
		next = func(r catalog.Record) ([]catalog.Record, error) { return c.cat.Children(ctx, r.Digest) }
	}
	return lineageTree(r, next, map[digest.Digest]bool{})
}

func lineageTree(r catalog.Record, next func(catalog.Record) ([]catalog.Record, error), onPath map[digest.Digest]bool) (Node, error) {
	n := Node{Record: r}
	if onPath[r.Digest] {
		return n, fmt.Errorf("lineage of %s loops back on itself: %w", r.Ref(), catalog.ErrCycle)
	}
	onPath[r.Digest] = true
	defer delete(onPath, r.Digest)
	rs, err := next(r)
	if err != nil {
		return n, err
	}
	for _, x := range rs {
		xn, err := lineageTree(x, next, onPath)
		if err != nil {
			return n, err
		}
		n.Next = append(n.Next, xn)
	}
	return n, nil
}

// OutOfDate lists r and every descendant built on a parent that has a
// newer version in its semver stream (see catalog.OutOfDate).
func (c *Client) OutOfDate(ctx context.Context, r catalog.Record) ([]catalog.Staleness, error) {
	return catalog.OutOfDate(ctx, c.cat, r.Digest)
}
