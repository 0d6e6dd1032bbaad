// Package vdisk reads the virtual contents of a disk file — the bytes the
// guest sees, whatever the file's format — and computes a
// format-independent fingerprint of them.
//
// qcow2 (v2 and v3, zlib- and zstd-compressed clusters) and raw files are
// read in place through github.com/lima-vm/go-qcow2reader. vmdk, vhd and
// vhdx have no well-kept pure-Go reader (go-qcow2reader has stubs for
// them), so they are converted with qemu-img (Debian qemu-utils) into a
// sparse temporary raw file that Close removes.
//
// Every file is inspected first (package artifact/disk): a file that is
// unsafe to hand to a hypervisor (a backing file, an external data file, a
// descriptor naming other files...) is refused before any reader or
// qemu-img sees it, and qemu-img is always told the format (never probes).
package vdisk

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/lima-vm/go-qcow2reader/image"
	"github.com/lima-vm/go-qcow2reader/image/qcow2"
	"github.com/lima-vm/go-qcow2reader/image/raw"
	"github.com/opencontainers/go-digest"

	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/artifact/disk"
	"github.com/brickyard/brickyard/internal/sparse"
)

// ErrUnsupported is returned for a disk file whose contents vdisk cannot
// read: an OVA or a Vagrant box (open its member disks), or a format that
// needs qemu-img when qemu-img is not installed.
var ErrUnsupported = errors.New("virtual disk contents cannot be read")

func init() {
	qcow2.SetDecompressor(qcow2.CompressionTypeZstd, func(r io.Reader) (io.ReadCloser, error) {
		d, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(64<<20))
		if err != nil {
			return nil, err
		}
		return d.IOReadCloser(), nil
	})
}

// Disk is the virtual contents of one disk file, Size bytes long, as an
// io.ReaderAt. It is safe for concurrent ReadAt calls.
type Disk struct {
	// Format is the disk file's format, as the inspector read it.
	Format artifact.DiskFormat
	// Info is what the inspector found in the file's headers.
	Info disk.Info
	// Converted is true when the contents were converted by qemu-img into
	// a temporary raw file.
	Converted bool

	r     io.ReaderAt
	size  int64
	close func() error
}

// ReadAt reads the virtual disk at off; reads past Size return io.EOF.
func (d *Disk) ReadAt(p []byte, off int64) (int, error) {
	if off >= d.size {
		return 0, io.EOF
	}
	if rest := d.size - off; int64(len(p)) > rest {
		n, err := d.r.ReadAt(p[:rest], off)
		if err == nil {
			err = io.EOF
		}
		return n, err
	}
	return d.r.ReadAt(p, off)
}

// Size is the virtual size in bytes.
func (d *Disk) Size() int64 { return d.size }

// Close releases the file and removes any temporary raw file.
func (d *Disk) Close() error { return d.close() }

// Option changes how Open works.
type Option func(*options)

type options struct {
	tempDir string
	qemuImg string
}

// WithTempDir sets the directory of qemu-img's temporary raw files
// (default os.TempDir()). They are sparse: they take the disk's allocated
// bytes, not its virtual size.
func WithTempDir(dir string) Option { return func(o *options) { o.tempDir = dir } }

// WithQemuImg sets the qemu-img program (default "qemu-img" on $PATH).
func WithQemuImg(path string) Option { return func(o *options) { o.qemuImg = path } }

// Open inspects the disk file at path and returns its virtual contents.
//
// Errors: the inspector's (wrapping disk.ErrUnsafeDisk, ErrCorrupt,
// ErrTruncated, ErrNotDisk...), ErrUnsupported, qemu-img's message; each
// names path.
func Open(ctx context.Context, path string, opts ...Option) (*Disk, error) {
	o := options{tempDir: os.TempDir(), qemuImg: "qemu-img"}
	for _, opt := range opts {
		opt(&o)
	}
	info, err := disk.InspectFile(path)
	if err != nil {
		return nil, err
	}
	switch info.Format {
	case artifact.DiskQCOW2, artifact.DiskRaw:
		return openInPlace(path, info)
	case artifact.DiskVMDK, artifact.DiskVHD, artifact.DiskVHDX:
		return convert(ctx, path, info, o)
	}
	return nil, fmt.Errorf("disk %s: format %q (%s): %w", path, info.Format, info.Probe, ErrUnsupported)
}

// refuseBacking is go-qcow2reader's opener for backing files: the
// inspector has refused every qcow2 that names one, and this makes sure no
// host file is ever opened on a header's say-so.
func refuseBacking(io.ReaderAt, image.Type) (image.Image, error) {
	return nil, fmt.Errorf("a backing file is never opened: %w", disk.ErrUnsafeDisk)
}

func openInPlace(path string, info disk.Info) (*Disk, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("disk: %w", err)
	}
	var img image.Image
	if info.Format == artifact.DiskQCOW2 {
		img, err = qcow2.Open(f, refuseBacking)
	} else {
		img, err = raw.Open(f)
	}
	if err == nil {
		err = img.Readable()
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("disk %s: reading %s contents: %w", path, info.Format, err)
	}
	size := img.Size()
	if size < 0 || info.VirtualSize > 0 && size != info.VirtualSize {
		f.Close()
		return nil, fmt.Errorf("disk %s: virtual size %d, header says %d: %w", path, size, info.VirtualSize, disk.ErrCorrupt)
	}
	return &Disk{Format: info.Format, Info: info, r: img, size: size, close: img.Close}, nil
}

// qemuFormat is the name qemu-img gives a format.
func qemuFormat(f artifact.DiskFormat) string {
	if f == artifact.DiskVHD {
		return "vpc"
	}
	return string(f)
}

func convert(ctx context.Context, path string, info disk.Info, o options) (*Disk, error) {
	if _, err := exec.LookPath(o.qemuImg); err != nil {
		return nil, fmt.Errorf("disk %s: %s needs qemu-img (Debian package qemu-utils): %w", path, info.Format, ErrUnsupported)
	}
	dir, err := os.MkdirTemp(o.tempDir, "brickyard-vdisk-")
	if err != nil {
		return nil, fmt.Errorf("disk %s: %w", path, err)
	}
	out := filepath.Join(dir, "disk.raw")
	// -f: never let qemu-img probe; -S 4k: write zeros as holes; -t none
	// would need O_DIRECT support, so the default cache mode stays.
	cmd := exec.CommandContext(ctx, o.qemuImg, "convert", "-q", "-f", qemuFormat(info.Format), "-O", "raw", "-S", "4k", "--", path, out)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	if b, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("disk %s: qemu-img convert: %v: %s", path, err, strings.TrimSpace(string(b)))
	}
	f, err := os.Open(out)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("disk %s: %w", path, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("disk %s: %w", path, err)
	}
	closer := func() error {
		err := f.Close()
		if rerr := os.RemoveAll(dir); err == nil {
			err = rerr
		}
		return err
	}
	return &Disk{Format: info.Format, Info: info, Converted: true, r: f, size: fi.Size(), close: closer}, nil
}

// BlockSize is the fingerprint's block size, in bytes.
const BlockSize = 1 << 20

// fingerprintDomain separates fingerprints from any other SHA-256.
const fingerprintDomain = "brickyard-disk-fingerprint/1\n"

// Fingerprint returns the format-independent fingerprint of a virtual
// disk's contents, size bytes read from r: SHA-256 over a domain string
// and, for every 1 MiB block (BlockSize) that holds a non-zero byte, its
// index (uint64, big-endian) and the SHA-256 of its bytes. All-zero blocks
// are left out, so the same guest contents give the same fingerprint
// whichever format holds them and however sparse it is: a vmdk, vhd or
// raw converted from a qcow2 has the qcow2's fingerprint, and so does a
// disk grown with zeros at its end (vhd rounds virtual sizes up to its
// geometry).
//
// Any change to the guest's bytes defeats it: booting the disk once
// (journal replay, logs), resizing a partition, copying the files into a
// new filesystem, or re-encrypting it. A disk of zeros only has
// EmptyFingerprint, which identifies nothing.
//
// It reads r sequentially, BlockSize at a time, and stops with ctx's
// error when ctx is done.
func Fingerprint(ctx context.Context, r io.ReaderAt, size int64) (digest.Digest, error) {
	h := sha256.New()
	h.Write([]byte(fingerprintDomain))
	buf := make([]byte, BlockSize)
	var rec [8 + sha256.Size]byte
	for i := int64(0); i*BlockSize < size; i++ {
		if i%64 == 0 {
			if err := ctx.Err(); err != nil {
				return "", err
			}
		}
		n := int64(BlockSize)
		if rest := size - i*BlockSize; rest < n {
			n = rest
		}
		b := buf[:n]
		if m, err := r.ReadAt(b, i*BlockSize); int64(m) < n {
			if err == nil || errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return "", fmt.Errorf("fingerprint: reading block %d: %w", i, err)
		}
		if sparse.AllZero(b) {
			continue
		}
		binary.BigEndian.PutUint64(rec[:8], uint64(i))
		sum := sha256.Sum256(b)
		copy(rec[8:], sum[:])
		h.Write(rec[:])
	}
	return digest.NewDigest(digest.SHA256, h), nil
}

// EmptyFingerprint is the fingerprint of a disk holding only zeros.
var EmptyFingerprint = func() digest.Digest {
	h := sha256.New()
	h.Write([]byte(fingerprintDomain))
	return digest.NewDigest(digest.SHA256, h)
}()

// FingerprintFile opens the disk file at path (see Open) and returns its
// fingerprint (see Fingerprint).
func FingerprintFile(ctx context.Context, path string, opts ...Option) (digest.Digest, error) {
	d, err := Open(ctx, path, opts...)
	if err != nil {
		return "", err
	}
	defer d.Close()
	fp, err := Fingerprint(ctx, d, d.Size())
	if err != nil {
		return "", fmt.Errorf("disk %s: %w", path, err)
	}
	return fp, nil
}
