//go:build windows

package layout

import (
	"os"

	"golang.org/x/sys/windows"
)

// lockHow is a file lock's mode: shared or exclusive (LockFileEx with or
// without LOCKFILE_EXCLUSIVE_LOCK).
type lockHow int

const (
	lockShared lockHow = iota
	lockExclusive
)

// The whole file is locked: offset 0, length 2^64-1.
const allLow, allHigh = ^uint32(0), ^uint32(0)

// lockFile takes LockFileEx how on all of f, waiting for it. Windows
// releases a process's locks when it exits.
func lockFile(f *os.File, how lockHow) error {
	var flags uint32
	if how == lockExclusive {
		flags = windows.LOCKFILE_EXCLUSIVE_LOCK
	}
	return windows.LockFileEx(windows.Handle(f.Fd()), flags, 0, allLow, allHigh, new(windows.Overlapped))
}

// tryLockFile takes an exclusive lock on all of f, or fails at once if
// another handle holds one.
func tryLockFile(f *os.File) error {
	return windows.LockFileEx(windows.Handle(f.Fd()), windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, allLow, allHigh, new(windows.Overlapped))
}

// unlockFile releases f's lock.
func unlockFile(f *os.File) error {
	return windows.UnlockFileEx(windows.Handle(f.Fd()), 0, allLow, allHigh, new(windows.Overlapped))
}
