package main

import (
	"bytes"
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
	"strings"
	"testing"

	"github.com/brickyard/brickyard"
	"github.com/brickyard/brickyard/catalog"
)

// TestPublish runs the publisher on real qcow2 disks (qemu-img) with an
// ECDSA P-384 key standing in for a KMS key: the base, then a build on it;
// a build on an unknown parent writes nothing. A deploy tool trusting the
// public key resolves what it published, signature and provenance checked.
func TestPublish(t *testing.T) {
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Skip("SKIPPED LOUDLY: qemu-img not installed (scripts/install-tools installs qemu-utils)")
	}
	ctx := context.Background()
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalECPrivateKey(key)
	pubDER, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	keyFile, pubFile := filepath.Join(dir, "kms.pem"), filepath.Join(dir, "kms.pub")
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600)
	os.WriteFile(pubFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o644)
	disk := func(name string) string {
		p := filepath.Join(dir, name)
		if out, err := exec.Command("sh", "-c", `printf %s "$1" > "$1.raw" && qemu-img resize -q -f raw "$1.raw" 64M && qemu-img convert -q -f raw -O qcow2 "$1.raw" "$1"`, "sh", p).CombinedOutput(); err != nil {
			t.Fatalf("qemu-img: %v\n%s", err, out)
		}
		return p
	}
	home := filepath.Join(dir, "home")
	var out bytes.Buffer
	if err := run(ctx, []string{"-home", home, "-signing-key", keyFile, "base", "1.0.0", disk("base.qcow2")}, &out); err != nil {
		t.Fatal(err)
	}
	if err := run(ctx, []string{"-home", home, "-signing-key", keyFile, "-parent", "base@1.0.0", "web", "1.1.0", disk("web.qcow2")}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "published web@1.1.0 sha256:") {
		t.Errorf("output: %q", out.String())
	}
	if err := run(ctx, []string{"-home", home, "-signing-key", keyFile, "-parent", "base@9.0.0", "app", "1.0.0", disk("app.qcow2")}, &out); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("unknown parent: %v", err)
	}

	c, err := brickyard.Open(ctx, home, brickyard.WithPublicKeyFiles(pubFile))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	rec, err := c.Resolve(ctx, brickyard.Query{Name: "web", Range: "^1", Platform: "linux/amd64"})
	if err != nil || rec.Version.String() != "1.1.0" {
		t.Fatalf("resolve what the publisher published: %v %v", rec.Ref(), err)
	}
	vp, err := c.VerifyProvenance(ctx, rec)
	if err != nil || vp.Provenance.BuildType != "https://www.packer.io/build@v1" {
		t.Errorf("provenance: %+v %v", vp, err)
	}
	if _, err := c.Lookup(ctx, "app@1.0.0", ""); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("the refused publish was recorded: %v", err)
	}
	if _, err := c.Store().Tags(ctx, "app"); err == nil {
		t.Error("the refused publish wrote to the store")
	}
}
