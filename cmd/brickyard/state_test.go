package main

import (
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/brickyard/brickyard/catalog/postgres/pgtest"
	"github.com/brickyard/brickyard/registry/registrytest"
	_ "modernc.org/sqlite"
)

// TestCatalogCommands: channels, lifecycle, visibility, lineage queries
// and the event log from the command line.
func TestCatalogCommands(t *testing.T) {
	c := newCLI(t)
	ami := func(name, version, parent string) {
		argv := []string{"publish", "machine-image", name, version, "--owner", "123456789012", "--image", "eu-west-1=ami-" + strings.ReplaceAll(version, ".", ""),
			"--platform", "linux/amd64", "--key", c.key()}
		if parent != "" {
			argv = append(argv, "--parent", parent)
		}
		c.ok(argv...)
	}
	ami("base", "1.0.0", "")
	for _, v := range []string{"2.0.0", "2.1.0", "2.2.0"} {
		ami("web", v, "base@1.0.0")
	}
	ami("app", "1.0.0", "web@2.1.0")

	// Channels: set, get, history, rollback, resolve by channel.
	c.ok("channel", "set", "web", "prod", "2.1.0", "--reason", "first prod release", "--actor", "alice")
	c.ok("channel", "set", "web", "prod", "2.2.0", "--actor", "bob")
	if out := c.ok("resolve", "web", "2.x", "--channel", "prod", "--platform", "linux/amd64", "--key", c.pubKey()); !strings.HasPrefix(out, "web@2.2.0 ") {
		t.Errorf("resolve --channel prod = %q", out)
	}
	if out := c.ok("channel", "rollback", "web", "prod", "--actor", "oncall"); !strings.Contains(out, "web@2.1.0") {
		t.Errorf("rollback: %q", out)
	}
	var h []map[string]any
	json.Unmarshal([]byte(c.ok("--json", "channel", "history", "web", "prod")), &h)
	if len(h) != 3 || h[2]["Reason"] != "rollback from 2.2.0" || h[0]["Actor"] != "alice" {
		t.Errorf("channel history: %v", h)
	}
	c.fail(exitNotFound, []string{"9.9.9"}, "channel", "set", "web", "prod", "9.9.9")

	// Deprecation: still resolves, with a warning.
	c.ok("deprecate", "web@2.1.0", "--reason", "moving to 2.2")
	_, errs, code := c.run("resolve", "web", "~2.1", "--key", c.pubKey())
	if code != 0 || !strings.Contains(errs, "warning: web@2.1.0 is deprecated") {
		t.Errorf("resolve of a deprecated version: exit %d, stderr %q", code, errs)
	}

	// Lineage queries.
	if out := c.ok("lineage", "app@1.0.0", "--dot"); !strings.Contains(out, `"app@1.0.0\nmachine-image" -> "web@2.1.0\nmachine-image"`) {
		t.Errorf("lineage --dot:\n%s", out)
	}
	if out := c.ok("lineage", "base@1.0.0", "--out-of-date"); !strings.Contains(out, "OUT_OF_DATE app@1.0.0: built on web@2.1.0, web@2.2.0 is newer") {
		t.Errorf("lineage --out-of-date:\n%s", out)
	}

	// Revoking base cascades to everything built on it; a channel cannot
	// then point at it, and it cannot be made public.
	out := c.ok("revoke", "base@1.0.0", "--reason", "CVE-2026-0001")
	if !strings.Contains(out, "revoked app@1.0.0 (by ancestor base@1.0.0)") {
		t.Errorf("revoke output:\n%s", out)
	}
	c.fail(exitUntrusted, []string{"revoked", "CVE-2026-0001"}, "channel", "set", "web", "prod", "2.0.0")
	c.fail(exitUntrusted, []string{"revoked"}, "resolve", "web", "2.x", "--key", c.pubKey())
	c.fail(exitUntrusted, []string{"revoked"}, "visibility", "set", "web@2.2.0", "public", "--reason", "marketplace")
	c.fail(exitUsage, []string{"shared with nobody"}, "visibility", "set", "web@2.2.0", "shared", "--reason", "r")
	c.ok("reinstate", "web@2.2.0", "--reason", "rebuilt base was a false alarm for 2.2.0")
	c.ok("visibility", "set", "web@2.2.0", "shared", "--with", "aws:210987654321", "--reason", "staging")
	var rec recordJSON
	json.Unmarshal([]byte(c.ok("--json", "inspect", "web@2.2.0")), &struct{ Record *recordJSON }{&rec})
	if rec.State != "active" || rec.Visibility != "shared" {
		t.Errorf("inspect after reinstate and share: %+v", rec)
	}
	c.fail(exitUsage, []string{"not in the future"}, "deprecate", "web@2.2.0", "--reason", "r", "--at", "2020-01-01T00:00:00Z")
	at := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	if out := c.ok("deprecate", "web@2.2.0", "--reason", "end of life", "--at", at); !strings.Contains(out, "from "+at) {
		t.Errorf("scheduled deprecation: %q", out)
	}

	// The event log verifies; an edit made directly in the database does not.
	if out := c.ok("log", "verify"); !strings.Contains(out, "log verified") {
		t.Errorf("log verify: %q", out)
	}
	db, err := sql.Open("sqlite", filepath.Join(c.home, "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{`DROP TRIGGER events_no_update`, `UPDATE events SET actor = 'mallory' WHERE seq = 3`} {
		if _, err := db.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	c.fail(exitUntrusted, []string{"event 3", "tampered"}, "log", "verify")
}

// TestCatalogRebuild: publish, drop the database, rebuild it from the
// store, and compare.
func TestCatalogRebuild(t *testing.T) {
	c := newCLI(t)
	c.ok("publish", "vm-disk", "base", "1.0.0", c.disk("base.qcow2", "qcow2"), "--platform", "linux/amd64", "--builder", "packer/qemu", "--key", c.key())
	c.ok("publish", "machine-image", "web-ami", "1.0.0", "--owner", "123456789012", "--image", "eu-west-1=ami-1", "--parent", "base@1.0.0", "--key", c.key(), "--provenance")
	c.ok("publish", "oci-image", "web-container", "2.0.0+build.7", "--from", c.image(), "--parent", "web-ami@1.0.0", "--platform", "linux/amd64")
	before := map[string]string{}
	for _, n := range []string{"base", "web-ami", "web-container"} {
		before[n] = c.ok("--json", "list", n)
	}
	if err := os.Rename(filepath.Join(c.home, "catalog.db"), filepath.Join(c.dir, "old.db")); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(c.home, "catalog.db-wal"))
	os.Remove(filepath.Join(c.home, "catalog.db-shm"))
	out := c.ok("catalog", "rebuild", "--key", c.pubKey())
	if !strings.Contains(out, "rebuilt 3 artifacts and 2 signatures") {
		t.Errorf("rebuild: %q", out)
	}
	for n, want := range before {
		if got := c.ok("--json", "list", n); got != want {
			t.Errorf("list %s after rebuild:\n%s\nwant:\n%s", n, got, want)
		}
	}
	c.ok("log", "verify")
	// Rebuilding again changes nothing.
	c.ok("catalog", "rebuild", "--key", c.pubKey())
	if got := c.ok("--json", "list", "base"); got != before["base"] {
		t.Errorf("a second rebuild changed base:\n%s", got)
	}
}

// TestCatalogRebuildFromRegistry: publish, copy to a real registry, drop
// the database, and rebuild it from the registry's repositories, below a
// namespace.
func TestCatalogRebuildFromRegistry(t *testing.T) {
	host := registrytest.StartDistribution(t)
	c := newCLI(t)
	c.ok("publish", "vm-disk", "base", "1.0.0", c.disk("base.qcow2", "qcow2"), "--platform", "linux/amd64", "--key", c.key())
	c.ok("publish", "machine-image", "web-ami", "1.0.0", "--owner", "123456789012", "--image", "eu-west-1=ami-1", "--parent", "base@1.0.0", "--key", c.key())
	c.ok("copy", "base@1.0.0", host+"/golden/base:1.0.0")
	c.ok("copy", "web-ami@1.0.0", host+"/golden/web-ami:1.0.0")
	c.ok("copy", "base@1.0.0", host+"/elsewhere/base:1.0.0") // outside the namespace
	for _, f := range []string{"catalog.db", "catalog.db-wal", "catalog.db-shm"} {
		os.Remove(filepath.Join(c.home, f))
	}
	// The signatures name the home store's repositories, so with --key
	// none would verify for the registry's (a signature is bound to its
	// repository; see sign.Verifier.Verify): rebuild the records alone.
	out := c.ok("catalog", "rebuild", "--from", host+"/golden", "--insecure")
	if !strings.Contains(out, "rebuilt 2 artifacts and 0 signatures from 2 repositories of "+host+"/golden") {
		t.Errorf("rebuild from the registry: %q", out)
	}
	if out := c.ok("lineage", "web-ami@1.0.0"); !strings.Contains(out, "base@1.0.0") {
		t.Errorf("lineage after rebuild: %q", out)
	}
	// The records name the registry, so signing, verifying, resolving and
	// inspecting go to it: a signature made there, for its repository,
	// verifies, while the home store's copies are not consulted.
	c.fail(exitUntrusted, []string{"web-ami"}, "resolve", "web-ami", "^1.0", "--key", c.pubKey())
	c.ok("sign", "web-ami@1.0.0", "--key", c.key())
	if out := c.ok("resolve", "web-ami", "^1.0", "--key", c.pubKey()); !strings.HasPrefix(out, "web-ami@1.0.0 ") {
		t.Errorf("resolve after signing in the registry: %q", out)
	}
	c.ok("verify", "web-ami@1.0.0", "--key", c.pubKey())
	if out := c.ok("inspect", "web-ami@1.0.0"); !strings.Contains(out, "123456789012") {
		t.Errorf("inspect of a record in the registry: %q", out)
	}
	if err := os.RemoveAll(filepath.Join(c.home, "store", "web-ami")); err != nil {
		t.Fatal(err)
	}
	c.ok("verify", "web-ami@1.0.0", "--key", c.pubKey())
	c.fail(exitError, []string{"no-such-dir"}, "catalog", "rebuild", "--from", "no-such-dir")
}

// TestPostgresCatalog: the same commands against a shared catalog in a
// real PostgreSQL, named by $BRICKYARD_CATALOG (or --catalog).
func TestPostgresCatalog(t *testing.T) {
	srv := pgtest.Start(t)
	dsn, err := srv.CreateDatabase("cli")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("BRICKYARD_CATALOG", dsn)
	c := newCLI(t)
	if _, err := os.Stat(filepath.Join(c.home, "catalog.db")); err == nil {
		t.Error("init made a SQLite catalog although $BRICKYARD_CATALOG names PostgreSQL")
	}
	for _, v := range []string{"2.0.0", "2.1.0"} {
		c.ok("publish", "machine-image", "web", v, "--owner", "123456789012", "--image", "eu-west-1=ami-"+strings.ReplaceAll(v, ".", ""),
			"--platform", "linux/amd64", "--key", c.key())
	}
	c.ok("channel", "set", "web", "prod", "2.0.0", "--reason", "first")
	if out := c.ok("resolve", "web", "2.x", "--channel", "prod", "--key", c.pubKey()); !strings.HasPrefix(out, "web@2.0.0 ") {
		t.Errorf("resolve --channel prod = %q", out)
	}
	c.ok("revoke", "web@2.1.0", "--reason", "leaked key")
	c.fail(exitUntrusted, []string{"revoked"}, "resolve", "web", "~2.1", "--key", c.pubKey())
	if out := c.ok("log", "verify"); !strings.Contains(out, "log verified") {
		t.Errorf("log verify: %q", out)
	}
	// A second home on the same database sees the same catalog.
	other := filepath.Join(c.dir, "other")
	out, errs, code := c.run("--home", other, "--catalog", dsn, "list", "web")
	if code != 0 || !strings.Contains(out, "2.1.0") {
		t.Errorf("list from another home: exit %d\n%s%s", code, out, errs)
	}
	c.fail(exitError, []string{"127.0.0.1:1"}, "--catalog", "postgres://brickyard@127.0.0.1:1/none?sslmode=disable&connect_timeout=2", "list")
}
