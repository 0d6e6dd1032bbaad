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
	"github.com/brickyard/brickyard/catalog"
	"github.com/brickyard/brickyard/sign/cosignkey"
)

// TestAudit publishes real qcow2 disks (qemu-img), one unsigned, revokes
// and shares one, makes one public, and runs the audit with a published
// disk file and an unknown one: each finding is reported once.
func TestAudit(t *testing.T) {
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Skip("SKIPPED LOUDLY: qemu-img not installed (scripts/install-tools installs qemu-utils)")
	}
	ctx := context.Background()
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	c, err := brickyard.Init(ctx, home, brickyard.WithKeyFile(writeKey(t, dir), []byte("pw")))
	if err != nil {
		t.Fatal(err)
	}
	disk := func(name string) string {
		p := filepath.Join(dir, name)
		if out, err := exec.Command("sh", "-c", `printf %s "$1" > "$1.raw" && qemu-img resize -q -f raw "$1.raw" 64M && qemu-img convert -q -f raw -O qcow2 "$1.raw" "$1"`, "sh", p).CombinedOutput(); err != nil {
			t.Fatalf("qemu-img: %v\n%s", err, out)
		}
		return p
	}
	recs := map[string]catalog.Record{}
	for _, v := range []string{"1.0.0", "1.1.0", "1.2.0"} {
		p, err := c.PublishDisk(ctx, brickyard.DiskRequest{Meta: brickyard.Meta{Name: "web", Version: v, Sign: v != "1.2.0"}, Files: []string{disk("web-" + v + ".qcow2")}})
		if err != nil {
			t.Fatal(err)
		}
		recs[v] = p.Record
	}
	if _, err := c.ChangeLifecycle(ctx, recs["1.0.0"], catalog.LifecycleChange{State: catalog.StateRevoked, Reason: "CVE"}); err != nil {
		t.Fatal(err)
	}
	for v, level := range map[string]string{"1.0.0": catalog.VisibilityShared, "1.1.0": catalog.VisibilityPublic} {
		vc := catalog.VisibilityChange{Level: level, Reason: "audit test"}
		if level == catalog.VisibilityShared {
			vc.Principals = []string{"aws:123456789012"}
		}
		if err := c.SetVisibility(ctx, recs[v], vc); err != nil {
			t.Fatal(err)
		}
	}
	c.Close(ctx)

	unknown := disk("found-on-a-share.qcow2")
	os.WriteFile(unknown, append([]byte("changed"), make([]byte, 10)...), 0o644)
	var out bytes.Buffer
	n, err := run(ctx, []string{"-home", home, filepath.Join(dir, "web-1.1.0.qcow2"), unknown}, &out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"UNSIGNED web@1.2.0 ", "REVOKED_BUT_VISIBLE web@1.0.0 ", "PUBLIC web@1.1.0 ",
		"IDENTIFIED " + filepath.Join(dir, "web-1.1.0.qcow2") + " is web@1.1.0 (web-1.1.0.qcow2) " + recs["1.1.0"].Digest.String(),
		"UNKNOWN_DISK " + unknown} {
		if strings.Count(out.String(), want) != 1 {
			t.Errorf("audit output lacks %q once:\n%s", want, out.String())
		}
	}
	if n != 4 {
		t.Errorf("%d findings, want 4:\n%s", n, out.String())
	}
}

func writeKey(t *testing.T, dir string) string {
	t.Helper()
	priv, _, err := cosignkey.GenerateKeyPair([]byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "cosign.key")
	os.WriteFile(p, priv, 0o600)
	return p
}
