package disk

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/brickyard/brickyard/artifact"
)

func needQemuImg(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Skip("SKIPPED LOUDLY: qemu-img is not installed (scripts/test installs qemu-utils); real-disk tests did not run")
	}
}

func qemuImg(t testing.TB, args ...string) {
	t.Helper()
	if out, err := exec.Command("qemu-img", args...).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// qemuVirtualSize is what `qemu-img info --output=json` reports.
func qemuVirtualSize(t testing.TB, path, format string) int64 {
	t.Helper()
	out, err := exec.Command("qemu-img", "info", "-f", format, "--output=json", path).Output()
	if err != nil {
		t.Fatalf("qemu-img info %s: %v", path, err)
	}
	var info struct {
		VirtualSize int64 `json:"virtual-size"`
	}
	if err := json.Unmarshal(out, &info); err != nil {
		t.Fatal(err)
	}
	return info.VirtualSize
}

// realDisk describes one disk made by qemu-img for the tests.
type realDisk struct {
	file, qemuFormat string
	format           artifact.DiskFormat
	subformat        string
	make             func(t testing.TB, dir, path string)
}

func create(format, size string, opts ...string) func(testing.TB, string, string) {
	return func(t testing.TB, _, path string) {
		args := []string{"create", "-q", "-f", format}
		if len(opts) > 0 {
			args = append(args, "-o", strings.Join(opts, ","))
		}
		qemuImg(t, append(args, path, size)...)
	}
}

var realDisks = []realDisk{
	{"v3.qcow2", "qcow2", artifact.DiskQCOW2, "v3", create("qcow2", "1G")},
	{"v2.qcow2", "qcow2", artifact.DiskQCOW2, "v2", create("qcow2", "3147264", "compat=0.10")},
	{"sparse.vmdk", "vmdk", artifact.DiskVMDK, "monolithicSparse", create("vmdk", "100M")},
	{"stream.vmdk", "vmdk", artifact.DiskVMDK, "streamOptimized", func(t testing.TB, dir, path string) {
		src := filepath.Join(dir, "src.raw")
		qemuImg(t, "create", "-q", "-f", "raw", src, "3M")
		qemuImg(t, "convert", "-O", "vmdk", "-o", "subformat=streamOptimized", src, path)
	}},
	{"flat.vmdk", "vmdk", artifact.DiskVMDK, "monolithicFlat", create("vmdk", "5M", "subformat=monolithicFlat")},
	{"disk.vhdx", "vhdx", artifact.DiskVHDX, "", create("vhdx", "1G")},
	{"odd.vhdx", "vhdx", artifact.DiskVHDX, "", create("vhdx", "3147264")},
	{"dynamic.vhd", "vpc", artifact.DiskVHD, "dynamic", create("vpc", "100M")},
	{"fixed.vhd", "vpc", artifact.DiskVHD, "fixed", create("vpc", "100M", "subformat=fixed")},
	{"disk.raw", "raw", artifact.DiskRaw, "", create("raw", "3147264")},
}

func TestRealDisks(t *testing.T) {
	needQemuImg(t)
	dir := t.TempDir()
	for _, d := range realDisks {
		t.Run(d.file, func(t *testing.T) {
			p := filepath.Join(dir, d.file)
			d.make(t, dir, p)
			info, err := DetectFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if info.Format != d.format || info.Subformat != d.subformat {
				t.Errorf("format %s/%s, want %s/%s", info.Format, info.Subformat, d.format, d.subformat)
			}
			// qemu reports a vpc disk's size from the footer's current size
			// when qemu-img wrote it (creator "qemu"/"qem2"), which is what
			// these disks are, so the two must agree exactly.
			if want := qemuVirtualSize(t, p, d.qemuFormat); info.VirtualSize != want {
				t.Errorf("virtual size %d, qemu-img info says %d", info.VirtualSize, want)
			}
			if fi, _ := os.Stat(p); info.Size != fi.Size() {
				t.Errorf("size %d, file has %d", info.Size, fi.Size())
			}
		})
	}
}

func writeTar(t testing.TB, w *tar.Writer, files ...string) {
	t.Helper()
	for i := 0; i < len(files); i += 2 {
		if err := w.WriteHeader(&tar.Header{Name: files[i], Mode: 0o644, Size: int64(len(files[i+1])), Format: tar.FormatPAX}); err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(files[i+1]))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

const ovf = `<?xml version="1.0"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1">
 <DiskSection><Info>disks</Info>
  <Disk ovf:capacity="2" ovf:capacityAllocationUnits="byte * 2^30" ovf:diskId="vmdisk1" ovf:fileRef="file1"/>
  <Disk ovf:capacity="1048576" ovf:diskId="vmdisk2" ovf:fileRef="file2"/>
 </DiskSection>
</Envelope>`

func TestArchives(t *testing.T) {
	dir := t.TempDir()
	var ovaBuf bytes.Buffer
	writeTar(t, tar.NewWriter(&ovaBuf), "web.ovf", ovf, "web-disk1.vmdk", "KDMV...")
	var boxBuf bytes.Buffer
	zw := gzip.NewWriter(&boxBuf)
	writeTar(t, tar.NewWriter(zw), "./Vagrantfile", "# vagrant", "./metadata.json", `{"provider":"libvirt","format":"qcow2","virtual_size":40}`, "./box.img", "QFI\xfb")
	zw.Close()
	var notBox bytes.Buffer
	zw = gzip.NewWriter(&notBox)
	writeTar(t, tar.NewWriter(zw), "readme.txt", "hello")
	zw.Close()
	var plainTar bytes.Buffer
	writeTar(t, tar.NewWriter(&plainTar), "notes.txt", "hello")
	cases := []struct {
		name   string
		body   []byte
		format artifact.DiskFormat
		vsize  int64
		err    error
	}{
		{"web.ova", ovaBuf.Bytes(), artifact.DiskOVA, 2<<30 + 1<<20, nil},
		{"web.box", boxBuf.Bytes(), artifact.DiskVagrant, 40 << 30, nil},
		{"logs.tar.gz", notBox.Bytes(), "", 0, ErrNotDisk},
		{"notes.tar", plainTar.Bytes(), "", 0, ErrNotDisk},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(dir, c.name)
			os.WriteFile(p, c.body, 0o644)
			info, err := DetectFile(p)
			if !errors.Is(err, c.err) {
				t.Fatalf("err %v, want %v", err, c.err)
			}
			if err == nil && (info.Format != c.format || info.VirtualSize != c.vsize) {
				t.Errorf("got %+v, want %s of %d bytes", info, c.format, c.vsize)
			}
			if err != nil && !strings.Contains(err.Error(), p) {
				t.Errorf("error does not name the file: %v", err)
			}
		})
	}
}

func TestBadFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	hostileQcow2 := append([]byte("QFI\xfb\x00\x00\x00\x03"), make([]byte, 24)...)
	for i := 24; i < 32; i++ {
		hostileQcow2[i] = 0xff
	}
	hostileVHDX := make([]byte, 256<<10+16)
	copy(hostileVHDX, "vhdxfile")
	for _, off := range []int{192 << 10, 256 << 10} {
		copy(hostileVHDX[off:], "regi")
		le.PutUint32(hostileVHDX[off+8:], 0xffffffff) // entry count
	}
	hostileVMDK := make([]byte, 512)
	copy(hostileVMDK, "KDMV")
	le.PutUint64(hostileVMDK[28:], 1)
	le.PutUint64(hostileVMDK[36:], 1<<40) // descriptor of 2^40 sectors
	cases := map[string]struct {
		body []byte
		err  error
	}{
		"empty":          {nil, ErrNotDisk},
		"text":           {[]byte("this is not a disk\n"), ErrNotDisk},
		"short qcow2":    {[]byte("QFI\xfb\x00\x00\x00\x03"), ErrTruncated},
		"hostile qcow2":  {hostileQcow2, ErrCorrupt},
		"qcow2 v9":       {append([]byte("QFI\xfb\x00\x00\x00\x09"), make([]byte, 100)...), ErrCorrupt},
		"short vhdx":     {[]byte("vhdxfile"), ErrTruncated},
		"hostile vhdx":   {hostileVHDX, ErrCorrupt},
		"hostile vmdk":   {hostileVMDK, ErrCorrupt},
		"bad vhd type":   {append([]byte("conectix"), make([]byte, 504)...), ErrCorrupt},
		"vmdk no extent": {[]byte("# Disk DescriptorFile\nversion=1\n"), ErrCorrupt},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			p := write(strings.ReplaceAll(name, " ", "-"), c.body)
			_, err := DetectFile(p)
			if !errors.Is(err, c.err) || !strings.Contains(err.Error(), p) {
				t.Fatalf("got %v, want %v naming %s", err, c.err, p)
			}
		})
	}
	missing := filepath.Join(dir, "missing.qcow2")
	if _, err := DetectFile(missing); !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing file: %v", err)
	}
	if _, err := DetectFile(dir); !errors.Is(err, ErrNotDisk) {
		t.Errorf("directory: %v", err)
	}
}

// TestTruncatedRealDisks cuts every real disk at several lengths: each cut
// gives an error or a plausible answer, never a panic.
func TestTruncatedRealDisks(t *testing.T) {
	needQemuImg(t)
	dir := t.TempDir()
	for _, d := range realDisks {
		p := filepath.Join(dir, d.file)
		d.make(t, dir, p)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{1, 4, 8, 31, 100, 511, 4096, 65536, 200 << 10} {
			if n >= len(b) {
				continue
			}
			info, err := Detect(d.file, bytes.NewReader(b[:n]), int64(n))
			if err == nil && info.Format != artifact.DiskRaw && info.Format != d.format {
				t.Errorf("%s cut at %d: detected as %s", d.file, n, info.Format)
			}
		}
	}
}
