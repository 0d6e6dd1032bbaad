package main

import (
	"os"
	"sync"
	"time"

	"github.com/brickyard/brickyard"
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

// progressBars draws one bar per large transfer the client reports.
func (e *env) progressBars() brickyard.Progress {
	bars := map[string]func(int64, int64){}
	var mu sync.Mutex
	return func(what string, done, total int64) {
		mu.Lock()
		defer mu.Unlock()
		fn, ok := bars[what]
		if !ok {
			fn = e.newBar(what, total)
			bars[what] = fn
		}
		if fn != nil {
			fn(done, total)
		}
	}
}
