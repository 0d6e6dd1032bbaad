package sqlcat

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/catalog"
	"github.com/opencontainers/go-digest"
	"golang.org/x/mod/sumdb/tlog"
)

// migrate applies the embedded migrations the database lacks, each in its
// own transaction with the schema_version row that records it.
func (c *DB) migrate(ctx context.Context) error {
	names, err := fs.ReadDir(c.d.Migrations, ".")
	if err != nil {
		return err
	}
	if _, err := c.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
		return err
	}
	var have int
	if err := c.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&have); err != nil {
		return err
	}
	if have > len(names) {
		return fmt.Errorf("schema version %d, this program knows up to %d: upgrade brickyard: %w", have, len(names), catalog.ErrSchemaTooNew)
	}
	for i := have; i < len(names); i++ {
		body, err := fs.ReadFile(c.d.Migrations, names[i].Name())
		if err != nil {
			return err
		}
		err = c.tx(ctx, func(tx *Tx) error {
			if _, err := tx.ExecContext(ctx, string(body)); err != nil {
				return fmt.Errorf("migration %s: %w", names[i].Name(), err)
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version) VALUES (?)`, i+1)
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func (c *DB) tx(ctx context.Context, f func(*Tx) error) error {
	var conn *sql.Conn
	var stx *sql.Tx
	var err error
	if c.d.CopyFrom != nil {
		// A connection of its own, so that CopyFrom can reach the
		// driver's connection the transaction runs on.
		if conn, err = c.db.db.Conn(ctx); err != nil {
			return err
		}
		defer conn.Close()
		stx, err = conn.BeginTx(ctx, nil)
	} else {
		stx, err = c.db.db.BeginTx(ctx, nil)
	}
	if err != nil {
		return err
	}
	tx := &Tx{tx: stx, rebind: c.d.Rebind, bulkInsert: c.d.BulkInsert, copyFrom: c.d.CopyFrom, conn: conn,
		stmts: map[string]*sql.Stmt{}, hashes: map[int64]tlog.Hash{}}
	defer tx.closeStmts()
	if c.d.LockWrites != "" {
		if _, err := tx.ExecContext(ctx, c.d.LockWrites); err != nil {
			stx.Rollback()
			return err
		}
	}
	if err := f(tx); err != nil {
		stx.Rollback()
		return err
	}
	return stx.Commit()
}

// Close implements io.Closer.
func (c *DB) Close() error { return c.db.db.Close() }

// versionKey is the version without build metadata: semver precedence
// ignores it, so two builds differing only there are the same version.
func versionKey(v *semver.Version) string {
	s := fmt.Sprintf("%d.%d.%d", v.Major(), v.Minor(), v.Patch())
	if v.Prerelease() != "" {
		s += "-" + v.Prerelease()
	}
	return s
}

func platformString(p artifact.Platform) string {
	if p.IsZero() {
		return ""
	}
	return p.String()
}

// Record implements catalog.Recorder, in one transaction.
func (c *DB) Record(ctx context.Context, r catalog.Record) error {
	if err := r.Validate(); err != nil {
		return err
	}
	return c.tx(ctx, func(tx *Tx) error { return recordIn(ctx, tx, r) })
}

// RecordBatch implements catalog.BatchRecorder: every record of rs, in
// order (parents before children), in one transaction with one fsync: all
// of them or, on the first error (which names the record), none.
func (c *DB) RecordBatch(ctx context.Context, rs []catalog.Record) error {
	for _, r := range rs {
		if err := r.Validate(); err != nil {
			return err
		}
	}
	slow := func() error {
		return c.tx(ctx, func(tx *Tx) error {
			for _, r := range rs {
				if err := recordIn(ctx, tx, r); err != nil {
					return err
				}
			}
			return nil
		})
	}
	err := c.tx(ctx, func(tx *Tx) error { return recordBulk(ctx, tx, rs) })
	if errors.Is(err, errSlowPath) {
		// Some records exist already, or the database refused a row
		// (another digest under a taken version): the record-by-record
		// path checks each and names the one at fault.
		return slow()
	}
	return err
}

var errSlowPath = errors.New("take the record-by-record path")

// recordBulk records rs with multi-row INSERTs: a few statements per
// hundreds of records. It returns errSlowPath (and writes nothing, the
// transaction being rolled back) when a record already exists or a row is
// refused, so the caller can redo it record by record.
func recordBulk(ctx context.Context, tx *Tx, rs []catalog.Record) error {
	const chunk = 400
	pos := make(map[digest.Digest]int, len(rs))
	for i, r := range rs {
		if _, dup := pos[r.Digest]; dup {
			return errSlowPath
		}
		pos[r.Digest] = i
	}
	var outside []string
	for i, r := range rs {
		for _, p := range r.Parents {
			if j, ok := pos[p]; ok {
				if j >= i {
					return fmt.Errorf("%s: parent %s comes later in the batch: record parents first: %w", r.Ref(), p, catalog.ErrUnknownParent)
				}
				continue
			}
			outside = append(outside, p.String())
		}
	}
	// Only parents from outside the batch are looked up: a record that
	// exists already is refused by the unique index on digest, which
	// sends the batch down the record-by-record path, as any refused row
	// does. (Looking up each of the batch's random digests first cost
	// about a tenth of a bulk ingest.)
	have := make(map[string]int64, len(rs)+len(outside)) // digest → artifacts.seq
	for lo := 0; lo < len(outside); lo += chunk {
		part := outside[lo:min(lo+chunk, len(outside))]
		args := make([]any, len(part))
		for i, d := range part {
			args[i] = d
		}
		rows, err := tx.tx.QueryContext(ctx, tx.rebind(`SELECT digest, seq FROM artifacts WHERE digest IN (`+placeholders(len(part), 1)+`)`), args...)
		if err != nil {
			return err
		}
		if _, err := readSeqs(rows, have); err != nil {
			return err
		}
	}
	for _, r := range rs {
		for _, p := range r.Parents {
			if _, ok := pos[p]; ok {
				continue
			}
			if _, ok := have[p.String()]; !ok {
				return fmt.Errorf("%s: parent %s: %w", r.Ref(), p, catalog.ErrUnknownParent)
			}
		}
	}
	now := time.Now()
	verb := tx.bulkInsert
	if verb == "" {
		verb = "INSERT"
	}
	// insert writes rows (values in the order of cols) into table: with
	// the Dialect's CopyFrom if it has one, else with multi-row INSERTs.
	// With readBack (INSERTs only), it puts the new rows' digest and seq
	// in have.
	insert := func(table, cols string, rows [][]any, readBack bool) error {
		exec := func(q string, args []any) error {
			// tx.ExecContext and tx.QueryContext prepare each statement
			// once per transaction: every full chunk has the same text.
			if !readBack {
				_, err := tx.ExecContext(ctx, q, args...)
				return err
			}
			res, err := tx.QueryContext(ctx, q+` RETURNING digest, seq`, args...)
			if err != nil {
				return err
			}
			_, err = readSeqs(res, have)
			return err
		}
		if len(rows) == 0 {
			return nil
		}
		if !readBack && tx.copyFrom != nil && tx.conn != nil {
			err := tx.conn.Raw(func(dc any) error { return tx.copyFrom(ctx, dc, table, strings.Split(cols, ", "), rows) })
			if err != nil {
				return fmt.Errorf("%w: %v", errSlowPath, err)
			}
			return nil
		}
		n := len(rows[0])
		for lo := 0; lo < len(rows); lo += chunk {
			part := rows[lo:min(lo+chunk, len(rows))]
			var args []any
			var vals []string
			for _, r := range part {
				vals = append(vals, "("+placeholders(n, 1)+")")
				args = append(args, r...)
			}
			if err := exec(verb+` INTO `+table+` (`+cols+`) VALUES `+strings.Join(vals, ", "), args); err != nil {
				return fmt.Errorf("%w: %v", errSlowPath, err)
			}
		}
		return nil
	}
	var arts, pars [][]any
	for _, r := range rs {
		arts = append(arts, []any{r.Digest.String(), r.Name, string(r.Kind), r.Version.Original(), versionKey(r.Version), platformString(r.Platform),
			r.Created.Unix(), now.Unix(), r.Store, r.Repository, r.MediaType, r.Size})
	}
	const artCols = "digest, name, kind, version, version_key, platform, created, published, store, repository, media_type, size"
	if tx.copyFrom != nil {
		// COPY cannot return the new rows' seqs: read them back. Every
		// writer holds the write lock (Dialect.LockWrites), so the rows
		// past the highest seq before the COPY are exactly this batch's.
		var last int64
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM artifacts`).Scan(&last); err != nil {
			return err
		}
		if err := insert("artifacts", artCols, arts, false); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT digest, seq FROM artifacts WHERE seq > ?`, last)
		if err != nil {
			return err
		}
		n, err := readSeqs(rows, have)
		if err != nil {
			return err
		}
		if n != len(rs) {
			return fmt.Errorf("recorded %d artifacts, read back %d: is something writing without the write lock?", len(rs), n)
		}
	} else if err := insert("artifacts", artCols, arts, true); err != nil {
		return err
	}
	// parents refer to artifacts by seq (schema version 4): rows that
	// land at the end of both of its indexes, not at random places.
	for _, r := range rs {
		for i, p := range r.Parents {
			pars = append(pars, []any{have[r.Digest.String()], i, have[p.String()]})
		}
	}
	if err := insert("parents", "child, position, parent", pars, false); err != nil {
		return err
	}
	var evs, hashes [][]any
	for _, r := range rs {
		e, hs, base, err := nextEvent(ctx, tx, catalog.EventRecord, r.Digest.String(), r.Actor, now, recordBody(r))
		if err != nil {
			return err
		}
		evs = append(evs, []any{e.Seq, e.At.Unix(), e.Actor, e.Type, e.Subject, e.Body, e.Prev, e.Hash})
		for i, h := range hs {
			hashes = append(hashes, []any{base + int64(i), h[:]})
		}
	}
	if err := insert("events", "seq, at, actor, type, subject, body, prev, hash", evs, false); err != nil {
		return err
	}
	return insert("tlog_hashes", "idx, hash", hashes, false)
}

// readSeqs reads rows of (digest, artifacts.seq) into have, closes rows
// and returns how many it read.
func readSeqs(rows *sql.Rows, have map[string]int64) (int, error) {
	defer rows.Close()
	n := 0
	for rows.Next() {
		var d string
		var seq int64
		if err := rows.Scan(&d, &seq); err != nil {
			return n, err
		}
		have[d] = seq
		n++
	}
	return n, rows.Err()
}

// placeholders returns "?, ?, ..." (n of them).
func placeholders(n, _ int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

func recordIn(ctx context.Context, tx *Tx, r catalog.Record) error {
	{
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM artifacts WHERE digest = ?`, r.Digest.String()).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return sameParents(ctx, tx, r)
		}
		var other string
		err := tx.QueryRowContext(ctx, `SELECT digest FROM artifacts WHERE name = ? AND version_key = ? AND platform = ?`,
			r.Name, versionKey(r.Version), platformString(r.Platform)).Scan(&other)
		if err == nil {
			return fmt.Errorf("%s (%s) is recorded as %s, not %s: versions are immutable: %w",
				r.Ref(), dash(platformString(r.Platform)), other, r.Digest, catalog.ErrDuplicateVersion)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		for _, p := range r.Parents {
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM artifacts WHERE digest = ?`, p.String()).Scan(&n); err != nil {
				return err
			}
			if n == 0 {
				return fmt.Errorf("%s: parent %s: %w", r.Ref(), p, catalog.ErrUnknownParent)
			}
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO artifacts
			(digest, name, kind, version, version_key, platform, created, published, store, repository, media_type, size)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.Digest.String(), r.Name, string(r.Kind), r.Version.Original(), versionKey(r.Version), platformString(r.Platform),
			r.Created.Unix(), time.Now().Unix(), r.Store, r.Repository, r.MediaType, r.Size)
		if err != nil {
			return fmt.Errorf("%s: %w", r.Ref(), err)
		}
		for i, p := range r.Parents {
			res, err := tx.ExecContext(ctx, `INSERT INTO parents (child, position, parent)
				SELECT c.seq, CAST(? AS INTEGER), p.seq FROM artifacts c, artifacts p WHERE c.digest = ? AND p.digest = ?`, i, r.Digest.String(), p.String())
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil || n != 1 {
				return fmt.Errorf("%s: parent %s: %d rows written (%v): %w", r.Ref(), p, n, err, catalog.ErrUnknownParent)
			}
		}
		return appendEvent(ctx, tx, catalog.EventRecord, r.Digest.String(), r.Actor, time.Now(), recordBody(r))
	}
}

// recordBody is what a record event states: everything needed to rebuild
// the record.
func recordBody(r catalog.Record) any {
	return struct {
		Name       string          `json:"name"`
		Kind       string          `json:"kind"`
		Version    string          `json:"version"`
		Platform   string          `json:"platform,omitempty"`
		Parents    []digest.Digest `json:"parents,omitempty"`
		Created    int64           `json:"created"`
		Store      string          `json:"store"`
		Repository string          `json:"repository"`
		MediaType  string          `json:"mediaType"`
		Size       int64           `json:"size"`
	}{r.Name, string(r.Kind), r.Version.Original(), platformString(r.Platform), r.Parents, r.Created.Unix(), r.Store, r.Repository, r.MediaType, r.Size}
}

// sameParents accepts recording an existing digest again only with the
// parents it has: records are immutable, and other parents could make a
// cycle.
func sameParents(ctx context.Context, tx *Tx, r catalog.Record) error {
	rows, err := tx.QueryContext(ctx, `SELECT a.digest FROM parents p JOIN artifacts a ON a.seq = p.parent
		WHERE p.child = (SELECT seq FROM artifacts WHERE digest = ?) ORDER BY p.position`, r.Digest.String())
	if err != nil {
		return err
	}
	var have []string
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			rows.Close()
			return err
		}
		have = append(have, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	same := len(have) == len(r.Parents)
	for i := 0; same && i < len(have); i++ {
		same = have[i] == r.Parents[i].String()
	}
	if same {
		return nil
	}
	for _, p := range r.Parents {
		var n int
		err := tx.QueryRowContext(ctx, `WITH RECURSIVE anc (seq) AS (
				SELECT parent FROM parents WHERE child = (SELECT seq FROM artifacts WHERE digest = ?)
				UNION SELECT p.parent FROM parents p JOIN anc a ON p.child = a.seq
			) SELECT COUNT(*) FROM anc WHERE seq = (SELECT seq FROM artifacts WHERE digest = ?)`, p.String(), r.Digest.String()).Scan(&n)
		if err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("%s: parent %s is built on it: %w", r.Ref(), p, catalog.ErrCycle)
		}
	}
	return fmt.Errorf("%s (%s) is recorded with parents %v, not %v: records are immutable: %w", r.Ref(), r.Digest, have, r.Parents, catalog.ErrInvalidChange)
}

func dash(s string) string {
	if s == "" {
		return "any platform"
	}
	return s
}

// AddSignature implements catalog.SignatureRecorder.
func (c *DB) AddSignature(ctx context.Context, d digest.Digest, s catalog.Signature) error {
	if err := s.Digest.Validate(); err != nil {
		return fmt.Errorf("signature digest %q: %w: %v", s.Digest, artifact.ErrInvalidDigest, err)
	}
	if s.KeyID == "" {
		return fmt.Errorf("signature %s of %s has no key id: %w", s.Digest, d, artifact.ErrInvalidArtifact)
	}
	return c.tx(ctx, func(tx *Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM artifacts WHERE digest = ?`, d.String()).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("artifact %s: %w", d, catalog.ErrNotFound)
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO signatures (artifact, key_id, sig_digest, at) VALUES (?, ?, ?, ?)
			ON CONFLICT (artifact, key_id, sig_digest) DO NOTHING`, d.String(), s.KeyID, s.Digest.String(), s.At.Unix())
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		return appendEvent(ctx, tx, catalog.EventSign, d.String(), "", s.At, struct {
			KeyID     string `json:"keyId"`
			Signature string `json:"signature"`
		}{s.KeyID, s.Digest.String()})
	})
}

const columns = `digest, name, kind, version, platform, created, published, store, repository, media_type, size`

type scanner interface{ Scan(...any) error }

func scanRecord(s scanner) (catalog.Record, error) {
	var r catalog.Record
	var d, kind, version, platform string
	var created, published int64
	if err := s.Scan(&d, &r.Name, &kind, &version, &platform, &created, &published, &r.Store, &r.Repository, &r.MediaType, &r.Size); err != nil {
		return r, err
	}
	v, err := semver.StrictNewVersion(version)
	if err != nil {
		return r, fmt.Errorf("catalog row %s: version %q: %w", d, version, err)
	}
	r.Digest, r.Kind, r.Version = digest.Digest(d), artifact.Kind(kind), v
	if platform != "" {
		if r.Platform, err = artifact.ParsePlatform(platform); err != nil {
			return r, fmt.Errorf("catalog row %s: %w", d, err)
		}
	}
	r.Created, r.Published = time.Unix(created, 0).UTC(), time.Unix(published, 0).UTC()
	return r, nil
}

// fill loads the parents and signatures of r.
func (c *DB) fill(ctx context.Context, r *catalog.Record) error {
	rs := []catalog.Record{*r}
	if err := c.fillAll(ctx, rs); err != nil {
		return err
	}
	*r = rs[0]
	return nil
}

// fillAll loads the parents, lifecycle, visibility, tombstones and signatures of rs
// with one query per table per chunk of 500 digests, not per record.
func (c *DB) fillAll(ctx context.Context, rs []catalog.Record) error {
	const chunk = 500
	for lo := 0; lo < len(rs); lo += chunk {
		part := rs[lo:min(lo+chunk, len(rs))]
		idx := make(map[string]*catalog.Record, len(part))
		args := make([]any, len(part))
		for i := range part {
			idx[part[i].Digest.String()] = &part[i]
			args[i] = part[i].Digest.String()
		}
		in := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(part)), ", ") + ")"
		scan := func(q string, each func(r *catalog.Record, rows *sql.Rows) error) error {
			rows, err := c.db.QueryContext(ctx, q, args...)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				if err := each(nil, rows); err != nil {
					return err
				}
			}
			return rows.Err()
		}
		err := scan(`SELECT c.digest, a.digest FROM artifacts c JOIN parents p ON p.child = c.seq JOIN artifacts a ON a.seq = p.parent
			WHERE c.digest IN `+in+` ORDER BY c.seq, p.position`, func(_ *catalog.Record, rows *sql.Rows) error {
			var ch, p string
			if err := rows.Scan(&ch, &p); err != nil {
				return err
			}
			idx[ch].Parents = append(idx[ch].Parents, digest.Digest(p))
			return nil
		})
		if err != nil {
			return err
		}
		err = scan(`SELECT artifact, state, reason, actor, at, effective, secrets, cause FROM lifecycle WHERE artifact IN `+in+` ORDER BY seq`, func(_ *catalog.Record, rows *sql.Rows) error {
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
			idx[a].Lifecycle = append(idx[a].Lifecycle, lc)
			return nil
		})
		if err != nil {
			return err
		}
		err = scan(`SELECT artifact, level, principals, reason, actor, at FROM visibility WHERE artifact IN `+in+` ORDER BY seq`, func(_ *catalog.Record, rows *sql.Rows) error {
			var a, p string
			var v catalog.VisibilityChange
			var at int64
			if err := rows.Scan(&a, &v.Level, &p, &v.Reason, &v.Actor, &at); err != nil {
				return err
			}
			if err := json.Unmarshal([]byte(p), &v.Principals); err != nil {
				return fmt.Errorf("visibility of %s: %w", a, err)
			}
			v.At = time.Unix(at, 0).UTC()
			idx[a].Visibility = &v // ordered by seq: the last one wins
			return nil
		})
		if err != nil {
			return err
		}
		err = scan(`SELECT artifact, plan, rule, actor, at FROM deletions WHERE artifact IN `+in, func(_ *catalog.Record, rows *sql.Rows) error {
			var a string
			var x catalog.Deletion
			var at int64
			if err := rows.Scan(&a, &x.Plan, &x.Rule, &x.Actor, &at); err != nil {
				return err
			}
			x.At = time.Unix(at, 0).UTC()
			idx[a].Deleted = &x
			return nil
		})
		if err != nil {
			return err
		}
		err = scan(`SELECT artifact, key_id, sig_digest, at FROM signatures WHERE artifact IN `+in+` ORDER BY seq`, func(_ *catalog.Record, rows *sql.Rows) error {
			var a, d string
			var sg catalog.Signature
			var at int64
			if err := rows.Scan(&a, &sg.KeyID, &d, &at); err != nil {
				return err
			}
			sg.Digest, sg.At = digest.Digest(d), time.Unix(at, 0).UTC()
			idx[a].Signatures = append(idx[a].Signatures, sg)
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// Get implements catalog.Getter.
func (c *DB) Get(ctx context.Context, d digest.Digest) (catalog.Record, error) {
	r, err := scanRecord(c.db.QueryRowContext(ctx, `SELECT `+columns+` FROM artifacts WHERE digest = ?`, d.String()))
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("artifact %s: %w", d, catalog.ErrNotFound)
	}
	if err != nil {
		return r, err
	}
	return r, c.fill(ctx, &r)
}

func (c *DB) query(ctx context.Context, q string, args ...any) ([]catalog.Record, error) {
	rows, err := c.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	var out []catalog.Record
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if err := c.fillAll(ctx, out); err != nil {
		return nil, err
	}
	return out, nil
}

// Versions implements catalog.Lister.
func (c *DB) Versions(ctx context.Context, name string) ([]catalog.Record, error) {
	out, err := c.query(ctx, `SELECT `+columns+` FROM artifacts WHERE name = ?`, name)
	if err != nil {
		return nil, err
	}
	sort.SliceStable(out, func(i, j int) bool {
		if c := out[i].Version.Compare(out[j].Version); c != 0 {
			return c < 0
		}
		return platformString(out[i].Platform) < platformString(out[j].Platform)
	})
	if out == nil {
		out = []catalog.Record{}
	}
	return out, nil
}

// Names implements catalog.Lister.
func (c *DB) Names(ctx context.Context) ([]string, error) {
	rows, err := c.db.QueryContext(ctx, `SELECT DISTINCT name FROM artifacts ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	names := []string{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		names = append(names, n)
	}
	return names, rows.Err()
}

// Ancestors implements catalog.Lineage with a recursive query.
func (c *DB) Ancestors(ctx context.Context, d digest.Digest) ([]catalog.Record, error) {
	if _, err := c.Get(ctx, d); err != nil {
		return nil, err
	}
	return c.query(ctx, `WITH RECURSIVE anc (seq, depth) AS (
			SELECT parent, 1 FROM parents WHERE child = (SELECT seq FROM artifacts WHERE digest = ?)
			UNION
			SELECT p.parent, a.depth + 1 FROM parents p JOIN anc a ON p.child = a.seq
		)
		SELECT `+prefixed("a.")+` FROM artifacts a
		JOIN (SELECT seq, MIN(depth) AS depth FROM anc GROUP BY seq) x ON x.seq = a.seq
		ORDER BY x.depth, a.seq`, d.String())
}

// Children implements catalog.Lineage.
func (c *DB) Children(ctx context.Context, d digest.Digest) ([]catalog.Record, error) {
	return c.query(ctx, `SELECT `+prefixed("a.")+` FROM artifacts a JOIN parents p ON p.child = a.seq
		WHERE p.parent = (SELECT seq FROM artifacts WHERE digest = ?) ORDER BY a.seq`, d.String())
}

func prefixed(p string) string {
	cols := strings.Split(columns, ", ")
	for i := range cols {
		cols[i] = p + cols[i]
	}
	return strings.Join(cols, ", ")
}

// headCache keeps the parsed, sorted heads of each name until any artifact
// is recorded (the highest artifacts.seq changes): parsing and sorting
// 10,000 versions costs more than the query.
type headCache struct {
	mu     sync.Mutex
	maxSeq int64
	byName map[string][]catalog.Head
}

// VersionHeads implements catalog.HeadLister.
func (c *DB) VersionHeads(ctx context.Context, name string) ([]catalog.Head, error) {
	var maxSeq int64
	if err := c.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM artifacts`).Scan(&maxSeq); err != nil {
		return nil, err
	}
	c.heads.mu.Lock()
	if c.heads.maxSeq != maxSeq || c.heads.byName == nil {
		c.heads.maxSeq, c.heads.byName = maxSeq, map[string][]catalog.Head{}
	}
	hs, ok := c.heads.byName[name]
	c.heads.mu.Unlock()
	if ok {
		return hs, nil
	}
	rows, err := c.db.QueryContext(ctx, `SELECT digest, version, platform FROM artifacts WHERE name = ?`, name)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var d, v, p string
		if err := rows.Scan(&d, &v, &p); err != nil {
			return nil, err
		}
		h := catalog.Head{Digest: digest.Digest(d)}
		if h.Version, err = semver.StrictNewVersion(v); err != nil {
			return nil, fmt.Errorf("catalog row %s: version %q: %w", d, v, err)
		}
		if p != "" {
			if h.Platform, err = artifact.ParsePlatform(p); err != nil {
				return nil, fmt.Errorf("catalog row %s: %w", d, err)
			}
		}
		hs = append(hs, h)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	sort.SliceStable(hs, func(i, j int) bool {
		if c := hs[i].Version.Compare(hs[j].Version); c != 0 {
			return c < 0
		}
		return platformString(hs[i].Platform) < platformString(hs[j].Platform)
	})
	c.heads.mu.Lock()
	if c.heads.maxSeq == maxSeq {
		c.heads.byName[name] = hs
	}
	c.heads.mu.Unlock()
	return hs, nil
}
