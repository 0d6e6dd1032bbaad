package postgres_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/brickyard/brickyard/catalog"
	"github.com/brickyard/brickyard/catalog/catalogtest"
	"github.com/brickyard/brickyard/catalog/postgres"
	"github.com/brickyard/brickyard/catalog/postgres/pgtest"
)

// TestConformance runs the catalogtest suite on a real PostgreSQL, one new
// database per test.
func TestConformance(t *testing.T) {
	srv := pgtest.Start(t)
	var n atomic.Int64
	catalogtest.Run(t, func(t *testing.T) catalog.Catalog {
		dsn, err := srv.CreateDatabase(fmt.Sprintf("conformance_%d", n.Add(1)))
		if err != nil {
			t.Fatal(err)
		}
		c, err := postgres.Open(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		return c
	})
}

func TestSchemaTooNew(t *testing.T) {
	ctx := context.Background()
	srv := pgtest.Start(t)
	dsn, err := srv.CreateDatabase("too_new")
	if err != nil {
		t.Fatal(err)
	}
	c, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SQL().ExecContext(ctx, `INSERT INTO schema_version (version) VALUES (99)`); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if _, err := postgres.Open(ctx, dsn); !errors.Is(err, catalog.ErrSchemaTooNew) {
		t.Fatalf("got %v, want ErrSchemaTooNew", err)
	}
}

func TestAppendOnly(t *testing.T) {
	ctx := context.Background()
	srv := pgtest.Start(t)
	c, err := postgres.Open(ctx, srv.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, s := range []string{`DELETE FROM events`, `UPDATE artifacts SET name = 'x'`, `DELETE FROM lifecycle`} {
		if _, err := c.SQL().ExecContext(ctx, s); err != nil && !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: %v", s, err)
		}
	}
	// On empty tables the statements touch no row; insert one and retry.
	if _, err := c.SQL().ExecContext(ctx, `INSERT INTO checkpoints (size, note) VALUES (0, 'x')`); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SQL().ExecContext(ctx, `DELETE FROM checkpoints`); err == nil || !strings.Contains(err.Error(), "append-only") {
		t.Errorf("DELETE FROM checkpoints: %v, want refused as append-only", err)
	}
}

func TestUnreachable(t *testing.T) {
	_, err := postgres.Open(context.Background(), "postgres://brickyard@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=2")
	if err == nil || !strings.Contains(err.Error(), "connect") {
		t.Fatalf("got %v, want a connection error", err)
	}
}

// TestMigrateParentsBySeq opens a catalog written at schema version 1
// (parents by digest) and checks that version 2 carries every parent over.
func TestMigrateParentsBySeq(t *testing.T) {
	ctx := context.Background()
	srv := pgtest.Start(t)
	dsn, err := srv.CreateDatabase("migrate")
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	body, err := fs.ReadFile(postgres.Migrations, "migrations/0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`CREATE TABLE schema_version (version INTEGER NOT NULL)`, string(body),
		`INSERT INTO schema_version (version) VALUES (1)`, catalogtest.LineageByDigestSeed(t)} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	c, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	catalogtest.CheckLineageMigrated(t, c)
}
