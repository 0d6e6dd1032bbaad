// Command retention is the retention benchmark (issue 22). It builds a
// catalog of bench/catalog's size and shape (-names × -versions artifacts,
// 1,000,000 by default, versions MAJOR.MINOR.PATCH with ten patches per
// stream, three channels per name with history) in SQLite and in a real
// PostgreSQL in the same run, revokes one artifact in a thousand, and on
// each backend times -runs pairs of:
//
//   - the floor: a plain full scan of the records (SELECT of every
//     artifacts row, each read into a catalog.Record with its version
//     parsed), the least any plan must read;
//   - retention.MakePlan under a policy for every name (newest 2 per
//     major.minor stream, prereleases 14 days, 2 channel targets back,
//     revoked deleted after 7 days), whose scan reads the parents,
//     lifecycle, signatures, tombstones and channels too;
//
// and prints each pair's wall and CPU times and plan/floor (goal ≤ 2, and
// under 2 s where the floor allows), floor and plan measured back to back
// so that the load of a shared machine weighs on both alike. Lineage is
// that of images built on a base: name 0 is the base, each of its patches
// built on the previous one of its stream; every other name's version is
// built on the base's same version. So the plan keeps the base whole (its
// every version an ancestor of some kept version) and deletes about four
// in five versions of the other names: its delete path is measured, and
// the number of deletions printed.
// Then it publishes -apply-names × (-apply-versions+1) small artifacts into
// a layout store and catalog, plans "newest 1 per major" (deleting
// -apply-names × -apply-versions, 10,000 by default) and times
// retention.Apply: deletions per second.
//
//	scripts/bench-retention                 # go run ./bench/retention
//	go run ./bench/retention -names 20 -versions 1000 -apply-versions 10
package main

import (
	"bytes"
	"context"
	"database/sql"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/catalog"
	"github.com/brickyard/brickyard/catalog/postgres"
	"github.com/brickyard/brickyard/catalog/postgres/pgtest"
	"github.com/brickyard/brickyard/catalog/retention"
	"github.com/brickyard/brickyard/catalog/sqlite"
	"github.com/brickyard/brickyard/registry"
	"github.com/brickyard/brickyard/registry/layout"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

const planPolicy = `version: 1
rules:
  - names: ["*"]
    keep:
      newest_per_stream: 2
      prereleases: 14d
      channel_history: 2
    delete:
      revoked_after: 7d
`

func main() {
	names := flag.Int("names", 100, "artifact names")
	versions := flag.Int("versions", 10000, "versions per name")
	runs := flag.Int("runs", 3, "timed runs of each figure (the best is printed)")
	applyNames := flag.Int("apply-names", 100, "names in the apply benchmark's layout store")
	applyVersions := flag.Int("apply-versions", 100, "versions per name deleted by the apply benchmark")
	only := flag.String("backend", "", "plan only on `sqlite` or `postgres` (default both)")
	flag.StringVar(&cpuprofile, "cpuprofile", "", "write a CPU profile of the timed plans to `file` (with -backend)")
	flag.StringVar(&memprofile, "memprofile", "", "write an allocation profile of the timed plans to `file` (with -backend)")
	flag.StringVar(&keepDB, "sqlite-db", "", "keep the SQLite catalog in `file` and reuse it when it exists (no ingest)")
	flag.Parse()
	if err := run(*names, *versions, *runs, *applyNames, *applyVersions, *only); err != nil {
		fmt.Fprintln(os.Stderr, "retention:", err)
		os.Exit(1)
	}
}

var cpuprofile, memprofile, keepDB string

type scanner interface {
	catalog.Catalog
	SQL() *sql.DB
}

// figures are the best run's (lowest plan/floor) wall and CPU times.
type figures struct{ floor, plan, floorCPU, planCPU time.Duration }

func (f figures) ratio() float64 { return f.plan.Seconds() / f.floor.Seconds() }

func run(names, versions, runs, applyNames, applyVersions int, only string) error {
	ctx := context.Background()
	work, err := os.MkdirTemp("", "brickyard-bench-retention-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	policy, err := retention.ParsePolicy([]byte(planPolicy))
	if err != nil {
		return err
	}
	var fs, fp figures
	if only != "postgres" {
		file, ingest := filepath.Join(work, "catalog.db"), true
		if keepDB != "" {
			_, err := os.Stat(keepDB)
			file, ingest = keepDB, err != nil
		}
		sq, err := sqlite.Open(ctx, file)
		if err != nil {
			return err
		}
		fmt.Println("SQLite:")
		if fs, err = measure(ctx, sq, names, versions, runs, policy, ingest); err != nil {
			return fmt.Errorf("sqlite: %w", err)
		}
		sq.Close()
	}
	if only != "sqlite" {
		srv, err := pgtest.Run(filepath.Join(work, "pg"), "shared_buffers=256MB", "max_wal_size=4GB")
		if err != nil {
			return err
		}
		defer srv.Stop()
		pg, err := postgres.Open(ctx, srv.DSN)
		if err != nil {
			return err
		}
		fmt.Println("PostgreSQL:")
		if fp, err = measure(ctx, pg, names, versions, runs, policy, true); err != nil {
			return fmt.Errorf("postgres: %w", err)
		}
		pg.Close()
	}
	deleted, took, err := applyBench(ctx, filepath.Join(work, "apply"), applyNames, applyVersions)
	if err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	fmt.Printf("\nretention plan over %d artifacts (%d names × %d versions), best plan/floor of %d runs\n", names*versions, names, versions, runs)
	fmt.Printf("%-34s %12s %12s  %s\n", "", "SQLite", "PostgreSQL", "goal")
	s := func(d time.Duration) string { return fmt.Sprintf("%.3f s", d.Seconds()) }
	r := func(f figures) string {
		if f.floor == 0 {
			return "-"
		}
		return fmt.Sprintf("%.2f", f.ratio())
	}
	rc := func(f figures) string {
		if f.floorCPU == 0 {
			return "-"
		}
		return fmt.Sprintf("%.2f", f.planCPU.Seconds()/f.floorCPU.Seconds())
	}
	fmt.Printf("%-34s %12s %12s  %s\n", "floor: full scan of the records", s(fs.floor), s(fp.floor), "")
	fmt.Printf("%-34s %12s %12s  %s\n", "plan", s(fs.plan), s(fp.plan), "< 2 s where the floor allows")
	fmt.Printf("%-34s %12s %12s  %s\n", "plan / floor", r(fs), r(fp), "≤ 2")
	fmt.Printf("%-34s %12s %12s  %s\n", "plan / floor, client CPU time", rc(fs), rc(fp), "")
	fmt.Printf("\nretention apply on the layout store: %d versions deleted in %.2f s: %.0f deletions/s\n", deleted, took.Seconds(), float64(deleted)/took.Seconds())
	return nil
}

func version(i int) string { return fmt.Sprintf("%d.%d.%d", i/1000+1, (i%1000)/10, i%10) }

func dig(name, i int) digest.Digest { return digest.FromString(fmt.Sprintf("bench %d %d", name, i)) }

func measure(ctx context.Context, c scanner, names, versions, runs int, policy *retention.Policy, ingest bool) (figures, error) {
	var f figures
	created := time.Unix(1795510800, 0)
	if ingest {
		if err := fill(ctx, c, names, versions, created); err != nil {
			return f, err
		}
	}
	var pl *retention.Plan
	now := created.Add(30 * 24 * time.Hour)
	if cpuprofile != "" {
		pf, err := os.Create(cpuprofile)
		if err != nil {
			return f, err
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return f, err
		}
	}
	if memprofile != "" {
		runtime.MemProfileRate = 64 << 10
	}
	for i := 0; i < runs; i++ {
		runtime.GC()
		t, cpu := time.Now(), cpuTime()
		if err := fullScan(ctx, c.SQL(), names*versions); err != nil {
			return f, err
		}
		floor, floorCPU := time.Since(t), cpuTime()-cpu
		runtime.GC()
		t, cpu = time.Now(), cpuTime()
		var err error
		if pl, err = retention.MakePlan(ctx, c, policy, retention.Options{Now: now}); err != nil {
			return f, err
		}
		g := figures{floor, time.Since(t), floorCPU, cpuTime() - cpu}
		fmt.Printf("  run %d: floor %.3f s (CPU %.3f s), plan %.3f s (CPU %.3f s): plan/floor %.2f\n",
			i+1, g.floor.Seconds(), g.floorCPU.Seconds(), g.plan.Seconds(), g.planCPU.Seconds(), g.ratio())
		if f.floor == 0 || g.ratio() < f.ratio() {
			f = g
		}
	}
	if cpuprofile != "" {
		pprof.StopCPUProfile()
	}
	if memprofile != "" {
		mf, err := os.Create(memprofile)
		if err != nil {
			return f, err
		}
		defer mf.Close()
		if err := pprof.Lookup("allocs").WriteTo(mf, 0); err != nil {
			return f, err
		}
	}
	dels := 0
	for _, d := range pl.Decisions {
		if d.Delete {
			dels++
		}
	}
	fmt.Printf("  plan: %d decisions, %d deletions (%.1f%%), decided %s\n", len(pl.Decisions), dels, 100*float64(dels)/float64(len(pl.Decisions)), pl.Decided)
	return f, nil
}

// fill ingests names × versions records, the channels and the revocations.
func fill(ctx context.Context, c scanner, names, versions int, created time.Time) error {
	fmt.Printf("  ingesting %d artifacts...\n", names*versions)
	platform := artifact.Platform{OS: "linux", Architecture: "amd64"}
	var buf []catalog.Record
	start := time.Now()
	for i := 0; i < versions; i++ {
		for n := 0; n < names; n++ {
			v, _ := artifact.ParseVersion(version(i))
			r := catalog.Record{Name: fmt.Sprintf("app%03d", n), Kind: artifact.KindMachineImage, Version: v, Digest: dig(n, i),
				Platform: platform, Created: created, Store: "oci-layout", Repository: fmt.Sprintf("app%03d", n),
				MediaType: ocispec.MediaTypeImageManifest, Size: 1024, Actor: "bench"}
			switch {
			case n > 0: // built on the base
				r.Parents = []digest.Digest{dig(0, i)}
			case i%10 != 0: // the base: on its stream's previous patch
				r.Parents = []digest.Digest{dig(0, i-1)}
			}
			buf = append(buf, r)
			if len(buf) == 50000 {
				if err := c.RecordBatch(ctx, buf); err != nil {
					return err
				}
				buf = buf[:0]
			}
		}
	}
	if len(buf) > 0 {
		if err := c.RecordBatch(ctx, buf); err != nil {
			return err
		}
	}
	for n := 0; n < names; n++ {
		for _, ch := range []string{"dev", "staging", "prod"} {
			for k := 0; k < 3; k++ {
				err := c.SetChannel(ctx, catalog.ChannelChange{Name: fmt.Sprintf("app%03d", n), Channel: ch,
					Version: version(versions - 1 - k*7 - len(ch)), Actor: "bench"})
				if err != nil {
					return err
				}
			}
		}
	}
	revoked := 0
	for i := 500; i < versions; i += 1000 {
		for n := 0; n < names; n += 10 {
			if _, err := c.ChangeLifecycle(ctx, dig(n, i), catalog.LifecycleChange{State: catalog.StateRevoked, Reason: "bench", Actor: "bench", NoCascade: true}); err != nil {
				return err
			}
			revoked++
		}
	}
	if pg, ok := c.(*postgres.Catalog); ok {
		if _, err := pg.SQL().ExecContext(ctx, `VACUUM ANALYZE`); err != nil {
			return err
		}
	}
	fmt.Printf("  ingested in %.1f s, %d revoked\n", time.Since(start).Seconds(), revoked)
	return nil
}

// fullScan is the floor: every artifacts row read into a catalog.Record,
// version and platform parsed, the least a plan must do.
func fullScan(ctx context.Context, db *sql.DB, want int) error {
	rows, err := db.QueryContext(ctx, `SELECT digest, name, kind, version, platform, created, published, store, repository, media_type, size FROM artifacts`)
	if err != nil {
		return err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var r catalog.Record
		var d, kind, v, platform string
		var created, published int64
		if err := rows.Scan(&d, &r.Name, &kind, &v, &platform, &created, &published, &r.Store, &r.Repository, &r.MediaType, &r.Size); err != nil {
			return err
		}
		if r.Version, err = semver.StrictNewVersion(v); err != nil {
			return err
		}
		if platform != "" {
			if r.Platform, err = artifact.ParsePlatform(platform); err != nil {
				return err
			}
		}
		r.Digest, r.Kind = digest.Digest(d), artifact.Kind(kind)
		r.Created, r.Published = time.Unix(created, 0), time.Unix(published, 0)
		n++
	}
	if n != want {
		return fmt.Errorf("full scan read %d records, want %d", n, want)
	}
	return rows.Err()
}

// applyBench publishes names × (versions+1) small VM-disk artifacts into
// a layout store and a SQLite catalog, plans "newest 1 per major" and
// times Apply deleting names × versions of them.
func applyBench(ctx context.Context, dir string, names, versions int) (int, time.Duration, error) {
	st, err := layout.New(filepath.Join(dir, "store"))
	if err != nil {
		return 0, 0, err
	}
	cat, err := sqlite.Open(ctx, filepath.Join(dir, "catalog.db"))
	if err != nil {
		return 0, 0, err
	}
	defer cat.Close()
	fmt.Printf("layout store: publishing %d artifacts...\n", names*(versions+1))
	var recs []catalog.Record
	for n := 0; n < names; n++ {
		name := fmt.Sprintf("app%03d", n)
		for i := 0; i <= versions; i++ {
			v, _ := artifact.ParseVersion(fmt.Sprintf("1.0.%d", i))
			body := []byte(fmt.Sprintf("disk %s %d", name, i))
			desc, err := st.PushBlob(ctx, name, ocispec.Descriptor{MediaType: artifact.DiskFormat("raw").MediaType()}, bytes.NewReader(body))
			if err != nil {
				return 0, 0, err
			}
			a := &artifact.Artifact{Name: name, Kind: artifact.KindVMDisk, Version: v, Build: artifact.Build{Created: time.Unix(1795510800, 0)},
				Disks: []artifact.Disk{{Format: "raw", VirtualSize: desc.Size, Title: "disk.raw", Digest: desc.Digest, Size: desc.Size}}}
			e, err := registry.Publish(ctx, st, a)
			if err != nil {
				return 0, 0, err
			}
			recs = append(recs, catalog.Record{Name: name, Kind: a.Kind, Version: v, Digest: e.Descriptor.Digest, Created: a.Build.Created,
				Store: "oci-layout", Repository: name, MediaType: e.Descriptor.MediaType, Size: e.Descriptor.Size, Actor: "bench"})
		}
	}
	if err := cat.RecordBatch(ctx, recs); err != nil {
		return 0, 0, err
	}
	policy, err := retention.ParsePolicy([]byte("version: 1\nrules:\n  - names: [\"*\"]\n    keep: {newest_per_major: 1}\n"))
	if err != nil {
		return 0, 0, err
	}
	pl, err := retention.MakePlan(ctx, cat, policy, retention.Options{})
	if err != nil {
		return 0, 0, err
	}
	stores := func(string) (registry.Store, error) { return st, nil }
	start := time.Now()
	rep, err := retention.Apply(ctx, cat, pl, retention.ApplyOptions{Stores: stores, Policy: policy, Journal: filepath.Join(dir, "journal"), Actor: "bench"})
	if err != nil {
		return 0, 0, err
	}
	return rep.Deleted, time.Since(start), nil
}
