package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newCatalogReconcileCmd(e *env) *cobra.Command {
	var keys []string
	cmd := &cobra.Command{
		Use:   "reconcile",
		Short: "Record the store's version tags the catalog lacks (a publish or copy interrupted before its record)",
		Long: `Walk the store and record every version tag whose manifest the catalog does
not hold, as catalog rebuild would, parents first: what a publish or a copy
left when it was killed, or failed (a locked catalog, a full disk), between
the store's tag and the catalog's record. With --key, signatures in the
store that verify with those keys and that the catalog lacks are recorded
too. What the catalog holds already is left as it is; running it on a
consistent home records nothing.`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if len(keys) > 0 {
				if err := e.trustKeys(keys, ""); err != nil {
					return err
				}
			}
			if err := e.open(ctx); err != nil {
				return err
			}
			rep, err := e.c.Reconcile(ctx)
			if err != nil {
				return err
			}
			if e.json {
				return e.printJSON(rep)
			}
			fmt.Fprintf(e.out, "reconciled %d repositories: recorded %d artifacts and %d signatures the catalog lacked\n", rep.Repositories, rep.Artifacts, rep.Signatures)
			for _, s := range rep.Skipped {
				fmt.Fprintln(e.err, "skipped", s)
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&keys, "key", nil, "also record the signatures that verify with this public key (repeatable)")
	return cmd
}
