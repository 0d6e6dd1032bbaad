package sqlite

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/brickyard/brickyard/catalog"
	"github.com/brickyard/brickyard/catalog/catalogtest"
)

// TestCrash: a publisher killed with SIGKILL mid-write leaves a catalog
// that opens, verifies and holds each artifact whole or not at all.
func TestCrash(t *testing.T) {
	path := os.Getenv("BRICKYARD_CRASH_DB")
	if path == "" {
		path = filepath.Join(t.TempDir(), "catalog.db")
		t.Setenv("BRICKYARD_CRASH_DB", path)
	}
	catalogtest.RunCrash(t, "TestCrash", func() (catalog.Catalog, error) { return Open(context.Background(), path) })
}
