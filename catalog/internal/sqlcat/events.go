package sqlcat

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/brickyard/brickyard/catalog"
	"github.com/opencontainers/go-digest"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// appendEvent appends one event to the log inside tx: the next sequence
// number, chained to the last event's hash, and the Merkle tree hashes it
// adds. body is marshalled as JSON (Go's encoding is deterministic).
func appendEvent(ctx context.Context, tx *Tx, typ, subject, actor string, at time.Time, body any) error {
	e, hs, base, err := nextEvent(ctx, tx, typ, subject, actor, at, body)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO events (seq, at, actor, type, subject, body, prev, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		e.Seq, e.At.Unix(), e.Actor, e.Type, e.Subject, e.Body, e.Prev, e.Hash); err != nil {
		return err
	}
	for i, h := range hs {
		if _, err := tx.ExecContext(ctx, `INSERT INTO tlog_hashes (idx, hash) VALUES (?, ?)`, base+int64(i), h[:]); err != nil {
			return err
		}
	}
	return nil
}

// nextEvent makes the next event of tx's log and the tlog hashes it adds
// (to be stored from index base), and advances tx's in-memory head; the
// caller inserts them.
func nextEvent(ctx context.Context, tx *Tx, typ, subject, actor string, at time.Time, body any) (catalog.Event, []tlog.Hash, int64, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return catalog.Event{}, nil, 0, err
	}
	if actor == "" {
		actor = "unknown"
	}
	e := catalog.Event{At: at.UTC().Truncate(time.Second), Actor: actor, Type: typ, Subject: subject, Body: string(b)}
	if !tx.headLoaded {
		tx.headSeq = -1
		err = tx.QueryRowContext(ctx, `SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1`).Scan(&tx.headSeq, &tx.headHash)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return catalog.Event{}, nil, 0, err
		}
		tx.headLoaded = true
	}
	e.Seq, e.Prev = tx.headSeq+1, tx.headHash
	e.Hash = e.ChainHash(e.Prev)
	hs, err := tlog.StoredHashesForRecordHash(e.Seq, tlog.RecordHash(e.LeafData()), cachedHashes{tx, txHashes{ctx, tx}})
	if err != nil {
		return catalog.Event{}, nil, 0, err
	}
	base := tlog.StoredHashIndex(0, e.Seq)
	for i, h := range hs {
		tx.hashes[base+int64(i)] = h
	}
	tx.headSeq, tx.headHash = e.Seq, e.Hash
	return e, hs, base, nil
}

// cachedHashes reads the hashes this transaction wrote from memory, the
// rest from the database.
type cachedHashes struct {
	tx   *Tx
	rest tlog.HashReader
}

func (c cachedHashes) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	var miss []int64
	for i, x := range indexes {
		if h, ok := c.tx.hashes[x]; ok {
			out[i] = h
		} else {
			miss = append(miss, x)
		}
	}
	if len(miss) == 0 {
		return out, nil
	}
	got, err := c.rest.ReadHashes(miss)
	if err != nil {
		return nil, err
	}
	j := 0
	for i, x := range indexes {
		if _, ok := c.tx.hashes[x]; !ok {
			out[i] = got[j]
			j++
		}
	}
	return out, nil
}

// txHashes reads stored tlog hashes within a transaction.
type txHashes struct {
	ctx context.Context
	q   interface {
		QueryRowContext(context.Context, string, ...any) *sql.Row
	}
}

func (t txHashes) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		var b []byte
		if err := t.q.QueryRowContext(t.ctx, `SELECT hash FROM tlog_hashes WHERE idx = ?`, x).Scan(&b); err != nil {
			return nil, fmt.Errorf("tlog hash %d: %w", x, err)
		}
		if len(b) != tlog.HashSize {
			return nil, fmt.Errorf("tlog hash %d: %d bytes: %w", x, len(b), catalog.ErrLogTampered)
		}
		copy(out[i][:], b)
	}
	return out, nil
}

// LogSize returns the number of events in the log.
func (c *DB) LogSize(ctx context.Context) (int64, error) {
	var n int64
	err := c.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM events`).Scan(&n)
	return n, err
}

// Events implements catalog.EventLog.
func (c *DB) Events(ctx context.Context) ([]catalog.Event, error) {
	rows, err := c.db.QueryContext(ctx, `SELECT seq, at, actor, type, subject, body, prev, hash FROM events ORDER BY seq`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []catalog.Event
	for rows.Next() {
		var e catalog.Event
		var at int64
		if err := rows.Scan(&e.Seq, &at, &e.Actor, &e.Type, &e.Subject, &e.Body, &e.Prev, &e.Hash); err != nil {
			return nil, err
		}
		e.At = time.Unix(at, 0).UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}

// Checkpoints implements catalog.EventLog.
func (c *DB) Checkpoints(ctx context.Context) ([][]byte, error) {
	rows, err := c.db.QueryContext(ctx, `SELECT note FROM checkpoints ORDER BY seq`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out = append(out, []byte(n))
	}
	return out, rows.Err()
}

// Checkpoint implements catalog.Checkpointer: it signs the tree hash of
// the whole log, computed from the stored tree hashes.
func (c *DB) Checkpoint(ctx context.Context, s note.Signer) ([]byte, error) {
	var signed []byte
	err := c.tx(ctx, func(tx *Tx) error {
		var n int64
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM events`).Scan(&n); err != nil {
			return err
		}
		var tree tlog.Tree
		tree.N = n
		if n > 0 {
			h, err := tlog.TreeHash(n, txHashes{ctx, tx})
			if err != nil {
				return err
			}
			tree.Hash = h
		}
		var err error
		if signed, err = note.Sign(&note.Note{Text: string(catalog.FormatCheckpoint(tree))}, s); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO checkpoints (size, note) VALUES (?, ?)`, n, string(signed))
		return err
	})
	return signed, err
}

// exists returns ErrNotFound unless artifact d is recorded.
func exists(ctx context.Context, tx *Tx, d digest.Digest) error {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM artifacts WHERE digest = ?`, d.String()).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("artifact %s: %w", d, catalog.ErrNotFound)
	}
	return nil
}

// lifecycleOf loads every lifecycle change of d, in the order recorded.
func lifecycleOf(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, d digest.Digest) ([]catalog.LifecycleChange, error) {
	rows, err := q.QueryContext(ctx, `SELECT state, reason, actor, at, effective, secrets, cause FROM lifecycle WHERE artifact = ? ORDER BY seq`, d.String())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []catalog.LifecycleChange
	for rows.Next() {
		var c catalog.LifecycleChange
		var state, cause string
		var at, eff int64
		if err := rows.Scan(&state, &c.Reason, &c.Actor, &at, &eff, &c.Secrets, &cause); err != nil {
			return nil, err
		}
		c.State, c.At, c.Cause = catalog.State(state), time.Unix(at, 0).UTC(), digest.Digest(cause)
		if eff != 0 {
			c.Effective = time.Unix(eff, 0).UTC()
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func statusOf(ctx context.Context, tx *Tx, d digest.Digest, now time.Time) (catalog.State, *catalog.LifecycleChange, error) {
	lc, err := lifecycleOf(ctx, tx, d)
	if err != nil {
		return "", nil, err
	}
	s, c := catalog.Record{Lifecycle: lc}.Status(now)
	return s, c, nil
}

// ChangeLifecycle implements catalog.Lifecycler.
func (c *DB) ChangeLifecycle(ctx context.Context, d digest.Digest, ch catalog.LifecycleChange) ([]digest.Digest, error) {
	now := time.Now().UTC().Truncate(time.Second)
	if err := ch.Validate(d, now); err != nil {
		return nil, err
	}
	var changed []digest.Digest
	err := c.tx(ctx, func(tx *Tx) error {
		changed = nil
		if err := exists(ctx, tx, d); err != nil {
			return err
		}
		state, cur, err := statusOf(ctx, tx, d, now)
		if err != nil {
			return err
		}
		switch {
		case ch.State == StateRevoked && state == StateRevoked:
			return fmt.Errorf("revoke %s: already %s: %w", d, cur.Describe(), catalog.ErrRevoked)
		case ch.State == StateActive && state == StateActive:
			return fmt.Errorf("reinstate %s: it is active: %w", d, catalog.ErrInvalidChange)
		}
		if err := insertLifecycle(ctx, tx, d, ch, now); err != nil {
			return err
		}
		changed = append(changed, d)
		if ch.State != StateRevoked || ch.NoCascade {
			return nil
		}
		rows, err := tx.QueryContext(ctx, `WITH RECURSIVE des (seq, depth) AS (
				SELECT child, 1 FROM parents WHERE parent = (SELECT seq FROM artifacts WHERE digest = ?)
				UNION
				SELECT p.child, d.depth + 1 FROM parents p JOIN des d ON p.parent = d.seq
			)
			SELECT a.digest FROM (SELECT seq, MIN(depth) AS depth FROM des GROUP BY seq) x JOIN artifacts a ON a.seq = x.seq ORDER BY x.depth, a.seq`, d.String())
		if err != nil {
			return err
		}
		var desc []digest.Digest
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				rows.Close()
				return err
			}
			desc = append(desc, digest.Digest(s))
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		var ref string
		if err := tx.QueryRowContext(ctx, `SELECT name || '@' || version FROM artifacts WHERE digest = ?`, d.String()).Scan(&ref); err != nil {
			return err
		}
		for _, x := range desc {
			if s, _, err := statusOf(ctx, tx, x, now); err != nil {
				return err
			} else if s == StateRevoked {
				continue
			}
			cc := ch
			cc.Cause, cc.Reason = d, "revoked by ancestor "+ref+": "+ch.Reason
			if err := insertLifecycle(ctx, tx, x, cc, now); err != nil {
				return err
			}
			changed = append(changed, x)
		}
		return nil
	})
	return changed, err
}

// Local names for the catalog's states.
const (
	StateActive  = catalog.StateActive
	StateRevoked = catalog.StateRevoked
)

func insertLifecycle(ctx context.Context, tx *Tx, d digest.Digest, ch catalog.LifecycleChange, now time.Time) error {
	var eff int64
	if !ch.Effective.IsZero() {
		eff = ch.Effective.Unix()
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO lifecycle (artifact, state, reason, actor, at, effective, secrets, cause) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		d.String(), string(ch.State), ch.Reason, ch.Actor, now.Unix(), eff, ch.Secrets, ch.Cause.String()); err != nil {
		return err
	}
	return appendEvent(ctx, tx, catalog.EventLifecycle, d.String(), ch.Actor, now, struct {
		State     catalog.State `json:"state"`
		Reason    string        `json:"reason"`
		Secrets   bool          `json:"secrets,omitempty"`
		Effective int64         `json:"effective,omitempty"`
		Cause     string        `json:"cause,omitempty"`
	}{ch.State, ch.Reason, ch.Secrets, eff, ch.Cause.String()})
}

// SetVisibility implements catalog.Visibilities.
func (c *DB) SetVisibility(ctx context.Context, d digest.Digest, v catalog.VisibilityChange) error {
	if err := validateVisibility(d, v); err != nil {
		return err
	}
	now := time.Now().UTC().Truncate(time.Second)
	return c.tx(ctx, func(tx *Tx) error {
		if err := exists(ctx, tx, d); err != nil {
			return err
		}
		if v.Level == catalog.VisibilityPublic {
			state, cur, err := statusOf(ctx, tx, d, now)
			if err != nil {
				return err
			}
			if state == StateRevoked || (state != StateActive && cur.Secrets) {
				return fmt.Errorf("make %s public: it is %s: %w", d, cur.Describe(), catalog.ErrRevoked)
			}
		}
		p, err := json.Marshal(v.Principals)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO visibility (artifact, level, principals, reason, actor, at) VALUES (?, ?, ?, ?, ?, ?)`,
			d.String(), v.Level, string(p), v.Reason, v.Actor, now.Unix()); err != nil {
			return err
		}
		return appendEvent(ctx, tx, catalog.EventVisibility, d.String(), v.Actor, now, struct {
			Level      string   `json:"level"`
			Principals []string `json:"principals,omitempty"`
			Reason     string   `json:"reason"`
		}{v.Level, v.Principals, v.Reason})
	})
}

func validateVisibility(d digest.Digest, v catalog.VisibilityChange) error {
	switch v.Level {
	case catalog.VisibilityPrivate, catalog.VisibilityPublic:
		if len(v.Principals) > 0 {
			return fmt.Errorf("%s: %s visibility names principals %v: %w (only shared does)", d, v.Level, v.Principals, catalog.ErrInvalidChange)
		}
	case catalog.VisibilityShared:
		if len(v.Principals) == 0 {
			return fmt.Errorf("%s: shared with nobody: name the accounts, organisations or namespaces: %w", d, catalog.ErrInvalidChange)
		}
		for _, p := range v.Principals {
			if p == "" {
				return fmt.Errorf("%s: shared with an empty principal: %w", d, catalog.ErrInvalidChange)
			}
		}
	default:
		return fmt.Errorf("%s: visibility %q: %w (private, shared or public)", d, v.Level, catalog.ErrInvalidChange)
	}
	if v.Reason == "" || v.Actor == "" {
		return fmt.Errorf("%s: visibility needs a reason and an actor: %w", d, catalog.ErrInvalidChange)
	}
	return nil
}

func visibilityOf(ctx context.Context, db *Conn, d digest.Digest) (*catalog.VisibilityChange, error) {
	var v catalog.VisibilityChange
	var p string
	var at int64
	err := db.QueryRowContext(ctx, `SELECT level, principals, reason, actor, at FROM visibility WHERE artifact = ? ORDER BY seq DESC LIMIT 1`,
		d.String()).Scan(&v.Level, &p, &v.Reason, &v.Actor, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(p), &v.Principals); err != nil {
		return nil, fmt.Errorf("visibility of %s: %w", d, err)
	}
	v.At = time.Unix(at, 0).UTC()
	return &v, nil
}

var channelName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// SetChannel implements catalog.Channels.
func (c *DB) SetChannel(ctx context.Context, ch catalog.ChannelChange) error {
	if !channelName.MatchString(ch.Channel) {
		return fmt.Errorf("channel %q: %w (lower-case letters, digits, '.', '_', '-'; at most 64)", ch.Channel, catalog.ErrInvalidChange)
	}
	if ch.Actor == "" {
		return fmt.Errorf("channel %s/%s: an actor is required: %w", ch.Name, ch.Channel, catalog.ErrInvalidChange)
	}
	now := time.Now().UTC().Truncate(time.Second)
	return c.tx(ctx, func(tx *Tx) error { return setChannel(ctx, tx, ch, now) })
}

func setChannel(ctx context.Context, tx *Tx, ch catalog.ChannelChange, now time.Time) error {
	rows, err := tx.QueryContext(ctx, `SELECT digest FROM artifacts WHERE name = ? AND version = ?`, ch.Name, ch.Version)
	if err != nil {
		return err
	}
	var ds []digest.Digest
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			rows.Close()
			return err
		}
		ds = append(ds, digest.Digest(s))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if len(ds) == 0 {
		return fmt.Errorf("channel %s/%s: %s@%s is not in the catalog: %w", ch.Name, ch.Channel, ch.Name, ch.Version, catalog.ErrNotFound)
	}
	for _, d := range ds {
		var gone int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM deletions WHERE artifact = ?`, d.String()).Scan(&gone); err != nil {
			return err
		}
		if gone > 0 {
			return fmt.Errorf("channel %s/%s: %s@%s (%s): %w", ch.Name, ch.Channel, ch.Name, ch.Version, d, catalog.ErrDeleted)
		}
		if s, cur, err := statusOf(ctx, tx, d, now); err != nil {
			return err
		} else if s == StateRevoked {
			return fmt.Errorf("channel %s/%s: %s@%s is %s: %w", ch.Name, ch.Channel, ch.Name, ch.Version, cur.Describe(), catalog.ErrRevoked)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO channels (name, channel, version, reason, actor, at) VALUES (?, ?, ?, ?, ?, ?)`,
		ch.Name, ch.Channel, ch.Version, ch.Reason, ch.Actor, now.Unix()); err != nil {
		return err
	}
	return appendEvent(ctx, tx, catalog.EventChannel, ch.Name+"/"+ch.Channel, ch.Actor, now, struct {
		Version string `json:"version"`
		Reason  string `json:"reason,omitempty"`
	}{ch.Version, ch.Reason})
}

// Channel implements catalog.Channels.
func (c *DB) Channel(ctx context.Context, name, channel string) (catalog.ChannelChange, error) {
	h, err := c.ChannelHistory(ctx, name, channel)
	if err != nil {
		return catalog.ChannelChange{}, err
	}
	if len(h) == 0 {
		return catalog.ChannelChange{}, fmt.Errorf("channel %s/%s is not set: %w", name, channel, catalog.ErrNotFound)
	}
	return h[len(h)-1], nil
}

// ChannelHistory implements catalog.Channels.
func (c *DB) ChannelHistory(ctx context.Context, name, channel string) ([]catalog.ChannelChange, error) {
	return channelHistory(ctx, c.db, name, channel)
}

func channelHistory(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, name, channel string) ([]catalog.ChannelChange, error) {
	rows, err := q.QueryContext(ctx, `SELECT version, reason, actor, at FROM channels WHERE name = ? AND channel = ? ORDER BY seq`, name, channel)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []catalog.ChannelChange{}
	for rows.Next() {
		ch := catalog.ChannelChange{Name: name, Channel: channel}
		var at int64
		if err := rows.Scan(&ch.Version, &ch.Reason, &ch.Actor, &at); err != nil {
			return nil, err
		}
		ch.At = time.Unix(at, 0).UTC()
		out = append(out, ch)
	}
	return out, rows.Err()
}

// RollbackChannel implements catalog.Channels.
func (c *DB) RollbackChannel(ctx context.Context, name, channel, actor, reason string) (catalog.ChannelChange, error) {
	if actor == "" {
		return catalog.ChannelChange{}, fmt.Errorf("rollback %s/%s: an actor is required: %w", name, channel, catalog.ErrInvalidChange)
	}
	now := time.Now().UTC().Truncate(time.Second)
	var ch catalog.ChannelChange
	err := c.tx(ctx, func(tx *Tx) error {
		h, err := channelHistory(ctx, tx, name, channel)
		if err != nil {
			return err
		}
		if len(h) < 2 {
			return fmt.Errorf("rollback %s/%s: no earlier target to go back to: %w", name, channel, catalog.ErrNotFound)
		}
		if reason == "" {
			reason = "rollback from " + h[len(h)-1].Version
		}
		ch = catalog.ChannelChange{Name: name, Channel: channel, Version: h[len(h)-2].Version, Reason: reason, Actor: actor, At: now}
		return setChannel(ctx, tx, ch, now)
	})
	return ch, err
}

// Descendants implements catalog.Lineage with a recursive query.
func (c *DB) Descendants(ctx context.Context, d digest.Digest) ([]catalog.Record, error) {
	if _, err := c.Get(ctx, d); err != nil {
		return nil, err
	}
	return c.query(ctx, `WITH RECURSIVE des (seq, depth) AS (
			SELECT child, 1 FROM parents WHERE parent = (SELECT seq FROM artifacts WHERE digest = ?)
			UNION
			SELECT p.child, d.depth + 1 FROM parents p JOIN des d ON p.parent = d.seq
		)
		SELECT `+prefixed("a.")+` FROM artifacts a
		JOIN (SELECT seq, MIN(depth) AS depth FROM des GROUP BY seq) x ON x.seq = a.seq
		ORDER BY x.depth, a.seq`, d.String())
}

// RecordCloudAction implements catalog.CloudActionRecorder.
func (c *DB) RecordCloudAction(ctx context.Context, d digest.Digest, a catalog.CloudAction) error {
	if err := a.Validate(d); err != nil {
		return err
	}
	now := time.Now().UTC().Truncate(time.Second)
	return c.tx(ctx, func(tx *Tx) error {
		if err := exists(ctx, tx, d); err != nil {
			return err
		}
		return appendEvent(ctx, tx, catalog.EventCloudAction, d.String(), a.Actor, now, a)
	})
}
