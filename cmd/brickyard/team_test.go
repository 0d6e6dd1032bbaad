package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/brickyard/brickyard/catalog/postgres/pgtest"
	"github.com/brickyard/brickyard/registry/registrytest"
)

// TestTeamStore runs the demo's commands with a real distribution registry
// as the only store ($BRICKYARD_STORE) and a real PostgreSQL as the only
// catalog ($BRICKYARD_CATALOG), from two homes: alice publishes, signs,
// attests and promotes; bob, whose home holds neither store nor catalog,
// lists, inspects, resolves, verifies, fetches and follows the lineage of
// what she published, and sees her revocation.
func TestTeamStore(t *testing.T) {
	host := registrytest.StartDistribution(t)
	dsn, err := pgtest.Start(t).CreateDatabase("team")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("BRICKYARD_STORE", host+"/team")
	t.Setenv("BRICKYARD_CATALOG", dsn)
	alice := newCLI(t)
	if out := alice.ok("init"); !strings.Contains(out, host+"/team (registry)") {
		t.Errorf("init: %s", out)
	}
	alice.ok("publish", "vm-disk", "base", "1.0.0", alice.disk("base.qcow2", "qcow2"), "--platform", "linux/amd64", "--key", alice.key())
	alice.ok("publish", "vm-disk", "web", "1.1.0", alice.disk("web.qcow2", "qcow2"), "--platform", "linux/amd64", "--parent", "base@1.0.0", "--key", alice.key(), "--provenance")
	alice.ok("publish", "vm-disk", "web", "1.3.0", alice.disk("web-1.3.0.qcow2", "qcow2"), "--platform", "linux/amd64", "--parent", "base@1.0.0")
	alice.ok("publish", "oci-image", "web-container", "1.1.0", "--from", alice.image(), "--parent", "base@1.0.0", "--key", alice.key())
	alice.ok("channel", "set", "web", "prod", "1.1.0", "--reason", "release")
	if _, err := os.Stat(filepath.Join(alice.home, "store")); err == nil {
		t.Error("publishing to the registry made a local store in alice's home")
	}

	bob := &cli{t: t, dir: alice.dir, home: filepath.Join(alice.dir, "bob")}
	var list []recordJSON
	if err := json.Unmarshal([]byte(bob.ok("--json", "list")), &list); err != nil || len(list) != 4 {
		t.Fatalf("bob's list: %v %v", list, err)
	}
	if out := bob.ok("inspect", "base@1.0.0"); !strings.Contains(out, "application/vnd.brickyard.disk.qcow2") {
		t.Errorf("bob inspects base: %s", out)
	}
	if out := bob.ok("resolve", "web", "^1.0", "--channel", "prod", "--platform", "linux/amd64", "--key", alice.pubKey()); !strings.HasPrefix(out, "web@1.1.0 sha256:") {
		t.Errorf("bob resolves web ^1.0 on prod: %q", out)
	}
	bob.ok("verify", "web@1.1.0", "--key", alice.pubKey())
	bob.ok("verify", "web-container@1.1.0", "--key", alice.pubKey())
	bob.ok("verify-attestation", "web@1.1.0", "--key", alice.pubKey())
	bob.fail(exitUntrusted, []string{"unsigned"}, "verify", "web@1.3.0", "--key", alice.pubKey())
	out := filepath.Join(alice.dir, "deploy")
	bob.ok("fetch", "web@1.1.0", "--output", out, "--key", alice.pubKey())
	got, _ := os.ReadFile(filepath.Join(out, "web.qcow2"))
	want, _ := os.ReadFile(filepath.Join(alice.dir, "web.qcow2"))
	if len(want) == 0 || string(got) != string(want) {
		t.Errorf("bob fetched %d bytes, alice published %d", len(got), len(want))
	}
	if out := bob.ok("lineage", "base@1.0.0", "--descendants"); !strings.Contains(out, "web@1.1.0") || !strings.Contains(out, "web-container@1.1.0") {
		t.Errorf("bob's lineage: %s", out)
	}
	alice.ok("revoke", "base@1.0.0", "--reason", "CVE-2026-0001")
	bob.fail(exitUntrusted, []string{"revoked"}, "resolve", "web", "^1.0", "--key", alice.pubKey())
	if out := bob.ok("log", "verify", "--key", filepath.Join(alice.home, "log.pub")); !strings.Contains(out, "log verified") {
		t.Errorf("bob verifies the shared log against alice's checkpoints: %s", out)
	}
}
