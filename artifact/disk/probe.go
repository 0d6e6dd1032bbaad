package disk

import (
	"bytes"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/brickyard/brickyard/artifact"
)

// probeHead is how much of the start of a file the probes look at: qemu
// probes the first 2048 bytes; ISO 9660 volume descriptors start at 32 KiB
// (their "CD001" at 0x8001, 0x8801, 0x9001).
const probeHead = 0x9800

// probes are every format qemu's block drivers recognise by content or
// name (bdrv_probe of qcow2, qcow, qed, vdi, vmdk, vpc, vhdx, luks,
// parallels, bochs, cloop, dmg), plus the ISO 9660/UDF and archive
// formats, each tested on its own so that a file two of them claim is
// caught. A file none of them claims is raw, as it is for qemu.
var probes = []struct {
	name  string
	match func(head, tail []byte, size int64, name string) bool
}{
	{"qcow2", func(h, _ []byte, _ int64, _ string) bool { return bytes.HasPrefix(h, qcow2Magic) }}, // qcow (v1) too, told apart by the version
	{"qed", func(h, _ []byte, _ int64, _ string) bool { return bytes.HasPrefix(h, []byte("QED\x00")) }},
	{"vdi", func(h, _ []byte, _ int64, _ string) bool { return len(h) >= 0x44 && le.Uint32(h[0x40:]) == 0xbeda107f }},
	{"vmdk", func(h, _ []byte, _ int64, _ string) bool {
		return bytes.HasPrefix(h, []byte("KDMV")) || bytes.HasPrefix(h, []byte("COWD")) || vmdkTextProbe(h)
	}},
	{"vpc", func(h, t []byte, _ int64, _ string) bool {
		// A dynamic VHD's footer is at both ends, a fixed VHD's at the end
		// only; Virtual PC once wrote 511-byte footers.
		return bytes.HasPrefix(h, vhdCookie) || bytes.HasPrefix(t, vhdCookie) || (len(t) == 512 && bytes.HasPrefix(t[1:], vhdCookie))
	}},
	{"vhdx", func(h, _ []byte, _ int64, _ string) bool { return bytes.HasPrefix(h, []byte("vhdxfile")) }},
	{"luks", func(h, _ []byte, _ int64, _ string) bool { return bytes.HasPrefix(h, []byte("LUKS\xba\xbe")) }},
	{"parallels", func(h, _ []byte, _ int64, _ string) bool {
		return bytes.HasPrefix(h, []byte("WithoutFreeSpace")) || bytes.HasPrefix(h, []byte("WithouFreSpacExt"))
	}},
	{"bochs", func(h, _ []byte, _ int64, _ string) bool {
		return bytes.HasPrefix(h, []byte("Bochs Virtual HD Image\x00"))
	}},
	{"cloop", func(h, _ []byte, _ int64, _ string) bool {
		return bytes.HasPrefix(h, []byte("#!/bin/sh\n#V2.0 Format\nmodprobe cloop"))
	}},
	{"dmg", func(_, t []byte, _ int64, name string) bool {
		return strings.HasSuffix(strings.ToLower(name), ".dmg") || bytes.HasPrefix(t, []byte("koly"))
	}},
	{"iso", func(h, _ []byte, _ int64, _ string) bool {
		for _, off := range []int{0x8001, 0x8801, 0x9001} {
			if len(h) >= off+5 && slices.Contains([]string{"CD001", "BEA01", "NSR02", "NSR03"}, string(h[off:off+5])) {
				return true
			}
		}
		return false
	}},
	{"box", func(h, _ []byte, _ int64, _ string) bool { return bytes.HasPrefix(h, gzipMagic) }},
	{"tar", func(h, _ []byte, _ int64, _ string) bool { return isTar(h) }},
}

// vmdkTextProbe is qemu's vmdk_probe for a text descriptor: after comment
// lines and lines of spaces, a line "version=1", "version=2" or
// "version=3". A file that starts "# Disk DescriptorFile" counts too.
func vmdkTextProbe(h []byte) bool {
	if bytes.HasPrefix(h, []byte("# Disk DescriptorFile")) {
		return true
	}
	h = h[:min(len(h), 2048)]
	for len(h) > 0 {
		switch h[0] {
		case '#':
			i := bytes.IndexByte(h, '\n')
			if i < 0 {
				return false
			}
			h = h[i+1:]
			continue
		case ' ':
			h = bytes.TrimLeft(h, " ")
			h = bytes.TrimPrefix(h, []byte("\r"))
			if len(h) == 0 || h[0] != '\n' {
				return false
			}
			h = h[1:]
			continue
		}
		for _, v := range []string{"version=1", "version=2", "version=3"} {
			if bytes.HasPrefix(h, []byte(v+"\n")) || bytes.HasPrefix(h, []byte(v+"\r\n")) {
				return true
			}
		}
		return false
	}
	return false
}

// maxDepth bounds nesting: a disk inside an archive is inspected, an
// archive inside that is refused.
const maxDepth = 1

func inspect(f *file, depth int) (Info, error) {
	if f.size <= 0 {
		return Info{}, fmt.Errorf("empty file: %w", ErrNotDisk)
	}
	head, err := f.read(0, min(f.size, probeHead), "file head")
	if err != nil {
		return Info{}, err
	}
	var tail []byte
	if f.size >= 512 {
		if tail, err = f.read(f.size-512, 512, "file tail"); err != nil {
			return Info{}, err
		}
	}
	var claims []string
	for _, p := range probes {
		if p.match(head, tail, f.size, path.Base(f.name)) {
			claims = append(claims, p.name)
		}
	}
	if len(claims) > 1 {
		return Info{Probe: strings.Join(claims, "+")}, fmt.Errorf("%s all claim it: %w", strings.Join(claims, ", "), ErrAmbiguousFormat)
	}
	if len(claims) == 0 {
		if f.size%512 != 0 {
			return Info{}, fmt.Errorf("no known header, and %d bytes is not a whole number of 512-byte sectors, so not raw either: %w", f.size, ErrNotDisk)
		}
		return Info{Format: artifact.DiskRaw, Probe: "raw", VirtualSize: f.size}, nil
	}
	if depth > 0 && (claims[0] == "box" || claims[0] == "tar") {
		info := Info{Probe: claims[0]}
		info.unsafe(ruleBanned, "an archive inside an archive is not inspected")
		return info, nil
	}
	switch claims[0] {
	case "qcow2":
		return inspectQCOW2(f, head)
	case "vmdk":
		return inspectVMDK(f, head)
	case "vpc":
		return inspectVHD(f, head, tail)
	case "vhdx":
		return inspectVHDX(f)
	case "box":
		return inspectBox(f)
	case "tar":
		return inspectTar(f)
	}
	return inspectBanned(f, claims[0], head)
}

// Rules a disk can break; each is a Reason.Rule.
const (
	ruleBanned          = "format-not-accepted"
	ruleBackingFile     = "qcow2-backing-file"
	ruleDataFile        = "qcow2-data-file"
	ruleIncompatible    = "qcow2-unknown-incompatible-feature"
	ruleQCOW2Corrupt    = "qcow2-marked-corrupt"
	ruleEncrypted       = "encrypted"
	ruleVMDKCreateType  = "vmdk-create-type"
	ruleVMDKExtent      = "vmdk-extent-file"
	ruleVMDKDescriptor  = "vmdk-descriptor"
	ruleVMDKParent      = "vmdk-parent"
	ruleVHDParent       = "vhd-differencing"
	ruleVHDXParent      = "vhdx-differencing"
	ruleVHDXLog         = "vhdx-log-replay"
	ruleVHDXRequired    = "vhdx-unknown-required"
	ruleArchiveMember   = "archive-member"
	ruleArchiveRef      = "ova-external-reference"
	ruleArchiveNotFound = "box-incomplete"
)

// inspectBanned reports a format qemu would open but brickyard does not
// publish (as format_inspector bans QED and VDI): never recorded as raw.
func inspectBanned(f *file, probe string, head []byte) (Info, error) {
	info := Info{Probe: probe}
	switch probe {
	case "qed":
		// QED header (docs/interop/qed_spec.txt): little-endian image size
		// at 48, backing file name offset and size at 56 and 60.
		if len(head) >= 64 {
			info.VirtualSize = int64(min(le.Uint64(head[48:]), maxVirtualSize))
			if le.Uint32(head[56:]) != 0 {
				info.unsafe(ruleBackingFile, "the QED header names a backing file")
			}
		}
	case "vdi":
		if len(head) >= 0x178 {
			info.VirtualSize = int64(min(le.Uint64(head[0x170:]), maxVirtualSize))
		}
	case "luks":
		info.unsafe(ruleEncrypted, "a LUKS container: its content cannot be inspected")
	}
	info.unsafe(ruleBanned, "qemu would open it as %s, a format brickyard does not publish", probe)
	return info, nil
}
