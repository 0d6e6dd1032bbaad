package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"path/filepath"
	"testing"

	"github.com/brickyard/brickyard/catalog/catalogtest"
)

// TestMigrateParentsBySeq opens a catalog written at schema version 3
// (parents by digest) and checks that version 4 carries every parent over.
func TestMigrateParentsBySeq(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "catalog.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=foreign_keys(1)")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE schema_version (version INTEGER NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for v, name := range []string{"0001_init.sql", "0002_lifecycle.sql", "0003_events.sql"} {
		body, err := fs.ReadFile(migrationFS(), name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, string(body)+fmt.Sprintf(";\nINSERT INTO schema_version (version) VALUES (%d)", v+1)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if _, err := db.ExecContext(ctx, catalogtest.LineageByDigestSeed(t)); err != nil {
		t.Fatal(err)
	}
	db.Close()

	c, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	catalogtest.CheckLineageMigrated(t, c)
}
