package disk

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/brickyard/brickyard/artifact"
)

// Info describes a disk file.
type Info struct {
	Format artifact.DiskFormat
	// VirtualSize is the size in bytes the guest sees. For an OVA it is the
	// sum of the ovf:capacity of its disks; for a Vagrant box, 0 (unknown).
	VirtualSize int64
	Size        int64  // bytes of the file itself
	Subformat   string // "v2"/"v3" (qcow2), "monolithicSparse"/"streamOptimized" (vmdk), "fixed"/"dynamic" (vhd); else ""
}

// DetectFile opens the file at path and calls Detect. Errors name the path.
func DetectFile(path string) (Info, error) {
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
	return Detect(path, f, fi.Size())
}

// Detect reads the headers of the disk in r, size bytes long, and returns its
// format and virtual size. name is used only in errors. It reads a few
// headers, never the whole disk (except to find metadata.json in a Vagrant
// box, bounded by maxArchiveScan). Errors wrap ErrNotDisk (no known format),
// ErrTruncated (a header runs past the end) or ErrCorrupt (a header field is
// impossible).
func Detect(name string, r io.ReaderAt, size int64) (Info, error) {
	if size <= 0 {
		return Info{}, fmt.Errorf("disk %s: empty file: %w", name, ErrNotDisk)
	}
	var head [512]byte
	n, err := r.ReadAt(head[:], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return Info{}, fmt.Errorf("disk %s: %w", name, err)
	}
	h := head[:n]
	var info Info
	switch {
	case bytes.HasPrefix(h, qcow2Magic):
		info, err = qcow2(r, size)
	case bytes.HasPrefix(h, []byte("KDMV")):
		info, err = vmdkSparse(r, size)
	case bytes.HasPrefix(h, []byte("# Disk DescriptorFile")):
		info, err = vmdkDescriptor(r, size)
	case bytes.HasPrefix(h, []byte("vhdxfile")):
		info, err = vhdx(r, size)
	case bytes.HasPrefix(h, vhdCookie):
		info, err = vhd(r, 0, size, "dynamic")
	case bytes.HasPrefix(h, gzipMagic):
		info, err = vagrantBox(r, size)
	case isTar(h):
		info, err = ova(r, size)
	default:
		info, err = fixedVHDOrRaw(r, size)
	}
	if err != nil {
		return Info{}, fmt.Errorf("disk %s: %w", name, err)
	}
	info.Size = size
	return info, nil
}

// readAt reads exactly len(b) bytes at off, or fails with ErrTruncated.
func readAt(r io.ReaderAt, b []byte, off, size int64, what string) error {
	if off < 0 || off > size || int64(len(b)) > size-off {
		return fmt.Errorf("%s at offset %d (%d bytes) runs past the end of the %d-byte file: %w", what, off, len(b), size, ErrTruncated)
	}
	if _, err := r.ReadAt(b, off); err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%s at offset %d: %w", what, off, ErrTruncated)
		}
		return err
	}
	return nil
}

// maxVirtualSize bounds the virtual sizes believed: 2^62 bytes (4 EiB) is
// far above any format's real limit and keeps sums from overflowing.
const maxVirtualSize = 1 << 62

var (
	be = binary.BigEndian
	le = binary.LittleEndian
)

// qcow2Magic and the header layout follow the QEMU qcow2 specification
// (docs/interop/qcow2.txt): magic, version (2 or 3) and the virtual size in
// bytes at offset 24, big-endian.
var qcow2Magic = []byte{'Q', 'F', 'I', 0xfb}

func qcow2(r io.ReaderAt, size int64) (Info, error) {
	var h [32]byte
	if err := readAt(r, h[:], 0, size, "qcow2 header"); err != nil {
		return Info{}, err
	}
	version := be.Uint32(h[4:])
	if version != 2 && version != 3 {
		return Info{}, fmt.Errorf("qcow2 version %d (want 2 or 3): %w", version, ErrCorrupt)
	}
	vs := be.Uint64(h[24:])
	if vs > maxVirtualSize {
		return Info{}, fmt.Errorf("qcow2 virtual size %d bytes is impossible: %w", vs, ErrCorrupt)
	}
	return Info{Format: artifact.DiskQCOW2, VirtualSize: int64(vs), Subformat: fmt.Sprintf("v%d", version)}, nil
}
