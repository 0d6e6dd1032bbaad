package disk

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
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

type qemuInfo struct {
	Format      string `json:"format"`
	VirtualSize int64  `json:"virtual-size"`
}

// qemuImgInfo is what `qemu-img info --output=json` reports, with the
// format given (format != "") or probed.
func qemuImgInfo(t testing.TB, path, format string) qemuInfo {
	t.Helper()
	args := []string{"info", "--output=json"}
	if format != "" {
		args = append(args, "-f", format)
	}
	out, err := exec.Command("qemu-img", append(args, path)...).Output()
	if err != nil {
		t.Fatalf("qemu-img info %s: %v", path, err)
	}
	var info qemuInfo
	if err := json.Unmarshal(out, &info); err != nil {
		t.Fatal(err)
	}
	return info
}

// realDisk describes one disk made by qemu-img for the tests.
type realDisk struct {
	file       string
	qemuFormat string
	format     artifact.DiskFormat
	subformat  string
	make       func(t testing.TB, dir, path string)
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

// dataRaw writes a raw disk of size bytes with some data in it, so that
// converted and compressed disks have clusters allocated.
func dataRaw(t testing.TB, path string, size int64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	for off := int64(0); off < size; off += size / 7 {
		f.WriteAt(bytes.Repeat([]byte(fmt.Sprintf("brickyard %d ", off)), 5000), off)
	}
}

func convert(format string, args ...string) func(testing.TB, string, string) {
	return func(t testing.TB, dir, path string) {
		src := filepath.Join(dir, filepath.Base(path)+".src.raw")
		dataRaw(t, src, 7<<20)
		qemuImg(t, append(append([]string{"convert", "-O", format}, args...), src, path)...)
	}
}

// realDisks are good disks in each format and subformat, made by qemu-img.
var realDisks = []realDisk{
	{"v3.qcow2", "qcow2", artifact.DiskQCOW2, "v3", create("qcow2", "1G")},
	{"v2.qcow2", "qcow2", artifact.DiskQCOW2, "v2", create("qcow2", "3147264", "compat=0.10")},
	{"compressed.qcow2", "qcow2", artifact.DiskQCOW2, "v3", convert("qcow2", "-c")},
	{"compressed-v2.qcow2", "qcow2", artifact.DiskQCOW2, "v2", convert("qcow2", "-c", "-o", "compat=0.10")},
	{"zstd.qcow2", "qcow2", artifact.DiskQCOW2, "v3", convert("qcow2", "-c", "-o", "compression_type=zstd")},
	{"extl2.qcow2", "qcow2", artifact.DiskQCOW2, "v3", create("qcow2", "5G", "extended_l2=on")},
	{"extl2-data.qcow2", "qcow2", artifact.DiskQCOW2, "v3", convert("qcow2", "-o", "extended_l2=on,cluster_size=128k")},
	{"no-extl2.qcow2", "qcow2", artifact.DiskQCOW2, "v3", create("qcow2", "5G", "extended_l2=off")},
	{"small-clusters.qcow2", "qcow2", artifact.DiskQCOW2, "v3", create("qcow2", "100M", "cluster_size=512")},
	{"big-clusters.qcow2", "qcow2", artifact.DiskQCOW2, "v3", create("qcow2", "100M", "cluster_size=2M")},
	{"lazy.qcow2", "qcow2", artifact.DiskQCOW2, "v3", create("qcow2", "1G", "lazy_refcounts=on")},
	{"prealloc.qcow2", "qcow2", artifact.DiskQCOW2, "v3", create("qcow2", "8M", "preallocation=metadata")},
	{"sparse.vmdk", "vmdk", artifact.DiskVMDK, "monolithicSparse", create("vmdk", "100M")},
	{"sparse-data.vmdk", "vmdk", artifact.DiskVMDK, "monolithicSparse", convert("vmdk")},
	{"stream.vmdk", "vmdk", artifact.DiskVMDK, "streamOptimized", convert("vmdk", "-o", "subformat=streamOptimized")},
	{"footer-stream.vmdk", "vmdk", artifact.DiskVMDK, "streamOptimized", func(t testing.TB, dir, path string) {
		// As VMware writes it: the header's grain directory offset ~0, the
		// real header in a footer before the end-of-stream marker.
		convert("vmdk", "-o", "subformat=streamOptimized")(t, dir, path)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		footer := bytes.Clone(b[:512])
		marker := make([]byte, 512)
		le.PutUint64(marker, 1)
		le.PutUint32(marker[12:], 3)
		le.PutUint64(b[56:], vmdkGDAtEnd)
		b = append(append(append(b[:len(b)-512], marker...), footer...), make([]byte, 512)...)
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}},
	{"disk.vhdx", "vhdx", artifact.DiskVHDX, "", create("vhdx", "1G")},
	{"odd.vhdx", "vhdx", artifact.DiskVHDX, "", create("vhdx", "3147264")},
	{"data.vhdx", "vhdx", artifact.DiskVHDX, "", convert("vhdx")},
	{"fixed.vhdx", "vhdx", artifact.DiskVHDX, "", create("vhdx", "8M", "subformat=fixed")},
	{"dynamic.vhd", "vpc", artifact.DiskVHD, "dynamic", create("vpc", "100M")},
	{"data.vhd", "vpc", artifact.DiskVHD, "dynamic", convert("vpc")},
	{"fixed.vhd", "vpc", artifact.DiskVHD, "fixed", create("vpc", "100M", "subformat=fixed")},
	{"force-size.vhd", "vpc", artifact.DiskVHD, "dynamic", create("vpc", "100M", "force_size=on")},
	{"disk.raw", "raw", artifact.DiskRaw, "", create("raw", "3147264")},
}

// TestQemuImgAgreement: on every good disk qemu-img makes, Inspect finds
// it safe and agrees with `qemu-img info --output=json` on the format
// (probed, as qemu would on the deploy host: a fixed vhd has no header,
// so qemu probes it as raw) and the virtual size.
func TestQemuImgAgreement(t *testing.T) {
	needQemuImg(t)
	dir := t.TempDir()
	table := []string{"| file | subformat | qemu-img format | qemu-img virtual size | inspector | match |", "| --- | --- | --- | --- | --- | --- |"}
	for _, d := range realDisks {
		t.Run(d.file, func(t *testing.T) {
			p := filepath.Join(dir, d.file)
			d.make(t, dir, p)
			info, err := InspectFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if info.Format != d.format || info.Subformat != d.subformat || info.Probe != d.qemuFormat {
				t.Errorf("format %s/%s (%s), want %s/%s (%s)", info.Format, info.Subformat, info.Probe, d.format, d.subformat, d.qemuFormat)
			}
			want := qemuImgInfo(t, p, d.qemuFormat)
			probed := qemuImgInfo(t, p, "")
			shown := probed.Format
			if d.subformat == "fixed" && d.format == artifact.DiskVHD {
				probed.Format = "vpc" // qemu probes a fixed vhd as raw; -f vpc reads it
				shown = "raw probed, vpc with -f"
			}
			match := info.VirtualSize == want.VirtualSize && probed.Format == info.Probe
			if !match {
				t.Errorf("%s of %d bytes, qemu-img info says %s of %d", info.Probe, info.VirtualSize, probed.Format, want.VirtualSize)
			}
			if fi, _ := os.Stat(p); info.Size != fi.Size() {
				t.Errorf("size %d, file has %d", info.Size, fi.Size())
			}
			table = append(table, fmt.Sprintf("| %s | %s | %s | %d | %s %d | %v |", d.file, info.Subformat, shown, want.VirtualSize, info.Probe, info.VirtualSize, match))
		})
	}
	t.Log("qemu-img agreement:\n" + strings.Join(table, "\n"))
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
 <References><File ovf:href="%s" ovf:id="file1"/></References>
 <DiskSection><Info>disks</Info>
  <Disk ovf:capacity="2" ovf:capacityAllocationUnits="byte * 2^30" ovf:diskId="vmdisk1" ovf:fileRef="file1"/>
  <Disk ovf:capacity="1048576" ovf:diskId="vmdisk2" ovf:fileRef="file2"/>
 </DiskSection>
</Envelope>`

func gzipped(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func tarOf(t testing.TB, files ...string) []byte {
	var buf bytes.Buffer
	writeTar(t, tar.NewWriter(&buf), files...)
	return buf.Bytes()
}

// TestArchives inspects the disks inside OVAs and Vagrant boxes (gzip and
// plain tar): a safe disk passes, an overlay inside is refused naming the
// member, and an envelope pointing outside the archive is refused.
func TestArchives(t *testing.T) {
	needQemuImg(t)
	dir := t.TempDir()
	read := func(name string, make func(testing.TB, string, string)) string {
		p := filepath.Join(dir, name)
		make(t, dir, p)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	stream := read("web-disk1.vmdk", convert("vmdk", "-o", "subformat=streamOptimized"))
	img := read("box.img", create("qcow2", "1G"))
	qemuImg(t, "create", "-q", "-f", "qcow2", "-u", "-b", "/var/lib/base.qcow2", "-F", "qcow2", filepath.Join(dir, "overlay.img"), "1G")
	overlay, _ := os.ReadFile(filepath.Join(dir, "overlay.img"))
	flat := "# Disk DescriptorFile\nversion=1\ncreateType=\"monolithicFlat\"\nRW 2048 FLAT \"../../etc/shadow\" 0\n"
	cases := []struct {
		name   string
		body   []byte
		format artifact.DiskFormat
		vsize  int64
		err    error
		rule   string
	}{
		{"web.ova", tarOf(t, "web.ovf", fmt.Sprintf(ovf, "web-disk1.vmdk"), "web-disk1.vmdk", stream, "web.mf", "SHA256(web-disk1.vmdk)= 00\n"), artifact.DiskOVA, 2<<30 + 1<<20, nil, ""},
		{"web.box", gzipped(t, tarOf(t, "./Vagrantfile", "# vagrant", "./metadata.json", `{"provider":"libvirt","format":"qcow2","virtual_size":40}`, "./box.img", img)), artifact.DiskVagrant, 40 << 30, nil, ""},
		{"plain.box", tarOf(t, "metadata.json", `{"provider":"libvirt"}`, "box.img", img), artifact.DiskVagrant, 1 << 30, nil, ""},
		{"overlay.box", gzipped(t, tarOf(t, "metadata.json", `{"provider":"libvirt"}`, "box.img", string(overlay))), artifact.DiskVagrant, 1 << 30, ErrUnsafeDisk, ruleBackingFile},
		{"overlay.ova", tarOf(t, "web.ovf", fmt.Sprintf(ovf, "disk.img"), "disk.img", string(overlay)), artifact.DiskOVA, 2<<30 + 1<<20, ErrUnsafeDisk, ruleBackingFile},
		{"flat.ova", tarOf(t, "web.ovf", fmt.Sprintf(ovf, "disk.vmdk"), "disk.vmdk", flat), artifact.DiskOVA, 2<<30 + 1<<20, ErrUnsafeDisk, ruleVMDKExtent},
		{"outside.ova", tarOf(t, "web.ovf", fmt.Sprintf(ovf, "../web-disk1.vmdk"), "web-disk1.vmdk", stream), artifact.DiskOVA, 2<<30 + 1<<20, ErrUnsafeDisk, ruleArchiveRef},
		{"logs.tar.gz", gzipped(t, tarOf(t, "readme.txt", "hello")), "", 0, ErrNotDisk, ""},
		{"notes.tar", tarOf(t, "notes.txt", "hello"), "", 0, ErrNotDisk, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(dir, c.name)
			os.WriteFile(p, c.body, 0o644)
			info, err := InspectFile(p)
			if !errors.Is(err, c.err) {
				t.Fatalf("err %v, want %v", err, c.err)
			}
			if (err == nil || errors.Is(err, ErrUnsafeDisk)) && (info.Format != c.format || info.VirtualSize != c.vsize) {
				t.Errorf("got %s of %d bytes, want %s of %d", info.Format, info.VirtualSize, c.format, c.vsize)
			}
			if err != nil && !strings.Contains(err.Error(), p) {
				t.Errorf("error does not name the file: %v", err)
			}
			if c.rule != "" && !hasRule(info, c.rule) {
				t.Errorf("reasons %v, want rule %s", info.Reasons, c.rule)
			}
			if err == nil && len(info.Facts.Members) != 1 {
				t.Errorf("members %+v, want the one disk", info.Facts.Members)
			}
		})
	}
}

func hasRule(info Info, rule string) bool {
	for _, r := range info.Reasons {
		if r.Rule == rule {
			return true
		}
	}
	return false
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
	hostileQcow2 := append([]byte("QFI\xfb\x00\x00\x00\x03"), make([]byte, 200)...)
	for i := 24; i < 32; i++ {
		hostileQcow2[i] = 0xff
	}
	be.PutUint32(hostileQcow2[20:], 16)
	be.PutUint32(hostileQcow2[100:], 104)
	hostileVHDX := make([]byte, 256<<10+64<<10)
	copy(hostileVHDX, "vhdxfile")
	hostileVMDK := make([]byte, 512)
	copy(hostileVMDK, "KDMV")
	le.PutUint32(hostileVMDK[4:], 1)
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
		"bad vhd":        {append([]byte("conectix"), make([]byte, 504)...), ErrCorrupt},
		"vmdk no extent": {[]byte("# Disk DescriptorFile\nversion=1\n"), ErrCorrupt},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			p := write(strings.ReplaceAll(name, " ", "-"), c.body)
			_, err := InspectFile(p)
			if !errors.Is(err, c.err) || !strings.Contains(err.Error(), p) {
				t.Fatalf("got %v, want %v naming %s", err, c.err, p)
			}
		})
	}
	missing := filepath.Join(dir, "missing.qcow2")
	if _, err := InspectFile(missing); !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing file: %v", err)
	}
	if _, err := InspectFile(dir); !errors.Is(err, ErrNotDisk) {
		t.Errorf("directory: %v", err)
	}
}

// TestTruncatedRealDisks cuts every real disk at several lengths. A cut
// inside the headers (the first 4 KiB) is always an error; a longer cut is
// an error or, when it only loses data clusters the inspector does not
// read, the same format; never another format, never a panic.
func TestTruncatedRealDisks(t *testing.T) {
	needQemuImg(t)
	dir := t.TempDir()
	for _, d := range realDisks {
		if d.format == artifact.DiskRaw || (d.format == artifact.DiskVHD && d.subformat == "fixed") {
			continue // no header to cut: a shorter raw disk is a raw disk
		}
		p := filepath.Join(dir, d.file)
		d.make(t, dir, p)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{1, 4, 8, 31, 100, 511, 512, 4096, 65536, 200 << 10, len(b) - 512, len(b) - 1} {
			if n >= len(b) || n <= 0 {
				continue
			}
			info, err := Inspect(d.file, bytes.NewReader(b[:n]), int64(n))
			if err == nil && (n <= 4096 || info.Format != d.format) {
				t.Errorf("%s cut at %d of %d bytes: accepted as %s", d.file, n, len(b), info.Format)
			}
		}
	}
}
