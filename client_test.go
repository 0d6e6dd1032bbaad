package brickyard_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/brickyard/brickyard"
	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/catalog"
	"github.com/brickyard/brickyard/registry"
	"github.com/brickyard/brickyard/sign"
	"github.com/opencontainers/go-digest"
)

// qcow2 makes a real qcow2 disk of size (qemu-img syntax, e.g. "64M") with
// qemu-img and returns its path.
func qcow2(t testing.TB, dir, name, size string) string {
	t.Helper()
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Skip("SKIPPED LOUDLY: qemu-img not installed (scripts/install-tools installs qemu-utils): no real disk to publish")
	}
	p := filepath.Join(dir, name)
	raw := p + ".raw" // its name written in, so no two disks are alike
	if err := os.WriteFile(raw, []byte(name), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("qemu-img", "resize", "-q", "-f", "raw", raw, size).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img resize: %v\n%s", err, out)
	}
	if out, err := exec.Command("qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", raw, p).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img convert: %v\n%s", err, out)
	}
	return p
}

// p384 returns a P-384 key standing in for a KMS key and its public key
// file.
func p384(t testing.TB, dir string) (*ecdsa.PrivateKey, string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pub := filepath.Join(dir, "kms.pub")
	if err := os.WriteFile(pub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return k, pub
}

// TestWorkflow runs the main job on an embedded home through the Client
// alone: publish real qcow2 disks signed with a P-384 crypto.Signer, a
// child with its parent, then resolve, verify, fetch, look up, find, find
// by blob, revoke.
func TestWorkflow(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	key, pub := p384(t, dir)
	c, err := brickyard.Init(ctx, filepath.Join(dir, "home"), brickyard.WithCryptoSigner(key), brickyard.WithPublicKeyFiles(pub))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)

	base := qcow2(t, dir, "base.qcow2", "64M")
	pb, err := c.PublishDisk(ctx, brickyard.DiskRequest{Meta: brickyard.Meta{Name: "base", Version: "1.0.0", Platform: "linux/amd64", Sign: true}, Files: []string{base}, Bootable: true})
	if err != nil {
		t.Fatal(err)
	}
	if pb.Signature == nil || len(pb.Record.Signatures) != 1 || pb.Record.Signatures[0].KeyID != pb.Signature.KeyID {
		t.Fatalf("published %+v: not signed", pb)
	}
	if pb.Record.Store != brickyard.LayoutStoreName || pb.Record.Kind != artifact.KindVMDisk {
		t.Errorf("record %+v", pb.Record)
	}

	// An unknown parent is refused before anything is written: the version
	// tag is not burnt, and publishing it right afterwards works.
	web := qcow2(t, dir, "web.qcow2", "32M")
	req := brickyard.DiskRequest{Meta: brickyard.Meta{Name: "web", Version: "1.1.0", Platform: "linux/amd64", Parents: []string{"base@9.9.9"}, Sign: true}, Files: []string{web}}
	if _, err := c.PublishDisk(ctx, req); !errors.Is(err, catalog.ErrNotFound) {
		t.Fatalf("unknown parent: %v", err)
	}
	if _, err := c.Store().Tags(ctx, "web"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("the refused publish wrote to repository web: %v", err)
	}
	req.Parents = []string{"base@1.0.0"}
	pw, err := c.PublishDisk(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if len(pw.Record.Parents) != 1 || pw.Record.Parents[0] != pb.Record.Digest {
		t.Errorf("web's parents %v, want base %s", pw.Record.Parents, pb.Record.Digest)
	}
	// The same content again is a no-op (issue 21): the build time was
	// not given, so it is not part of what makes the publish the same.
	if again, err := c.PublishDisk(ctx, req); err != nil || !again.Existed || again.Record.Digest != pw.Record.Digest || !again.AlreadySigned {
		t.Errorf("the same content again = %+v, %v; want a no-op", again, err)
	}
	other := qcow2(t, dir, "web-other.qcow2", "48M")
	if _, err := c.PublishDisk(ctx, brickyard.DiskRequest{Meta: req.Meta, Files: []string{other}}); !errors.Is(err, registry.ErrImmutableTag) {
		t.Errorf("other content under the same version: %v, want ErrImmutableTag", err)
	}
	unsigned := qcow2(t, dir, "web-1.3.0.qcow2", "16M")
	if _, err := c.PublishDisk(ctx, brickyard.DiskRequest{Meta: brickyard.Meta{Name: "web", Version: "1.3.0", Platform: "linux/amd64", Parents: []string{"base@1.0.0"}}, Files: []string{unsigned}}); err != nil {
		t.Fatal(err)
	}

	got, err := c.Resolve(ctx, brickyard.Query{Name: "web", Range: "^1", Platform: "linux/amd64"})
	if err != nil || got.Digest != pw.Record.Digest {
		t.Fatalf("resolve web ^1 = %s %v, want the signed 1.1.0 %s", got.Digest, err, pw.Record.Digest)
	}
	if _, err := c.Resolve(ctx, brickyard.Query{Name: "web", Range: "~1.3"}); !errors.Is(err, sign.ErrUnsigned) {
		t.Errorf("resolve the unsigned 1.3.0: %v", err)
	}
	out := filepath.Join(dir, "out")
	fetched, err := c.FetchDisk(ctx, got, out, brickyard.FetchOptions{})
	if err != nil || len(fetched) != 1 {
		t.Fatal(fetched, err)
	}
	if a, b := fileDigest(t, fetched[0].Path), fileDigest(t, web); a != b {
		t.Errorf("fetched %s, published %s", a, b)
	}
	r13, err := c.Lookup(ctx, "web@1.3.0", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.FetchDisk(ctx, r13, filepath.Join(dir, "never"), brickyard.FetchOptions{}); !errors.Is(err, sign.ErrUnsigned) {
		t.Errorf("fetch unsigned: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "never", "web-1.3.0.qcow2")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("an unverified fetch wrote the file: %v", err)
	}

	// Lookups: by NAME@VERSION, by digest, by blob digest.
	if r, err := c.Lookup(ctx, pb.Record.Digest.String(), ""); err != nil || r.Ref() != "base@1.0.0" {
		t.Errorf("lookup by digest = %v, %v", r.Ref(), err)
	}
	if _, err := c.Lookup(ctx, "web", ""); !errors.Is(err, brickyard.ErrInvalidRef) {
		t.Errorf("lookup of a bare name: %v", err)
	}
	if _, err := c.Lookup(ctx, "web@2.0.0", ""); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("lookup of a missing version: %v", err)
	}
	ms, err := c.FindByBlob(ctx, fileDigest(t, web))
	if err != nil || len(ms) != 1 || ms[0].Record.Ref() != "web@1.1.0" || ms[0].Blob.Annotations["org.opencontainers.image.title"] != "web.qcow2" {
		t.Errorf("find by blob = %+v, %v; want web@1.1.0's web.qcow2", ms, err)
	}
	if ms, err := c.FindByBlob(ctx, digest.FromString("nowhere")); err != nil || len(ms) != 0 {
		t.Errorf("find by an unknown blob = %+v, %v", ms, err)
	}

	// Lifecycle and Find: revoke base (web is revoked with it), share it.
	changed, err := c.ChangeLifecycle(ctx, pb.Record, catalog.LifecycleChange{State: catalog.StateRevoked, Reason: "CVE-2026-0001"})
	if err != nil || len(changed) != 3 {
		t.Fatalf("revoke base: %d changed, %v", len(changed), err)
	}
	if err := c.SetVisibility(ctx, pb.Record, catalog.VisibilityChange{Level: catalog.VisibilityShared, Principals: []string{"aws:123456789012"}, Reason: "partner"}); err != nil {
		t.Fatal(err)
	}
	revokedShared, err := c.Find(ctx, brickyard.Filter{State: catalog.StateRevoked, Visibility: []string{catalog.VisibilityShared, catalog.VisibilityPublic}})
	if err != nil || len(revokedShared) != 1 || revokedShared[0].Ref() != "base@1.0.0" {
		t.Errorf("revoked and shared = %v, %v", refs(revokedShared), err)
	}
	uns, err := c.Find(ctx, brickyard.Filter{Unsigned: true, Name: "w*"})
	if err != nil || len(uns) != 1 || uns[0].Ref() != "web@1.3.0" {
		t.Errorf("unsigned = %v, %v", refs(uns), err)
	}
	if _, err := c.FetchDisk(ctx, got, out, brickyard.FetchOptions{Force: true}); !errors.Is(err, catalog.ErrRevoked) {
		t.Errorf("fetch revoked: %v", err)
	}
	tree, err := c.Lineage(ctx, pb.Record, true)
	if err != nil || len(tree.Next) != 2 {
		t.Errorf("base's descendants: %+v, %v", tree, err)
	}
}

// TestRecordMatchesStore: the record is derived from the stored manifest,
// and a record that contradicts it is refused by catalog.FetchRecord.
func TestRecordMatchesStore(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	c, err := brickyard.Init(ctx, filepath.Join(dir, "home"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	p, err := c.PublishMachineImage(ctx, brickyard.MachineImageRequest{Meta: brickyard.Meta{Name: "ami", Version: "1.0.0+b.7", Platform: "linux/arm64"},
		MachineImage: artifact.MachineImage{Provider: "aws", Owner: "123456789012", Images: map[string]string{"eu-west-1": "ami-0abc"}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := catalog.FetchRecord(ctx, c.Store(), p.Record); err != nil {
		t.Fatalf("the recorded record contradicts its manifest: %v", err)
	}
	for name, edit := range map[string]func(*catalog.Record){
		"platform": func(r *catalog.Record) { r.Platform.Architecture = "amd64" },
		"name":     func(r *catalog.Record) { r.Name = "other" },
		"parents":  func(r *catalog.Record) { r.Parents = []digest.Digest{digest.FromString("x")} },
		"kind":     func(r *catalog.Record) { r.Kind = artifact.KindVMDisk },
	} {
		r := p.Record
		edit(&r)
		r.Repository = p.Record.Repository
		if err := catalog.FetchRecord(ctx, c.Store(), r); !errors.Is(err, catalog.ErrRecordMismatch) {
			t.Errorf("%s changed: %v", name, err)
		}
	}
	if _, err := c.PublishDisk(ctx, brickyard.DiskRequest{Meta: brickyard.Meta{Name: "dd", Version: "1.0.0", Sign: true}, Files: []string{"x"}}); !errors.Is(err, brickyard.ErrNoSigner) {
		t.Errorf("sign without a signer: %v", err)
	}
}

func refs(rs []catalog.Record) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Ref())
	}
	return out
}

func fileDigest(t testing.TB, path string) digest.Digest {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d, err := digest.FromReader(f)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestIsRegistry(t *testing.T) {
	dir := t.TempDir()
	dotted := filepath.Join(dir, "my.store")
	if err := os.Mkdir(dotted, 0o755); err != nil {
		t.Fatal(err)
	}
	for target, want := range map[string]bool{
		"127.0.0.1:5000/team": true, "registry.example/golden": true, "localhost/x": true, "localhost:5000": true,
		"store": false, "./store": false, "../x.y/z": false, "/abs/x.y": false, dotted: false,
	} {
		if got := brickyard.IsRegistry(target); got != want {
			t.Errorf("IsRegistry(%q) = %v, want %v", target, got, want)
		}
	}
}
