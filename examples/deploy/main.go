// Command deploy is what an internal deploy tool does with brickyard:
// resolve the newest version of NAME in RANGE on a channel for a platform
// (never an unsigned, untrusted or revoked one), and write its disk files
// out of the store, verified, ready to boot. It prints what it deployed,
// by digest: the thing that was verified, never a tag that could move.
//
//	deploy -key cosign.pub -channel prod -platform linux/amd64 -output /var/lib/images web '^1'
//
// $BRICKYARD_STORE and $BRICKYARD_CATALOG name a team's registry
// (HOST[:PORT]/NAMESPACE) and PostgreSQL catalog (postgres://...) instead of
// the home's. Exit codes: 0 deployed; 1 error; 3 not trusted; 4 not found.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/brickyard/brickyard"
	"github.com/brickyard/brickyard/catalog"
)

func main() {
	err := run(context.Background(), os.Args[1:], os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "deploy:", err)
	}
	os.Exit(exitCode(err))
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("deploy", flag.ContinueOnError)
	home := fs.String("home", ".brickyard", "brickyard home")
	key := fs.String("key", "cosign.pub", "trusted public key")
	q := brickyard.Query{}
	fs.StringVar(&q.Channel, "channel", "prod", "deploy what this channel points at")
	fs.StringVar(&q.Platform, "platform", "linux/amd64", "platform to deploy on")
	output := fs.String("output", ".", "directory to write the disk files into")
	if err := fs.Parse(args); err != nil || fs.NArg() != 2 {
		return fmt.Errorf("usage: deploy [flags] NAME RANGE")
	}
	q.Name, q.Range = fs.Arg(0), fs.Arg(1)
	c, err := brickyard.Open(ctx, *home, brickyard.WithStore(os.Getenv("BRICKYARD_STORE")), brickyard.WithCatalog(os.Getenv("BRICKYARD_CATALOG")), brickyard.WithPublicKeyFiles(*key))
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	rec, err := c.Resolve(ctx, q)
	if err != nil {
		return err
	}
	for _, w := range rec.Warnings {
		fmt.Fprintln(os.Stderr, "warning:", w)
	}
	disks, err := c.FetchDisk(ctx, rec, *output, brickyard.FetchOptions{Force: true})
	for _, d := range disks {
		fmt.Fprintf(stdout, "deployed %s %s %s\n", rec.Ref(), rec.Digest, d.Path)
	}
	return err
}

func exitCode(err error) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, catalog.ErrNotTrusted): // unsigned, untrusted, revoked, refused by the policy
		return 3
	case errors.Is(err, catalog.ErrNotFound):
		return 4
	}
	return 1
}
