package layout

// Linux-only I/O of the ingest and verify paths: direct I/O, early
// writeback and readahead hints. Other systems get io_other.go's plain
// fallbacks (page-cache writes, no hints): slower on large disks, equally
// correct, since the fsync at the end is what makes a blob durable.

import (
	"os"

	"golang.org/x/sys/unix"
)

// openDirect opens w.f's file a second time for writing with O_DIRECT, or
// notes that the file system refuses it (tmpfs before Linux 6.6, some
// network and FUSE file systems).
func (w *chunkWriter) openDirect() {
	d, err := os.OpenFile(w.f.Name(), os.O_WRONLY|unix.O_DIRECT, 0)
	if err != nil {
		w.noDirect = true
		return
	}
	w.direct = d
	if ds, err := os.OpenFile(w.f.Name(), os.O_WRONLY|unix.O_DIRECT|unix.O_DSYNC, 0); err == nil {
		w.dsync = ds
	}
}

// startWriteback asks the kernel to start writing a range out (Linux
// sync_file_range); it is only a hint, so an error is ignored: the fsync at
// the end is what makes the blob durable.
func startWriteback(f *os.File, off, n int64) {
	_ = unix.SyncFileRange(int(f.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE)
}

// willNeed hints that f's bytes [off, off+n) will be read soon
// (posix_fadvise POSIX_FADV_WILLNEED). Only a hint: an error (a file
// system without readahead) costs nothing but the speed-up.
func willNeed(f *os.File, off, n int64) {
	_ = unix.Fadvise(int(f.Fd()), off, n, unix.FADV_WILLNEED)
}
