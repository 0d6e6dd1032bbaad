package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/catalog"
	"github.com/brickyard/brickyard/catalog/sqlite"
	"github.com/brickyard/brickyard/registry"
	"github.com/brickyard/brickyard/registry/layout"
	"github.com/brickyard/brickyard/sign"
)

// TestResolve sets up a home the way `brickyard publish` does — a layout
// store and a SQLite catalog with signed and unsigned versions — and checks
// that the deploy tool picks the newest signed one, by digest.
func TestResolve(t *testing.T) {
	ctx := context.Background()
	home := t.TempDir()
	st, err := layout.New(filepath.Join(home, "store"))
	if err != nil {
		t.Fatal(err)
	}
	cat, err := sqlite.Open(ctx, filepath.Join(home, "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	priv, pub, err := sign.GenerateKeyPair([]byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	keyPath := filepath.Join(home, "cosign.pub")
	if err := os.WriteFile(keyPath, pub, 0o644); err != nil {
		t.Fatal(err)
	}
	signer, err := sign.LoadSigner(priv, []byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for _, v := range []string{"2.0.0", "2.1.0", "2.2.0"} {
		ver, _ := artifact.ParseVersion(v)
		a := &artifact.Artifact{Name: "web", Kind: artifact.KindMachineImage, Version: ver,
			Platform:     artifact.Platform{OS: "linux", Architecture: "amd64"},
			MachineImage: &artifact.MachineImage{Provider: "aws", Owner: "123456789012", Images: map[string]string{"eu-west-1": "ami-" + v}}}
		e, err := registry.Publish(ctx, st, a)
		if err != nil {
			t.Fatal(err)
		}
		if err := cat.Record(ctx, catalog.Record{Name: a.Name, Kind: a.Kind, Version: ver, Digest: e.Descriptor.Digest,
			Platform: a.Platform, Created: time.Now(), Repository: "web", MediaType: e.Descriptor.MediaType, Size: e.Descriptor.Size}); err != nil {
			t.Fatal(err)
		}
		if v != "2.2.0" { // 2.2.0 stays unsigned
			if _, err := signer.Sign(ctx, st, "web", "web", e.Descriptor); err != nil {
				t.Fatal(err)
			}
		}
		want[v] = e.Descriptor.Digest.String()
	}
	cat.Close()

	rec, err := deploy(ctx, options{home: home, key: keyPath, platform: "linux/amd64", name: "web", constraint: "^2"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Version.Original() != "2.1.0" || rec.Digest.String() != want["2.1.0"] {
		t.Fatalf("resolved %s %s, want the signed 2.1.0 %s", rec.Version, rec.Digest, want["2.1.0"])
	}
	if _, err := deploy(ctx, options{home: home, key: keyPath, platform: "linux/amd64", name: "web", constraint: "~2.2"}, false); !errors.Is(err, catalog.ErrUnsigned) {
		t.Errorf("only unsigned matches: %v", err)
	}
	if _, err := deploy(ctx, options{home: home, key: keyPath, platform: "linux/arm64", name: "web", constraint: "^2"}, false); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("no arm64 build: %v", err)
	}

	// Channels: deploy what prod points at, then roll back by moving it.
	cat, err = sqlite.Open(ctx, filepath.Join(home, "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"2.0.0", "2.1.0"} {
		if err := cat.SetChannel(ctx, catalog.ChannelChange{Name: "web", Channel: "prod", Version: v, Actor: "ci"}); err != nil {
			t.Fatal(err)
		}
	}
	cat.Close()
	o := options{home: home, key: keyPath, platform: "linux/amd64", name: "web", constraint: "2.x", channel: "prod"}
	if rec, err := deploy(ctx, o, false); err != nil || rec.Digest.String() != want["2.1.0"] {
		t.Fatalf("deploy prod = %v %v, %v; want 2.1.0", rec.Version, rec.Digest, err)
	}
	if rec, err := deploy(ctx, o, true); err != nil || rec.Digest.String() != want["2.0.0"] {
		t.Fatalf("deploy prod after rollback = %v %v, %v; want 2.0.0", rec.Version, rec.Digest, err)
	}
}
