// Package sqlcat is the catalog.Catalog shared by the SQL backends
// (catalog/sqlite, catalog/postgres) over database/sql. Queries are written
// with "?" placeholders; a Dialect rebinds them and says how a write
// transaction takes the catalog's write lock, so writers are serialized on
// every backend (one event log, no forks).
package sqlcat

import (
	"context"
	"database/sql"
	"io/fs"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/tlog"
)

// Dialect is what differs between SQL backends.
type Dialect struct {
	Name string
	// Migrations holds NNNN_name.sql files, applied in name order; the
	// schema version is the number applied.
	Migrations fs.FS
	// Rebind turns "?" placeholders into the driver's.
	Rebind func(query string) string
	// LockWrites, if set, runs first in every write transaction and takes
	// an exclusive write lock (PostgreSQL: an advisory transaction lock).
	// SQLite takes it with BEGIN IMMEDIATE instead.
	LockWrites string
	// BulkInsert is the verb of the multi-row INSERTs of RecordBatch
	// ("INSERT" if empty). SQLite uses "INSERT OR ROLLBACK": a refused row
	// rolls the whole transaction back (the batch is redone record by
	// record anyway), so SQLite need not keep a statement journal, which
	// copies every page a multi-row INSERT touches. (The foreign keys of
	// the parents table are deferred to COMMIT in SQLite, so that no
	// INSERT there can abort half-way either: see migration 0004.)
	BulkInsert string
	// CopyFrom, if set, writes rows (values in cols order) into table
	// with the database's bulk-load protocol (PostgreSQL: binary COPY ...
	// FROM STDIN, through pgx) on driverConn, the driver connection of
	// the transaction (what sql.Conn.Raw passes). RecordBatch then loads
	// every table of a batch with it, reading the new artifacts' seqs back
	// afterwards: COPY streams rows while the server stores them, where an
	// INSERT of column arrays was encoded whole, then sent, then unnested.
	// Without it, RecordBatch uses multi-row INSERTs.
	CopyFrom func(ctx context.Context, driverConn any, table string, cols []string, rows [][]any) error
}

// DollarRebind turns "?" placeholders into "$1", "$2", ... (PostgreSQL).
// brickyard's queries have no "?" inside string literals.
func DollarRebind(q string) string {
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// DB is a catalog.Catalog over a database/sql handle.
type DB struct {
	db    *Conn
	d     Dialect
	heads headCache
}

// New wraps db and applies the dialect's migrations it lacks. Errors wrap
// catalog.ErrSchemaTooNew if the database has a newer schema.
func New(ctx context.Context, db *sql.DB, d Dialect) (*DB, error) {
	c := &DB{db: &Conn{db: db, rebind: d.Rebind}, d: d}
	if err := c.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return c, nil
}

// SQL returns the underlying handle, for backend-specific checks and tests.
func (c *DB) SQL() *sql.DB { return c.db.db }

// Conn is a *sql.DB whose queries are rebound.
type Conn struct {
	db     *sql.DB
	rebind func(string) string
}

func (c *Conn) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	return c.db.QueryRowContext(ctx, c.rebind(q), args...)
}

func (c *Conn) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return c.db.QueryContext(ctx, c.rebind(q), args...)
}

func (c *Conn) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return c.db.ExecContext(ctx, c.rebind(q), args...)
}

// Tx is a *sql.Tx whose queries are rebound and prepared once per
// transaction, and which keeps the head of the event log and the tlog
// hashes it wrote in memory, so a batch of records costs a few statements
// each.
type Tx struct {
	tx     *sql.Tx
	rebind func(string) string
	stmts  map[string]*sql.Stmt
	// bulkInsert and copyFrom are the Dialect's.
	bulkInsert string
	copyFrom   func(ctx context.Context, driverConn any, table string, cols []string, rows [][]any) error
	// conn is the connection the transaction runs on, when the Dialect
	// has a CopyFrom (which needs the driver's connection).
	conn *sql.Conn

	headLoaded bool
	headSeq    int64 // -1 for an empty log
	headHash   string
	hashes     map[int64]tlog.Hash
}

func (t *Tx) stmt(ctx context.Context, q string) *sql.Stmt {
	if s, ok := t.stmts[q]; ok {
		return s
	}
	s, err := t.tx.PrepareContext(ctx, t.rebind(q))
	if err != nil {
		return nil
	}
	t.stmts[q] = s
	return s
}

func (t *Tx) closeStmts() {
	for _, s := range t.stmts {
		s.Close()
	}
}

func (t *Tx) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	if len(args) > 0 { // statements without arguments (migrations, locks) are not prepared: one may hold several commands
		if s := t.stmt(ctx, q); s != nil {
			return s.QueryRowContext(ctx, args...)
		}
	}
	return t.tx.QueryRowContext(ctx, t.rebind(q), args...)
}

func (t *Tx) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if len(args) > 0 { // statements without arguments (migrations, locks) are not prepared: one may hold several commands
		if s := t.stmt(ctx, q); s != nil {
			return s.QueryContext(ctx, args...)
		}
	}
	return t.tx.QueryContext(ctx, t.rebind(q), args...)
}

func (t *Tx) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if len(args) > 0 { // statements without arguments (migrations, locks) are not prepared: one may hold several commands
		if s := t.stmt(ctx, q); s != nil {
			return s.ExecContext(ctx, args...)
		}
	}
	return t.tx.ExecContext(ctx, t.rebind(q), args...)
}
