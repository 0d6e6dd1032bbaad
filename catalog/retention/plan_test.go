package retention

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/brickyard/brickyard/catalog"
	"github.com/brickyard/brickyard/registry"
	"github.com/brickyard/brickyard/registry/layout"
	"github.com/brickyard/brickyard/sign"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// want is the demo set's decisions under demoPolicy, 30 days on, with
// web@2.0.0-rc.1 in use.
var want = map[string]string{
	"base@1.0.0":     "keep ancestor of a kept artifact",
	"base@1.1.0":     "keep newest 1 of major 1",
	"web@1.0.0":      "delete kept by no rule",
	"web@1.0.1":      "keep channel prod's current target",
	"web@1.0.2":      "delete kept by no rule",
	"web@1.0.3":      "keep newest 1 of stream 1.0",
	"web@1.1.0":      "delete revoked for 30d, delete after 1w",
	"web@1.1.1":      "keep newest 1 of stream 1.1",
	"web@2.0.0-rc.1": "keep in use: web@2.0.0-rc.1",
}

func planDemo(t *testing.T, f *fixture, dir string) (*Plan, *Policy, InUseSet) {
	t.Helper()
	ctx := context.Background()
	p, err := ParsePolicy([]byte(demoPolicy))
	if err != nil {
		t.Fatal(err)
	}
	in, err := Gather(ctx, FileSource(writeFile(t, dir, "in-use.txt", "# deployed\nweb@2.0.0-rc.1\n")))
	if err != nil {
		t.Fatal(err)
	}
	pl, err := MakePlan(ctx, f.cat, p, Options{Now: time.Now().Add(30 * 24 * time.Hour), InUse: in})
	if err != nil {
		t.Fatal(err)
	}
	return pl, p, in
}

func TestPlanDecisions(t *testing.T) {
	dir := t.TempDir()
	st, err := layout.New(dir + "/store")
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, st, "oci-layout", dir)
	f.demoSet(t)
	pl, _, _ := planDemo(t, f, dir)
	if len(pl.Decisions) != len(want) {
		t.Fatalf("%d decisions, want %d", len(pl.Decisions), len(want))
	}
	for _, d := range pl.Decisions {
		w := want[d.Ref()]
		if got := d.Action() + " " + d.Rule; !strings.HasPrefix(got, w) {
			t.Errorf("%s: %q, want %q", d.Ref(), got, w)
		}
	}
	for _, d := range pl.Decisions {
		if d.Ref() == "base@1.0.0" && !strings.HasPrefix(d.HeldBy, "web@1.0.1 (") {
			t.Errorf("base@1.0.0 held by %q, want web@1.0.1", d.HeldBy)
		}
	}
	if err := pl.Measure(context.Background(), f.stores); err != nil {
		t.Fatal(err)
	}
	// Deleted: web 1.0.0, 1.0.2, 1.1.0: their own disks, configs,
	// manifests and signatures; never the shared disk (256 KiB), which
	// kept versions still hold.
	var own int64
	for _, r := range []string{"web@1.0.0", "web@1.0.2", "web@1.1.0"} {
		own += f.unique[r]
	}
	if len(pl.Reclaim) != 1 || pl.Reclaim[0].Bytes < own || pl.Reclaim[0].Bytes >= own+int64(len(f.shared)) || pl.Reclaim[0].Manifests != 6 {
		t.Errorf("reclaim %+v: want 6 manifests (3 artifacts, 3 signatures), at least %d bytes and not the shared %d", pl.Reclaim, own, len(f.shared))
	}
	t.Logf("reclaim %+v", pl.Reclaim)
}

func TestApplyLayout(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := layout.New(dir + "/store")
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, st, "oci-layout", dir)
	f.demoSet(t)
	pl, p, in := planDemo(t, f, dir)
	opts := ApplyOptions{Stores: f.stores, Policy: p, InUse: in, Journal: dir + "/journal", Actor: "tester"}

	// Stale or edited plans are refused before anything is deleted.
	edited := *pl
	edited.Decisions = append([]Decision(nil), pl.Decisions...)
	for i := range edited.Decisions {
		if edited.Decisions[i].Ref() == "web@1.0.1" {
			edited.Decisions[i].Delete = true
		}
	}
	edited.Decided = decidedDigest(edited.Decisions)
	if _, err := Apply(ctx, f.cat, &edited, ApplyOptions{Stores: f.stores, Policy: p, InUse: in, Journal: dir + "/j0", Actor: "x"}); !errors.Is(err, ErrStalePlan) {
		t.Errorf("Apply of an edited plan: %v, want ErrStalePlan", err)
	}
	p2, _ := ParsePolicy([]byte(demoPolicy + "# changed\n"))
	if _, err := Apply(ctx, f.cat, pl, ApplyOptions{Stores: f.stores, Policy: p2, InUse: in, Journal: dir + "/j1", Actor: "x"}); !errors.Is(err, ErrStalePlan) {
		t.Errorf("Apply with another policy: %v, want ErrStalePlan", err)
	}
	if _, err := Apply(ctx, f.cat, pl, ApplyOptions{Stores: f.stores, Policy: p, Journal: dir + "/j2", Actor: "x"}); !errors.Is(err, ErrStalePlan) {
		t.Errorf("Apply with another in-use set: %v, want ErrStalePlan", err)
	}

	rep, err := Apply(ctx, f.cat, pl, opts)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Deleted != 3 {
		t.Errorf("report %+v, want 3 deleted", rep)
	}
	checkApplied(t, f, pl)
	// Again: nothing left to do, and the plan is not stale for its own tombstones.
	rep, err = Apply(ctx, f.cat, pl, opts)
	if err != nil || rep.Deleted != 0 || rep.Resumed != 3 {
		t.Errorf("second Apply: %+v, %v", rep, err)
	}
	// Any other change makes it stale.
	f.publish(t, "web", "1.2.0", "base@1.1.0")
	if _, err := Apply(ctx, f.cat, pl, opts); !errors.Is(err, ErrStalePlan) {
		t.Errorf("Apply after a new record: %v, want ErrStalePlan", err)
	}
}

// checkApplied checks the store and catalog after pl was applied: every
// deleted artifact's manifest, version tag and signature gone, with a
// tombstone naming the plan; every kept one whole (manifest, tag, blobs,
// signature) with no tombstone; the event log intact.
func checkApplied(t *testing.T, f *fixture, pl *Plan) {
	t.Helper()
	ctx := context.Background()
	for _, d := range pl.Decisions {
		r, err := f.cat.Get(ctx, d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		tag := strings.ReplaceAll(d.Version, "+", "_")
		_, tagErr := f.store.Resolve(ctx, d.Repository, tag)
		_, sigErr := f.store.Resolve(ctx, d.Repository, sign.SignatureTag(d.Digest))
		if d.Delete {
			if r.Deleted == nil || r.Deleted.Plan != pl.Digest.String() || r.Deleted.Actor == "" {
				t.Errorf("%s: tombstone %+v", d.Ref(), r.Deleted)
			}
			if !errors.Is(tagErr, registry.ErrNotFound) || !errors.Is(sigErr, registry.ErrNotFound) {
				t.Errorf("%s deleted, but its tag (%v) or signature (%v) remains", d.Ref(), tagErr, sigErr)
			}
			continue
		}
		if r.Deleted != nil || tagErr != nil || sigErr != nil {
			t.Errorf("%s kept, but tombstone %+v, tag %v, signature %v", d.Ref(), r.Deleted, tagErr, sigErr)
			continue
		}
		if err := readWhole(ctx, f.store, d); err != nil {
			t.Errorf("%s kept, but: %v", d.Ref(), err)
		}
	}
	if _, err := catalog.VerifyLog(ctx, f.cat, nil); err != nil {
		t.Error(err)
	}
}

// readWhole reads d's manifest, config and layers, each checked against
// its digest by the store's reader.
func readWhole(ctx context.Context, s registry.Store, d Decision) error {
	b, err := fetchManifest(ctx, s, d.Repository, d.Descriptor())
	if err != nil {
		return err
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	for _, desc := range append([]ocispec.Descriptor{m.Config}, m.Layers...) {
		rc, err := s.Fetch(ctx, d.Repository, desc)
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil {
			return fmt.Errorf("blob %s: %w", desc.Digest, err)
		}
	}
	return nil
}
