package main

import (
	"os"
	"path/filepath"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progressMin is the blob size from which a transfer gets a progress bar.
const progressMin = 4 << 20

// progressFor returns a progress callback drawing a bar on stderr for the
// file at path, or nil when bars are off or the file is small.
func (e *env) progressFor(path string) func(done, total int64) {
	fi, err := os.Stat(path)
	if err != nil || fi.Size() < progressMin {
		return nil
	}
	switch e.progress {
	case "never":
		return nil
	case "auto":
		f, ok := e.err.(*os.File)
		if !ok || !term.IsTerminal(int(f.Fd())) {
			return nil
		}
	}
	bar := progressbar.NewOptions64(fi.Size(),
		progressbar.OptionSetWriter(e.err),
		progressbar.OptionSetDescription("push "+filepath.Base(path)),
		progressbar.OptionShowBytes(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionOnCompletion(func() { _, _ = e.err.Write([]byte("\n")) }),
		progressbar.OptionClearOnFinish(),
	)
	return func(done, _ int64) { _ = bar.Set64(done) }
}
