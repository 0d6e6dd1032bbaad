package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newLogCheckpointCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "checkpoint",
		Short: "Sign a checkpoint of the event log if the newest one does not cover it all",
		Long: `Sign a checkpoint of the catalog's event log with HOME/log.key when the newest
signed checkpoint covers fewer events than the log holds, e.g. after a
command whose change was recorded but whose checkpoint could not be signed
(a full disk). Every command that opens the catalog does this at its end;
this one does only that, and says what it did.`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if err := e.open(ctx); err != nil {
				return err
			}
			st, err := e.c.Checkpoint(ctx)
			if err != nil {
				return fmt.Errorf("sign a checkpoint of the event log (%d events, the newest signed checkpoint covers %d): %w", st.Events, st.Covered, err)
			}
			if e.json {
				return e.printJSON(st)
			}
			if st.Signed {
				fmt.Fprintf(e.out, "signed a checkpoint of %d events (the newest covered %d)\n", st.Events, st.Covered)
			} else {
				fmt.Fprintf(e.out, "the newest checkpoint covers all %d events: nothing to sign\n", st.Events)
			}
			return nil
		},
	}
}
