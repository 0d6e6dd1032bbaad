package main

import (
	"os"
	"path/filepath"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progressMin is the blob size from which a transfer gets a progress bar.
const progressMin = 4 << 20

// bars reports whether progress bars are drawn (see --progress).
func (e *env) bars() bool {
	switch e.progress {
	case "never":
		return false
	case "auto":
		f, ok := e.err.(*os.File)
		return ok && term.IsTerminal(int(f.Fd()))
	}
	return true
}

// newBar returns a progress callback drawing a bar on stderr for a transfer
// of size bytes, or nil when bars are off or the transfer is small.
func (e *env) newBar(what string, size int64) func(done, total int64) {
	if size < progressMin || !e.bars() {
		return nil
	}
	bar := progressbar.NewOptions64(size,
		progressbar.OptionSetWriter(e.err),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowBytes(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionOnCompletion(func() { _, _ = e.err.Write([]byte("\n")) }),
	)
	return func(done, _ int64) { _ = bar.Set64(done) }
}

// progressFor draws the push of the file at path.
func (e *env) progressFor(path string) func(done, total int64) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil
	}
	return e.newBar("push "+filepath.Base(path), fi.Size())
}

// blobProgress draws one bar per large blob of a copy.
func (e *env) blobProgress() func(blob ocispec.Descriptor, done, total int64) {
	bars := map[string]func(int64, int64){}
	return func(blob ocispec.Descriptor, done, total int64) {
		fn, ok := bars[blob.Digest.String()]
		if !ok {
			fn = e.newBar("copy "+blob.Digest.Encoded()[:12], total)
			bars[blob.Digest.String()] = fn
		}
		if fn != nil {
			fn(done, total)
		}
	}
}
