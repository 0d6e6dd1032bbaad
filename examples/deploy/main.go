// Command deploy is what an internal deploy tool does with brickyard:
// resolve "the newest trusted 2.x of web on channel prod for linux/amd64"
// to a digest, having verified it (signature against the trusted keys, or
// a whole trust policy: owner, provenance) and checked it is not revoked,
// and print that digest — the thing to deploy, never a tag that could move
// between check and use. Rolling back is moving the channel back to its
// previous version, as a new event, and deploying what it then resolves to.
//
//	deploy -home .brickyard -key cosign.pub -platform linux/amd64 web '^2'
//	deploy -home .brickyard -policy policy.yaml -channel prod web '2.x'
//	deploy -home .brickyard -key cosign.pub -channel prod -rollback web
//
// Exit codes: 0 resolved; 1 error; 2 usage; 3 nothing trusted matches (unsigned,
// untrusted, revoked, policy refused); 4 nothing matches.
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
	var o options
	flag.StringVar(&o.home, "home", ".brickyard", "brickyard home: HOME/store and HOME/catalog.db")
	flag.StringVar(&o.key, "key", "", "trusted cosign public key (or -policy)")
	flag.StringVar(&o.policy, "policy", "", "trust policy file (or -key)")
	flag.StringVar(&o.platform, "platform", "linux/amd64", "platform to deploy on")
	flag.StringVar(&o.channel, "channel", "", "deploy what this channel points at, e.g. prod")
	rollback := flag.Bool("rollback", false, "move -channel back to its previous version first (needs -channel)")
	flag.Parse()
	usage := func(msg string) {
		fmt.Fprintln(os.Stderr, "deploy:", msg)
		fmt.Fprintln(os.Stderr, "usage: deploy [-key K | -policy P] [-channel C [-rollback]] NAME [RANGE]")
		os.Exit(2)
	}
	if (o.key == "") == (o.policy == "") {
		usage("give -key or -policy, one of them")
	}
	if flag.NArg() < 1 || flag.NArg() > 2 || (flag.NArg() == 1 && o.channel == "") || (*rollback && o.channel == "") {
		usage("a NAME and a RANGE, or a NAME and a -channel")
	}
	o.name, o.constraint = flag.Arg(0), flag.Arg(1)
	ctx := context.Background()
	rec, err := deploy(ctx, o, *rollback)
	switch {
	case errors.Is(err, catalog.ErrNotFound):
		fmt.Fprintln(os.Stderr, "deploy:", err)
		os.Exit(4)
	case errors.Is(err, catalog.ErrUnsigned), errors.Is(err, catalog.ErrUntrusted), errors.Is(err, catalog.ErrRevoked),
		errors.Is(err, sign.ErrOwnerMismatch), errors.Is(err, sign.ErrNoPolicy), errors.Is(err, sign.ErrInvalidSignature),
		errors.Is(err, sign.ErrProvenanceMissing), errors.Is(err, sign.ErrProvenanceMismatch):
		fmt.Fprintln(os.Stderr, "deploy:", err)
		os.Exit(3)
	case err != nil:
		fmt.Fprintln(os.Stderr, "deploy:", err)
		os.Exit(1)
	}
	for _, w := range rec.Warnings {
		fmt.Fprintln(os.Stderr, "warning:", w)
	}
	fmt.Printf("deploy %s@%s %s\n", rec.Name, rec.Version, rec.Digest)
}

type options struct {
	home, key, policy, platform, channel, name, constraint string
}

// deploy opens the home, optionally rolls the channel back, and resolves.
func deploy(ctx context.Context, o options, rollback bool) (catalog.Record, error) {
	p, err := artifact.ParsePlatform(o.platform)
	if err != nil {
		return catalog.Record{}, err
	}
	store, err := layout.New(filepath.Join(o.home, "store"))
	if err != nil {
		return catalog.Record{}, err
	}
	var v catalog.Verifier
	if o.policy != "" {
		pol, err := sign.LoadPolicy(o.policy)
		if err != nil {
			return catalog.Record{}, err
		}
		v = sign.PolicyVerifier{Store: store, Policy: pol}
	} else {
		pub, err := os.ReadFile(o.key)
		if err != nil {
			return catalog.Record{}, err
		}
		kv, err := sign.NewVerifier(pub)
		if err != nil {
			return catalog.Record{}, err
		}
		v = sign.StoreVerifier{Store: store, Verifier: kv}
	}
	dbPath := filepath.Join(o.home, "catalog.db")
	if _, err := os.Stat(dbPath); err != nil {
		return catalog.Record{}, fmt.Errorf("no catalog at %s (publish with brickyard first): %w", dbPath, err)
	}
	cat, err := sqlite.Open(ctx, dbPath)
	if err != nil {
		return catalog.Record{}, err
	}
	defer cat.Close()
	if rollback {
		actor := os.Getenv("USER")
		if actor == "" {
			actor = "deploy"
		}
		ch, err := cat.RollbackChannel(ctx, o.name, o.channel, actor, "")
		if err != nil {
			return catalog.Record{}, err
		}
		fmt.Fprintf(os.Stderr, "rolled %s/%s back to %s\n", o.name, o.channel, ch.Version)
	}
	if o.channel != "" {
		return catalog.ResolveChannel(ctx, cat, o.name, o.channel, o.constraint, p, v)
	}
	return catalog.Resolve(ctx, cat, catalog.Query{Name: o.name, Constraint: o.constraint, Platform: p}, v)
}
