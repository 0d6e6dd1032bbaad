package disk

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"strings"

	"github.com/brickyard/brickyard/artifact"
)

// VHD, per Microsoft's "Virtual Hard Disk Image Format Specification" and
// qemu's block/vpc.c: a 512-byte big-endian footer ("conectix"; data
// offset at 16, creator application at 28, current size at 48, CHS
// geometry at 56, disk type at 60: 2 fixed, 3 dynamic, 4 differencing;
// checksum at 64) at the end of the file, with a copy at offset 0 for a
// dynamic disk, whose dynamic header ("cxsparse") gives the block
// allocation table's offset (16), entry count (28) and block size (32).
var vhdCookie = []byte("conectix")

const vhdMaxGeometry = 65535 * 16 * 255

// vhdChecksum is the one's complement of the byte sum, the checksum field
// (at sum) counted as zero.
func vhdChecksum(b []byte, at int) uint32 {
	var s uint32
	for i, c := range b {
		if i < at || i >= at+4 {
			s += uint32(c)
		}
	}
	return ^s
}

func inspectVHD(f *file, head, tail []byte) (Info, error) {
	info := Info{Probe: "vpc", Format: artifact.DiskVHD}
	footer, atEnd := head, false
	if !bytes.HasPrefix(head, vhdCookie) {
		footer, atEnd = tail, true
		if !bytes.HasPrefix(tail, vhdCookie) {
			return info, fmt.Errorf("vhd footer of 511 bytes (an old Virtual PC layout qemu does not read): %w", ErrCorrupt)
		}
	}
	if len(footer) < 512 {
		return info, fmt.Errorf("vhd footer of %d bytes (want 512): %w", len(footer), ErrTruncated)
	}
	footer = footer[:512]
	if got, want := vhdChecksum(footer, 64), be.Uint32(footer[64:]); got != want {
		return info, fmt.Errorf("vhd footer checksum %#x, computed %#x: %w", want, got, ErrCorrupt)
	}
	cur := be.Uint64(footer[48:])
	if cur > maxVirtualSize {
		return info, fmt.Errorf("vhd current size %d bytes is impossible: %w", cur, ErrCorrupt)
	}
	// qemu's rule: the size is the CHS geometry's unless the creator is
	// one of those known to use the current size, or the geometry is the
	// maximum.
	chs := uint64(be.Uint16(footer[56:])) * uint64(footer[58]) * uint64(footer[59])
	switch creator := string(footer[28:32]); {
	case creator == "win " || creator == "qem2" || creator == "d2v " || creator == "CTXS" || creator == "tap\x00" || chs == vhdMaxGeometry:
		info.VirtualSize = int64(cur &^ 511)
	default:
		info.VirtualSize = int64(chs * 512)
	}
	switch t := be.Uint32(footer[60:]); t {
	case 2:
		info.Subformat = "fixed"
	case 3:
		info.Subformat = "dynamic"
	case 4:
		info.Subformat = "differencing"
		info.unsafe(ruleVHDParent, "a differencing vhd: its parent locators name a parent disk file")
	default:
		return info, fmt.Errorf("vhd disk type %d (want 2, 3 or 4): %w", t, ErrCorrupt)
	}
	if info.Subformat == "fixed" {
		if !atEnd {
			return info, fmt.Errorf("vhd footer at the start of the file says fixed: %w", ErrCorrupt)
		}
		if cur > uint64(f.size-512) {
			return info, fmt.Errorf("fixed vhd of %d bytes holds fewer than its %d-byte disk: %w", f.size, cur, ErrTruncated)
		}
		return info, nil
	}
	if atEnd {
		return info, fmt.Errorf("%s vhd without its footer copy at the start of the file: %w", info.Subformat, ErrCorrupt)
	}
	if !bytes.Equal(tail, footer) {
		return info, fmt.Errorf("%s vhd whose last 512 bytes are not a copy of its footer: %w", info.Subformat, ErrTruncated)
	}
	dynOff := be.Uint64(footer[16:])
	if dynOff > uint64(f.size) {
		return info, fmt.Errorf("vhd dynamic header at offset %d lies past the end of the file: %w", dynOff, ErrTruncated)
	}
	dh, err := f.read(int64(dynOff), 1024, "vhd dynamic header")
	if err != nil {
		return info, err
	}
	if string(dh[:8]) != "cxsparse" {
		return info, fmt.Errorf("vhd dynamic header at offset %d has no cxsparse cookie: %w", dynOff, ErrCorrupt)
	}
	if got, want := vhdChecksum(dh, 36), be.Uint32(dh[36:]); got != want {
		return info, fmt.Errorf("vhd dynamic header checksum %#x, computed %#x: %w", want, got, ErrCorrupt)
	}
	batOff, entries, block := be.Uint64(dh[16:]), uint64(be.Uint32(dh[28:])), uint64(be.Uint32(dh[32:]))
	if block < 512 || block&(block-1) != 0 {
		return info, fmt.Errorf("vhd block size %d is not a power of two of at least 512: %w", block, ErrCorrupt)
	}
	if entries > 1<<29 {
		return info, fmt.Errorf("vhd block allocation table of %d entries is too large: %w", entries, ErrCorrupt)
	}
	if entries*block < uint64(info.VirtualSize) {
		return info, fmt.Errorf("vhd block allocation table of %d %d-byte blocks is too small for %d bytes: %w", entries, block, info.VirtualSize, ErrCorrupt)
	}
	info.Facts.ClusterSize = int64(block)
	if err := f.inside(batOff, entries*4, "vhd block allocation table"); err != nil {
		return info, err
	}
	return info, nil
}

// VHDX, per Microsoft's [MS-VHDX] v1.0 and qemu's block/vhdx.c: after the
// file identifier, two 4 KiB headers at 64 and 128 KiB (the valid one with
// the higher sequence number wins; a non-zero log GUID means a log to
// replay), two 64 KiB region tables at 192 and 256 KiB locating the block
// allocation table (BAT) and metadata regions, and in the metadata region
// a table of items: file parameters (block size, has-parent flag),
// virtual disk size, logical sector size, parent locator. Every structure
// carries a CRC-32C.
var (
	batRegionGUID        = guid("2DC27766-F623-4200-9D64-115E9BFD4A08")
	metadataRegionGUID   = guid("8B7CA206-4790-4B9A-B8FE-575F050F886E")
	fileParametersGUID   = guid("CAA16737-FA36-4D43-B3B6-33F0AA44E76B")
	virtualDiskSizeGUID  = guid("2FA54224-CD1B-4876-B211-5DBED83BF4B8")
	page83GUID           = guid("BECA12AB-B2E6-4523-93EF-C309E000C746")
	logicalSectorGUID    = guid("8141BF1D-A96F-4709-BA47-F233A8FAAB5F")
	physicalSectorGUID   = guid("CDA348C7-445D-4471-9CC9-E9885251C556")
	parentLocatorGUID    = guid("A8D35F2D-B30B-454D-ABF7-D3D84834AB0C")
	castagnoli           = crc32.MakeTable(crc32.Castagnoli)
	vhdxKnownMetadataIDs = map[[16]byte]bool{fileParametersGUID: true, virtualDiskSizeGUID: true, page83GUID: true,
		logicalSectorGUID: true, physicalSectorGUID: true, parentLocatorGUID: true}
)

// guid encodes a GUID as [MS-DTYP] stores it: the first three fields little-endian.
func guid(s string) [16]byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, "-", ""))
	if err != nil || len(b) != 16 {
		panic("bad GUID literal " + s)
	}
	var g [16]byte
	copy(g[:], b)
	g[0], g[1], g[2], g[3] = b[3], b[2], b[1], b[0]
	g[4], g[5], g[6], g[7] = b[5], b[4], b[7], b[6]
	return g
}

// vhdxCRC checks the CRC-32C of b whose checksum field is at 4.
func vhdxCRC(b []byte) bool {
	want := le.Uint32(b[4:])
	c := crc32.Update(0, castagnoli, b[:4])
	c = crc32.Update(c, castagnoli, []byte{0, 0, 0, 0})
	return crc32.Update(c, castagnoli, b[8:]) == want
}

const mib = 1 << 20

func inspectVHDX(f *file) (Info, error) {
	info := Info{Probe: "vhdx", Format: artifact.DiskVHDX}
	var best []byte
	for _, off := range []int64{64 << 10, 128 << 10} {
		h, err := f.read(off, 4096, "vhdx header")
		if err != nil {
			return info, err
		}
		if string(h[:4]) == "head" && vhdxCRC(h) && (best == nil || le.Uint64(h[8:]) > le.Uint64(best[8:])) {
			best = h
		}
	}
	if best == nil {
		return info, fmt.Errorf("vhdx has no valid header (signature and CRC-32C): %w", ErrCorrupt)
	}
	if v := le.Uint16(best[66:]); v != 1 {
		return info, fmt.Errorf("vhdx version %d (want 1): %w", v, ErrCorrupt)
	}
	if !bytes.Equal(best[48:64], make([]byte, 16)) {
		info.unsafe(ruleVHDXLog, "the header has a log to replay: qemu would write it into the file before reading it")
	}
	var regions []byte
	for _, off := range []int64{192 << 10, 256 << 10} {
		t, err := f.read(off, 64<<10, "vhdx region table")
		if err != nil {
			return info, err
		}
		if string(t[:4]) == "regi" && vhdxCRC(t) {
			regions = t
			break
		}
	}
	if regions == nil {
		return info, fmt.Errorf("vhdx has no valid region table (signature and CRC-32C): %w", ErrCorrupt)
	}
	count := le.Uint32(regions[8:])
	if count > 2047 {
		return info, fmt.Errorf("vhdx region table lists %d entries (at most 2047): %w", count, ErrCorrupt)
	}
	var bat, meta [2]uint64 // offset, length
	for i := range count {
		e := regions[16+32*i:]
		id, off, n, required := [16]byte(e[:16]), le.Uint64(e[16:]), uint64(le.Uint32(e[24:])), le.Uint32(e[28:])&1 != 0
		switch {
		case id == batRegionGUID:
			bat = [2]uint64{off, n}
		case id == metadataRegionGUID:
			meta = [2]uint64{off, n}
		case required:
			info.unsafe(ruleVHDXRequired, "a required region %x that qemu does not know", id)
			continue
		default:
			continue
		}
		if off%mib != 0 || n%mib != 0 || off < mib || n == 0 {
			return info, fmt.Errorf("vhdx region at %d of %d bytes is not 1 MiB-aligned after the first MiB: %w", off, n, ErrCorrupt)
		}
		if err := f.inside(off, n, "vhdx region"); err != nil {
			return info, err
		}
	}
	if bat[1] == 0 || meta[1] == 0 {
		return info, fmt.Errorf("vhdx lacks its BAT or metadata region: %w", ErrCorrupt)
	}
	if bat[0] < meta[0]+meta[1] && meta[0] < bat[0]+bat[1] {
		return info, fmt.Errorf("vhdx BAT and metadata regions overlap: %w", ErrCorrupt)
	}
	items, err := vhdxMetadata(f, &info, meta[0], meta[1])
	if err != nil {
		return info, err
	}
	fp, vs, ls := items[fileParametersGUID], items[virtualDiskSizeGUID], items[logicalSectorGUID]
	if len(fp) != 8 || len(vs) != 8 || len(ls) != 4 {
		return info, fmt.Errorf("vhdx metadata lacks file parameters, virtual disk size or logical sector size: %w", ErrCorrupt)
	}
	block, flags := uint64(le.Uint32(fp)), le.Uint32(fp[4:])
	vsize, sector := le.Uint64(vs), uint64(le.Uint32(ls))
	if block < mib || block > 256*mib || block&(block-1) != 0 {
		return info, fmt.Errorf("vhdx block size %d (a power of two from 1 to 256 MiB): %w", block, ErrCorrupt)
	}
	if sector != 512 && sector != 4096 {
		return info, fmt.Errorf("vhdx logical sector size %d (512 or 4096): %w", sector, ErrCorrupt)
	}
	if vsize > maxVirtualSize || vsize%sector != 0 {
		return info, fmt.Errorf("vhdx virtual size %d bytes is impossible: %w", vsize, ErrCorrupt)
	}
	info.VirtualSize = int64(vsize)
	info.Facts.ClusterSize = int64(block)
	if flags&2 != 0 || items[parentLocatorGUID] != nil {
		info.Subformat = "differencing"
		info.unsafe(ruleVHDXParent, "a differencing vhdx: its parent locator names a parent disk file")
	}
	// BAT entries: one per payload block, plus one sector-bitmap entry per
	// chunk (the payload blocks that 2^23 sectors make).
	chunk := (uint64(1) << 23) * sector / block
	payload := (vsize + block - 1) / block
	entries := payload + (payload-min(payload, 1))/chunk
	if flags&2 != 0 {
		entries = ((payload + chunk - 1) / chunk) * (chunk + 1)
	}
	if entries*8 > bat[1] {
		return info, fmt.Errorf("vhdx BAT region of %d bytes is too small for %d entries: %w", bat[1], entries, ErrCorrupt)
	}
	return info, nil
}

// vhdxMetadata reads the metadata table at off (region length n) and
// returns the items it knows, by GUID.
func vhdxMetadata(f *file, info *Info, off, n uint64) (map[[16]byte][]byte, error) {
	t, err := f.read(int64(off), 64<<10, "vhdx metadata table")
	if err != nil {
		return nil, err
	}
	if string(t[:8]) != "metadata" {
		return nil, fmt.Errorf("vhdx metadata table has no 'metadata' signature: %w", ErrCorrupt)
	}
	count := le.Uint16(t[10:])
	if count > 2047 {
		return nil, fmt.Errorf("vhdx metadata table lists %d entries (at most 2047): %w", count, ErrCorrupt)
	}
	items := map[[16]byte][]byte{}
	for i := range int(count) {
		e := t[32+32*i:]
		id, itemOff, itemLen, flags := [16]byte(e[:16]), uint64(le.Uint32(e[16:])), uint64(le.Uint32(e[20:])), le.Uint32(e[24:])
		if !vhdxKnownMetadataIDs[id] {
			if flags&4 != 0 {
				info.unsafe(ruleVHDXRequired, "a required metadata item %x that qemu does not know", id)
			}
			continue
		}
		if itemOff < 64<<10 || itemOff > n || itemLen > n-itemOff || itemLen > 64<<10 {
			return nil, fmt.Errorf("vhdx metadata item at %d (%d bytes) lies outside its %d-byte region: %w", itemOff, itemLen, n, ErrCorrupt)
		}
		if id == parentLocatorGUID {
			items[id] = []byte{}
			continue
		}
		b, err := f.read(int64(off+itemOff), int64(itemLen), "vhdx metadata item")
		if err != nil {
			return nil, err
		}
		items[id] = b
	}
	return items, nil
}
