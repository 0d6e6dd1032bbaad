package remote

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/registry"
	"github.com/brickyard/brickyard/registry/registrytest"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
)

// TestHTTP2 runs the conformance suite and a 40 MiB disk push, streamed in
// 16 MiB PATCHes with the first cut after half of it, against a registry
// that speaks HTTP/2 over TLS, as most hosted registries do: there net/http
// closes a request body from a goroutine of its own, which the streamed
// upload must wait for before it reads its source again.
func TestHTTP2(t *testing.T) {
	var mu sync.Mutex
	protos := map[string]bool{}
	cut := false
	reg := ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		protos[r.Proto] = true
		first := !cut && r.Method == http.MethodPatch && r.ContentLength > 1<<20
		cut = cut || first
		mu.Unlock()
		if first {
			io.CopyN(io.Discard, r.Body, r.ContentLength/2)
			panic(http.ErrAbortHandler)
		}
		reg.ServeHTTP(w, r)
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "https://")
	cases := 0
	newStore := func(t *testing.T) *Store {
		// A namespace of its own for each, so each store starts empty.
		cases++
		s, err := New(fmt.Sprintf("%s/case%d", host, cases), WithTransport(srv.Client().Transport), WithRetry(fastRetry))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	t.Run("Conformance", func(t *testing.T) {
		registrytest.Run(t, func(t *testing.T) registry.Store { return newStore(t) }, registrytest.WithoutAtomicTags())
	})
	t.Run("StreamedPushWithCut", func(t *testing.T) {
		s := newStore(t)
		s.streamChunk = 16 << 20
		d, err := registry.PushDisk(context.Background(), s, "h2/disk", randomDisk(t, 40<<20), nil)
		if err != nil {
			t.Fatal(err)
		}
		checkBlob(t, s, "h2/disk", artifact.Disk{Format: d.Format, Digest: d.Digest, Size: d.Size})
		mu.Lock()
		defer mu.Unlock()
		if !cut {
			t.Error("no upload was cut")
		}
	})
	mu.Lock()
	defer mu.Unlock()
	if !protos["HTTP/2.0"] || len(protos) != 1 {
		t.Errorf("requests came in %v, want HTTP/2.0 only", protos)
	}
}
