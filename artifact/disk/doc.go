// Package disk detects the format and virtual size of VM disk files: qcow2
// (v2 and v3), vmdk (monolithic sparse, streamOptimized, text descriptors),
// vhdx, vhd (fixed and dynamic), raw, OVA and Vagrant boxes.
//
// It reads headers only, each bounds-checked against the file's size and
// sane caps, so a truncated or hostile file gives an error (ErrTruncated,
// ErrCorrupt, ErrNotDisk), never a panic or a large allocation. The header
// parsers are written here rather than taken from
// github.com/lima-vm/go-qcow2reader: that library opens a qcow2's backing
// file by the path its header names (not something to do with an untrusted
// file) and only recognises vmdk, vhdx and vhd without reading their sizes.
package disk
