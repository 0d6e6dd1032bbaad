//go:build !linux

package layout

import "os"

// openDirect notes that direct I/O is not used here: O_DIRECT is Linux's
// (macOS has F_NOCACHE, Windows FILE_FLAG_NO_BUFFERING, neither wired);
// blobs are written through the page cache and fsynced at the end.
func (w *chunkWriter) openDirect() { w.noDirect = true }

// startWriteback does nothing: sync_file_range is Linux's; the fsync at
// the end makes the blob durable.
func startWriteback(f *os.File, off, n int64) {}

// willNeed does nothing: posix_fadvise is not on every system (macOS,
// Windows lack it), and it is only a hint.
func willNeed(f *os.File, off, n int64) {}
