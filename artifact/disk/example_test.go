package disk_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/brickyard/brickyard/artifact/disk"
)

// Inspect reads a qcow2 header: here a minimal v3 header for a 10 GiB disk
// whose header also names a backing file, which makes it unsafe.
func ExampleInspect() {
	h := make([]byte, 0x30000+0x100)
	copy(h, "QFI\xfb")
	be := binary.BigEndian
	be.PutUint32(h[4:], 3)        // version
	be.PutUint32(h[20:], 16)      // cluster_bits: 64 KiB clusters
	be.PutUint64(h[24:], 10<<30)  // virtual size
	be.PutUint32(h[36:], 20)      // L1 entries
	be.PutUint64(h[40:], 0x30000) // L1 table offset
	be.PutUint64(h[48:], 0x10000) // refcount table offset
	be.PutUint32(h[56:], 1)       // refcount table clusters
	be.PutUint32(h[96:], 4)       // refcount_order
	be.PutUint32(h[100:], 104)    // header length
	info, err := disk.Inspect("example.qcow2", bytes.NewReader(h), int64(len(h)))
	fmt.Println(info.Format, info.Subformat, info.VirtualSize, err)

	be.PutUint64(h[8:], 0x200) // backing file name offset
	be.PutUint32(h[16:], 11)   // and length
	copy(h[0x200:], "/etc/shadow")
	info, err = disk.Inspect("overlay.qcow2", bytes.NewReader(h), int64(len(h)))
	fmt.Println(errors.Is(err, disk.ErrUnsafeDisk), info.Reasons[0].Rule, info.Facts.BackingFile)
	// Output:
	// qcow2 v3 10737418240 <nil>
	// true qcow2-backing-file /etc/shadow
}
