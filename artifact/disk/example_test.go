package disk_test

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/brickyard/brickyard/artifact/disk"
)

// Detect reads a qcow2 header: here a minimal v3 header for a 10 GiB disk.
func ExampleDetect() {
	h := make([]byte, 512)
	copy(h, "QFI\xfb")
	binary.BigEndian.PutUint32(h[4:], 3)
	binary.BigEndian.PutUint64(h[24:], 10<<30)
	info, err := disk.Detect("example.qcow2", bytes.NewReader(h), int64(len(h)))
	fmt.Println(info.Format, info.Subformat, info.VirtualSize, err)

	_, err = disk.Detect("notes.txt", bytes.NewReader([]byte("hello\n")), 6)
	fmt.Println(err != nil)
	// Output:
	// qcow2 v3 10737418240 <nil>
	// true
}
