package disk

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/brickyard/brickyard/artifact"
	"github.com/opencontainers/go-digest"
)

// Rules names the rule set Inspect applies; it is recorded in
// artifact.DiskFacts.Inspector of every published disk.
const Rules = "brickyard-disk/1"

// Info is what Inspect found in a disk file's headers.
type Info struct {
	// Format is the format brickyard publishes the file as; "" when it is
	// in a format brickyard does not publish (Probe names it).
	Format artifact.DiskFormat
	// Probe is the format as qemu names it (qcow2, vmdk, vpc, vhdx, raw,
	// qed, vdi, qcow, luks, parallels, bochs, cloop, dmg) or iso, ova, box.
	Probe string
	// VirtualSize is the size in bytes the guest sees. For an OVA it is the
	// sum of the ovf:capacity of its disks; for a Vagrant box, the
	// metadata's virtual_size (0 if it has none).
	VirtualSize int64
	Size        int64  // bytes of the file itself
	Subformat   string // "v2"/"v3" (qcow2), the createType (vmdk), "fixed"/"dynamic"/"differencing" (vhd); else ""
	// Facts are what a published disk records (artifact.Disk.Facts).
	Facts artifact.DiskFacts
	// DataFile is the external data file a qcow2 names; Encryption its
	// crypt_method ("aes", "luks"); HeaderLength its header length in bytes.
	DataFile     string
	Encryption   string
	HeaderLength int
	// Extents are the files a vmdk descriptor's extents name.
	Extents []string
	// Members are the disks inside an OVA or a Vagrant box.
	Members []Info
	// Reasons say why the file is unsafe to hand to a hypervisor; empty
	// when it is safe.
	Reasons []Reason

	backingFormat string // as the qcow2 header names it, quoted
}

// Reason is one rule a disk file breaks.
type Reason struct {
	Rule   string // stable identifier, e.g. "qcow2-backing-file"
	Detail string // what was found, e.g. the backing file's name
}

func (r Reason) String() string { return r.Rule + ": " + r.Detail }

func (i *Info) unsafe(rule, format string, args ...any) {
	i.Reasons = append(i.Reasons, Reason{Rule: rule, Detail: fmt.Sprintf(format, args...)})
}

// Option changes what Inspect accepts.
type Option func(*options)

type options struct {
	backing func(name string, format artifact.DiskFormat) (digest.Digest, error)
}

// AllowBackingFile lets a qcow2 overlay through (rule qcow2-backing-file)
// when its backing file is another published disk: the header must name
// the backing file by a plain file name (no directory, no "..", no
// protocol) and name its format, and resolve, given both, must return the
// digest of the published disk of a parent artifact that the name stands
// for, or an error saying why it is not one. The digest is recorded in
// Info.Facts.BackingDigest. A host path is never accepted.
func AllowBackingFile(resolve func(name string, format artifact.DiskFormat) (digest.Digest, error)) Option {
	return func(o *options) { o.backing = resolve }
}

// InspectFile opens the file at path and calls Inspect. Errors name the path.
func InspectFile(path string, opts ...Option) (Info, error) {
	f, err := os.Open(path)
	if err != nil {
		return Info{}, fmt.Errorf("disk: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Info{}, fmt.Errorf("disk: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return Info{}, fmt.Errorf("disk %s: not a regular file: %w", path, ErrNotDisk)
	}
	return Inspect(path, f, fi.Size(), opts...)
}

// Inspect reads the headers of the disk in r, size bytes long, and returns
// its format, virtual size and the facts that decide whether it is safe to
// hand to a hypervisor, following QEMU's own probing and header checks and
// OpenStack's format_inspector (oslo.utils) rules. name is used in errors,
// and to tell a dmg by its extension as qemu does.
//
// It reads headers only: a few hundred KiB at most for a disk file, at
// offsets the headers name, each bounds-checked against size (a gzip
// Vagrant box is the exception: it is decompressed once, as a stream).
// Errors wrap ErrNotDisk (no known format), ErrTruncated (a header or
// table runs past the end), ErrCorrupt (a header field is impossible, or
// qemu would refuse it), ErrAmbiguousFormat (two formats claim the file)
// or ErrUnsafeDisk (every rule broken is listed in the error and in
// Info.Reasons, and Info is filled in as far as it was read).
func Inspect(name string, r io.ReaderAt, size int64, opts ...Option) (Info, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	info, err := inspect(&file{r: r, size: size, name: name}, 0)
	info.Size = size
	info.Facts.Inspector = Rules
	info.Facts.Subformat = info.Subformat
	if err != nil {
		return info, fmt.Errorf("disk %s: %w", name, err)
	}
	if o.backing != nil {
		info.allowBacking(o.backing)
	}
	if len(info.Reasons) > 0 {
		s := make([]string, len(info.Reasons))
		for i, r := range info.Reasons {
			s[i] = r.String()
		}
		return info, fmt.Errorf("disk %s is unsafe to hand to a hypervisor: %s: %w", name, strings.Join(s, "; "), ErrUnsafeDisk)
	}
	return info, nil
}

// allowBacking drops the qcow2-backing-file reason when resolve vouches for
// the backing file.
func (i *Info) allowBacking(resolve func(string, artifact.DiskFormat) (digest.Digest, error)) {
	kept := i.Reasons[:0]
	for _, r := range i.Reasons {
		if r.Rule != ruleBackingFile {
			kept = append(kept, r)
			continue
		}
		name, format := i.Facts.BackingFile, i.Facts.BackingFormat
		switch {
		case !plainName(name):
			r.Detail += "; an overlay may only name a published parent's disk by its plain file name, never a host path"
		case format == "":
			r.Detail += "; the header does not name the backing file's format, so qemu would probe it"
		default:
			d, err := resolve(name, format)
			if err == nil {
				i.Facts.BackingDigest = d
				continue
			}
			r.Detail += "; " + err.Error()
		}
		kept = append(kept, r)
	}
	i.Reasons = kept
}

// plainName reports whether s names a file in the same directory: no
// separator, not "." or "..", no protocol prefix ("nbd:", "json:"), only
// printable ASCII.
func plainName(s string) bool {
	if s == "" || s == "." || s == ".." || len(s) > 255 {
		return false
	}
	for _, c := range []byte(s) {
		if c <= ' ' || c >= 0x7f || c == '/' || c == '\\' || c == ':' || c == '"' {
			return false
		}
	}
	return true
}

// file is a disk being inspected.
type file struct {
	r    io.ReaderAt
	size int64
	name string
}

// read reads exactly n bytes at off, or fails with ErrTruncated. n is
// bounded by the callers (never more than a header's largest legal size).
func (f *file) read(off, n int64, what string) ([]byte, error) {
	if off < 0 || n < 0 || off > f.size || n > f.size-off {
		return nil, fmt.Errorf("%s at offset %d (%d bytes) runs past the end of the %d-byte file: %w", what, off, n, f.size, ErrTruncated)
	}
	b := make([]byte, n)
	if _, err := f.r.ReadAt(b, off); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s at offset %d: %w", what, off, ErrTruncated)
		}
		return nil, err
	}
	return b, nil
}

// inside reports an error unless [off, off+n) lies inside the file.
func (f *file) inside(off, n uint64, what string) error {
	if off > uint64(f.size) || n > uint64(f.size)-off {
		return fmt.Errorf("%s at offset %d (%d bytes) lies past the end of the %d-byte file: %w", what, off, n, f.size, ErrTruncated)
	}
	return nil
}

// maxVirtualSize bounds the virtual sizes believed: 2^62 bytes (4 EiB) is
// far above any format's real limit and keeps sums from overflowing.
const maxVirtualSize = 1 << 62

// maxText bounds what is read of a text header (a VMDK descriptor, an OVF
// envelope, a box's metadata.json): 1 MiB.
const maxText = 1 << 20

var (
	be = binary.BigEndian
	le = binary.LittleEndian
)
