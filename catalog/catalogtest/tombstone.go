package catalogtest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/catalog"
	"github.com/opencontainers/go-digest"
)

// testTombstone: a deleted artifact keeps its record and lineage, gains a
// tombstone and one "deleted" event (once, however often it is marked),
// and is skipped by Resolve and refused as a channel target.
func testTombstone(t *testing.T, c catalog.Catalog) {
	ctx := context.Background()
	base := rec(t, "base", "1.0.0", artifact.KindVMDisk)
	w1 := rec(t, "web", "1.0.0", artifact.KindVMDisk, base.Digest)
	w2 := rec(t, "web", "1.1.0", artifact.KindVMDisk, base.Digest)
	for _, r := range []catalog.Record{base, w1, w2} {
		must(t, c.Record(ctx, r))
	}
	x := catalog.Deletion{Plan: "sha256:" + strings.Repeat("a", 64), Rule: "kept by no rule", Actor: "retention"}
	if err := c.MarkDeleted(ctx, w2.Digest, catalog.Deletion{Plan: x.Plan}); !errors.Is(err, catalog.ErrInvalidChange) {
		t.Errorf("MarkDeleted without an actor: %v, want ErrInvalidChange", err)
	}
	if err := c.MarkDeleted(ctx, digest.FromString("nothing"), x); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("MarkDeleted of an unknown digest: %v, want ErrNotFound", err)
	}
	must(t, c.MarkDeleted(ctx, w2.Digest, x))
	must(t, c.MarkDeleted(ctx, w2.Digest, x)) // a resumed apply marks it again: a no-op
	got, err := c.Get(ctx, w2.Digest)
	must(t, err)
	if got.Deleted == nil || got.Deleted.Plan != x.Plan || got.Deleted.Actor != "retention" || got.Deleted.Rule != x.Rule || got.Deleted.At.IsZero() {
		t.Fatalf("tombstone = %+v", got.Deleted)
	}
	if len(got.Parents) != 1 || got.Parents[0] != base.Digest {
		t.Errorf("the tombstone lost its lineage: %v", got.Parents)
	}
	if vs, _ := c.Versions(ctx, "web"); len(vs) != 2 || vs[1].Deleted == nil || vs[0].Deleted != nil {
		t.Errorf("Versions after a deletion: %+v", vs)
	}
	if ch, _ := c.Children(ctx, base.Digest); len(ch) != 2 {
		t.Errorf("children of base: %d, want 2 (tombstones stay in the lineage)", len(ch))
	}
	events, err := c.Events(ctx)
	must(t, err)
	n := 0
	for _, e := range events {
		if e.Type == catalog.EventDeleted {
			n++
			if e.Subject != w2.Digest.String() || e.Actor != "retention" || !strings.Contains(e.Body, x.Plan) {
				t.Errorf("deleted event %+v", e)
			}
		}
	}
	if n != 1 {
		t.Errorf("%d deleted events, want 1", n)
	}
	trust := fakeVerifier{ok: map[digest.Digest]bool{w1.Digest: true, w2.Digest: true}}
	r, err := catalog.Resolve(ctx, c, catalog.Query{Name: "web", Constraint: "^1"}, trust)
	if err != nil || r.Digest != w1.Digest {
		t.Errorf("Resolve ^1 with 1.1.0 deleted = %s, %v; want 1.0.0", r.Digest, err)
	}
	if _, err := catalog.Resolve(ctx, c, catalog.Query{Name: "web", Constraint: "=1.1.0"}, trust); !errors.Is(err, catalog.ErrDeleted) {
		t.Errorf("Resolve of the deleted version: %v, want ErrDeleted", err)
	}
	if err := c.SetChannel(ctx, catalog.ChannelChange{Name: "web", Channel: "prod", Version: "1.1.0", Actor: "a"}); !errors.Is(err, catalog.ErrDeleted) {
		t.Errorf("channel to a deleted version: %v, want ErrDeleted", err)
	}
}

// testScan: Scan returns every record in publication order with parents,
// lifecycle, signatures and tombstones, the channel moves, and the log's
// head as Events sees it.
func testScan(t *testing.T, c catalog.Catalog) {
	ctx := context.Background()
	snap, err := c.Scan(ctx, func(*catalog.Record) error { t.Error("a record in an empty catalog"); return nil })
	must(t, err)
	if snap.Head != (catalog.LogHead{}) || len(snap.Channels) != 0 {
		t.Errorf("empty catalog: %+v", snap)
	}
	rs := chain(t, c)
	x := rec(t, "extra", "1.0.0", artifact.KindVMDisk, rs[0].Digest, rs[1].Digest)
	must(t, c.Record(ctx, x))
	must(t, c.AddSignature(ctx, x.Digest, catalog.Signature{KeyID: "SHA256:k", Digest: digest.FromString("sig"), At: time.Now()}))
	must(t, c.SetChannel(ctx, catalog.ChannelChange{Name: "base", Channel: "prod", Version: "1.0.0", Actor: "a"}))
	_, err = c.ChangeLifecycle(ctx, rs[1].Digest, catalog.LifecycleChange{State: catalog.StateDeprecated, Reason: "old", Actor: "a"})
	must(t, err)
	must(t, c.MarkDeleted(ctx, rs[2].Digest, catalog.Deletion{Plan: "p", Actor: "a"}))
	var got []catalog.Record
	snap, err = c.Scan(ctx, func(r *catalog.Record) error { got = append(got, *r); return nil })
	must(t, err)
	if len(got) != len(rs)+1 {
		t.Fatalf("Scan gave %d records, want %d", len(got), len(rs)+1)
	}
	for i, r := range append(append([]catalog.Record{}, rs...), x) {
		want, err := c.Get(ctx, r.Digest)
		must(t, err)
		g := got[i]
		if g.Digest != want.Digest || g.Version.Original() != want.Version.Original() || len(g.Parents) != len(want.Parents) ||
			len(g.Lifecycle) != len(want.Lifecycle) || len(g.Signatures) != len(want.Signatures) || (g.Deleted == nil) != (want.Deleted == nil) ||
			!g.Published.Equal(want.Published) || g.Store != want.Store {
			t.Errorf("record %d: Scan %+v\nGet %+v", i, g, want)
			continue
		}
		for j := range g.Parents {
			if g.Parents[j] != want.Parents[j] {
				t.Errorf("record %d: parents %v, want %v", i, g.Parents, want.Parents)
			}
		}
	}
	events, err := c.Events(ctx)
	must(t, err)
	if last := events[len(events)-1]; snap.Head.Size != int64(len(events)) || snap.Head.Hash != last.Hash {
		t.Errorf("head %+v, log has %d events ending %s", snap.Head, len(events), last.Hash)
	}
	if len(snap.Channels) != 1 || snap.Channels[0].Version != "1.0.0" || snap.Channels[0].Channel != "prod" {
		t.Errorf("channels %+v", snap.Channels)
	}
	stop := errors.New("stop")
	if _, err := c.Scan(ctx, func(*catalog.Record) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("Scan with a failing callback: %v", err)
	}
}
