package retention

import (
	"context"
	"errors"
	"io/fs"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/brickyard/brickyard/registry/registrytest"
	"github.com/brickyard/brickyard/registry/remote"
)

// TestApplyDistribution applies the demo plan to the real distribution
// registry (deletes enabled), then runs the registry's own
// garbage-collect: the bytes it frees are the deleted artifacts' own, and
// every kept artifact still reads back whole.
func TestApplyDistribution(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	d, err := registrytest.RunDistribution(filepath.Join(dir, "registry"))
	if errors.Is(err, registrytest.ErrNoDistribution) {
		t.Skip("SKIPPED LOUDLY: " + err.Error())
	}
	if err != nil {
		t.Fatal(err)
	}
	defer func() { d.Stop() }()
	st, err := remote.New(d.Addr)
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, st, d.Addr, dir)
	f.demoSet(t)
	pl, p, in := planDemo(t, f, dir)
	if err := pl.Measure(ctx, f.stores); err != nil {
		t.Fatal(err)
	}
	rep, err := Apply(ctx, f.cat, pl, ApplyOptions{Stores: f.stores, Policy: p, InUse: in, Journal: filepath.Join(dir, "journal"), Actor: "tester"})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Deleted != 3 {
		t.Errorf("deleted %d, want 3", rep.Deleted)
	}
	checkApplied(t, f, pl)

	// The registry's garbage collection, offline as its documentation asks.
	d.Stop()
	blobs := filepath.Join(dir, "registry", "data", "docker", "registry", "v2", "blobs")
	before := du(t, blobs)
	out, err := exec.Command("docker-registry", "garbage-collect", filepath.Join(dir, "registry", "config.yml")).CombinedOutput()
	if err != nil {
		t.Fatalf("garbage-collect: %v\n%s", err, out)
	}
	freed := before - du(t, blobs)
	var own int64
	for _, r := range []string{"web@1.0.0", "web@1.0.2", "web@1.1.0"} {
		own += f.unique[r]
	}
	t.Logf("garbage-collect freed %d bytes; the plan said %d would be reclaimed (the deleted artifacts' own disks: %d)", freed, pl.Reclaim[0].Bytes, own)
	if freed < own || freed >= own+int64(len(f.shared)) {
		t.Errorf("garbage-collect freed %d bytes, want at least the deleted disks' %d and not the shared %d", freed, own, len(f.shared))
	}
	if freed != pl.Reclaim[0].Bytes {
		t.Errorf("garbage-collect freed %d bytes, the plan said %d", freed, pl.Reclaim[0].Bytes)
	}
	d2, err := registrytest.RunDistribution(filepath.Join(dir, "registry"))
	if err != nil {
		t.Fatal(err)
	}
	d = d2
	st2, err := remote.New(d.Addr)
	if err != nil {
		t.Fatal(err)
	}
	for _, dec := range pl.Decisions {
		if !dec.Delete {
			if err := readWhole(ctx, st2, dec); err != nil {
				t.Errorf("%s kept, after garbage-collect: %v", dec.Ref(), err)
			}
		}
	}
}

// du sums the sizes of the files under dir named "data" (the registry's
// blob files).
func du(t *testing.T, dir string) int64 {
	var n int64
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !e.IsDir() && e.Name() == "data" {
			fi, err := e.Info()
			if err != nil {
				return err
			}
			n += fi.Size()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
