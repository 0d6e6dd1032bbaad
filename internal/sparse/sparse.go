// Package sparse writes files that keep their runs of zeros as holes, as
// `cp --sparse=always` and qemu-img do: a whole chunk of zeros is skipped
// rather than written, and reads back as zeros (POSIX: the bytes of a gap
// left by a write or ftruncate past the end read as zero). A raw VM disk is
// mostly unused space, so storing and fetching it this way saves the disk
// space and the writes of those zeros; its bytes, and so its digest, are
// the same either way.
package sparse

import (
	"bytes"
	"io"
	"os"
)

// zeros is compared against, a piece at a time, by AllZero.
var zeros [64 << 10]byte

// AllZero tells whether b holds only zero bytes. It stops at the first
// 64 KiB piece that does not, so a chunk of data costs one short
// comparison.
func AllZero(b []byte) bool {
	for len(b) > 0 {
		n := min(len(b), len(zeros))
		if !bytes.Equal(b[:n], zeros[:n]) {
			return false
		}
		b = b[n:]
	}
	return true
}

// Copy copies r into f, a new empty file, from offset 0, in chunks of
// chunk bytes (a multiple of the file system's block size, e.g. 4 MiB),
// skipping the chunks that are all zeros, and sets f's size to the bytes
// read. It returns that count. progress, if not nil, is called with the
// bytes read so far after each chunk. It does not sync f.
func Copy(f *os.File, r io.Reader, chunk int, progress func(done int64)) (int64, error) {
	buf := make([]byte, chunk)
	var off int64
	for {
		n, err := io.ReadFull(r, buf)
		if n > 0 && !(n == chunk && AllZero(buf)) {
			if _, werr := f.WriteAt(buf[:n], off); werr != nil {
				return off, werr
			}
		}
		off += int64(n)
		if progress != nil && n > 0 {
			progress(off)
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return off, err
		}
	}
	return off, f.Truncate(off)
}
