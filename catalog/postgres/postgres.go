// Package postgres is brickyard's catalog in PostgreSQL (through pgx/v5),
// for teams that share one catalog: the same catalog.Catalog as
// catalog/sqlite, passing the same catalogtest suite. The schema is
// versioned by embedded migrations; every table is append-only (triggers
// refuse UPDATE and DELETE); writers are serialized by an advisory
// transaction lock, so concurrent publishers never fork the event log.
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"

	"github.com/brickyard/brickyard/catalog"
	"github.com/brickyard/brickyard/catalog/internal/sqlcat"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib" // also registers the "pgx" database/sql driver
)

var _ catalog.Catalog = (*Catalog)(nil)

//go:embed migrations/*.sql
var migrations embed.FS

// writeLock is the advisory lock every write transaction takes first: the
// catalog's single-writer lock ("brickyd" in ASCII).
const writeLock = `SELECT pg_advisory_xact_lock(27710344682764644)`

// Catalog is a catalog.Catalog in a PostgreSQL database.
type Catalog struct {
	db *sqlcat.DB
}

//go:generate go run ../internal/forwardgen ../internal/sqlcat postgres methods.go

// Open connects to the database at dsn (a PostgreSQL URL or keyword/value
// string, as pgx reads it, e.g.
// "postgres://brickyard@127.0.0.1:5432/catalog?sslmode=disable") and
// applies the schema migrations it lacks. Errors wrap
// catalog.ErrSchemaTooNew if the schema is newer than this program.
func Open(ctx context.Context, dsn string) (*Catalog, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("catalog: connect to PostgreSQL: %w", err)
	}
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	sc, err := sqlcat.New(ctx, db, sqlcat.Dialect{Name: "postgres", Migrations: sub, Rebind: sqlcat.DollarRebind, LockWrites: writeLock, CopyFrom: copyFrom})
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	return &Catalog{db: sc}, nil
}

// copyFrom writes rows into table with a binary COPY (pgx's CopyFrom) on
// the transaction's connection.
func copyFrom(ctx context.Context, driverConn any, table string, cols []string, rows [][]any) error {
	c, ok := driverConn.(*stdlib.Conn)
	if !ok {
		return fmt.Errorf("copy into %s: the driver connection is a %T, not pgx's", table, driverConn)
	}
	n, err := c.Conn().CopyFrom(ctx, pgx.Identifier{table}, cols, pgx.CopyFromRows(rows))
	if err != nil {
		return fmt.Errorf("copy into %s: %w", table, err)
	}
	if n != int64(len(rows)) {
		return fmt.Errorf("copy into %s: %d rows written, not %d", table, n, len(rows))
	}
	return nil
}
