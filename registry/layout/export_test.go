package layout

import (
	"context"
	"crypto/sha256"
	"io"
	"os"
)

// IngestUnsynced runs ingest's pipeline (read, hash and write overlapped)
// into f without the final fsync, so that the benchmark can time the copy
// apart from the flush that makes it durable.
func IngestUnsynced(f *os.File, r io.Reader, size int64) (int64, error) {
	return pipeline(context.Background(), f, r, sha256.New(), size)
}
