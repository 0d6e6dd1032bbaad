package disk

import (
	"bytes"
	"testing"
)

// FuzzDetect feeds arbitrary bytes to every header parser through Detect:
// it must return an error or a sane Info, never panic or allocate wildly.
// The seed corpus in testdata/fuzz/FuzzDetect holds the heads of real
// qemu-img disks of every format.
func FuzzDetect(f *testing.F) {
	f.Add([]byte("QFI\xfb\x00\x00\x00\x03"))
	f.Add([]byte("# Disk DescriptorFile\ncreateType=\"monolithicFlat\"\nRW 10240 FLAT \"x-flat.vmdk\" 0\n"))
	f.Add(append([]byte("conectix"), make([]byte, 504)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		info, err := Detect("fuzz", bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		if info.VirtualSize < 0 || info.VirtualSize > maxVirtualSize || !info.Format.Valid() || info.Size != int64(len(b)) {
			t.Fatalf("implausible %+v", info)
		}
	})
}
