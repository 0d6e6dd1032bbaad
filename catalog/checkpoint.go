package catalog

import (
	"bytes"
	"context"
	"fmt"

	"golang.org/x/mod/sumdb/note"
)

// CheckpointTarget is what CheckpointIfBehind needs of a catalog backend;
// catalog/sqlite and catalog/postgres satisfy it.
type CheckpointTarget interface {
	// LogSize returns the number of events in the log.
	LogSize(ctx context.Context) (int64, error)
	EventLog
	Checkpointer
}

// CheckpointStatus says how far the signed checkpoints cover the log.
type CheckpointStatus struct {
	Events  int64 // events in the log
	Covered int64 // events the newest stored checkpoint covers (0: none)
	Signed  bool  // CheckpointIfBehind signed a new checkpoint
}

// CheckpointIfBehind signs a checkpoint of c's whole log with s when the
// newest stored checkpoint covers fewer events than the log holds: after
// a change, and also after an earlier command whose change was committed
// but whose checkpoint was not (killed, or a full disk), which is how such
// a checkpoint is retried by the next command. The newest checkpoint's
// size is read from its text, unverified: VerifyLog checks the
// signatures. On error the status still says how far the log is covered.
func CheckpointIfBehind(ctx context.Context, c CheckpointTarget, s note.Signer) (CheckpointStatus, error) {
	var st CheckpointStatus
	var err error
	if st.Events, err = c.LogSize(ctx); err != nil {
		return st, err
	}
	cps, err := c.Checkpoints(ctx)
	if err != nil {
		return st, err
	}
	if len(cps) > 0 {
		last := cps[len(cps)-1]
		text := last
		if i := bytes.Index(last, []byte("\n\n")); i >= 0 {
			text = last[:i+1]
		}
		tree, err := ParseCheckpoint(string(text))
		if err != nil {
			return st, fmt.Errorf("newest checkpoint: %w", err)
		}
		st.Covered = tree.N
	}
	if st.Covered >= st.Events {
		return st, nil
	}
	if _, err := c.Checkpoint(ctx, s); err != nil {
		return st, err
	}
	st.Signed = true
	return st, nil
}
