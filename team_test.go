package brickyard_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/brickyard/brickyard"
	"github.com/brickyard/brickyard/catalog"
	"github.com/brickyard/brickyard/catalog/postgres/pgtest"
	"github.com/brickyard/brickyard/registry/registrytest"
	"github.com/brickyard/brickyard/sign"
	"github.com/brickyard/brickyard/sign/cosignkey"
)

// TestTeam runs the demo's story the way a team does, where one machine is
// outgrown: the real distribution registry is the only store and a real
// PostgreSQL the only catalog, shared by two homes (two users). Alice
// publishes and signs, streaming disks straight to the registry; Bob, on
// another home that holds no store of its own, resolves, verifies and
// fetches what she published, and sees her revocation.
func TestTeam(t *testing.T) {
	ctx := context.Background()
	host := registrytest.StartDistribution(t)
	dsn, err := pgtest.Start(t).CreateDatabase("team")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	priv, pub, err := cosignkey.GenerateKeyPair([]byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	keyFile, pubFile := filepath.Join(dir, "cosign.key"), filepath.Join(dir, "cosign.pub")
	os.WriteFile(keyFile, priv, 0o600)
	os.WriteFile(pubFile, pub, 0o644)
	team := []brickyard.Option{brickyard.WithStore(host + "/team"), brickyard.WithCatalog(dsn)}

	aliceHome := filepath.Join(dir, "alice")
	alice, err := brickyard.Init(ctx, aliceHome, append(team, brickyard.WithKeyFile(keyFile, []byte("pw")), brickyard.WithActor("alice"))...)
	if err != nil {
		t.Fatal(err)
	}
	defer alice.Close(ctx)
	if alice.StoreName() != host+"/team" {
		t.Fatalf("alice's store is %q", alice.StoreName())
	}
	publish := func(name, version, file string, signed bool, parents ...string) catalog.Record {
		t.Helper()
		p, err := alice.PublishDisk(ctx, brickyard.DiskRequest{Meta: brickyard.Meta{Name: name, Version: version, Platform: "linux/amd64",
			Parents: parents, Sign: signed}, Files: []string{qcow2(t, dir, file, "64M")}, Bootable: true})
		if err != nil {
			t.Fatal(err)
		}
		if p.Record.Store != host+"/team" {
			t.Errorf("%s names store %q, not the registry", p.Record.Ref(), p.Record.Store)
		}
		return p.Record
	}
	base := publish("base", "1.0.0", "base.qcow2", true)
	web := publish("web", "1.1.0", "web-1.1.0.qcow2", true, "base@1.0.0")
	publish("web", "1.2.0-rc.1", "web-1.2.0-rc.1.qcow2", true, "base@1.0.0")
	publish("web", "1.3.0", "web-1.3.0.qcow2", false, "base@1.0.0")
	if _, err := alice.Promote(ctx, web, "prod", "release"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(aliceHome, "store")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("publishing to the registry made a local store in alice's home: %v", err)
	}

	bob, err := brickyard.Open(ctx, filepath.Join(dir, "bob"), append(team, brickyard.WithPublicKeyFiles(pubFile), brickyard.WithActor("bob"))...)
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close(ctx)
	got, err := bob.Resolve(ctx, brickyard.Query{Name: "web", Range: "^1.0", Channel: "prod", Platform: "linux/amd64"})
	if err != nil || got.Digest != web.Digest {
		t.Fatalf("bob resolves web ^1.0 on prod = %s %v, want alice's signed 1.1.0 %s", got.Ref(), err, web.Digest)
	}
	if got, err := bob.Resolve(ctx, brickyard.Query{Name: "web", Range: "^1.0"}); err != nil || got.Digest != web.Digest {
		t.Fatalf("bob resolves web ^1.0 = %s %v, want 1.1.0 (1.3.0 is unsigned, 1.2.0-rc.1 a prerelease)", got.Ref(), err)
	}
	if _, err := bob.Resolve(ctx, brickyard.Query{Name: "web", Range: "~1.3"}); !errors.Is(err, sign.ErrUnsigned) {
		t.Errorf("bob resolves the unsigned 1.3.0: %v", err)
	}
	if id, err := bob.Verify(ctx, got); err != nil || !strings.HasPrefix(id, "SHA256:") {
		t.Errorf("bob verifies 1.1.0: %q %v", id, err)
	}
	fetched, err := bob.FetchDisk(ctx, got, filepath.Join(dir, "deploy"), brickyard.FetchOptions{Format: "qcow2"})
	if err != nil || len(fetched) != 1 {
		t.Fatalf("bob fetches 1.1.0: %v %v", fetched, err)
	}
	if a, b := fileDigest(t, fetched[0].Path), fileDigest(t, filepath.Join(dir, "web-1.1.0.qcow2")); a != b {
		t.Errorf("bob fetched %s, alice published %s", a, b)
	}
	if _, err := os.Stat(filepath.Join(dir, "bob", "store")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("bob's home has a store of its own: %v", err)
	}
	tree, err := bob.Lineage(ctx, got, false)
	if err != nil || len(tree.Next) != 1 || tree.Next[0].Record.Digest != base.Digest {
		t.Errorf("bob's lineage of web 1.1.0: %+v %v", tree, err)
	}
	ms, err := bob.FindByBlob(ctx, fileDigest(t, fetched[0].Path))
	if err != nil || len(ms) != 1 || ms[0].Record.Digest != web.Digest {
		t.Errorf("bob identifies the fetched disk: %+v %v", ms, err)
	}

	// A mirror, registry to registry, with no home at all.
	cp, err := brickyard.Copy(ctx, host+"/team/web:1.1.0", host+"/mirror/web:1.1.0")
	if err != nil || cp.Descriptor.Digest != web.Digest {
		t.Errorf("copy to a mirror: %+v %v", cp, err)
	}
	if _, err := brickyard.Copy(ctx, "web:1.1.0", host+"/mirror/web:1.1.0"); !errors.Is(err, brickyard.ErrNoHome) {
		t.Errorf("copy from a home store with no home: %v", err)
	}

	// Alice revokes base; Bob's next deploy refuses web, built on it.
	if _, err := alice.ChangeLifecycle(ctx, base, catalog.LifecycleChange{State: catalog.StateRevoked, Reason: "CVE-2026-0001"}); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Resolve(ctx, brickyard.Query{Name: "web", Range: "^1.0"}); !errors.Is(err, catalog.ErrRevoked) {
		t.Errorf("bob resolves after the revocation: %v", err)
	}
}
