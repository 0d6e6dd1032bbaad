package vdisk_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/brickyard/brickyard/artifact/disk"
	"github.com/brickyard/brickyard/artifact/disk/vdisk"
)

func qemuImg(t *testing.T, args ...string) {
	t.Helper()
	if b, err := exec.Command("qemu-img", args...).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img %v: %v: %s", args, err, b)
	}
}

// rawDisk writes a 40 MiB raw disk with data at a few places and zeros
// (holes) elsewhere, and returns its path and bytes.
func rawDisk(t *testing.T, dir string) (string, []byte) {
	t.Helper()
	b := make([]byte, 40<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	for _, off := range []int{0, 3 << 20, 3<<20 + 4096, 17<<20 + 123, 39 << 20} {
		for i := range 70000 {
			if off+i < len(b) {
				b[off+i] = byte(rng.UintN(256))
			}
		}
	}
	p := filepath.Join(dir, "disk.raw")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p, b
}

// TestFingerprintAcrossFormats converts one raw disk with qemu-img into
// every format brickyard reads and checks that every conversion reads
// back the same bytes and has the same fingerprint.
func TestFingerprintAcrossFormats(t *testing.T) {
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Skip("qemu-img not installed (Debian qemu-utils); scripts/test installs it")
	}
	ctx := context.Background()
	dir := t.TempDir()
	src, want := rawDisk(t, dir)
	wantFP, err := vdisk.FingerprintFile(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	if wantFP == vdisk.EmptyFingerprint {
		t.Fatal("a disk with data has the empty fingerprint")
	}
	cases := []struct {
		name string
		args []string
	}{
		{"v3.qcow2", []string{"-O", "qcow2"}},
		{"v2.qcow2", []string{"-O", "qcow2", "-o", "compat=0.10"}},
		{"zlib.qcow2", []string{"-O", "qcow2", "-c"}},
		{"zstd.qcow2", []string{"-O", "qcow2", "-c", "-o", "compression_type=zstd"}},
		{"2m.qcow2", []string{"-O", "qcow2", "-o", "cluster_size=2M"}},
		{"sparse.vmdk", []string{"-O", "vmdk"}},
		{"stream.vmdk", []string{"-O", "vmdk", "-o", "subformat=streamOptimized"}},
		{"dynamic.vhd", []string{"-O", "vpc"}},
		{"fixed.vhd", []string{"-O", "vpc", "-o", "subformat=fixed"}},
		{"disk.vhdx", []string{"-O", "vhdx"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(dir, c.name)
			qemuImg(t, append(append([]string{"convert", "-f", "raw"}, c.args...), src, p)...)
			d, err := vdisk.Open(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			if d.Size() < int64(len(want)) {
				t.Fatalf("virtual size %d, want at least %d", d.Size(), len(want))
			}
			got := make([]byte, len(want))
			if _, err := d.ReadAt(got, 0); err != nil && !errors.Is(err, io.EOF) {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatal("contents differ from the raw disk they were converted from")
			}
			fp, err := vdisk.Fingerprint(ctx, d, d.Size())
			if err != nil {
				t.Fatal(err)
			}
			if fp != wantFP {
				t.Errorf("fingerprint %s, want %s (raw)", fp, wantFP)
			}
		})
	}
	// One changed byte is another disk.
	want[5<<20] = 1
	if err := os.WriteFile(src, want, 0o644); err != nil {
		t.Fatal(err)
	}
	if fp, err := vdisk.FingerprintFile(ctx, src); err != nil || fp == wantFP {
		t.Errorf("changed disk: fingerprint %s, %v; want a different one", fp, err)
	}
}

// TestOpenRefusesUnsafe: a qcow2 naming a backing file on the host is
// refused before anything reads it.
func TestOpenRefusesUnsafe(t *testing.T) {
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Skip("qemu-img not installed (Debian qemu-utils); scripts/test installs it")
	}
	dir := t.TempDir()
	base, _ := rawDisk(t, dir)
	over := filepath.Join(dir, "overlay.qcow2")
	qemuImg(t, "create", "-q", "-f", "qcow2", "-b", base, "-F", "raw", over)
	_, err := vdisk.Open(context.Background(), over)
	if !errors.Is(err, disk.ErrUnsafeDisk) {
		t.Fatalf("Open(overlay) = %v, want ErrUnsafeDisk", err)
	}
	if _, err := vdisk.Open(context.Background(), filepath.Join(dir, "missing.qcow2")); err == nil {
		t.Fatal("Open(missing) succeeded")
	}
}

func TestEmptyFingerprint(t *testing.T) {
	fp, err := vdisk.Fingerprint(context.Background(), bytes.NewReader(make([]byte, 3<<20+5)), 3<<20+5)
	if err != nil || fp != vdisk.EmptyFingerprint {
		t.Fatalf("Fingerprint(zeros) = %s, %v; want EmptyFingerprint", fp, err)
	}
}
