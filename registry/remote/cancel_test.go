package remote

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/brickyard/brickyard/registry"
	"github.com/brickyard/brickyard/registry/registrytest"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// uploadedData returns the partial uploads distribution keeps under its
// storage root: the data files of the sessions in a repository's
// _uploads. (Distribution 2.8 leaves a cancelled session's directory with
// its hash state at offset 0, a few bytes, which its upload purging
// removes later; the bytes received are what matter.)
func uploadedData(t *testing.T, root string) []string {
	t.Helper()
	var found []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && d.Name() == "data" && filepath.Base(filepath.Dir(filepath.Dir(p))) == "_uploads" {
			found = append(found, p)
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return found
}

// TestFailedPushLeavesNoUpload checks, against real distribution, that a
// push that fails, or that gives up an upload session to start another,
// cancels the session it leaves (DELETE on its URL), so the registry's
// storage keeps none of the bytes it received.
func TestFailedPushLeavesNoUpload(t *testing.T) {
	dir := t.TempDir()
	addr := registrytest.StartDistributionIn(t, dir)
	s, err := New(addr, WithRetry(Retry{Attempts: 1}))
	if err != nil {
		t.Fatal(err)
	}
	s.streamChunk = 1 << 20
	ctx := context.Background()
	body := bytes.Repeat([]byte("brickyard"), 1<<19) // 4.5 MiB
	want := ocispec.Descriptor{Digest: digest.FromBytes(body), Size: int64(len(body))}
	other := digest.FromString("something else")

	for _, tc := range []struct {
		name    string
		desc    ocispec.Descriptor
		src     io.Reader
		wantErr error // nil: the push succeeds
	}{
		{"LongerThanDescriptor", ocispec.Descriptor{Digest: want.Digest, Size: want.Size - 100}, bytes.NewReader(body), registry.ErrDigestMismatch},
		{"PipeShorterThanDescriptor", ocispec.Descriptor{Digest: want.Digest, Size: want.Size + 100}, struct{ io.Reader }{bytes.NewReader(body)}, registry.ErrDigestMismatch},
		{"CommitRefused", ocispec.Descriptor{Digest: other, Size: want.Size}, bytes.NewReader(body), nil},
		{"LongerThanHint", ocispec.Descriptor{Size: want.Size - 5000}, bytes.NewReader(body), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.PushBlob(ctx, "cancel/"+strings.ToLower(filepath.Base(t.Name())), tc.desc, tc.src)
			switch {
			case tc.name == "CommitRefused":
				if err == nil {
					t.Fatalf("push of content under another digest succeeded: %v", got.Digest)
				}
				if !strings.Contains(err.Error(), "commit") {
					t.Fatalf("push = %v, want a refused commit", err)
				}
			case tc.wantErr != nil:
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("push = %v, want %v", err, tc.wantErr)
				}
			case err != nil || got.Digest != want.Digest:
				t.Fatalf("push = %v, %v", got.Digest, err)
			}
			if left := uploadedData(t, filepath.Join(dir, "data")); len(left) > 0 {
				t.Errorf("partial uploads left in the registry: %q", left)
			}
		})
	}
}
