package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/brickyard/brickyard"
	"github.com/brickyard/brickyard/sign/cosignkey"
)

// TestDeploy publishes real qcow2 disks (qemu-img) the way brickyard
// publish does, signed except for the newest, points prod at 1.1.0, and
// runs the deploy tool: it writes 1.1.0's disk, byte for byte, and refuses
// what is unsigned or absent with its exit code.
func TestDeploy(t *testing.T) {
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Skip("SKIPPED LOUDLY: qemu-img not installed (scripts/install-tools installs qemu-utils)")
	}
	ctx := context.Background()
	dir := t.TempDir()
	priv, pub, err := cosignkey.GenerateKeyPair([]byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	keyFile, pubFile := filepath.Join(dir, "cosign.key"), filepath.Join(dir, "cosign.pub")
	os.WriteFile(keyFile, priv, 0o600)
	os.WriteFile(pubFile, pub, 0o644)
	home := filepath.Join(dir, "home")
	c, err := brickyard.Init(ctx, home, brickyard.WithKeyFile(keyFile, []byte("pw")))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"1.0.0", "1.1.0", "1.2.0"} {
		disk := filepath.Join(dir, "web-"+v+".qcow2")
		if out, err := exec.Command("sh", "-c", `printf %s "$1" > "$1.raw" && qemu-img resize -q -f raw "$1.raw" 64M && qemu-img convert -q -f raw -O qcow2 "$1.raw" "$1"`, "sh", disk).CombinedOutput(); err != nil {
			t.Fatalf("qemu-img: %v\n%s", err, out)
		}
		p, err := c.PublishDisk(ctx, brickyard.DiskRequest{Meta: brickyard.Meta{Name: "web", Version: v, Platform: "linux/amd64", Sign: v != "1.2.0"}, Files: []string{disk}})
		if err != nil {
			t.Fatal(err)
		}
		if v != "1.2.0" {
			if _, err := c.Promote(ctx, p.Record, "prod", "release "+v); err != nil {
				t.Fatal(err)
			}
		}
	}
	c.Close(ctx)

	out := filepath.Join(dir, "deploy")
	var stdout bytes.Buffer
	err = run(ctx, []string{"-home", home, "-key", pubFile, "-output", out, "web", "^1"}, &stdout)
	if err != nil || !strings.HasPrefix(stdout.String(), "deployed web@1.1.0 sha256:") {
		t.Fatalf("deploy web ^1 on prod: %q, %v", stdout.String(), err)
	}
	got, _ := os.ReadFile(filepath.Join(out, "web-1.1.0.qcow2"))
	want, _ := os.ReadFile(filepath.Join(dir, "web-1.1.0.qcow2"))
	if len(want) == 0 || !bytes.Equal(got, want) {
		t.Errorf("deployed disk differs from the published one (%d and %d bytes)", len(got), len(want))
	}
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"-channel", "", "web", "~1.2"}, 3},           // unsigned
		{[]string{"-platform", "linux/arm64", "web", "^1"}, 4}, // no such build
		{[]string{"web"}, 1},                                   // usage
	} {
		err := run(ctx, append([]string{"-home", home, "-key", pubFile, "-output", out}, tc.args...), &stdout)
		if exitCode(err) != tc.code {
			t.Errorf("deploy %v: exit %d (%v), want %d", tc.args, exitCode(err), err, tc.code)
		}
	}
}
