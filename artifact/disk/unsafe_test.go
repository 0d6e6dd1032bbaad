package disk

import (
	"bytes"
	"errors"
	"hash/crc32"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// edit makes a disk with qemu-img (args, "%s" standing for the path) and
// then lets change rewrite its bytes.
func edit(args string, change func(t testing.TB, b []byte) []byte) func(testing.TB, string, string) {
	return func(t testing.TB, dir, path string) {
		qemuImg(t, strings.Fields(strings.ReplaceAll(args, "%s", path))...)
		if change == nil {
			return
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, change(t, b), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func put32(off int, v uint32) func(testing.TB, []byte) []byte {
	return func(_ testing.TB, b []byte) []byte { be.PutUint32(b[off:], v); return b }
}

func put64(off int, v uint64) func(testing.TB, []byte) []byte {
	return func(_ testing.TB, b []byte) []byte { be.PutUint64(b[off:], v); return b }
}

func cut(n int) func(testing.TB, []byte) []byte {
	return func(_ testing.TB, b []byte) []byte { return b[:n] }
}

func writeFile(body string) func(testing.TB, string, string) {
	return func(t testing.TB, _, path string) {
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// makeISO builds a real ISO 9660 image with xorriso (or genisoimage).
func makeISO(t testing.TB, dir, path string) {
	src := filepath.Join(dir, "iso-src")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "README.TXT"), []byte("brickyard\n"), 0o644)
	var cmd *exec.Cmd
	switch {
	case lookPath("xorriso"):
		cmd = exec.Command("xorriso", "-as", "mkisofs", "-quiet", "-V", "BRICKYARD", "-o", path, src)
	case lookPath("genisoimage"):
		cmd = exec.Command("genisoimage", "-quiet", "-V", "BRICKYARD", "-o", path, src)
	default:
		t.Skip("SKIPPED LOUDLY: neither xorriso nor genisoimage is installed (scripts/install-tools installs xorriso); the ISO cases did not run")
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", cmd, err, out)
	}
}

func lookPath(name string) bool { _, err := exec.LookPath(name); return err == nil }

// vhdFix rewrites a vhd footer's checksum (both copies for a dynamic disk).
func vhdFix(b []byte, change func(footer []byte)) []byte {
	for _, off := range []int{0, len(b) - 512} {
		f := b[off : off+512]
		change(f)
		be.PutUint32(f[64:], vhdChecksum(f, 64))
	}
	return b
}

// vhdxFix sets a vhdx header field in both headers and recomputes their CRC-32C.
func vhdxFix(b []byte, change func(h []byte)) []byte {
	for _, off := range []int{64 << 10, 128 << 10} {
		h := b[off : off+4096]
		change(h)
		le.PutUint32(h[4:], 0)
		le.PutUint32(h[4:], crc32.Checksum(h, castagnoli))
	}
	return b
}

// unsafeDisks are the files publish must refuse, each built with qemu-img
// (or xorriso) or by editing what qemu-img made, with the sentinel and the
// rule expected. They double as the rule table of the package.
var unsafeDisks = []struct {
	file string
	make func(testing.TB, string, string)
	err  error
	rule string
}{
	{"backing-absolute.qcow2", edit("create -q -f qcow2 -u -b /var/lib/images/base.qcow2 -F qcow2 %s 1G", nil), ErrUnsafeDisk, ruleBackingFile},
	{"backing-relative.qcow2", edit("create -q -f qcow2 -u -b ../images/base.raw -F raw %s 1G", nil), ErrUnsafeDisk, ruleBackingFile},
	{"backing-v2.qcow2", edit("create -q -f qcow2 -o compat=0.10 -u -b base.qcow2 -F qcow2 %s 1G", nil), ErrUnsafeDisk, ruleBackingFile},
	{"data-file.qcow2", func(t testing.TB, dir, path string) {
		qemuImg(t, "create", "-q", "-f", "qcow2", "-o", "data_file="+filepath.Join(dir, "data-file.raw"), path, "1G")
	}, ErrUnsafeDisk, ruleDataFile},
	{"data-file-ext-only.qcow2", func(t testing.TB, dir, path string) {
		// The extension without the incompatible bit: qemu refuses it; so
		// does the inspector, naming the file.
		qemuImg(t, "create", "-q", "-f", "qcow2", "-o", "data_file="+filepath.Join(dir, "d2.raw"), path, "1G")
		b, _ := os.ReadFile(path)
		be.PutUint64(b[72:], be.Uint64(b[72:])&^qcow2DataFileBit)
		os.WriteFile(path, b, 0o644)
	}, ErrCorrupt, ""},
	// qemu-img needs ~13 s of key derivation for a LUKS-encrypted qcow2 on
	// a loaded machine (disk.luks below pays it once); setting crypt_method
	// says the same to the inspector.
	{"aes.qcow2", edit("create -q -f qcow2 %s 16M", put32(32, 1)), ErrUnsafeDisk, ruleEncrypted},
	{"unknown-incompatible.qcow2", edit("create -q -f qcow2 %s 1G", put64(72, 1<<10)), ErrUnsafeDisk, ruleIncompatible},
	{"marked-corrupt.qcow2", edit("create -q -f qcow2 %s 1G", put64(72, 1<<1)), ErrUnsafeDisk, ruleQCOW2Corrupt},
	{"cluster-bits-22.qcow2", edit("create -q -f qcow2 %s 1G", put32(20, 22)), ErrCorrupt, ""},
	{"cluster-bits-8.qcow2", edit("create -q -f qcow2 %s 1G", put32(20, 8)), ErrCorrupt, ""},
	{"header-length-96.qcow2", edit("create -q -f qcow2 %s 1G", put32(100, 96)), ErrCorrupt, ""},
	{"l1-past-eof.qcow2", edit("create -q -f qcow2 %s 1G", put64(40, 1<<30)), ErrTruncated, ""},
	{"l1-too-small.qcow2", edit("create -q -f qcow2 %s 1G", put32(36, 1)), ErrCorrupt, ""},
	{"refcount-past-eof.qcow2", edit("create -q -f qcow2 %s 1G", put64(48, 1<<30)), ErrTruncated, ""},
	{"refcount-unaligned.qcow2", edit("create -q -f qcow2 %s 1G", put64(48, 0x10200)), ErrCorrupt, ""},
	{"snapshots-past-eof.qcow2", edit("create -q -f qcow2 %s 1G", func(t testing.TB, b []byte) []byte {
		be.PutUint32(b[60:], 3)
		be.PutUint64(b[64:], 1<<30)
		return b
	}), ErrTruncated, ""},
	{"truncated-100.qcow2", edit("create -q -f qcow2 %s 1G", cut(100)), ErrTruncated, ""},
	{"truncated-511.qcow2", edit("create -q -f qcow2 %s 1G", cut(511)), ErrTruncated, ""},
	{"truncated-v2-60.qcow2", edit("create -q -f qcow2 -o compat=0.10 %s 1G", cut(60)), ErrTruncated, ""},
	{"many-extensions.qcow2", edit("create -q -f qcow2 %s 1G", func(t testing.TB, b []byte) []byte {
		for off := 112; off < 0x8000; off += 8 {
			be.PutUint32(b[off:], 0x0badcafe) // unknown, empty
			be.PutUint32(b[off+4:], 0)
		}
		return b
	}), ErrCorrupt, ""},
	{"backing-offset-outside.qcow2", edit("create -q -f qcow2 %s 1G", put64(8, 1<<20)), ErrCorrupt, ""},
	{"qcow-v1.qcow", edit("create -q -f qcow %s 1G", nil), ErrUnsafeDisk, ruleBanned},
	{"flat.vmdk", edit("create -q -f vmdk -o subformat=monolithicFlat %s 5M", nil), ErrUnsafeDisk, ruleVMDKExtent},
	{"split.vmdk", edit("create -q -f vmdk -o subformat=twoGbMaxExtentSparse %s 5G", nil), ErrUnsafeDisk, ruleVMDKExtent},
	{"split-flat.vmdk", edit("create -q -f vmdk -o subformat=twoGbMaxExtentFlat %s 5M", nil), ErrUnsafeDisk, ruleVMDKCreateType},
	{"child.vmdk", func(t testing.TB, dir, path string) {
		base := filepath.Join(dir, "child-base.vmdk")
		qemuImg(t, "create", "-q", "-f", "vmdk", base, "8M")
		qemuImg(t, "create", "-q", "-f", "vmdk", "-b", base, "-F", "vmdk", path)
	}, ErrUnsafeDisk, ruleVMDKParent},
	{"hand-written.vmdk", writeFile("# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType=\"monolithicSparse\"\n\nRW 2048 SPARSE \"../../etc/shadow\"\nRW 2048 FLAT \"/dev/sda\" 0\n"), ErrUnsafeDisk, ruleVMDKExtent},
	{"no-header-comment.vmdk", writeFile("version=1\ncreateType=\"vmfs\"\nRW 2048 VMFS \"disk-flat.vmdk\"\n"), ErrUnsafeDisk, ruleVMDKExtent},
	{"capacity-0.vmdk", edit("create -q -f vmdk %s 8M", func(t testing.TB, b []byte) []byte {
		le.PutUint64(b[12:], 0) // qemu then opens the embedded descriptor's extents
		desc := []byte("# Disk DescriptorFile\nversion=1\ncreateType=\"monolithicFlat\"\nRW 16384 FLAT \"../../etc/shadow\" 0\n")
		copy(b[512:512+20*512], make([]byte, 20*512))
		copy(b[512:], desc)
		return b
	}), ErrUnsafeDisk, ruleVMDKExtent},
	{"desc-extra-line.vmdk", edit("create -q -f vmdk %s 8M", func(t testing.TB, b []byte) []byte {
		i := bytes.IndexByte(b[512:], 0)
		copy(b[512+i:], "include /etc/shadow\n")
		return b
	}), ErrUnsafeDisk, ruleVMDKDescriptor},
	{"gd-past-eof.vmdk", edit("create -q -f vmdk %s 8M", func(t testing.TB, b []byte) []byte { le.PutUint64(b[56:], 1<<30); return b }), ErrTruncated, ""},
	{"vmdk-v9.vmdk", edit("create -q -f vmdk %s 8M", func(t testing.TB, b []byte) []byte { le.PutUint32(b[4:], 9); return b }), ErrCorrupt, ""},
	{"truncated.vmdk", edit("create -q -f vmdk %s 8M", cut(300)), ErrTruncated, ""},
	{"disk.qed", edit("create -q -f qed %s 1G", nil), ErrUnsafeDisk, ruleBanned},
	{"backing.qed", edit("create -q -f qed -u -b /etc/base.raw -F raw %s 1G", nil), ErrUnsafeDisk, ruleBackingFile},
	{"disk.vdi", edit("create -q -f vdi %s 1G", nil), ErrUnsafeDisk, ruleBanned},
	{"disk.luks", edit("create -q -f luks --object secret,id=s0,data=brickyard -o key-secret=s0,iter-time=10 %s 16M", nil), ErrUnsafeDisk, ruleEncrypted},
	{"disk.parallels", edit("create -q -f parallels %s 64M", nil), ErrUnsafeDisk, ruleBanned},
	{"disk.bochs", writeFile("Bochs Virtual HD Image\x00" + strings.Repeat("\x00", 489)), ErrUnsafeDisk, ruleBanned},
	{"disk.cloop", writeFile("#!/bin/sh\n#V2.0 Format\nmodprobe cloop file=$0 && mount -r -t iso9660 /dev/cloop $1\n" + strings.Repeat("\x00", 512-82)), ErrUnsafeDisk, ruleBanned},
	{"raw-named.dmg", edit("create -q -f raw %s 1M", nil), ErrUnsafeDisk, ruleBanned},
	{"koly-trailer.img", edit("create -q -f raw %s 1M", func(t testing.TB, b []byte) []byte { copy(b[len(b)-512:], "koly"); return b }), ErrUnsafeDisk, ruleBanned},
	{"image.iso", makeISO, ErrUnsafeDisk, ruleBanned},
	{"differencing.vhd", edit("create -q -f vpc %s 64M", func(t testing.TB, b []byte) []byte {
		return vhdFix(b, func(f []byte) { be.PutUint32(f[60:], 4) })
	}), ErrUnsafeDisk, ruleVHDParent},
	{"bad-checksum.vhd", edit("create -q -f vpc %s 64M", func(t testing.TB, b []byte) []byte { b[48] ^= 1; return b }), ErrCorrupt, ""},
	{"bat-past-eof.vhd", edit("create -q -f vpc %s 64M", cut(1536+512)), ErrTruncated, ""},
	{"fixed-too-short.vhd", edit("create -q -f vpc -o subformat=fixed %s 4M", func(t testing.TB, b []byte) []byte {
		return append(b[:1<<20], b[len(b)-512:]...)
	}), ErrTruncated, ""},
	{"log.vhdx", edit("create -q -f vhdx %s 1G", func(t testing.TB, b []byte) []byte {
		return vhdxFix(b, func(h []byte) { h[48] = 1 })
	}), ErrUnsafeDisk, ruleVHDXLog},
	{"bad-crc.vhdx", edit("create -q -f vhdx %s 1G", func(t testing.TB, b []byte) []byte { b[64<<10+8] ^= 1; b[128<<10+8] ^= 1; return b }), ErrCorrupt, ""},
	{"truncated.vhdx", edit("create -q -f vhdx %s 1G", cut(200<<10)), ErrTruncated, ""},
	{"regions-past-eof.vhdx", edit("create -q -f vhdx %s 1G", cut(3<<20)), ErrTruncated, ""},
	// Polyglots: a real qcow2 carrying a real ISO's volume descriptors in
	// the unused rest of its header cluster (qemu-img still reads it as
	// qcow2, an ISO reader as an ISO), and a qcow2 with a fixed-VHD
	// footer at its end.
	{"polyglot-iso.qcow2", func(t testing.TB, dir, path string) {
		iso := filepath.Join(dir, "poly.iso")
		makeISO(t, dir, iso)
		qemuImg(t, "create", "-q", "-f", "qcow2", path, "1G")
		q, _ := os.ReadFile(path)
		i, _ := os.ReadFile(iso)
		copy(q[0x8000:0x10000], i[0x8000:0x10000])
		os.WriteFile(path, q, 0o644)
		qemuImg(t, "info", "-f", "qcow2", path)
	}, ErrAmbiguousFormat, ""},
	{"polyglot-vhd.qcow2", func(t testing.TB, dir, path string) {
		vhd := filepath.Join(dir, "poly.vhd")
		qemuImg(t, "create", "-q", "-f", "vpc", "-o", "subformat=fixed", vhd, "1M")
		qemuImg(t, "create", "-q", "-f", "qcow2", path, "1G")
		q, _ := os.ReadFile(path)
		v, _ := os.ReadFile(vhd)
		os.WriteFile(path, append(q, v[len(v)-512:]...), 0o644)
		qemuImg(t, "info", "-f", "qcow2", path)
	}, ErrAmbiguousFormat, ""},
}

// TestUnsafeDisks: every unsafe file is refused with the expected sentinel
// and rule, in an error that names the file and every reason.
func TestUnsafeDisks(t *testing.T) {
	needQemuImg(t)
	dir := t.TempDir()
	for _, c := range unsafeDisks {
		t.Run(c.file, func(t *testing.T) {
			p := filepath.Join(dir, c.file)
			c.make(t, dir, p)
			info, err := InspectFile(p)
			if !errors.Is(err, c.err) {
				t.Fatalf("err %v, want %v", err, c.err)
			}
			if !strings.Contains(err.Error(), p) {
				t.Errorf("error does not name the file: %v", err)
			}
			if c.rule != "" && !hasRule(info, c.rule) {
				t.Errorf("reasons %v, want rule %s", info.Reasons, c.rule)
			}
			for _, r := range info.Reasons {
				if errors.Is(err, ErrUnsafeDisk) && !strings.Contains(err.Error(), r.String()) {
					t.Errorf("error does not give reason %s: %v", r, err)
				}
			}
			if info.Format == "raw" {
				t.Errorf("recorded as raw: %+v", info)
			}
			t.Logf("%v", err)
		})
	}
}
