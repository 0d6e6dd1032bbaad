package disk

import "errors"

// Sentinel errors; Detect wraps them with the file's name. Test with errors.Is.
var (
	ErrNotDisk   = errors.New("not a disk image in a known format (qcow2, vmdk, vhdx, vhd, raw, ova, box)")
	ErrTruncated = errors.New("truncated disk header")
	ErrCorrupt   = errors.New("corrupt disk header")
)
