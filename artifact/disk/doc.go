// Package disk inspects VM disk files before they are published or handed
// to a hypervisor: qcow2 (v2 and v3), vmdk (monolithic sparse,
// streamOptimized, text descriptors), vhdx, vhd (fixed, dynamic), raw, and
// the disks inside OVAs and Vagrant boxes.
//
// Inspect reports a file's format, virtual size and the facts that decide
// whether it is safe: a qcow2's backing file, external data file, feature
// bits, encryption, cluster size and tables; a vmdk's createType and
// extents; a vhd's or vhdx's parent, log and tables. Its rules follow
// OpenStack's format_inspector (oslo.utils, written after the backing-file
// and data-file CVEs of Glance, Nova and Cinder) and qemu's own probes and
// header checks: a file that would make qemu open another file on the
// deploy host, a format brickyard does not publish (qed, vdi, iso, luks,
// parallels, bochs, cloop, dmg, qcow), unknown incompatible features, and
// a file two formats claim are refused with ErrUnsafeDisk, each broken
// rule named in Info.Reasons and in the error. Nothing qemu would probe as
// another format is ever reported as raw.
//
// It reads headers only (a few hundred KiB at most, see
// TestReadsOnlyHeaders), each bounds-checked against the file's size and
// sane caps, so a truncated or hostile file gives an error (ErrTruncated,
// ErrCorrupt, ErrNotDisk), never a panic or a large allocation. The
// parsers are written here rather than taken from
// github.com/lima-vm/go-qcow2reader: that library opens a qcow2's backing
// file by the path its header names (not something to do with an
// untrusted file), only recognises vmdk, vhdx and vhd without reading
// their headers, and checks none of the safety rules.
package disk
