package disk

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzInspect feeds arbitrary bytes to every header parser through
// Inspect: it must return an error or a sane Info, never panic or allocate
// wildly, and an error must be one of the package's sentinels. The seed
// corpus in testdata/fuzz/FuzzInspect holds the heads of real qemu-img
// disks of every format and of the unsafe files TestUnsafeDisks builds.
func FuzzInspect(f *testing.F) {
	f.Add([]byte("QFI\xfb\x00\x00\x00\x03"))
	f.Add([]byte("# Disk DescriptorFile\ncreateType=\"monolithicFlat\"\nRW 10240 FLAT \"x-flat.vmdk\" 0\n"))
	f.Add(append([]byte("conectix"), make([]byte, 504)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		info, err := Inspect("fuzz", bytes.NewReader(b), int64(len(b)))
		if err != nil && !errors.Is(err, ErrNotDisk) && !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsafeDisk) {
			t.Fatalf("error wraps no sentinel: %v", err)
		}
		if (err == nil && len(info.Reasons) > 0) || (errors.Is(err, ErrUnsafeDisk) && !errors.Is(err, ErrAmbiguousFormat) && len(info.Reasons) == 0) {
			t.Fatalf("error %v with reasons %v", err, info.Reasons)
		}
		if err != nil && !errors.Is(err, ErrUnsafeDisk) {
			return
		}
		if info.VirtualSize < 0 || info.VirtualSize > maxVirtualSize || info.Size != int64(len(b)) {
			t.Fatalf("implausible %+v", info)
		}
		if err == nil && !info.Format.Valid() {
			t.Fatalf("accepted with format %q", info.Format)
		}
	})
}
