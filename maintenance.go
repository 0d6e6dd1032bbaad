package brickyard

import (
	"context"
	"fmt"

	"github.com/brickyard/brickyard/catalog"
	"github.com/brickyard/brickyard/registry"
	"github.com/brickyard/brickyard/registry/layout"
	"golang.org/x/mod/sumdb/note"
)

// layoutStore returns the Client's store if it is an OCI layout directory,
// for what only such a store offers (what a registry does itself).
func (c *Client) layoutStore(what string) (*layout.Store, error) {
	ls, ok := c.store.(*layout.Store)
	if !ok {
		return nil, fmt.Errorf("%s: the store %s is a registry, which collects and checks its own storage (e.g. distribution's garbage-collect): %w", what, c.storeName, ErrStoreUnreachable)
	}
	return ls, nil
}

// GC collects the garbage of the Client's store, an OCI layout directory:
// stale ingest files and blobs no tag reaches (see layout.Store.GC, which
// says why it is safe alongside publishes and copies).
func (c *Client) GC(ctx context.Context, opts layout.GCOptions) (layout.GCReport, error) {
	ls, err := c.layoutStore("gc")
	if err != nil {
		return layout.GCReport{}, err
	}
	return ls.GC(ctx, opts)
}

// Reconcile records every version tag of the Client's store that the
// catalog lacks, and the signatures its trusted keys verify that the
// catalog lacks (catalog.Reconcile): what a publish or copy interrupted
// between the store and the catalog left.
func (c *Client) Reconcile(ctx context.Context) (catalog.RebuildReport, error) {
	return catalog.Reconcile(ctx, c.cat, c.store, c.storeName, c.finder(c.store))
}

// VerifyContent re-reads r's manifest, config and, unless shallow, its
// layers and tracked image from its store and checks every blob against
// its digest (registry.VerifyContent). Errors wrap registry.ErrDigestMismatch
// naming the blob, or the store's errors.
func (c *Client) VerifyContent(ctx context.Context, r catalog.Record, shallow bool) (registry.ContentReport, error) {
	st, err := c.StoreOf(r)
	if err != nil {
		return registry.ContentReport{}, err
	}
	return registry.VerifyContent(ctx, st, r.Repository, descOf(r), shallow)
}

// FsckReport is what Fsck found.
type FsckReport struct {
	Store   layout.FsckReport   `json:"store"`
	Catalog catalog.CheckReport `json:"catalog"`
	// Reconciled counts the version tags Repair recorded.
	Reconciled int `json:"reconciled"`
	// Problems counts what is left: the store's unrepaired problems and
	// the catalog's inconsistencies.
	Problems int `json:"problems"`
}

// Fsck checks the Client's store (an OCI layout directory: every blob
// hashes to its name, every tag resolves to an intact manifest whose blobs
// are present, no stale ingest; see layout.Store.Fsck) and its catalog
// against it (catalog.Check: every record's manifest is in the store under
// its version tag, every version tag is recorded, the event log verifies
// with verifiers). With repair it removes corrupt blobs and stale ingests
// and records the unrecorded tags (Reconcile) before the catalog check;
// tags and records are never removed. The error is for failures to check.
func (c *Client) Fsck(ctx context.Context, verifiers note.Verifiers, repair bool) (FsckReport, error) {
	var rep FsckReport
	ls, err := c.layoutStore("fsck")
	if err != nil {
		return rep, err
	}
	if rep.Store, err = ls.Fsck(ctx, layout.FsckOptions{Repair: repair}); err != nil {
		return rep, err
	}
	if repair {
		rr, err := c.Reconcile(ctx)
		if err != nil {
			return rep, fmt.Errorf("repair: %w", err)
		}
		rep.Reconciled = rr.Artifacts
	}
	if rep.Catalog, err = catalog.Check(ctx, c.cat, ls, c.storeName, verifiers); err != nil {
		return rep, err
	}
	rep.Problems = len(rep.Catalog.Inconsistencies)
	for _, p := range rep.Store.Problems {
		if !p.Repaired {
			rep.Problems++
		}
	}
	return rep, nil
}
