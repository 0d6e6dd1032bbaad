//go:build !windows

package layout

import (
	"os"

	"golang.org/x/sys/unix"
)

// lockHow is a file lock's mode: shared or exclusive (flock(2)'s LOCK_SH
// and LOCK_EX).
type lockHow int

const (
	lockShared    lockHow = unix.LOCK_SH
	lockExclusive lockHow = unix.LOCK_EX
)

// lockFile takes flock(2) how on f, waiting for it. flock locks belong to
// the open file description, so a process that dies (even by kill -9)
// releases them with its files.
func lockFile(f *os.File, how lockHow) error { return unix.Flock(int(f.Fd()), int(how)) }

// tryLockFile takes an exclusive flock(2) on f, or fails at once with an
// error if another open file holds a lock on it.
func tryLockFile(f *os.File) error { return unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) }

// unlockFile releases f's lock.
func unlockFile(f *os.File) error { return unix.Flock(int(f.Fd()), unix.LOCK_UN) }
