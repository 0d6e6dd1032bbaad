package sqlite

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/brickyard/brickyard/catalog"
	"github.com/brickyard/brickyard/catalog/catalogtest"
)

func open(t *testing.T) catalog.Catalog {
	t.Helper()
	c, err := Open(context.Background(), filepath.Join(t.TempDir(), "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestConformance(t *testing.T) { catalogtest.Run(t, open) }

func TestPragmas(t *testing.T) {
	ctx := context.Background()
	c, err := Open(ctx, filepath.Join(t.TempDir(), "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SQL().SetMaxOpenConns(4)
	for pragma, want := range map[string]string{"journal_mode": "wal", "synchronous": "2", "foreign_keys": "1", "busy_timeout": "10000", "wal_autocheckpoint": "65536", "journal_size_limit": "268435456"} {
		var got string
		if err := c.SQL().QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("PRAGMA %s = %s, want %s", pragma, got, want)
		}
	}
}

func TestReopenPersists(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "catalog.db")
	c, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SQL().ExecContext(ctx, `INSERT INTO artifacts (digest, name, kind, version, version_key, platform, created, published, store, repository, media_type, size)
		VALUES ('sha256:0000000000000000000000000000000000000000000000000000000000000000', 'web', 'vm-disk', '1.0.0', '1.0.0', '', 0, 0, '', 'web', '', 0)`); err != nil {
		t.Fatal(err)
	}
	c.Close()
	c, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	names, err := c.Names(ctx)
	if err != nil || len(names) != 1 {
		t.Fatalf("after reopen: %v, %v", names, err)
	}
}

func TestSchemaTooNew(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "catalog.db")
	c, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SQL().ExecContext(ctx, `INSERT INTO schema_version (version) VALUES (99)`); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if _, err := Open(ctx, path); !errors.Is(err, catalog.ErrSchemaTooNew) || !strings.Contains(err.Error(), path) {
		t.Fatalf("got %v, want ErrSchemaTooNew naming the file", err)
	}
}

func TestCorruptFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "catalog.db")
	if err := os.WriteFile(path, []byte(strings.Repeat("this is not a database ", 500)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(context.Background(), path); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("got %v, want an error naming the file", err)
	}
}
