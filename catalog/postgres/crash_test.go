package postgres_test

import (
	"context"
	"os"
	"testing"

	"github.com/brickyard/brickyard/catalog"
	"github.com/brickyard/brickyard/catalog/catalogtest"
	"github.com/brickyard/brickyard/catalog/postgres"
	"github.com/brickyard/brickyard/catalog/postgres/pgtest"
)

// TestCrash: a publisher killed with SIGKILL mid-write leaves a catalog
// that opens, verifies and holds each artifact whole or not at all.
func TestCrash(t *testing.T) {
	dsn := os.Getenv("BRICKYARD_CRASH_DSN")
	if dsn == "" {
		dsn = pgtest.Start(t).DSN
		t.Setenv("BRICKYARD_CRASH_DSN", dsn)
	}
	catalogtest.RunCrash(t, "TestCrash", func() (catalog.Catalog, error) { return postgres.Open(context.Background(), dsn) })
}
