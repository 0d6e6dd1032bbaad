package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"
)

// errFsck is what fsck returns when it found problems it did not repair.
var errFsck = errors.New("the store or catalog is inconsistent")

func newFsckCmd(e *env) *cobra.Command {
	var repair bool
	var keys []string
	cmd := &cobra.Command{
		Use:   "fsck",
		Short: "Check the whole home store and catalog: tags, blob hashes, records, the event log",
		Long: `Check the home store and its catalog, as git fsck checks a repository:
in the store, every blob hashes to its name (each is read once), every tag
resolves to a present, intact manifest whose blobs are all present, and no
killed writer left ingest files; in the catalog, every record's manifest is
in its store under its version tag, every version tag of the store is
recorded, and the event log verifies (hash chain and signed checkpoints,
with --key or HOME/log.pub). It reports every problem and exits 1 if there
is any. It changes nothing unless --repair is given, which removes corrupt
blobs (publish or copy the artifact again to restore them) and stale ingest
files, and records the unrecorded version tags (catalog reconcile). Tags
and records are never removed: what remains is for a person to decide.`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			vs, err := e.checkpointVerifiers(keys)
			if err != nil {
				return err
			}
			if err := e.open(ctx); err != nil {
				return err
			}
			rep, err := e.c.Fsck(ctx, vs, repair)
			if err != nil {
				return err
			}
			srep, crep, reconciled, left := rep.Store, rep.Catalog, rep.Reconciled, rep.Problems
			if e.json {
				if err := e.printJSON(map[string]any{"store": srep, "catalog": crep, "reconciled": reconciled, "problems": left}); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(e.out, "store: %d repositories, %d tags, %d blobs (%d bytes) re-hashed\n", srep.Repositories, srep.Tags, srep.Blobs, srep.Bytes)
				for _, p := range srep.Problems {
					state := ""
					if p.Repaired {
						state = " (repaired: removed)"
					}
					fmt.Fprintf(e.out, "  %s %s in %s: %s%s\n", p.What, p.Ref, p.Repository, p.Detail, state)
				}
				fmt.Fprintf(e.out, "catalog: %d records, event log of %d events and %d checkpoints\n", crep.Records, crep.Events, crep.Checkpoints)
				if reconciled > 0 {
					fmt.Fprintf(e.out, "  recorded %d unrecorded version tags (repaired)\n", reconciled)
				}
				for _, c := range crep.Inconsistencies {
					fmt.Fprintf(e.out, "  %s %s: %s\n", c.What, c.Ref, c.Detail)
				}
			}
			if left > 0 {
				return fmt.Errorf("fsck: %d problems left: %w", left, errFsck)
			}
			if !e.json {
				fmt.Fprintln(e.out, "no problems left")
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&repair, "repair", false, "remove corrupt blobs and stale ingest files, record unrecorded version tags")
	cmd.Flags().StringArrayVar(&keys, "key", nil, "event-log checkpoint verifier key file (repeatable; default HOME/log.pub)")
	return cmd
}
