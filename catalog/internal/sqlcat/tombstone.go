package sqlcat

import (
	"context"
	"time"

	"github.com/brickyard/brickyard/catalog"
	"github.com/opencontainers/go-digest"
)

// MarkDeleted implements catalog.Tombstones: one deletions row and one
// "deleted" event, in one transaction; nothing if d is marked already.
func (c *DB) MarkDeleted(ctx context.Context, d digest.Digest, x catalog.Deletion) error {
	if err := x.Validate(d); err != nil {
		return err
	}
	now := time.Now().UTC().Truncate(time.Second)
	return c.tx(ctx, func(tx *Tx) error {
		if err := exists(ctx, tx, d); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM deletions WHERE artifact = ?`, d.String()).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO deletions (artifact, plan, rule, actor, at) VALUES (?, ?, ?, ?, ?)`,
			d.String(), x.Plan, x.Rule, x.Actor, now.Unix()); err != nil {
			return err
		}
		return appendEvent(ctx, tx, catalog.EventDeleted, d.String(), x.Actor, now, struct {
			Plan string `json:"plan"`
			Rule string `json:"rule,omitempty"`
		}{x.Plan, x.Rule})
	})
}
