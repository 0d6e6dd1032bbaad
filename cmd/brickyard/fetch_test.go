package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
)

// TestFetch writes a VM disk artifact's files back out of the store:
// verified first with --key, byte for byte the published files, the raw one
// still sparse; an existing file is kept unless --force; an unknown format,
// a machine image and an unsigned artifact are refused; and a corrupted
// blob leaves no file behind.
func TestFetch(t *testing.T) {
	c := newCLI(t)
	qcow := c.disk("base.qcow2", "qcow2")
	raw := c.disk("base.raw", "raw")
	f, err := os.OpenFile(raw, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(bytes.Repeat([]byte("boot"), 5<<18), 8<<20); err != nil { // 5 MiB of data at 8 MiB
		t.Fatal(err)
	}
	f.Close()
	c.ok("publish", "vm-disk", "base", "1.0.0", qcow, raw, "--key", c.key())
	c.ok("publish", "vm-disk", "base", "1.1.0", qcow) // unsigned
	c.ok("publish", "machine-image", "ami", "1.0.0", "--owner", "123456789012", "--image", "eu-west-1=ami-1")

	out := filepath.Join(c.dir, "out")
	var got []fetchedDisk
	if err := json.Unmarshal([]byte(c.ok("--json", "fetch", "base@1.0.0", "--output", out, "--key", c.pubKey())), &got); err != nil || len(got) != 2 {
		t.Fatalf("fetch --json = %+v, %v", got, err)
	}
	for _, src := range []string{qcow, raw} {
		want, _ := os.ReadFile(src)
		dst := filepath.Join(out, filepath.Base(src))
		b, err := os.ReadFile(dst)
		if err != nil || !bytes.Equal(b, want) {
			t.Fatalf("%s: differs from %s (%v)", dst, src, err)
		}
		if src == raw {
			var st unix.Stat_t
			if err := unix.Stat(dst, &st); err != nil {
				t.Fatal(err)
			}
			if st.Blocks*512 > 16<<20 {
				t.Errorf("%s: %d bytes allocated for 5 MiB of data in 64 MiB: not sparse", dst, st.Blocks*512)
			}
		}
	}
	c.fail(exitError, []string{"exists", "--force"}, "fetch", "base@1.0.0", "--output", out)
	if o := c.ok("fetch", "base@1.0.0", "--output", out, "--format", "qcow2", "--force"); !strings.Contains(o, "base.qcow2 (qcow2") {
		t.Errorf("fetch --format qcow2 --force: %q", o)
	}
	c.fail(exitUsage, []string{"no vhdx disk", "qcow2, raw"}, "fetch", "base@1.0.0", "--output", out, "--format", "vhdx")
	c.fail(exitUsage, []string{"machine-image", "no disk files"}, "fetch", "ami@1.0.0", "--output", out)

	fresh := filepath.Join(c.dir, "fresh")
	c.fail(exitUntrusted, []string{"base@1.1.0"}, "fetch", "base@1.1.0", "--output", fresh, "--key", c.pubKey())
	if _, err := os.Stat(filepath.Join(fresh, "base.qcow2")); err == nil {
		t.Error("an unsigned artifact was written out")
	}
	c.ok("revoke", "base@1.1.0", "--reason", "leaked key")
	c.fail(exitUntrusted, []string{"base@1.1.0", "revoked"}, "fetch", "base@1.1.0", "--output", fresh)

	// Corrupt the qcow2 blob in the store: the fetch fails on the digest
	// and leaves nothing in the output directory.
	want, _ := os.ReadFile(qcow)
	blob := filepath.Join(c.home, "store", "base", "blobs", "sha256", digest.FromBytes(want).Encoded())
	if err := os.WriteFile(blob, append(bytes.Clone(want[:len(want)-1]), want[len(want)-1]^1), 0o644); err != nil {
		t.Fatal(err)
	}
	c.fail(exitError, []string{"base.qcow2"}, "fetch", "base@1.0.0", "--output", fresh, "--format", "qcow2")
	if entries, _ := os.ReadDir(fresh); len(entries) != 0 {
		t.Errorf("a failed fetch left %v", entries)
	}
}
