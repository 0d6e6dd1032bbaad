package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/brickyard/brickyard/artifact"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// flip flips one byte of the blob d of repository repo in c's home store.
func (c *cli) flip(repo, d string) {
	c.t.Helper()
	p := filepath.Join(c.home, "store", repo, "blobs", "sha256", strings.TrimPrefix(d, "sha256:"))
	b, err := os.ReadFile(p)
	if err != nil {
		c.t.Fatal(err)
	}
	b[len(b)/2] ^= 0x20
	if err := os.WriteFile(p, b, 0o644); err != nil {
		c.t.Fatal(err)
	}
}

// TestVerifyRehashesContent flips one byte in the manifest, the config or
// the disk layer of a signed artifact: verify refuses each with exit 3
// naming the blob (for the layer, unless --manifest-only), and fsck
// reports it, exits 1, and with --repair removes it; publishing again then
// restores it.
func TestVerifyRehashesContent(t *testing.T) {
	for _, part := range []string{"manifest", "config", "layer"} {
		t.Run(part, func(t *testing.T) {
			c := newCLI(t)
			disk := c.disk("base.qcow2", "qcow2")
			publish := []string{"publish", "vm-disk", "base", "1.0.0", disk, "--key", c.key()}
			var rec struct {
				Digest string `json:"digest"`
			}
			if err := json.Unmarshal([]byte(c.ok(append([]string{"--json"}, publish...)...)), &rec); err != nil {
				t.Fatal(err)
			}
			out := c.ok("verify", "base@1.0.0", "--key", c.pubKey())
			if !strings.Contains(out, "content re-hashed: 3 blobs") {
				t.Fatalf("verify of an intact artifact: %s", out)
			}
			m, err := os.ReadFile(filepath.Join(c.home, "store", "base", "blobs", "sha256", strings.TrimPrefix(rec.Digest, "sha256:")))
			if err != nil {
				t.Fatal(err)
			}
			var man ocispec.Manifest
			if err := json.Unmarshal(m, &man); err != nil {
				t.Fatal(err)
			}
			blob := map[string]string{"manifest": rec.Digest, "config": man.Config.Digest.String(), "layer": man.Layers[0].Digest.String()}[part]
			c.flip("base", blob)
			c.fail(exitUntrusted, []string{blob, "digest mismatch"}, "verify", "base@1.0.0", "--key", c.pubKey())
			if part == "layer" {
				c.ok("verify", "base@1.0.0", "--key", c.pubKey(), "--manifest-only")
			} else {
				c.fail(exitUntrusted, []string{blob}, "verify", "base@1.0.0", "--key", c.pubKey(), "--manifest-only")
			}
			out, _, code := c.run("fsck")
			if code != exitError || !strings.Contains(out, "corrupt blob "+blob) {
				t.Fatalf("fsck of a corrupt store: exit %d\n%s", code, out)
			}
			if _, err := os.Stat(filepath.Join(c.home, "store", "base", "blobs", "sha256", strings.TrimPrefix(blob, "sha256:"))); err != nil {
				t.Fatal("fsck without --repair removed the corrupt blob")
			}
			out, _, _ = c.run("fsck", "--repair")
			if !strings.Contains(out, "repaired") {
				t.Fatalf("fsck --repair: %s", out)
			}
			if part == "layer" {
				// Publishing the same disk again restores the layer.
				c.ok(publish...)
				c.ok("verify", "base@1.0.0", "--key", c.pubKey())
				if out := c.ok("fsck"); !strings.Contains(out, "no problems left") {
					t.Errorf("fsck after restoring the layer: %s", out)
				}
			}
		})
	}
}

// TestOneCharacterNameRefused: a name cosign cannot sign is refused before
// anything is written.
func TestOneCharacterNameRefused(t *testing.T) {
	c := newCLI(t)
	c.fail(exitUsage, []string{`"x"`, "cosign"}, "publish", "machine-image", "x", "1.0.0", "--owner", "1", "--image", "eu-west-1=ami-1", "--key", c.key())
	if _, err := os.Stat(filepath.Join(c.home, "store", "x")); err == nil {
		t.Error("the refused publish wrote to the store")
	}
	if out := c.ok("list"); strings.Contains(out, " x ") {
		t.Errorf("the refused publish was recorded: %s", out)
	}
	if err := artifact.ValidateName("xy"); err != nil {
		t.Error(err)
	}
}
