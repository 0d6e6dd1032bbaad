// Command brickyard publishes, signs, catalogs and resolves build artifacts —
// machine images, VM disks and OCI images — as immutable, semver-tagged OCI
// artifacts. It is a thin layer over the brickyard library: flags become
// library calls, results become a table or JSON (--json).
//
// Exit codes:
//
//	0  success
//	1  error (I/O, bad input, store or catalog failure)
//	2  usage error (unknown command or flag, wrong or malformed arguments)
//	3  not trusted: unsigned, untrusted or invalid signature, owner mismatch,
//	   provenance missing or mismatched, no policy rule for the name, revoked,
//	   event log tampered with, a disk unsafe to hand to a hypervisor
//	4  not found: no such artifact, version or tag
//	5  audit findings at or above --fail-on
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/brickyard/brickyard"
	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/artifact/disk"
	"github.com/brickyard/brickyard/catalog"
)

// Exit codes, documented in the package comment and in `brickyard --help`.
const (
	exitOK        = 0
	exitError     = 1
	exitUsage     = 2
	exitUntrusted = 3
	exitNotFound  = 4
	exitFindings  = 5
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd(os.Stdout, os.Stderr).ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "brickyard:", err)
	}
	os.Exit(exitCode(err))
}

// usageError marks errors in how the command was called.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

// untrusted marks errors that exit with exitUntrusted although their
// sentinel does not always mean that, e.g. a blob that does not match its
// digest when verify re-hashes the content.
type untrusted struct{ error }

func (e untrusted) Unwrap() error { return e.error }

func exitCode(err error) int {
	var ue usageError
	var ut untrusted
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		return exitUsage
	case errors.As(err, &ut):
		return exitUntrusted
	case errors.Is(err, catalog.ErrNotTrusted), errors.Is(err, disk.ErrUnsafeDisk): // ErrNotTrusted covers ErrLogTampered
		return exitUntrusted
	case errors.Is(err, errFindings):
		return exitFindings
	case errors.Is(err, catalog.ErrNotFound): // the same error as registry.ErrNotFound
		return exitNotFound
	case errors.Is(err, brickyard.ErrInvalidRef), errors.Is(err, brickyard.ErrAmbiguous), errors.Is(err, brickyard.ErrNoTrust),
		errors.Is(err, artifact.ErrInvalidName), errors.Is(err, artifact.ErrInvalidVersion), errors.Is(err, artifact.ErrInvalidPlatform),
		errors.Is(err, catalog.ErrInvalidChange), errors.Is(err, catalog.ErrInvalidSchedule):
		return exitUsage
	}
	return exitError
}
