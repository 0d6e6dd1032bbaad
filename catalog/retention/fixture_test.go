package retention

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/catalog"
	"github.com/brickyard/brickyard/catalog/sqlite"
	"github.com/brickyard/brickyard/registry"
	"github.com/brickyard/brickyard/sign"
	"github.com/brickyard/brickyard/sign/cosignkey"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// fixture is a store and a catalog holding real, signed artifacts.
type fixture struct {
	store     registry.Store
	storeName string
	cat       *sqlite.Catalog
	catPath   string
	signer    *sign.Signer
	shared    []byte // a disk blob every version of every name holds
	recs      map[string]catalog.Record
	unique    map[string]int64 // bytes of each artifact's own disk blob
}

func newFixture(t testing.TB, store registry.Store, storeName, dir string) *fixture {
	t.Helper()
	ctx := context.Background()
	catPath := filepath.Join(dir, "catalog.db")
	cat, err := sqlite.Open(ctx, catPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cat.Close() })
	priv, _, err := cosignkey.GenerateKeyPair([]byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	signer, err := cosignkey.LoadSigner(priv, []byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	shared := make([]byte, 256<<10)
	rand.Read(shared)
	return &fixture{store: store, storeName: storeName, cat: cat, catPath: catPath, signer: signer, shared: shared,
		recs: map[string]catalog.Record{}, unique: map[string]int64{}}
}

// publish pushes NAME@VERSION as a signed VM disk of two raw disks (one
// shared by every artifact, one of its own, 16 KiB) built on parents
// (refs), and records it.
func (f *fixture) publish(t testing.TB, name, version string, parents ...string) catalog.Record {
	t.Helper()
	ctx := context.Background()
	v, err := artifact.ParseVersion(version)
	if err != nil {
		t.Fatal(err)
	}
	own := make([]byte, 16<<10)
	rand.Read(own)
	var disks []artifact.Disk
	for i, b := range [][]byte{f.shared, own} {
		desc, err := f.store.PushBlob(ctx, name, ocispec.Descriptor{MediaType: artifact.DiskFormat("raw").MediaType()}, bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		disks = append(disks, artifact.Disk{Format: "raw", VirtualSize: int64(len(b)), Title: []string{"shared.raw", "own.raw"}[i], Digest: desc.Digest, Size: desc.Size})
	}
	var ps []digest.Digest
	for _, p := range parents {
		ps = append(ps, f.recs[p].Digest)
	}
	created := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	a := &artifact.Artifact{Name: name, Kind: artifact.KindVMDisk, Version: v, Platform: artifact.Platform{OS: "linux", Architecture: "amd64"},
		Build: artifact.Build{Builder: "test", Created: created}, Parents: ps, Disks: disks}
	e, err := registry.Publish(ctx, f.store, a)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := f.signer.Sign(ctx, f.store, name, name, e.Descriptor)
	if err != nil {
		t.Fatal(err)
	}
	r := catalog.Record{Name: name, Kind: a.Kind, Version: v, Digest: e.Descriptor.Digest, Platform: a.Platform, Parents: ps, Created: created,
		Store: f.storeName, Repository: name, MediaType: e.Descriptor.MediaType, Size: e.Descriptor.Size, Actor: "test"}
	if err := f.cat.Record(ctx, r); err != nil {
		t.Fatal(err)
	}
	if err := f.cat.AddSignature(ctx, r.Digest, catalog.Signature{KeyID: sig.KeyID, Digest: sig.Descriptor.Digest, At: created}); err != nil {
		t.Fatal(err)
	}
	f.recs[r.Ref()] = r
	f.unique[r.Ref()] = int64(len(own))
	return r
}

func (f *fixture) stores(string) (registry.Store, error) { return f.store, nil }

// demoSet publishes base 1.0.0, 1.1.0 and web 1.0.0-1.0.3, 1.1.0,
// 1.1.1, 2.0.0-rc.1; points prod at web 1.0.1 (built on base 1.0.0);
// revokes web 1.1.0 (alone).
func (f *fixture) demoSet(t testing.TB) {
	ctx := context.Background()
	f.publish(t, "base", "1.0.0")
	f.publish(t, "base", "1.1.0")
	f.publish(t, "web", "1.0.0", "base@1.0.0")
	f.publish(t, "web", "1.0.1", "base@1.0.0")
	for _, v := range []string{"1.0.2", "1.0.3", "1.1.0", "1.1.1", "2.0.0-rc.1"} {
		f.publish(t, "web", v, "base@1.1.0")
	}
	if err := f.cat.SetChannel(ctx, catalog.ChannelChange{Name: "web", Channel: "prod", Version: "1.0.1", Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.cat.ChangeLifecycle(ctx, f.recs["web@1.1.0"].Digest, catalog.LifecycleChange{State: catalog.StateRevoked, Reason: "CVE", Actor: "test", NoCascade: true}); err != nil {
		t.Fatal(err)
	}
}

const demoPolicy = `version: 1
rules:
  - names: ["web"]
    keep:
      newest_per_stream: 1
    delete:
      revoked_after: 7d
  - names: ["base"]
    keep:
      newest_per_major: 1
`

func writeFile(t testing.TB, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
