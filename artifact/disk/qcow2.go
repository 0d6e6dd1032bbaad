package disk

import (
	"bufio"
	"errors"
	"fmt"
	"io"

	"github.com/brickyard/brickyard/artifact"
)

// The qcow2 header, per QEMU's docs/interop/qcow2.txt (big-endian): magic,
// version (2 or 3), backing file offset and size, cluster_bits, virtual
// size in bytes, crypt_method, L1 size and offset, refcount table offset
// and clusters, snapshot count and offset; version 3 adds the
// incompatible, compatible and autoclear feature bits, refcount_order and
// the header length, then the header extensions up to the backing file
// name or the end of the first cluster. The limits are qemu's
// (block/qcow2.c qcow2_do_open and qcow2_validate_table).
var qcow2Magic = []byte{'Q', 'F', 'I', 0xfb}

const (
	qcow2MinClusterBits = 9
	qcow2MaxClusterBits = 21
	qcow2MaxL1Size      = 32 << 20 // bytes
	qcow2MaxRefTable    = 8 << 20  // bytes
	qcow2MaxSnapshots   = 65536
	qcow2SnapshotHeader = 40 // bytes of a snapshot table entry, at least
	// qcow2MaxExtensions bounds the header extensions read; qemu-img
	// writes at most five, qemu has no limit.
	qcow2MaxExtensions = 64

	// incompatible feature bits qemu knows: dirty, corrupt, external
	// data file, compression type, extended L2 entries.
	qcow2KnownIncompatible = 0x1f
	qcow2DataFileBit       = 1 << 2

	extEnd           = 0x00000000
	extBackingFormat = 0xe2792aca
	extFeatureTable  = 0x6803f857
	extCryptoHeader  = 0x0537be77
	extBitmaps       = 0x23852875
	extDataFile      = 0x44415441
)

var (
	incompatibleNames = []string{"dirty", "corrupt", "external_data_file", "compression_type", "extended_l2"}
	compatibleNames   = []string{"lazy_refcounts"}
	autoclearNames    = []string{"bitmaps", "raw_external_data"}
)

func featureNames(kind string, v uint64, known []string) []string {
	var out []string
	for b := range 64 {
		if v&(1<<b) == 0 {
			continue
		}
		if b < len(known) {
			out = append(out, known[b])
		} else {
			out = append(out, fmt.Sprintf("%s_bit_%d", kind, b))
		}
	}
	return out
}

func inspectQCOW2(f *file, head []byte) (Info, error) {
	info := Info{Probe: "qcow2", Format: artifact.DiskQCOW2}
	if len(head) < 8 {
		return info, fmt.Errorf("qcow2 header of %d bytes: %w", len(head), ErrTruncated)
	}
	version := be.Uint32(head[4:])
	if version == 1 {
		info.Probe, info.Format = "qcow", ""
		info.unsafe(ruleBanned, "qcow version 1, which qemu opens as the old qcow format that brickyard does not publish")
		return info, nil
	}
	if version != 2 && version != 3 {
		return info, fmt.Errorf("qcow2 version %d (want 2 or 3): %w", version, ErrCorrupt)
	}
	info.Subformat = fmt.Sprintf("v%d", version)
	hlen := 72
	if version == 3 {
		hlen = 104
	}
	if len(head) < hlen {
		return info, fmt.Errorf("qcow2 v%d header needs %d bytes, the file has %d: %w", version, hlen, len(head), ErrTruncated)
	}
	h := head
	backingOff, backingLen := be.Uint64(h[8:]), be.Uint32(h[16:])
	clusterBits := be.Uint32(h[20:])
	vsize := be.Uint64(h[24:])
	crypt := be.Uint32(h[32:])
	l1Size, l1Off := be.Uint32(h[36:]), be.Uint64(h[40:])
	rtOff, rtClusters := be.Uint64(h[48:]), be.Uint32(h[56:])
	nbSnapshots, snapOff := be.Uint32(h[60:]), be.Uint64(h[64:])
	var incompat, compat, autoclear uint64
	refcountOrder := uint32(4)
	if version == 3 {
		incompat, compat, autoclear = be.Uint64(h[72:]), be.Uint64(h[80:]), be.Uint64(h[88:])
		refcountOrder = be.Uint32(h[96:])
		hlen = int(min(be.Uint32(h[100:]), 1<<30))
		if hlen < 104 {
			return info, fmt.Errorf("qcow2 header length %d is shorter than 104 bytes: %w", hlen, ErrCorrupt)
		}
	}
	info.HeaderLength = hlen
	if clusterBits < qcow2MinClusterBits || clusterBits > qcow2MaxClusterBits {
		return info, fmt.Errorf("qcow2 cluster_bits %d outside qemu's %d..%d: %w", clusterBits, qcow2MinClusterBits, qcow2MaxClusterBits, ErrCorrupt)
	}
	cs := uint64(1) << clusterBits
	info.Facts.ClusterSize = int64(cs)
	if uint64(hlen) > cs {
		return info, fmt.Errorf("qcow2 header length %d exceeds the %d-byte cluster: %w", hlen, cs, ErrCorrupt)
	}
	if err := f.inside(0, uint64(hlen), "qcow2 header"); err != nil {
		return info, err
	}
	if vsize > maxVirtualSize {
		return info, fmt.Errorf("qcow2 virtual size %d bytes is impossible: %w", vsize, ErrCorrupt)
	}
	// qemu counts whole 512-byte sectors.
	info.VirtualSize = int64(vsize &^ 511)

	// Feature bits: qemu refuses unknown incompatible bits, so would an
	// older deploy host; format_inspector calls them unsafe.
	info.Facts.Features = append(featureNames("incompatible", incompat, incompatibleNames),
		append(featureNames("compatible", compat, compatibleNames), featureNames("autoclear", autoclear, autoclearNames)...)...)
	if unknown := incompat &^ qcow2KnownIncompatible; unknown != 0 {
		info.unsafe(ruleIncompatible, "incompatible feature bits %#x that qemu does not know", unknown)
	}
	if incompat&2 != 0 {
		info.unsafe(ruleQCOW2Corrupt, "the image is marked corrupt (incompatible bit 1)")
	}
	if incompat&qcow2DataFileBit != 0 {
		info.unsafe(ruleDataFile, "the external data file bit (incompatible bit 2) is set: the guest's data lives in another file")
	}
	if incompat&(1<<3) != 0 || hlen > 104 {
		// compression_type is byte 104 when the header reaches it.
		var ct byte
		if hlen > 104 {
			ct = head[104] // the file holds hlen > 104 bytes, checked above
		}
		switch {
		case ct > 1:
			return info, fmt.Errorf("qcow2 compression type %d (qemu knows 0 zlib, 1 zstd): %w", ct, ErrCorrupt)
		case ct != 0 && incompat&(1<<3) == 0:
			return info, fmt.Errorf("qcow2 compression type %d without the compression type feature bit: %w", ct, ErrCorrupt)
		case ct == 1:
			info.Facts.Features = append(info.Facts.Features, "compression_type=zstd")
		}
	}
	if refcountOrder > 6 {
		return info, fmt.Errorf("qcow2 refcount_order %d (at most 6): %w", refcountOrder, ErrCorrupt)
	}
	switch crypt {
	case 0:
	case 1, 2:
		info.Encryption = map[uint32]string{1: "aes", 2: "luks"}[crypt]
		info.unsafe(ruleEncrypted, "qcow2 encrypted with %s (crypt_method %d): its content cannot be inspected", info.Encryption, crypt)
	default:
		return info, fmt.Errorf("qcow2 crypt_method %d (qemu knows 0, 1, 2): %w", crypt, ErrCorrupt)
	}

	// Tables: aligned to a cluster, within qemu's size limits, and inside
	// the file (qemu reads zeros past the end; a file cut short is corrupt).
	if rtClusters == 0 {
		return info, fmt.Errorf("qcow2 has no refcount table: %w", ErrCorrupt)
	}
	if err := qcow2Table(f, "refcount table", rtOff, uint64(rtClusters), cs, qcow2MaxRefTable, cs); err != nil {
		return info, err
	}
	if nbSnapshots > 0 {
		if err := qcow2Table(f, "snapshot table", snapOff, uint64(nbSnapshots), qcow2SnapshotHeader, qcow2SnapshotHeader*qcow2MaxSnapshots, cs); err != nil {
			return info, err
		}
		info.Facts.Features = append(info.Facts.Features, fmt.Sprintf("snapshots=%d", nbSnapshots))
	}
	l2Bits := clusterBits - 3
	if incompat&(1<<4) != 0 {
		l2Bits-- // extended L2 entries are 16 bytes
	}
	shift := clusterBits + l2Bits
	if need := (vsize + (1 << shift) - 1) >> shift; need > uint64(l1Size) {
		return info, fmt.Errorf("qcow2 L1 table of %d entries is too small for a %d-byte disk (needs %d): %w", l1Size, vsize, need, ErrCorrupt)
	}
	if l1Size > 0 {
		if err := qcow2Table(f, "L1 table", l1Off, uint64(l1Size), 8, qcow2MaxL1Size, cs); err != nil {
			return info, err
		}
	}

	// The L2 tables and refcount blocks those tables point to lie inside
	// the file too.
	if err := qcow2Pointers(f, "L1 table", l1Off, uint64(l1Size), 0x00fffffffffffe00, cs); err != nil {
		return info, err
	}
	if err := qcow2Pointers(f, "refcount table", rtOff, uint64(rtClusters)*cs/8, ^uint64(0x1ff), cs); err != nil {
		return info, err
	}

	// Header extensions, then the backing file name.
	if backingOff > cs {
		return info, fmt.Errorf("qcow2 backing file offset %d lies outside the first cluster: %w", backingOff, ErrCorrupt)
	}
	end := cs
	if backingOff != 0 {
		end = backingOff
	}
	if err := qcow2Extensions(f, &info, uint64(hlen), end, crypt); err != nil {
		return info, err
	}
	if backingOff != 0 {
		if uint64(backingLen) > min(1023, cs-backingOff) {
			return info, fmt.Errorf("qcow2 backing file name of %d bytes is too long: %w", backingLen, ErrCorrupt)
		}
		name, err := f.read(int64(backingOff), int64(backingLen), "qcow2 backing file name")
		if err != nil {
			return info, err
		}
		info.Facts.BackingFile = string(name)
		format := info.backingFormat
		if format == "" {
			format = "not named, so qemu would probe it"
		}
		info.unsafe(ruleBackingFile, "the header names backing file %q (format %s): qemu would open it on the deploy host", name, format)
	}
	if info.DataFile != "" && incompat&qcow2DataFileBit == 0 {
		return info, fmt.Errorf("qcow2 names data file %q without the external data file bit: %w", info.DataFile, ErrCorrupt)
	}
	return info, nil
}

// qcow2Table checks a table of entries × entryLen bytes at off: at most
// maxBytes, aligned to the cluster, inside the file.
func qcow2Table(f *file, what string, off, entries, entryLen, maxBytes, cs uint64) error {
	if entries > maxBytes/entryLen {
		return fmt.Errorf("qcow2 %s of %d entries is larger than qemu allows (%d bytes): %w", what, entries, maxBytes, ErrCorrupt)
	}
	if off%cs != 0 || off > 1<<62 {
		return fmt.Errorf("qcow2 %s offset %d is not aligned to the %d-byte cluster: %w", what, off, cs, ErrCorrupt)
	}
	return f.inside(off, entries*entryLen, "qcow2 "+what)
}

// maxPointerTable bounds how much of a table of pointers (qcow2 L1 and
// refcount tables, vmdk grain directory) is read to check where its
// entries point: 64 KiB, 8192 entries, the L1 table of a 4 TiB disk with
// 64 KiB clusters, or refcounts for 16 TiB of file.
const maxPointerTable = 64 << 10

// qcow2Pointers checks that each cluster the first entries of the table at
// off points to (entry & mask, 0 for none) is aligned and inside the file.
func qcow2Pointers(f *file, what string, off, entries, mask, cs uint64) error {
	if entries == 0 {
		return nil
	}
	t, err := f.read(int64(off), int64(min(entries*8, maxPointerTable)), "qcow2 "+what)
	if err != nil {
		return err
	}
	for i := 0; i+8 <= len(t); i += 8 {
		p := be.Uint64(t[i:]) & mask
		if p == 0 {
			continue
		}
		if p%cs != 0 {
			return fmt.Errorf("qcow2 %s entry %d points to offset %d, not aligned to the %d-byte cluster: %w", what, i/8, p, cs, ErrCorrupt)
		}
		if err := f.inside(p, cs, fmt.Sprintf("qcow2 cluster that %s entry %d points to", what, i/8)); err != nil {
			return err
		}
	}
	return nil
}

// qcow2Extensions reads the header extensions in [start, end), as qemu's
// qcow2_read_extensions does, through a small buffer: only what precedes
// the end marker is read.
func qcow2Extensions(f *file, info *Info, start, end uint64, crypt uint32) error {
	if err := f.inside(start, 0, "qcow2 header extensions"); err != nil {
		return err
	}
	limit := min(end, uint64(f.size))
	br := bufio.NewReaderSize(io.NewSectionReader(f.r, int64(start), int64(limit-start)), 4096)
	off := start
	var h [8]byte
	for i := 0; off < end; i++ {
		if i == qcow2MaxExtensions {
			return fmt.Errorf("qcow2 header lists more than %d extensions: %w", qcow2MaxExtensions, ErrCorrupt)
		}
		if _, err := io.ReadFull(br, h[:]); err != nil {
			return fmt.Errorf("qcow2 header extension at offset %d: %w", off, truncated(err))
		}
		typ, n := be.Uint32(h[:]), uint64(be.Uint32(h[4:]))
		off += 8
		if off > end || n > end-off {
			return fmt.Errorf("qcow2 header extension %#x at offset %d (%d bytes) runs past offset %d: %w", typ, off-8, n, end, ErrCorrupt)
		}
		padded := (n + 7) &^ 7
		var data []byte
		switch typ {
		case extEnd:
			return nil
		case extBackingFormat, extDataFile:
			if n > 4096 {
				return fmt.Errorf("qcow2 header extension %#x of %d bytes is too long: %w", typ, n, ErrCorrupt)
			}
			data = make([]byte, n)
			if _, err := io.ReadFull(br, data); err != nil {
				return fmt.Errorf("qcow2 header extension %#x: %w", typ, truncated(err))
			}
			padded -= n
		case extCryptoHeader:
			if crypt != 2 || n != 16 {
				return fmt.Errorf("qcow2 crypto header extension (%d bytes) without LUKS encryption: %w", n, ErrCorrupt)
			}
		case extBitmaps, extFeatureTable:
		default:
			// qemu keeps extensions it does not know and ignores them.
			info.Facts.Features = append(info.Facts.Features, fmt.Sprintf("extension_%#x", typ))
		}
		if _, err := br.Discard(int(padded)); err != nil {
			return fmt.Errorf("qcow2 header extension %#x: %w", typ, truncated(err))
		}
		off += (n + 7) &^ 7
		switch typ {
		case extBackingFormat:
			if n >= 16 {
				return fmt.Errorf("qcow2 backing format extension of %d bytes (at most 15): %w", n, ErrCorrupt)
			}
			info.backingFormat = fmt.Sprintf("%q", data)
			if bf, err := artifact.ParseDiskFormat(string(data)); err == nil {
				info.Facts.BackingFormat = bf
			}
		case extDataFile:
			info.DataFile = string(data)
			info.unsafe(ruleDataFile, "header extension 0x44415441 names external data file %q", data)
		}
	}
	return nil
}

func truncated(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return ErrTruncated
	}
	return err
}
