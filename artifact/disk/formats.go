package disk

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/brickyard/brickyard/artifact"
)

// maxText bounds what is read of a text header (a VMDK descriptor, an OVF
// envelope, a box's metadata.json): 1 MiB.
const maxText = 1 << 20

// VMDK, per VMware's "Virtual Disk Format 5.0": the little-endian
// SparseExtentHeader gives the capacity in 512-byte sectors at offset 12 and
// the embedded descriptor's offset and size (in sectors) at 28 and 36; the
// descriptor's createType names the subformat. qemu-img writes the capacity
// into the header of streamOptimized disks too.
func vmdkSparse(r io.ReaderAt, size int64) (Info, error) {
	var h [44]byte
	if err := readAt(r, h[:], 0, size, "vmdk header"); err != nil {
		return Info{}, err
	}
	capacity := le.Uint64(h[12:])
	if capacity > maxVirtualSize/512 {
		return Info{}, fmt.Errorf("vmdk capacity of %d sectors is impossible: %w", capacity, ErrCorrupt)
	}
	info := Info{Format: artifact.DiskVMDK, VirtualSize: int64(capacity) * 512, Subformat: "monolithicSparse"}
	off, n := le.Uint64(h[28:]), le.Uint64(h[36:])
	if off == 0 || n == 0 {
		return info, nil
	}
	if off > uint64(size)/512 || n > maxText/512 {
		return Info{}, fmt.Errorf("vmdk descriptor at sector %d (%d sectors) is outside the file or too large: %w", off, n, ErrCorrupt)
	}
	desc := make([]byte, n*512)
	if err := readAt(r, desc, int64(off)*512, size, "vmdk descriptor"); err != nil {
		return Info{}, err
	}
	if m := createTypeRe.FindSubmatch(desc); m != nil {
		info.Subformat = string(m[1])
	}
	return info, nil
}

var (
	createTypeRe = regexp.MustCompile(`(?m)^\s*createType\s*=\s*"([A-Za-z]+)"`)
	extentRe     = regexp.MustCompile(`(?m)^\s*(?:RW|RDONLY|NOACCESS)\s+(\d+)\s`)
)

// vmdkDescriptor reads a text descriptor (monolithicFlat, twoGbMaxExtent...):
// the virtual size is the sum of its extents' sizes in sectors.
func vmdkDescriptor(r io.ReaderAt, size int64) (Info, error) {
	n := min(size, maxText)
	desc := make([]byte, n)
	if err := readAt(r, desc, 0, size, "vmdk descriptor"); err != nil {
		return Info{}, err
	}
	info := Info{Format: artifact.DiskVMDK}
	if m := createTypeRe.FindSubmatch(desc); m != nil {
		info.Subformat = string(m[1])
	}
	var sectors int64
	for _, m := range extentRe.FindAllSubmatch(desc, -1) {
		s, err := strconv.ParseInt(string(m[1]), 10, 64)
		if err != nil || s > maxVirtualSize/512-sectors {
			return Info{}, fmt.Errorf("vmdk extent of %s sectors is impossible: %w", m[1], ErrCorrupt)
		}
		sectors += s
	}
	if sectors == 0 {
		return Info{}, fmt.Errorf("vmdk descriptor lists no extents: %w", ErrCorrupt)
	}
	info.VirtualSize = sectors * 512
	return info, nil
}

// VHDX, per Microsoft's [MS-VHDX] v1.0: the region table at 192 KiB (a copy
// at 256 KiB) locates the metadata region, whose table holds the Virtual
// Disk Size item (a little-endian uint64).
var (
	metadataRegionGUID  = guid("8B7CA206-4790-4B9A-B8FE-575F050F886E")
	virtualDiskSizeGUID = guid("2FA54224-CD1B-4876-B211-5DBED83BF4B8")
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

func vhdx(r io.ReaderAt, size int64) (Info, error) {
	var last error
	for _, off := range []int64{192 << 10, 256 << 10} {
		vs, err := vhdxVirtualSize(r, size, off)
		if err == nil {
			return Info{Format: artifact.DiskVHDX, VirtualSize: vs}, nil
		}
		last = err
	}
	return Info{}, last
}

func vhdxVirtualSize(r io.ReaderAt, size, regionTable int64) (int64, error) {
	var h [16]byte
	if err := readAt(r, h[:], regionTable, size, "vhdx region table"); err != nil {
		return 0, err
	}
	if string(h[:4]) != "regi" {
		return 0, fmt.Errorf("vhdx region table at %d has no 'regi' signature: %w", regionTable, ErrCorrupt)
	}
	count := le.Uint32(h[8:])
	if count > 2047 {
		return 0, fmt.Errorf("vhdx region table lists %d entries (at most 2047): %w", count, ErrCorrupt)
	}
	entries := make([]byte, 32*count)
	if err := readAt(r, entries, regionTable+16, size, "vhdx region entries"); err != nil {
		return 0, err
	}
	for i := range count {
		e := entries[32*i:]
		if [16]byte(e[:16]) != metadataRegionGUID {
			continue
		}
		return vhdxMetadata(r, size, le.Uint64(e[16:]), le.Uint32(e[24:]))
	}
	return 0, fmt.Errorf("vhdx has no metadata region: %w", ErrCorrupt)
}

func vhdxMetadata(r io.ReaderAt, size int64, regionOff uint64, regionLen uint32) (int64, error) {
	if regionOff > uint64(size) {
		return 0, fmt.Errorf("vhdx metadata region at %d is past the end of the file: %w", regionOff, ErrTruncated)
	}
	var h [32]byte
	if err := readAt(r, h[:], int64(regionOff), size, "vhdx metadata table"); err != nil {
		return 0, err
	}
	if string(h[:8]) != "metadata" {
		return 0, fmt.Errorf("vhdx metadata table has no 'metadata' signature: %w", ErrCorrupt)
	}
	count := le.Uint16(h[10:])
	if count > 2047 {
		return 0, fmt.Errorf("vhdx metadata table lists %d entries (at most 2047): %w", count, ErrCorrupt)
	}
	entries := make([]byte, 32*int(count))
	if err := readAt(r, entries, int64(regionOff)+32, size, "vhdx metadata entries"); err != nil {
		return 0, err
	}
	for i := range int(count) {
		e := entries[32*i:]
		if [16]byte(e[:16]) != virtualDiskSizeGUID {
			continue
		}
		itemOff, itemLen := le.Uint32(e[16:]), le.Uint32(e[20:])
		if itemLen != 8 || itemOff > regionLen {
			return 0, fmt.Errorf("vhdx virtual disk size item (offset %d, %d bytes) is malformed: %w", itemOff, itemLen, ErrCorrupt)
		}
		var v [8]byte
		if err := readAt(r, v[:], int64(regionOff)+int64(itemOff), size, "vhdx virtual disk size"); err != nil {
			return 0, err
		}
		vs := le.Uint64(v[:])
		if vs > maxVirtualSize {
			return 0, fmt.Errorf("vhdx virtual size %d bytes is impossible: %w", vs, ErrCorrupt)
		}
		return int64(vs), nil
	}
	return 0, fmt.Errorf("vhdx metadata has no virtual disk size: %w", ErrCorrupt)
}

// VHD, per Microsoft's "Virtual Hard Disk Image Format Specification": a
// 512-byte big-endian footer with the cookie "conectix", the current size in
// bytes at offset 48 and the disk type at 60 (2 fixed, 3 dynamic, 4
// differencing). A fixed disk has it at the end only; a dynamic disk also
// has a copy at offset 0.
var vhdCookie = []byte("conectix")

func vhd(r io.ReaderAt, off, size int64, want string) (Info, error) {
	var f [512]byte
	if err := readAt(r, f[:], off, size, "vhd footer"); err != nil {
		return Info{}, err
	}
	cur := be.Uint64(f[48:])
	if cur > maxVirtualSize {
		return Info{}, fmt.Errorf("vhd current size %d bytes is impossible: %w", cur, ErrCorrupt)
	}
	var sub string
	switch t := be.Uint32(f[60:]); t {
	case 2:
		sub = "fixed"
	case 3:
		sub = "dynamic"
	case 4:
		sub = "differencing"
	default:
		return Info{}, fmt.Errorf("vhd disk type %d (want 2, 3 or 4): %w", t, ErrCorrupt)
	}
	if (want == "fixed") != (sub == "fixed") {
		return Info{}, fmt.Errorf("vhd footer at offset %d says %s: %w", off, sub, ErrCorrupt)
	}
	return Info{Format: artifact.DiskVHD, VirtualSize: int64(cur), Subformat: sub}, nil
}

// fixedVHDOrRaw tells a fixed VHD (footer at the end) from a raw disk. Raw
// has no header at all, so only a file whose size is a positive multiple of
// the 512-byte sector is taken for one; anything else is not a disk.
func fixedVHDOrRaw(r io.ReaderAt, size int64) (Info, error) {
	if size >= 512 {
		var c [8]byte
		if err := readAt(r, c[:], size-512, size, "vhd footer"); err != nil {
			return Info{}, err
		}
		if bytes.Equal(c[:], vhdCookie) {
			return vhd(r, size-512, size, "fixed")
		}
	}
	if size%512 != 0 {
		return Info{}, fmt.Errorf("no known header, and %d bytes is not a whole number of 512-byte sectors, so not raw either: %w", size, ErrNotDisk)
	}
	return Info{Format: artifact.DiskRaw, VirtualSize: size}, nil
}

// isTar reports whether h is a POSIX (ustar) tar header.
func isTar(h []byte) bool { return len(h) >= 263 && bytes.HasPrefix(h[257:], []byte("ustar")) }

// ova reads an OVA, per DMTF OVF 2.x §5.3: a tar whose first member is the
// .ovf envelope. The virtual size is the sum of the envelope's Disk
// ovf:capacity × ovf:capacityAllocationUnits ("byte * 2^N").
func ova(r io.ReaderAt, size int64) (Info, error) {
	tr := tar.NewReader(io.NewSectionReader(r, 0, size))
	hdr, err := tr.Next()
	if err != nil {
		return Info{}, fmt.Errorf("tar: %v: %w", err, ErrCorrupt)
	}
	if path.Ext(hdr.Name) != ".ovf" {
		return Info{}, fmt.Errorf("tar archive whose first member is %q, not an .ovf envelope, so not an OVA: %w", hdr.Name, ErrNotDisk)
	}
	vs, err := ovfCapacity(io.LimitReader(tr, maxText))
	if err != nil {
		return Info{}, err
	}
	return Info{Format: artifact.DiskOVA, VirtualSize: vs}, nil
}

var allocUnitsRe = regexp.MustCompile(`^byte(?:\s*\*\s*2\^(\d+))?$`)

func ovfCapacity(r io.Reader) (int64, error) {
	dec := xml.NewDecoder(r)
	var total int64
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return total, nil
		}
		if err != nil {
			return 0, fmt.Errorf("ovf envelope: %v: %w", err, ErrCorrupt)
		}
		se, ok := tok.(xml.StartElement)
		if !ok || se.Name.Local != "Disk" {
			continue
		}
		capacity, units := "", "byte"
		for _, a := range se.Attr {
			switch a.Name.Local {
			case "capacity":
				capacity = a.Value
			case "capacityAllocationUnits":
				units = a.Value
			}
		}
		c, err := strconv.ParseInt(capacity, 10, 64)
		m := allocUnitsRe.FindStringSubmatch(strings.TrimSpace(units))
		if err != nil || c < 0 || m == nil {
			return 0, fmt.Errorf("ovf Disk capacity %q in units %q: %w", capacity, units, ErrCorrupt)
		}
		shift := 0
		if m[1] != "" {
			shift, _ = strconv.Atoi(m[1])
		}
		if shift > 62 || c > (maxVirtualSize>>shift)-(total>>shift) {
			return 0, fmt.Errorf("ovf Disk capacity %s × 2^%d is impossible: %w", capacity, shift, ErrCorrupt)
		}
		total += c << shift
	}
}

// maxArchiveScan bounds how many decompressed bytes of a Vagrant box are
// read looking for its metadata.json: 1 GiB.
const maxArchiveScan = 1 << 30

var gzipMagic = []byte{0x1f, 0x8b}

// vagrantBox reads a Vagrant box: a gzip-compressed tar holding
// metadata.json (Vagrant's box file format). Its virtual size is taken from
// the libvirt provider's "virtual_size" (GiB) when present, else 0.
func vagrantBox(r io.ReaderAt, size int64) (Info, error) {
	zr, err := gzip.NewReader(io.NewSectionReader(r, 0, size))
	if err != nil {
		return Info{}, fmt.Errorf("gzip: %v: %w", err, ErrCorrupt)
	}
	tr := tar.NewReader(io.LimitReader(zr, maxArchiveScan))
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return Info{}, fmt.Errorf("gzip-compressed tar without metadata.json (in its first %d bytes), so not a Vagrant box: %w", maxArchiveScan, ErrNotDisk)
		}
		if err != nil {
			return Info{}, fmt.Errorf("gzip-compressed file that is not a readable tar (%v), so not a Vagrant box: %w", err, ErrNotDisk)
		}
		if path.Clean(hdr.Name) != "metadata.json" {
			continue
		}
		var md struct {
			VirtualSize json.Number `json:"virtual_size"`
		}
		if err := json.NewDecoder(io.LimitReader(tr, maxText)).Decode(&md); err != nil {
			return Info{}, fmt.Errorf("box metadata.json: %v: %w", err, ErrCorrupt)
		}
		info := Info{Format: artifact.DiskVagrant}
		if gib, err := md.VirtualSize.Int64(); err == nil && gib > 0 && gib < maxVirtualSize>>30 {
			info.VirtualSize = gib << 30
		}
		return info, nil
	}
}
