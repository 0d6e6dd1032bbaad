package disk

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
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

// OVA (DMTF OVF 2.x §5.3) is a tar whose first member is the .ovf
// envelope; a Vagrant box is a tar, usually gzip-compressed, holding
// metadata.json. The disks inside both are inspected like any disk file.

// maxMembers bounds the members of an archive that are looked at, and
// maxDiskMembers those inspected as disks (each read costs its headers).
const (
	maxMembers     = 1024
	maxDiskMembers = 16
)

// maxArchiveScan bounds how many decompressed bytes of a gzip Vagrant box
// are read: 64 GiB. A compressed stream cannot be read at offsets, so the
// disks inside are inspected as they stream past, keeping boxHead bytes of
// the start of each and boxTail of its end.
const (
	maxArchiveScan = 64 << 30
	boxHead        = 8 << 20
	boxTail        = 64 << 10
)

var gzipMagic = []byte{0x1f, 0x8b}

// isTar reports whether h is a POSIX (ustar) tar header.
func isTar(h []byte) bool { return len(h) >= 263 && bytes.HasPrefix(h[257:], []byte("ustar")) }

// memberName checks an archive member's type and name; ok is false when
// the member is not a regular file worth inspecting.
func memberName(info *Info, hdr *tar.Header) (name string, ok bool) {
	name = strings.TrimPrefix(path.Clean("/"+hdr.Name), "/")
	if hdr.Name != name && strings.TrimPrefix(hdr.Name, "./") != name {
		info.unsafe(ruleArchiveMember, "member %q has a path that leaves the archive's directory", hdr.Name)
	}
	switch hdr.Typeflag {
	case tar.TypeReg:
		return name, true
	case tar.TypeDir, tar.TypeXGlobalHeader:
		return name, false
	}
	info.unsafe(ruleArchiveMember, "member %q is a link or special file (type %q), not a regular file", hdr.Name, hdr.Typeflag)
	return name, false
}

// addMember records the inspection of member name; its reasons become the
// archive's, naming the member.
func addMember(info *Info, name string, m Info, err error) error {
	var nc notCaptured
	switch {
	case errors.Is(err, ErrNotDisk):
		return nil // a text file or such, not a disk
	case errors.As(err, &nc):
		info.unsafe(ruleArchiveMember, "member %q: %v", name, nc)
		return nil
	case err != nil:
		return fmt.Errorf("member %q: %w", name, err)
	}
	for _, r := range m.Reasons {
		info.Reasons = append(info.Reasons, Reason{Rule: r.Rule, Detail: fmt.Sprintf("member %q: %s", name, r.Detail)})
	}
	m.Reasons = nil
	if m.Facts.BackingFile != "" {
		info.Facts.BackingFile = m.Facts.BackingFile // the member's, never allowed through
	}
	info.Members = append(info.Members, m)
	info.Facts.Members = append(info.Facts.Members, artifact.DiskMember{Name: name, Format: m.Probe, Subformat: m.Subformat, VirtualSize: m.VirtualSize})
	return nil
}

// inspectTar reads an OVA or an uncompressed Vagrant box, seeking over
// member data: only tar headers, the envelope or metadata and each
// member's own headers are read.
func inspectTar(f *file) (Info, error) {
	info := Info{}
	sr := io.NewSectionReader(f.r, 0, f.size)
	tr := tar.NewReader(sr)
	type member struct {
		name      string
		off, size int64
	}
	var members []member
	var ovf, metadata []byte
	for i := 0; ; i++ {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return info, fmt.Errorf("tar: %v: %w", err, ErrCorrupt)
		}
		if i >= maxMembers {
			return info, fmt.Errorf("tar of more than %d members: %w", maxMembers, ErrCorrupt)
		}
		name, ok := memberName(&info, hdr)
		if !ok {
			continue
		}
		off, _ := sr.Seek(0, io.SeekCurrent)
		switch {
		case i == 0 && path.Ext(name) == ".ovf":
			if ovf, err = io.ReadAll(io.LimitReader(tr, maxText)); err != nil {
				return info, fmt.Errorf("ovf envelope: %v: %w", err, ErrTruncated)
			}
		case name == "metadata.json":
			if metadata, err = io.ReadAll(io.LimitReader(tr, maxText)); err != nil {
				return info, fmt.Errorf("box metadata.json: %v: %w", err, ErrTruncated)
			}
		case path.Ext(name) == ".ovf" || path.Ext(name) == ".mf" || path.Ext(name) == ".cert" || name == "Vagrantfile":
		default:
			members = append(members, member{name, off, hdr.Size})
		}
	}
	switch {
	case ovf != nil:
		info.Format, info.Probe = artifact.DiskOVA, "ova"
		vs, refs, err := parseOVF(bytes.NewReader(ovf))
		if err != nil {
			return info, err
		}
		info.VirtualSize = vs
		names := map[string]bool{}
		for _, m := range members {
			names[m.name] = true
		}
		for _, href := range refs {
			if !plainName(href) || !names[href] {
				info.unsafe(ruleArchiveRef, "the envelope references file %q, which is not a member of the OVA", href)
			}
		}
	case metadata != nil:
		info.Format, info.Probe = artifact.DiskVagrant, "box"
		vs, err := boxVirtualSize(metadata)
		if err != nil {
			return info, err
		}
		info.VirtualSize = vs
	default:
		return info, fmt.Errorf("tar archive with neither an .ovf envelope first nor metadata.json, so neither an OVA nor a Vagrant box: %w", ErrNotDisk)
	}
	if len(members) > maxDiskMembers {
		return info, fmt.Errorf("archive of %d files besides its envelope or metadata (at most %d are inspected): %w", len(members), maxDiskMembers, ErrCorrupt)
	}
	for _, m := range members {
		sub := &file{r: io.NewSectionReader(f.r, m.off, m.size), size: m.size, name: m.name}
		mi, err := inspect(sub, 1)
		mi.Size = m.size
		if err := addMember(&info, m.name, mi, err); err != nil {
			return info, err
		}
	}
	if info.Format == artifact.DiskVagrant && info.VirtualSize == 0 {
		info.VirtualSize = sumMembers(info.Members)
	}
	return info, nil
}

func sumMembers(ms []Info) int64 {
	var s int64
	for _, m := range ms {
		s = min(s+m.VirtualSize, maxVirtualSize)
	}
	return s
}

// inspectBox reads a gzip-compressed Vagrant box as one stream.
func inspectBox(f *file) (Info, error) {
	info := Info{Format: artifact.DiskVagrant, Probe: "box"}
	zr, err := gzip.NewReader(io.NewSectionReader(f.r, 0, f.size))
	if err != nil {
		return info, fmt.Errorf("gzip: %v: %w", err, ErrCorrupt)
	}
	tr := tar.NewReader(io.LimitReader(zr, maxArchiveScan))
	found := false
	for i := 0; ; i++ {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if !found {
				return info, fmt.Errorf("gzip-compressed file that is not a readable tar (%v), so not a Vagrant box: %w", err, ErrNotDisk)
			}
			return info, fmt.Errorf("box: %v (or more than %d bytes decompressed): %w", err, int64(maxArchiveScan), ErrCorrupt)
		}
		if i >= maxMembers {
			return info, fmt.Errorf("box of more than %d members: %w", maxMembers, ErrCorrupt)
		}
		name, ok := memberName(&info, hdr)
		if !ok {
			continue
		}
		switch {
		case name == "metadata.json":
			md, err := io.ReadAll(io.LimitReader(tr, maxText))
			if err != nil {
				return info, fmt.Errorf("box metadata.json: %v: %w", err, ErrTruncated)
			}
			if info.VirtualSize, err = boxVirtualSize(md); err != nil {
				return info, err
			}
			found = true
		case path.Ext(name) == ".ovf" || path.Ext(name) == ".mf" || name == "Vagrantfile":
		default:
			if len(info.Members) >= maxDiskMembers {
				return info, fmt.Errorf("box of more than %d files besides its metadata: %w", maxDiskMembers, ErrCorrupt)
			}
			c, err := capture(tr, hdr.Size)
			if err != nil {
				return info, fmt.Errorf("box member %q: %v: %w", name, err, ErrTruncated)
			}
			mi, err := inspect(&file{r: c, size: hdr.Size, name: name}, 1)
			mi.Size = hdr.Size
			if err := addMember(&info, name, mi, err); err != nil {
				return info, err
			}
		}
	}
	if !found {
		return info, fmt.Errorf("gzip-compressed tar without metadata.json, so not a Vagrant box: %w", ErrNotDisk)
	}
	if info.VirtualSize == 0 {
		info.VirtualSize = sumMembers(info.Members)
	}
	return info, nil
}

// boxVirtualSize reads the libvirt provider's "virtual_size" (GiB) from a
// box's metadata.json; 0 when absent.
func boxVirtualSize(md []byte) (int64, error) {
	var m struct {
		VirtualSize json.Number `json:"virtual_size"`
	}
	if err := json.Unmarshal(md, &m); err != nil {
		return 0, fmt.Errorf("box metadata.json: %v: %w", err, ErrCorrupt)
	}
	if gib, err := m.VirtualSize.Int64(); err == nil && gib > 0 && gib < maxVirtualSize>>30 {
		return gib << 30, nil
	}
	return 0, nil
}

// captured is what was kept of a member streamed past: its first bytes
// and its last.
type captured struct {
	head, tail []byte
	size       int64
}

// notCaptured is the error of a read outside what capture kept.
type notCaptured struct{ off int64 }

func (e notCaptured) Error() string {
	return fmt.Sprintf("its headers at offset %d lie beyond the first %d MiB and last %d KiB kept while streaming a compressed box", e.off, boxHead>>20, boxTail>>10)
}

func capture(r io.Reader, size int64) (*captured, error) {
	c := &captured{size: size}
	c.head = make([]byte, min(size, boxHead))
	if _, err := io.ReadFull(r, c.head); err != nil {
		return nil, err
	}
	rest := size - int64(len(c.head))
	if rest == 0 {
		return c, nil
	}
	buf := make([]byte, 2*boxTail)
	n := 0
	for rest > 0 {
		if n == len(buf) {
			n = copy(buf, buf[boxTail:])
		}
		k, err := r.Read(buf[n:min(len(buf), n+int(min(rest, int64(len(buf)))))])
		n += k
		rest -= int64(k)
		if err != nil && rest > 0 {
			return nil, err
		}
	}
	c.tail = append([]byte(nil), buf[max(0, n-boxTail):n]...)
	return c, nil
}

func (c *captured) ReadAt(p []byte, off int64) (int, error) {
	end := off + int64(len(p))
	tailOff := c.size - int64(len(c.tail))
	switch {
	case off < 0:
		return 0, notCaptured{off}
	case end <= int64(len(c.head)):
		return copy(p, c.head[off:]), nil
	case off >= tailOff && end <= c.size && len(c.tail) > 0:
		return copy(p, c.tail[off-tailOff:]), nil
	case off >= c.size:
		return 0, io.EOF
	}
	return 0, notCaptured{off}
}

var allocUnitsRe = regexp.MustCompile(`^byte(?:\s*\*\s*2\^(\d+))?$`)

// parseOVF returns the sum of the envelope's Disk ovf:capacity ×
// ovf:capacityAllocationUnits ("byte * 2^N") and the hrefs of its
// References.
func parseOVF(r io.Reader) (int64, []string, error) {
	dec := xml.NewDecoder(r)
	var total int64
	var hrefs []string
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return total, hrefs, nil
		}
		if err != nil {
			return 0, nil, fmt.Errorf("ovf envelope: %v: %w", err, ErrCorrupt)
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		switch se.Name.Local {
		case "File":
			for _, a := range se.Attr {
				if a.Name.Local == "href" {
					hrefs = append(hrefs, a.Value)
				}
			}
			continue
		case "Disk":
		default:
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
			return 0, nil, fmt.Errorf("ovf Disk capacity %q in units %q: %w", capacity, units, ErrCorrupt)
		}
		shift := 0
		if m[1] != "" {
			shift, _ = strconv.Atoi(m[1])
		}
		if shift > 62 || c > (maxVirtualSize>>shift)-(total>>shift) {
			return 0, nil, fmt.Errorf("ovf Disk capacity %s × 2^%d is impossible: %w", capacity, shift, ErrCorrupt)
		}
		total += c << shift
	}
}
