package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"net/url"

	"github.com/brickyard/brickyard/catalog"
	"github.com/brickyard/brickyard/catalog/internal/sqlcat"
	_ "modernc.org/sqlite" // registers the pure-Go "sqlite" driver
)

var _ catalog.Catalog = (*Catalog)(nil)

//go:embed migrations/*.sql
var migrations embed.FS

// Catalog is a catalog.Catalog in one SQLite file (modernc.org/sqlite, pure
// Go): WAL journal, synchronous=FULL, foreign keys on, a 10 s busy timeout,
// a 256 MiB page cache and up to 4 GiB memory-mapped reads (the digest
// indexes of a million-artifact catalog are random-access: they must stay
// in memory for bulk ingest not to slow down as the catalog grows), a
// checkpoint once the WAL holds 256 MiB (65,536 pages) rather than
// SQLite's default 4 MiB, with the WAL file cut back to 256 MiB after one,
// and write transactions that take the write lock up front (BEGIN
// IMMEDIATE), so concurrent writers queue instead of failing.
//
// The checkpoint threshold is for bulk ingest: a batch of 50,000 records
// rewrites most pages of the random-digest indexes, and a checkpoint after
// every batch copied each of them into the database file again each time;
// one every few batches copies each page once. Commits are as durable as
// before (the WAL is synced at each, synchronous=FULL); the price is a WAL
// of up to about 256 MiB plus one transaction, which a reopen after a crash
// reads through once.
type Catalog struct {
	db *sqlcat.DB
}

//go:generate go run ../internal/forwardgen ../internal/sqlcat sqlite methods.go

// Open opens (creating if needed) the catalog at path and applies any
// schema migrations it lacks. It returns an error wrapping
// catalog.ErrSchemaTooNew if the file was written by a newer brickyard, and
// a clear error (not a panic) if the file is not a SQLite database.
func Open(ctx context.Context, path string) (*Catalog, error) {
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "synchronous(FULL)", "foreign_keys(1)", "busy_timeout(10000)", "cache_size(-262144)", "temp_store(MEMORY)", "mmap_size(4294967296)", "wal_autocheckpoint(65536)", "journal_size_limit(268435456)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("catalog %s: %w", path, err)
	}
	sc, err := sqlcat.New(ctx, db, sqlcat.Dialect{Name: "sqlite", Migrations: migrationFS(), Rebind: func(q string) string { return q }, BulkInsert: "INSERT OR ROLLBACK"})
	if err != nil {
		return nil, fmt.Errorf("catalog %s: %w", path, err)
	}
	return &Catalog{db: sc}, nil
}

func migrationFS() fs.FS {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		panic(err) // the embedded directory is there
	}
	return sub
}
