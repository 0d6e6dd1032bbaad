package disk

import (
	"errors"
	"fmt"
)

// Sentinel errors; Inspect wraps them with the file's name (and, for
// ErrUnsafeDisk, every reason). Test with errors.Is.
var (
	ErrNotDisk   = errors.New("not a disk image in a known format (qcow2, vmdk, vhdx, vhd, raw, ova, box)")
	ErrTruncated = errors.New("truncated disk header")
	ErrCorrupt   = errors.New("corrupt disk header")
	// ErrUnsafeDisk: the file parses, but handing it to a hypervisor would
	// make it read other files (backing file, data file, extents), or it is
	// in a format brickyard does not accept, or it uses features the
	// inspector cannot vouch for. Inspect's Info.Reasons says why.
	ErrUnsafeDisk = errors.New("unsafe disk image")
	// ErrAmbiguousFormat: more than one format claims the file (a
	// polyglot); it wraps ErrUnsafeDisk.
	ErrAmbiguousFormat = fmt.Errorf("more than one disk format claims the file: %w", ErrUnsafeDisk)
)
