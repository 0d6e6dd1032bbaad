// Command catalog is the catalog's scale benchmark: it ingests -names ×
// -versions artifacts (1,000,000 by default) into SQLite and into a real
// PostgreSQL in the same run, with lineage chains of 50 (each chain's head
// built on name 0's artifact of the same index, so lineage crosses names)
// and three channels per name, then measures on each backend: bulk ingest
// rate (RecordBatch, -batch records per transaction), Resolve p50/p99 ("the newest ^M of NAME", random M and NAME),
// ResolveChannel p50/p99, Ancestors at depth 50 p50/p99, Descendants of a
// fan-out node (about 5,000 descendants) p50, and database size on disk;
// and prints the SQLite/PostgreSQL ratios.
//
//	scripts/bench-catalog                 # go run ./bench/catalog
//	go run ./bench/catalog -names 100 -versions 10000 -samples 2000
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sort"
	"time"

	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/catalog"
	"github.com/brickyard/brickyard/catalog/postgres"
	"github.com/brickyard/brickyard/catalog/postgres/pgtest"
	"github.com/brickyard/brickyard/catalog/sqlite"
	"github.com/opencontainers/go-digest"
)

func main() {
	names := flag.Int("names", 100, "artifact names")
	versions := flag.Int("versions", 10000, "versions per name")
	batch := flag.Int("batch", 50000, "records per RecordBatch transaction")
	samples := flag.Int("samples", 2000, "queries measured per figure")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the SQLite ingest to `file`")
	only := flag.String("backend", "", "measure only `sqlite` or `postgres` (default both)")
	flag.Parse()
	profile, backendOnly = *cpuprofile, *only
	if err := run(*names, *versions, *batch, *samples); err != nil {
		fmt.Fprintln(os.Stderr, "catalog:", err)
		os.Exit(1)
	}
}

// figures are one backend's results.
type figures struct {
	ingest                   float64 // artifacts/s
	resolve50, resolve99     time.Duration
	channel50, channel99     time.Duration
	ancestors50, ancestors99 time.Duration
	descendants50            time.Duration
	descendantsN             int
	size                     int64
}

// profile and backendOnly are the -cpuprofile and -backend flags.
var profile, backendOnly string

func run(names, versions, batch, samples int) error {
	ctx := context.Background()
	work, err := os.MkdirTemp("", "brickyard-bench-catalog-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	var fs, fp figures
	if backendOnly != "postgres" {
		sq, err := sqlite.Open(ctx, filepath.Join(work, "catalog.db"))
		if err != nil {
			return err
		}
		fmt.Printf("SQLite: ingesting %d artifacts...\n", names*versions)
		if fs, err = measure(ctx, sq, names, versions, batch, samples); err != nil {
			return fmt.Errorf("sqlite: %w", err)
		}
		sq.Close()
		fs.size = fileSize(filepath.Join(work, "catalog.db")) + fileSize(filepath.Join(work, "catalog.db-wal"))
	}
	if backendOnly != "sqlite" {
		// The memory SQLite gets (a 256 MiB page cache), and WAL room
		// for a bulk load without a checkpoint every few batches: what a
		// bulk load is given in production.
		srv, err := pgtest.Run(filepath.Join(work, "pg"), "shared_buffers=256MB", "max_wal_size=4GB")
		if err != nil {
			return err
		}
		defer srv.Stop()
		pg, err := postgres.Open(ctx, srv.DSN)
		if err != nil {
			return err
		}
		fmt.Printf("PostgreSQL: ingesting %d artifacts...\n", names*versions)
		if fp, err = measure(ctx, pg, names, versions, batch, samples); err != nil {
			return fmt.Errorf("postgres: %w", err)
		}
		if err := pg.SQL().QueryRowContext(ctx, `SELECT pg_database_size(current_database())`).Scan(&fp.size); err != nil {
			return err
		}
		pg.Close()
	}
	if backendOnly != "" {
		return nil
	}

	fmt.Printf("\n%d artifacts (%d names × %d versions), chains of 50, 3 channels per name\n", names*versions, names, versions)
	fmt.Printf("%-28s %14s %14s %10s  %s\n", "", "SQLite", "PostgreSQL", "SQLite/PG", "goal")
	row := func(what string, s, p float64, unit, goal string) {
		fmt.Printf("%-28s %11.3f %-2s %11.3f %-2s %10.2f  %s\n", what, s, unit, p, unit, s/p, goal)
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	row("bulk ingest", fs.ingest, fp.ingest, "/s", "≥ 20,000 artifacts/s")
	row("resolve p50", ms(fs.resolve50), ms(fp.resolve50), "ms", "< 1 ms")
	row("resolve p99", ms(fs.resolve99), ms(fp.resolve99), "ms", "")
	row("resolve by channel p50", ms(fs.channel50), ms(fp.channel50), "ms", "")
	row("resolve by channel p99", ms(fs.channel99), ms(fp.channel99), "ms", "")
	row("ancestors, depth 50, p50", ms(fs.ancestors50), ms(fp.ancestors50), "ms", "< 5 ms")
	row("ancestors, depth 50, p99", ms(fs.ancestors99), ms(fp.ancestors99), "ms", "")
	row(fmt.Sprintf("descendants (%d) p50", fs.descendantsN), ms(fs.descendants50), ms(fp.descendants50), "ms", "")
	row("database size", float64(fs.size)/(1<<20), float64(fp.size)/(1<<20), "MB", "")
	return nil
}

type backend interface {
	catalog.Catalog
}

// trustAll stands in for signature verification, which is measured by
// bench/verify: this benchmark measures the catalog.
type trustAll struct{}

func (trustAll) Verify(context.Context, artifact.Stored) (string, error) { return "SHA256:bench", nil }

func version(i int) string { return fmt.Sprintf("%d.%d.0", i/1000+1, i%1000) }

func dig(name, i int) digest.Digest { return digest.FromString(fmt.Sprintf("bench %d %d", name, i)) }

func measure(ctx context.Context, c backend, names, versions, batch, samples int) (figures, error) {
	var f figures
	platform := artifact.Platform{OS: "linux", Architecture: "amd64"}
	created := time.Unix(1795510800, 0)
	var buf []catalog.Record
	if _, ok := c.(*sqlite.Catalog); ok && profile != "" {
		pf, err := os.Create(profile)
		if err != nil {
			return f, err
		}
		if err := pprof.StartCPUProfile(pf); err != nil {
			return f, err
		}
		defer pf.Close()
		defer pprof.StopCPUProfile()
	}
	start := time.Now()
	flush := func() error {
		if len(buf) == 0 {
			return nil
		}
		err := c.RecordBatch(ctx, buf)
		buf = buf[:0]
		return err
	}
	// Ingest index-major, so that name 0's artifact i (a chain head's
	// parent) is recorded before the other names' artifact i.
	for i := 0; i < versions; i++ {
		for n := 0; n < names; n++ {
			v, _ := artifact.ParseVersion(version(i))
			r := catalog.Record{Name: fmt.Sprintf("app%03d", n), Kind: artifact.KindMachineImage, Version: v, Digest: dig(n, i),
				Platform: platform, Created: created, Store: "oci-layout", Repository: fmt.Sprintf("app%03d", n),
				MediaType: "application/vnd.oci.image.manifest.v1+json", Size: 1024, Actor: "bench"}
			switch {
			case i%50 != 0:
				r.Parents = []digest.Digest{dig(n, i-1)}
			case n > 0:
				r.Parents = []digest.Digest{dig(0, i)}
			}
			buf = append(buf, r)
			if len(buf) == batch {
				if err := flush(); err != nil {
					return f, err
				}
			}
		}
	}
	if err := flush(); err != nil {
		return f, err
	}
	f.ingest = float64(names*versions) / time.Since(start).Seconds()
	fmt.Printf("  ingest: %.0f artifacts/s\n", f.ingest)
	if pg, ok := c.(*postgres.Catalog); ok {
		// What autovacuum does shortly after a bulk load: fresh planner
		// statistics. Without them PostgreSQL plans the recursive lineage
		// queries as if the tables were empty.
		if _, err := pg.SQL().ExecContext(ctx, `ANALYZE`); err != nil {
			return f, err
		}
	}

	for n := 0; n < names; n++ {
		for _, ch := range []string{"dev", "staging", "prod"} {
			for k := 0; k < 3; k++ {
				err := c.SetChannel(ctx, catalog.ChannelChange{Name: fmt.Sprintf("app%03d", n), Channel: ch,
					Version: version(versions - 1 - k*7 - len(ch)), Actor: "bench"})
				if err != nil {
					return f, err
				}
			}
		}
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	majors := (versions-1)/1000 + 1
	var times []time.Duration
	timeIt := func(fn func() error) error {
		times = times[:0]
		for range samples {
			t := time.Now()
			if err := fn(); err != nil {
				return err
			}
			times = append(times, time.Since(t))
		}
		sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
		return nil
	}
	p := func(q float64) time.Duration { return times[int(q*float64(len(times)-1))] }

	if err := timeIt(func() error {
		q := catalog.Query{Name: fmt.Sprintf("app%03d", rnd.IntN(names)), Constraint: fmt.Sprintf("^%d", rnd.IntN(majors)+1), Platform: platform}
		_, err := catalog.Resolve(ctx, c, q, trustAll{})
		return err
	}); err != nil {
		return f, err
	}
	f.resolve50, f.resolve99 = p(0.5), p(0.99)
	fmt.Printf("  resolve: p50 %s p99 %s\n", f.resolve50, f.resolve99)

	if err := timeIt(func() error {
		_, err := catalog.ResolveChannel(ctx, c, catalog.Query{Name: fmt.Sprintf("app%03d", rnd.IntN(names)), Platform: platform}, "prod", trustAll{})
		return err
	}); err != nil {
		return f, err
	}
	f.channel50, f.channel99 = p(0.5), p(0.99)

	if err := timeIt(func() error {
		n, chain := 1+rnd.IntN(names-1), rnd.IntN(versions/50)
		anc, err := c.Ancestors(ctx, dig(n, chain*50+49))
		if err == nil && len(anc) != 50 {
			err = fmt.Errorf("ancestors of a chain tail: %d, want 50", len(anc))
		}
		return err
	}); err != nil {
		return f, err
	}
	f.ancestors50, f.ancestors99 = p(0.5), p(0.99)
	fmt.Printf("  ancestors (50): p50 %s p99 %s\n", f.ancestors50, f.ancestors99)

	descSamples := samples
	samples = min(samples, 20)
	if err := timeIt(func() error {
		d, err := c.Descendants(ctx, dig(0, rnd.IntN(versions/50)*50))
		f.descendantsN = len(d)
		return err
	}); err != nil {
		return f, err
	}
	samples = descSamples
	f.descendants50 = p(0.5)
	return f, nil
}

func fileSize(p string) int64 {
	fi, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return fi.Size()
}
