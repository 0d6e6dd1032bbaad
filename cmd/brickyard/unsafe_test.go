package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/registry"
	"github.com/brickyard/brickyard/registry/layout"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func qemuImg(t *testing.T, args ...string) {
	t.Helper()
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Skip("SKIPPED LOUDLY: qemu-img is not installed (scripts/test installs qemu-utils)")
	}
	if out, err := exec.Command("qemu-img", args...).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// TestUnsafeDiskPublishAndFetch: publish refuses a qcow2 naming a host
// backing file (exit 3, naming the file and the rule) and writes nothing;
// --allow-backing-file publishes an overlay of a parent's disk and inspect
// shows the facts; and a signed overlay put into the store bypassing
// publish's check (as an older brickyard or another tool would) is refused
// by fetch with exit 3, leaving no file.
func TestUnsafeDiskPublishAndFetch(t *testing.T) {
	c := newCLI(t)
	evil := filepath.Join(c.dir, "evil.qcow2")
	qemuImg(t, "create", "-q", "-f", "qcow2", "-u", "-b", "/var/lib/images/base.qcow2", "-F", "qcow2", evil, "64M")
	good := c.disk("good.raw", "raw")
	c.fail(exitUntrusted, []string{evil, "qcow2-backing-file", "/var/lib/images/base.qcow2"}, "publish", "vm-disk", "evil", "1.0.0", good, evil)
	if _, err := os.Stat(filepath.Join(c.home, "store", "evil")); err == nil {
		t.Error("a refused publish wrote into the store")
	}

	// An overlay of a parent's disk, named by its file name and format.
	base := c.disk("base.qcow2", "qcow2")
	c.ok("publish", "vm-disk", "base", "1.0.0", base, "--key", c.key())
	c.fail(exitUntrusted, []string{"qcow2-backing-file", "host path"}, "publish", "vm-disk", "evil", "1.0.0", evil, "--allow-backing-file", "--parent", "base@1.0.0")
	overlay := filepath.Join(c.dir, "web.qcow2")
	qemuImg(t, "create", "-q", "-f", "qcow2", "-u", "-b", "base.qcow2", "-F", "qcow2", overlay, "64M")
	c.fail(exitUntrusted, []string{"qcow2-backing-file"}, "publish", "vm-disk", "web", "1.0.0", overlay, "--parent", "base@1.0.0")
	c.fail(exitError, []string{"parent"}, "publish", "vm-disk", "web", "1.0.0", overlay, "--allow-backing-file")
	c.ok("publish", "vm-disk", "web", "1.0.0", overlay, "--allow-backing-file", "--parent", "base@1.0.0", "--key", c.key())
	b, _ := os.ReadFile(base)
	insp := c.ok("inspect", "web@1.0.0")
	for _, want := range []string{`"backingFile": "base.qcow2"`, `"backingDigest": "` + digest.FromBytes(b).String(), `"inspector": "brickyard-disk/1"`, `"subformat": "v3"`} {
		if !strings.Contains(insp, want) {
			t.Errorf("inspect does not show %s:\n%s", want, insp)
		}
	}
	out := filepath.Join(c.dir, "out")
	c.ok("fetch", "web@1.0.0", "--output", out, "--key", c.pubKey())

	// The same host-path overlay, published by a path that skips the
	// inspector, signed: fetch refuses it.
	ctx := context.Background()
	st, err := layout.New(filepath.Join(c.home, "store"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := os.ReadFile(evil)
	desc, err := st.PushBlob(ctx, "evil", ocispec.Descriptor{MediaType: artifact.DiskQCOW2.MediaType(), Size: int64(len(body))}, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	v, _ := artifact.ParseVersion("1.0.0")
	a := &artifact.Artifact{Name: "evil", Kind: artifact.KindVMDisk, Version: v,
		Disks: []artifact.Disk{{Format: artifact.DiskQCOW2, VirtualSize: 64 << 20, Title: "evil.qcow2", Digest: desc.Digest, Size: desc.Size}}}
	if _, err := registry.Publish(ctx, st, a); err != nil {
		t.Fatal(err)
	}
	c.ok("catalog", "rebuild", "--key", c.pubKey())
	c.ok("sign", "evil@1.0.0", "--key", c.key())
	c.ok("verify", "evil@1.0.0", "--key", c.pubKey())
	c.fail(exitUntrusted, []string{"evil.qcow2", "qcow2-backing-file", "/var/lib/images/base.qcow2"}, "fetch", "evil@1.0.0", "--output", out, "--key", c.pubKey())
	entries, _ := os.ReadDir(out)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "evil") || strings.HasPrefix(e.Name(), ".evil") {
			t.Errorf("a refused fetch left %s behind", e.Name())
		}
	}
}
