package sqlcat

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/catalog"
	"github.com/opencontainers/go-digest"
)

var _ catalog.Scanner = (*DB)(nil)

// Scan implements catalog.Scanner in one read-only transaction (SQLite: a
// WAL snapshot; PostgreSQL: REPEATABLE READ): the parents table is read
// first into two parallel slices ordered by child, then the artifacts
// table streams in seq order and each record takes its parents by a merge
// on seq (a parent's seq is always lower than its child's). The small side
// tables (lifecycle, tombstones, signatures, channels) are read whole.
// The columns that repeat across millions of rows (name, kind, platform,
// store, repository, media type, version) are read as raw bytes and
// interned, each distinct value parsed and allocated once: records share
// those strings, platforms and *semver.Version values (read-only).
func (c *DB) Scan(ctx context.Context, fn func(*catalog.Record) error) (catalog.Snapshot, error) {
	var snap catalog.Snapshot
	opts := &sql.TxOptions{ReadOnly: true}
	if c.d.Name != "sqlite" {
		opts.Isolation = sql.LevelRepeatableRead
	}
	tx, err := c.db.db.BeginTx(ctx, opts)
	if err != nil {
		return snap, err
	}
	defer tx.Rollback()
	query := func(q string, each func(*sql.Rows) error) error {
		rows, err := tx.QueryContext(ctx, c.d.Rebind(q))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			if err := each(rows); err != nil {
				return err
			}
		}
		return rows.Err()
	}
	var seq int64
	err = tx.QueryRowContext(ctx, `SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1`).Scan(&seq, &snap.Head.Hash)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return snap, err
	default:
		snap.Head.Size = seq + 1
	}
	var children, parents []int64
	err = query(`SELECT child, parent FROM parents ORDER BY child, position`, func(rows *sql.Rows) error {
		var ch, p int64
		if err := rows.Scan(&ch, &p); err != nil {
			return err
		}
		children, parents = append(children, ch), append(parents, p)
		return nil
	})
	if err != nil {
		return snap, err
	}
	lifecycle := map[string][]catalog.LifecycleChange{}
	err = query(`SELECT artifact, state, reason, actor, at, effective, secrets, cause FROM lifecycle ORDER BY seq`, func(rows *sql.Rows) error {
		var a, state, cause string
		var lc catalog.LifecycleChange
		var at, eff int64
		if err := rows.Scan(&a, &state, &lc.Reason, &lc.Actor, &at, &eff, &lc.Secrets, &cause); err != nil {
			return err
		}
		lc.State, lc.At, lc.Cause = catalog.State(state), time.Unix(at, 0).UTC(), digest.Digest(cause)
		if eff != 0 {
			lc.Effective = time.Unix(eff, 0).UTC()
		}
		lifecycle[a] = append(lifecycle[a], lc)
		return nil
	})
	if err != nil {
		return snap, err
	}
	deleted := map[string]*catalog.Deletion{}
	err = query(`SELECT artifact, plan, rule, actor, at FROM deletions`, func(rows *sql.Rows) error {
		var a string
		var x catalog.Deletion
		var at int64
		if err := rows.Scan(&a, &x.Plan, &x.Rule, &x.Actor, &at); err != nil {
			return err
		}
		x.At = time.Unix(at, 0).UTC()
		deleted[a] = &x
		return nil
	})
	if err != nil {
		return snap, err
	}
	sigs := map[string][]catalog.Signature{}
	err = query(`SELECT artifact, key_id, sig_digest, at FROM signatures ORDER BY seq`, func(rows *sql.Rows) error {
		var a, d string
		var s catalog.Signature
		var at int64
		if err := rows.Scan(&a, &s.KeyID, &d, &at); err != nil {
			return err
		}
		s.Digest, s.At = digest.Digest(d), time.Unix(at, 0).UTC()
		sigs[a] = append(sigs[a], s)
		return nil
	})
	if err != nil {
		return snap, err
	}
	err = query(`SELECT name, channel, version, reason, actor, at FROM channels ORDER BY seq`, func(rows *sql.Rows) error {
		var ch catalog.ChannelChange
		var at int64
		if err := rows.Scan(&ch.Name, &ch.Channel, &ch.Version, &ch.Reason, &ch.Actor, &at); err != nil {
			return err
		}
		ch.At = time.Unix(at, 0).UTC()
		snap.Channels = append(snap.Channels, ch)
		return nil
	})
	if err != nil {
		return snap, err
	}
	// Parents are looked up by seq, which is dense (an identity column):
	// the digest of each artifact read so far, indexed by its seq.
	var bySeq []digest.Digest
	next := 0 // the first parents row not yet taken
	var r catalog.Record
	var in rowInterner
	err = query(`SELECT seq, `+columns+` FROM artifacts ORDER BY seq`, func(rows *sql.Rows) error {
		var s int64
		var err error
		if r, err = in.scan(rows, &s); err != nil {
			return err
		}
		if s >= 0 && s < int64(len(bySeq))+1<<20 { // a gap of a million seqs would be no identity column
			for int64(len(bySeq)) <= s {
				bySeq = append(bySeq, "")
			}
			bySeq[s] = r.Digest
		}
		for next < len(children) && children[next] < s {
			next++ // rows of artifacts this read does not see
		}
		for ; next < len(children) && children[next] == s; next++ {
			if p := parents[next]; p >= 0 && p < int64(len(bySeq)) && bySeq[p] != "" {
				r.Parents = append(r.Parents, bySeq[p])
			} else {
				return fmt.Errorf("artifact %s: parent seq %d is not an earlier artifact", r.Digest, p)
			}
		}
		d := r.Digest.String()
		r.Lifecycle, r.Deleted, r.Signatures = lifecycle[d], deleted[d], sigs[d]
		return fn(&r)
	})
	return snap, err
}

// rowInterner reads artifacts rows (seq, then columns) for Scan, sharing
// the strings and parsed values of columns that repeat.
type rowInterner struct {
	d, name, kind, version, platform, store, repo, mediaType sql.RawBytes

	strs      map[string]string
	versions  map[string]*semver.Version
	platforms map[string]artifact.Platform
}

// internCap bounds each intern table: past it, values are allocated per
// row as they would be without interning (a catalog of a million
// distinct names gains nothing from a table of them).
const internCap = 1 << 16

func (in *rowInterner) str(b []byte) string {
	if s, ok := in.strs[string(b)]; ok {
		return s
	}
	s := string(b)
	if in.strs == nil {
		in.strs = map[string]string{}
	}
	if len(in.strs) < internCap {
		in.strs[s] = s
	}
	return s
}

func (in *rowInterner) scan(rows *sql.Rows, seq *int64) (catalog.Record, error) {
	var r catalog.Record
	var created, published int64
	if err := rows.Scan(seq, &in.d, &in.name, &in.kind, &in.version, &in.platform, &created, &published, &in.store, &in.repo, &in.mediaType, &r.Size); err != nil {
		return r, err
	}
	r.Digest = digest.Digest(in.d)
	r.Name, r.Kind, r.Store, r.Repository, r.MediaType = in.str(in.name), artifact.Kind(in.str(in.kind)), in.str(in.store), in.str(in.repo), in.str(in.mediaType)
	v, ok := in.versions[string(in.version)]
	if !ok {
		var err error
		if v, err = semver.StrictNewVersion(string(in.version)); err != nil {
			return r, fmt.Errorf("catalog row %s: version %q: %w", r.Digest, in.version, err)
		}
		if in.versions == nil {
			in.versions = map[string]*semver.Version{}
		}
		if len(in.versions) < internCap {
			in.versions[string(in.version)] = v
		}
	}
	r.Version = v
	if len(in.platform) > 0 {
		p, ok := in.platforms[string(in.platform)]
		if !ok {
			var err error
			if p, err = artifact.ParsePlatform(string(in.platform)); err != nil {
				return r, fmt.Errorf("catalog row %s: %w", r.Digest, err)
			}
			if in.platforms == nil {
				in.platforms = map[string]artifact.Platform{}
			}
			if len(in.platforms) < internCap {
				in.platforms[string(in.platform)] = p
			}
		}
		r.Platform = p
	}
	r.Created, r.Published = time.Unix(created, 0).UTC(), time.Unix(published, 0).UTC()
	return r, nil
}
