// Command deploy is what an internal deploy tool does with brickyard: resolve
// "the newest signed version of NAME in RANGE for PLATFORM" to a digest, having
// verified its signature against the trusted keys, and print that digest — the
// thing to deploy, never a tag that could move between check and use.
//
//	deploy -home .brickyard -key cosign.pub -platform linux/amd64 web '^1.0'
//
// Exit codes: 0 resolved; 1 error; 3 nothing trusted matches; 4 nothing matches.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/catalog"
	"github.com/brickyard/brickyard/catalog/sqlite"
	"github.com/brickyard/brickyard/registry/layout"
	"github.com/brickyard/brickyard/sign"
)

func main() {
	home := flag.String("home", ".brickyard", "brickyard home: HOME/store and HOME/catalog.db")
	key := flag.String("key", "cosign.pub", "trusted cosign public key")
	platform := flag.String("platform", "linux/amd64", "platform to deploy on")
	flag.Parse()
	if flag.NArg() != 2 {
		fmt.Fprintln(os.Stderr, "usage: deploy [flags] NAME RANGE")
		os.Exit(2)
	}
	rec, err := resolve(context.Background(), *home, *key, *platform, flag.Arg(0), flag.Arg(1))
	switch {
	case errors.Is(err, catalog.ErrUnsigned), errors.Is(err, catalog.ErrUntrusted):
		fmt.Fprintln(os.Stderr, "deploy:", err)
		os.Exit(3)
	case errors.Is(err, catalog.ErrNotFound):
		fmt.Fprintln(os.Stderr, "deploy:", err)
		os.Exit(4)
	case err != nil:
		fmt.Fprintln(os.Stderr, "deploy:", err)
		os.Exit(1)
	}
	fmt.Printf("deploy %s@%s %s\n", rec.Name, rec.Version, rec.Digest)
}

func resolve(ctx context.Context, home, keyPath, platform, name, constraint string) (catalog.Record, error) {
	p, err := artifact.ParsePlatform(platform)
	if err != nil {
		return catalog.Record{}, err
	}
	pub, err := os.ReadFile(keyPath)
	if err != nil {
		return catalog.Record{}, err
	}
	v, err := sign.NewVerifier(pub)
	if err != nil {
		return catalog.Record{}, err
	}
	store, err := layout.New(filepath.Join(home, "store"))
	if err != nil {
		return catalog.Record{}, err
	}
	dbPath := filepath.Join(home, "catalog.db")
	if _, err := os.Stat(dbPath); err != nil {
		return catalog.Record{}, fmt.Errorf("no catalog at %s (publish with brickyard first): %w", dbPath, err)
	}
	cat, err := sqlite.Open(ctx, dbPath)
	if err != nil {
		return catalog.Record{}, err
	}
	defer cat.Close()
	q := catalog.Query{Name: name, Constraint: constraint, Platform: p}
	return catalog.Resolve(ctx, cat, q, sign.StoreVerifier{Store: store, Verifier: v})
}
