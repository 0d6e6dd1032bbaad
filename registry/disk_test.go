package registry_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/artifact/disk"
	"github.com/brickyard/brickyard/registry"
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

// TestPushDisksRefusesUnsafe: an unsafe disk among several is refused
// before any is written, naming the file and the rule; a safe disk's
// facts are recorded; an overlay is accepted only with BackingFromParents
// and only when it names a parent's disk, never a host path.
func TestPushDisksRefusesUnsafe(t *testing.T) {
	ctx := context.Background()
	s := newLayout(t)
	dir := t.TempDir()
	base := filepath.Join(dir, "base.qcow2")
	qemuImg(t, "create", "-q", "-f", "qcow2", "-o", "lazy_refcounts=on", base, "64M")
	hostOverlay := filepath.Join(dir, "host.qcow2")
	qemuImg(t, "create", "-q", "-f", "qcow2", "-u", "-b", filepath.Join(dir, "base.qcow2"), "-F", "qcow2", hostOverlay, "64M")
	overlay := filepath.Join(dir, "web.qcow2")
	qemuImg(t, "create", "-q", "-f", "qcow2", "-u", "-b", "base.qcow2", "-F", "qcow2", overlay, "64M")

	_, err := registry.PushDisks(ctx, s, "web", []string{base, hostOverlay}, nil)
	if !errors.Is(err, disk.ErrUnsafeDisk) || !strings.Contains(err.Error(), hostOverlay) || !strings.Contains(err.Error(), "qcow2-backing-file") {
		t.Fatalf("PushDisks with a host-path overlay: %v", err)
	}
	if repos, _ := s.Repositories(ctx); len(repos) != 0 {
		t.Fatalf("a refused publish wrote %v", repos)
	}

	disks, err := registry.PushDisks(ctx, s, "base", []string{base}, nil)
	if err != nil {
		t.Fatal(err)
	}
	f := disks[0].Facts
	if f == nil || f.Inspector != disk.Rules || f.Subformat != "v3" || f.ClusterSize != 64<<10 || !strings.Contains(strings.Join(f.Features, ","), "lazy_refcounts") {
		t.Fatalf("facts %+v", f)
	}
	v, _ := artifact.ParseVersion("1.0.0")
	parent := &artifact.Artifact{Name: "base", Kind: artifact.KindVMDisk, Version: v, Disks: disks}
	pe, err := registry.Publish(ctx, s, parent)
	if err != nil {
		t.Fatal(err)
	}

	if _, err := registry.PushDisk(ctx, s, "web", overlay, nil); !errors.Is(err, disk.ErrUnsafeDisk) {
		t.Fatalf("overlay without consent: %v", err)
	}
	if _, err := registry.PushDisk(ctx, s, "web", hostOverlay, nil, registry.BackingFromParents(parent)); !errors.Is(err, disk.ErrUnsafeDisk) || !strings.Contains(err.Error(), "host path") {
		t.Fatalf("host-path overlay with consent: %v", err)
	}
	other := filepath.Join(dir, "other.qcow2")
	qemuImg(t, "create", "-q", "-f", "qcow2", "-u", "-b", "other-base.qcow2", "-F", "qcow2", other, "64M")
	if _, err := registry.PushDisk(ctx, s, "web", other, nil, registry.BackingFromParents(parent)); !errors.Is(err, disk.ErrUnsafeDisk) || !strings.Contains(err.Error(), "no parent artifact") {
		t.Fatalf("overlay of a file no parent has: %v", err)
	}
	d, err := registry.PushDisk(ctx, s, "web", overlay, nil, registry.BackingFromParents(parent))
	if err != nil {
		t.Fatal(err)
	}
	if d.Facts.BackingFile != "base.qcow2" || d.Facts.BackingFormat != artifact.DiskQCOW2 || d.Facts.BackingDigest != disks[0].Digest {
		t.Fatalf("overlay facts %+v", d.Facts)
	}
	a := &artifact.Artifact{Name: "web", Kind: artifact.KindVMDisk, Version: v, Disks: []artifact.Disk{d}}
	if _, err := registry.Publish(ctx, s, a); !errors.Is(err, artifact.ErrInvalidArtifact) {
		t.Fatalf("an overlay without a parent: %v", err)
	}
	a.Parents = append(a.Parents, pe.Descriptor.Digest)
	if _, err := registry.Publish(ctx, s, a); err != nil {
		t.Fatal(err)
	}

	// CheckDisk, as fetch runs it: the recorded overlay passes; the same
	// bytes recorded as raw, or without the recorded backing file, do not.
	b, _ := os.ReadFile(overlay)
	if _, err := registry.CheckDisk(a, d, bytes.NewReader(b), int64(len(b))); err != nil {
		t.Fatalf("CheckDisk of the recorded overlay: %v", err)
	}
	raw := d
	raw.Format, raw.Facts = artifact.DiskRaw, nil
	if _, err := registry.CheckDisk(a, raw, bytes.NewReader(b), int64(len(b))); !errors.Is(err, disk.ErrUnsafeDisk) {
		t.Fatalf("CheckDisk of an overlay recorded as raw without facts: %v", err)
	}
	q, _ := os.ReadFile(base)
	raw.Facts = nil
	if _, err := registry.CheckDisk(parent, raw, bytes.NewReader(q), int64(len(q))); !errors.Is(err, disk.ErrUnsafeDisk) || !strings.Contains(err.Error(), "recorded as raw") {
		t.Fatalf("CheckDisk of a qcow2 recorded as raw: %v", err)
	}
}
