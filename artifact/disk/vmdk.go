package disk

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/brickyard/brickyard/artifact"
)

// VMDK, per VMware's "Virtual Disk Format 5.0" and qemu's block/vmdk.c: a
// sparse extent starts with the little-endian SparseExtentHeader ("KDMV",
// version, flags, capacity in sectors at 12, grain size at 20, embedded
// descriptor offset and size in sectors at 28 and 36, grain table entries
// per table at 44, redundant and primary grain directory at 48 and 56,
// first grain at 64, compression at 77); a streamOptimized disk may move
// the header to a footer at the end (grain directory offset ~0). A text
// descriptor names extent files instead. Only a monolithicSparse or
// streamOptimized file, whose one extent is itself, is self-contained.
const vmdkGDAtEnd = ^uint64(0)

var (
	vmdkExtentRe = regexp.MustCompile(`^(?i)(RW|RDONLY|NOACCESS)\s+(\d+)\s+([A-Za-z]+)(?:\s+"([^"]*)"(?:\s+(\d+))?)?\s*$`)
	vmdkKeyRe    = regexp.MustCompile(`^([A-Za-z0-9_.]+)\s*=\s*(.*)$`)
)

type vmdkExtent struct {
	sectors int64
	typ     string
	file    string
}

type vmdkDescriptor struct {
	createType string
	parentCID  string
	parentHint string
	extents    []vmdkExtent
	bad        []string
}

// parseVMDKDescriptor reads a descriptor the way format_inspector does:
// every line must be a comment, blank, a ddb entry, KEY=VALUE or an extent;
// anything else is listed in bad.
func parseVMDKDescriptor(text []byte) (vmdkDescriptor, error) {
	var d vmdkDescriptor
	for _, raw := range strings.Split(string(text), "\n") {
		line := strings.TrimSpace(raw)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if m := vmdkExtentRe.FindStringSubmatch(line); m != nil {
			n, err := strconv.ParseInt(m[2], 10, 64)
			if err != nil || n > maxVirtualSize/512 {
				return d, fmt.Errorf("vmdk extent of %s sectors is impossible: %w", m[2], ErrCorrupt)
			}
			d.extents = append(d.extents, vmdkExtent{sectors: n, typ: strings.ToUpper(m[3]), file: m[4]})
			continue
		}
		m := vmdkKeyRe.FindStringSubmatch(line)
		if m == nil {
			if len(d.bad) < 4 {
				d.bad = append(d.bad, strconv.Quote(line[:min(len(line), 64)]))
			}
			continue
		}
		val := strings.Trim(strings.TrimSpace(m[2]), `"`)
		switch strings.ToLower(m[1]) {
		case "createtype":
			d.createType = val
		case "parentcid":
			d.parentCID = strings.ToLower(val)
		case "parentfilenamehint":
			d.parentHint = val
		}
	}
	return d, nil
}

// check applies the rules every descriptor shares.
func (d *vmdkDescriptor) check(info *Info) {
	if len(d.bad) > 0 {
		info.unsafe(ruleVMDKDescriptor, "descriptor lines that are not comments, KEY=VALUE, ddb entries or extents: %s", strings.Join(d.bad, ", "))
	}
	if d.parentHint != "" || (d.parentCID != "" && d.parentCID != "ffffffff") {
		info.unsafe(ruleVMDKParent, "the descriptor names a parent disk (parentFileNameHint %q, parentCID %s): qemu would open it as a backing file", d.parentHint, d.parentCID)
	}
	switch strings.ToLower(d.createType) {
	case "monolithicsparse", "streamoptimized":
	default:
		info.unsafe(ruleVMDKCreateType, "createType %q: only monolithicSparse and streamOptimized are self-contained", d.createType)
	}
	for _, e := range d.extents {
		if e.file != "" {
			info.Extents = append(info.Extents, e.file)
		}
	}
}

func inspectVMDK(f *file, head []byte) (Info, error) {
	info := Info{Probe: "vmdk", Format: artifact.DiskVMDK}
	switch {
	case bytes.HasPrefix(head, []byte("COWD")):
		info.Subformat = "COWD"
		info.unsafe(ruleBanned, "a VMware 3 (COWD) sparse extent, which brickyard does not publish")
		return info, nil
	case bytes.HasPrefix(head, []byte("KDMV")):
		return vmdkSparse(f, head, info)
	}
	text, err := f.read(0, min(f.size, maxText), "vmdk descriptor")
	if err != nil {
		return info, err
	}
	d, err := parseVMDKDescriptor(text)
	if err != nil {
		return info, err
	}
	info.Subformat = d.createType
	var sectors int64
	for _, e := range d.extents {
		if e.sectors > maxVirtualSize/512-sectors {
			return info, fmt.Errorf("vmdk extents add up to an impossible size: %w", ErrCorrupt)
		}
		sectors += e.sectors
	}
	if len(d.extents) == 0 {
		return info, fmt.Errorf("vmdk descriptor lists no extents: %w", ErrCorrupt)
	}
	info.VirtualSize = sectors * 512
	d.check(&info)
	if len(info.Extents) > 0 {
		info.unsafe(ruleVMDKExtent, "a descriptor-only vmdk whose extents name other files (%s): qemu would open them on the deploy host", quoteAll(info.Extents))
	}
	return info, nil
}

func quoteAll(s []string) string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = strconv.Quote(v)
	}
	return strings.Join(q, ", ")
}

func vmdkSparse(f *file, head []byte, info Info) (Info, error) {
	if len(head) < 512 {
		return info, fmt.Errorf("vmdk header of %d bytes (want 512): %w", len(head), ErrTruncated)
	}
	h := head[:512]
	version := le.Uint32(h[4:])
	if version < 1 || version > 3 {
		return info, fmt.Errorf("vmdk version %d (want 1, 2 or 3): %w", version, ErrCorrupt)
	}
	capacity, descOff, descSize := le.Uint64(h[12:]), le.Uint64(h[28:]), le.Uint64(h[36:])
	info.Subformat = "monolithicSparse"
	if le.Uint64(h[56:]) == vmdkGDAtEnd {
		// The footer takes precedence over the header (qemu reads it at
		// end - 1536: footer marker, footer, end-of-stream marker).
		ft, err := f.read(f.size-1536, 1536, "vmdk footer")
		if err != nil {
			return info, err
		}
		marker, footer, eos := ft[:512], ft[512:1024], ft[1024:]
		if string(footer[:4]) != "KDMV" || le.Uint32(marker[8:]) != 0 || le.Uint32(marker[12:]) != 3 ||
			le.Uint64(eos) != 0 || le.Uint32(eos[8:]) != 0 || le.Uint32(eos[12:]) != 0 {
			return info, fmt.Errorf("vmdk footer or end-of-stream marker is invalid: %w", ErrCorrupt)
		}
		if le.Uint32(footer[4:]) != version || le.Uint64(footer[28:]) != descOff || le.Uint64(footer[36:]) != descSize ||
			le.Uint64(footer[56:]) == vmdkGDAtEnd || (capacity != 0 && le.Uint64(footer[12:]) != capacity) {
			return info, fmt.Errorf("vmdk footer disagrees with the header: %w", ErrCorrupt)
		}
		h = footer
		capacity = le.Uint64(h[12:])
	}
	flags, grain, numGTEs := le.Uint32(h[8:]), le.Uint64(h[20:]), uint64(le.Uint32(h[44:]))
	rgdOff, gdOff, grainOff := le.Uint64(h[48:]), le.Uint64(h[56:]), le.Uint64(h[64:])
	if capacity > maxVirtualSize/512 {
		return info, fmt.Errorf("vmdk capacity of %d sectors is impossible: %w", capacity, ErrCorrupt)
	}
	info.VirtualSize = int64(capacity) * 512
	if capacity != 0 {
		if numGTEs > 512 {
			return info, fmt.Errorf("vmdk grain tables of %d entries (qemu allows 512): %w", numGTEs, ErrCorrupt)
		}
		if grain == 0 || grain > 0x200000 || numGTEs == 0 {
			return info, fmt.Errorf("vmdk grain of %d sectors with %d entries per grain table: %w", grain, numGTEs, ErrCorrupt)
		}
		gdEntries := (capacity + numGTEs*grain - 1) / (numGTEs * grain)
		if gdEntries > 32<<20 {
			return info, fmt.Errorf("vmdk grain directory of %d entries is larger than qemu allows: %w", gdEntries, ErrCorrupt)
		}
		if grainOff > uint64(f.size)/512 {
			return info, fmt.Errorf("vmdk first grain at sector %d lies past the end of the %d-byte file: %w", grainOff, f.size, ErrTruncated)
		}
		if gdOff > 1<<53 || rgdOff > 1<<53 {
			return info, fmt.Errorf("vmdk grain directory at sector %d is impossible: %w", gdOff, ErrCorrupt)
		}
		if err := f.inside(gdOff*512, gdEntries*4, "vmdk grain directory"); err != nil {
			return info, err
		}
		if flags&2 != 0 {
			if err := f.inside(rgdOff*512, gdEntries*4, "vmdk redundant grain directory"); err != nil {
				return info, err
			}
		}
		gd, err := f.read(int64(gdOff)*512, int64(min(gdEntries*4, maxPointerTable)), "vmdk grain directory")
		if err != nil {
			return info, err
		}
		for i := 0; i+4 <= len(gd); i += 4 {
			if gt := uint64(le.Uint32(gd[i:])); gt != 0 {
				if err := f.inside(gt*512, numGTEs*4, fmt.Sprintf("vmdk grain table %d", i/4)); err != nil {
					return info, err
				}
			}
		}
	}
	if descOff == 0 || descSize == 0 {
		info.unsafe(ruleVMDKDescriptor, "no embedded descriptor, so nothing says the file is self-contained")
		return info, nil
	}
	if descSize > maxText/512 || descOff > uint64(f.size)/512 {
		return info, fmt.Errorf("vmdk descriptor at sector %d (%d sectors) is outside the file or too large: %w", descOff, descSize, ErrCorrupt)
	}
	if descOff != 1 {
		info.unsafe(ruleVMDKDescriptor, "embedded descriptor at sector %d: qemu reads the parent file name from sector 1 whatever the header says", descOff)
	}
	desc, err := f.read(int64(descOff)*512, int64(descSize)*512, "vmdk descriptor")
	if err != nil {
		return info, err
	}
	if i := bytes.IndexByte(desc, 0); i >= 0 {
		desc = desc[:i]
	}
	d, err := parseVMDKDescriptor(desc)
	if err != nil {
		return info, err
	}
	if d.createType != "" {
		info.Subformat = d.createType
	}
	d.check(&info)
	if capacity == 0 {
		// qemu opens a sparse header of capacity 0 through its embedded
		// descriptor, extents and all.
		var sectors int64
		for _, e := range d.extents {
			sectors = min(sectors+e.sectors, maxVirtualSize/512)
		}
		info.VirtualSize = sectors * 512
		if len(info.Extents) > 0 {
			info.unsafe(ruleVMDKExtent, "a sparse header of capacity 0 whose embedded descriptor names extent files (%s): qemu would open them", quoteAll(info.Extents))
		}
		return info, nil
	}
	switch {
	case len(d.extents) != 1:
		info.unsafe(ruleVMDKExtent, "the embedded descriptor lists %d extents; a self-contained vmdk has exactly one, itself", len(d.extents))
	case d.extents[0].typ != "SPARSE" || !plainName(d.extents[0].file) || uint64(d.extents[0].sectors) != capacity:
		e := d.extents[0]
		info.unsafe(ruleVMDKExtent, "the embedded descriptor's extent (%s, %d sectors, file %q) is not the file itself (SPARSE, %d sectors, a plain file name)", e.typ, e.sectors, e.file, capacity)
	}
	return info, nil
}
