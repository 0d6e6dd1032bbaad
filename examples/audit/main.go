// Command audit is a scripted audit over a brickyard catalog: it reports
// artifacts nobody signed, revoked artifacts that are still shared or
// public, every public artifact, and, for each disk file named on the
// command line (found on a host, a share, a bucket), which artifact and
// version it is, by its digest. No signing key is needed.
//
//	audit -home .brickyard /mnt/share/*.qcow2
//
// Exit codes: 0 nothing to report; 1 error; 3 findings.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/brickyard/brickyard"
	"github.com/brickyard/brickyard/catalog"
)

func main() {
	findings, err := run(context.Background(), os.Args[1:], os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "audit:", err)
		os.Exit(1)
	}
	if findings > 0 {
		os.Exit(3)
	}
}

func run(ctx context.Context, args []string, out io.Writer) (findings int, err error) {
	fs := flag.NewFlagSet("audit", flag.ContinueOnError)
	home := fs.String("home", ".brickyard", "brickyard home")
	if err := fs.Parse(args); err != nil {
		return 0, err
	}
	c, err := brickyard.Open(ctx, *home, brickyard.WithStore(os.Getenv("BRICKYARD_STORE")), brickyard.WithCatalog(os.Getenv("BRICKYARD_CATALOG")))
	if err != nil {
		return 0, err
	}
	defer c.Close(ctx)
	findingNames := []string{"UNSIGNED", "REVOKED_BUT_VISIBLE", "PUBLIC"}
	for i, f := range []brickyard.Filter{{Unsigned: true},
		{State: catalog.StateRevoked, Visibility: []string{catalog.VisibilityShared, catalog.VisibilityPublic}},
		{Visibility: []string{catalog.VisibilityPublic}}} {
		recs, err := c.Find(ctx, f)
		if err != nil {
			return findings, err
		}
		for _, r := range recs {
			fmt.Fprintf(out, "%s %s %s\n", findingNames[i], r.Ref(), r.Digest)
			findings++
		}
	}
	for _, path := range fs.Args() {
		d, matches, err := c.IdentifyFile(ctx, path)
		if err != nil {
			return findings, err
		}
		if len(matches) == 0 {
			fmt.Fprintf(out, "UNKNOWN_DISK %s %s\n", path, d)
			findings++
		}
		for _, m := range matches {
			fmt.Fprintf(out, "IDENTIFIED %s is %s (%s) %s\n", path, m.Record.Ref(), m.Blob.Annotations["org.opencontainers.image.title"], m.Record.Digest)
		}
	}
	return findings, nil
}
