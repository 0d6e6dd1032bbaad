package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/catalog"
	"github.com/opencontainers/go-digest"
	"golang.org/x/mod/sumdb/note"
)

// logFixture is a catalog with a few events of each kind and a signed
// checkpoint over all of them.
func logFixture(t *testing.T) (*Catalog, note.Verifiers) {
	t.Helper()
	ctx := context.Background()
	c, err := Open(ctx, filepath.Join(t.TempDir(), "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	skey, vkey, _ := note.GenerateKey(rand.Reader, "tamper-test")
	s, _ := note.NewSigner(skey)
	v, _ := note.NewVerifier(vkey)
	var prev []digest.Digest
	for _, ver := range []string{"1.0.0", "1.1.0", "1.2.0", "1.3.0"} {
		sv, _ := artifact.ParseVersion(ver)
		r := catalog.Record{Name: "web", Kind: artifact.KindVMDisk, Version: sv, Digest: digest.FromString(ver), Parents: prev,
			Created: time.Now(), Store: "oci-layout", Repository: "web", MediaType: "application/vnd.oci.image.manifest.v1+json", Size: 1}
		if err := c.Record(ctx, r); err != nil {
			t.Fatal(err)
		}
		prev = []digest.Digest{r.Digest}
	}
	if err := c.SetChannel(ctx, catalog.ChannelChange{Name: "web", Channel: "prod", Version: "1.2.0", Actor: "deployer"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ChangeLifecycle(ctx, digest.FromString("1.3.0"), catalog.LifecycleChange{State: catalog.StateRevoked, Reason: "r", Actor: "sec"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Checkpoint(ctx, s); err != nil {
		t.Fatal(err)
	}
	if _, err := catalog.VerifyLog(ctx, c, note.VerifierList(v)); err != nil {
		t.Fatalf("VerifyLog of an untouched log: %v", err)
	}
	return c, note.VerifierList(v)
}

// asAttacker runs statements directly on the database, as someone with
// write access to the file would, after dropping the append-only triggers.
func asAttacker(t *testing.T, db *sql.DB, stmts ...string) {
	t.Helper()
	for _, trg := range []string{"events_no_update", "events_no_delete"} {
		if _, err := db.Exec(`DROP TRIGGER IF EXISTS ` + trg); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// rechain recomputes every event's prev and hash, as an attacker hiding an
// edit would; only the signed checkpoint can then tell.
func rechain(t *testing.T, c *Catalog) {
	t.Helper()
	events, err := c.Events(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	prev := ""
	for _, e := range events {
		h := e.ChainHash(prev)
		if _, err := c.SQL().Exec(`UPDATE events SET prev = ?, hash = ? WHERE seq = ?`, prev, h, e.Seq); err != nil {
			t.Fatal(err)
		}
		prev = h
	}
}

func TestLogVerifyDetectsTampering(t *testing.T) {
	cases := map[string]struct {
		tamper func(t *testing.T, c *Catalog)
		say    string
	}{
		"edited row": {func(t *testing.T, c *Catalog) {
			asAttacker(t, c.SQL(), `UPDATE events SET body = replace(body, '"1.1.0"', '"6.6.6"') WHERE seq = 1`)
		}, "event 1 (record"},
		"edited row, chain recomputed": {func(t *testing.T, c *Catalog) {
			asAttacker(t, c.SQL(), `UPDATE events SET actor = 'mallory' WHERE seq = 4`)
			rechain(t, c)
		}, "checkpoint 1"},
		"deleted row": {func(t *testing.T, c *Catalog) {
			asAttacker(t, c.SQL(), `DELETE FROM events WHERE seq = 2`)
		}, "event 2 is numbered 3"},
		"deleted last rows": {func(t *testing.T, c *Catalog) {
			asAttacker(t, c.SQL(), `DELETE FROM events WHERE seq >= 5`)
		}, "rows deleted"},
		"inserted row": {func(t *testing.T, c *Catalog) {
			asAttacker(t, c.SQL(),
				`UPDATE events SET seq = -seq - 2 WHERE seq >= 2`, // make room at 2, keeping order
				`UPDATE events SET seq = -seq - 1 WHERE seq < 0`,
				`INSERT INTO events (seq, at, actor, type, subject, body, prev, hash)
					SELECT 2, at, 'mallory', 'visibility', subject, '{"level":"public","reason":"oops"}', hash, 'x' FROM events WHERE seq = 1`)
		}, "event 2"},
		"reordered rows": {func(t *testing.T, c *Catalog) {
			asAttacker(t, c.SQL(),
				`UPDATE events SET seq = 100 WHERE seq = 1`,
				`UPDATE events SET seq = 1 WHERE seq = 2`,
				`UPDATE events SET seq = 2 WHERE seq = 100`)
		}, "event 1"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c, v := logFixture(t)
			tc.tamper(t, c)
			_, err := catalog.VerifyLog(context.Background(), c, v)
			if !errors.Is(err, catalog.ErrLogTampered) || !strings.Contains(err.Error(), tc.say) {
				t.Errorf("VerifyLog after %s: %v, want ErrLogTampered saying %q", name, err, tc.say)
			}
		})
	}
}

// TestAppendOnly: without dropping the triggers, no row of the catalog's
// tables can be updated or deleted.
func TestAppendOnly(t *testing.T) {
	c, _ := logFixture(t)
	for _, s := range []string{
		`UPDATE events SET actor = 'x'`, `DELETE FROM events`,
		`UPDATE artifacts SET name = 'x'`, `DELETE FROM artifacts`,
		`DELETE FROM lifecycle`, `UPDATE channels SET version = '9.9.9'`, `DELETE FROM checkpoints`, `DELETE FROM tlog_hashes`,
	} {
		if _, err := c.SQL().Exec(s); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: %v, want refused as append-only", s, err)
		}
	}
}
