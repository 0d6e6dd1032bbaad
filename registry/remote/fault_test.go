package remote

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/registry"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// faultProxy stands in front of a registry and misbehaves on purpose, the
// way real registries do under load: HTTP 500 on a share of requests, 429
// with Retry-After, and connections cut in the middle of a blob upload or
// download. It is deterministic for a given seed.
type faultProxy struct {
	mu        sync.Mutex
	rng       *rand.Rand
	fail500   float64 // share of requests answered 500
	cut       float64 // share of blob uploads and downloads cut half-way
	left429   int     // how many 429s to send
	retryWait time.Duration
	proxy     *httputil.ReverseProxy

	n500, n429, nCutUp, nCutDown int
	last429                      time.Time
	waitedAfter429               time.Duration // shortest gap seen between a 429 and the next request
}

func newFaultProxy(t *testing.T, backend string, seed uint64) (*faultProxy, string) {
	u, _ := url.Parse("http://" + backend)
	f := &faultProxy{rng: rand.New(rand.NewPCG(seed, seed)), fail500: 0.3, cut: 0.2, left429: 2, retryWait: time.Second,
		proxy: httputil.NewSingleHostReverseProxy(u), waitedAfter429: time.Hour}
	f.proxy.ErrorLog = nil
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, strings.TrimPrefix(srv.URL, "http://")
}

func (f *faultProxy) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	f.mu.Lock()
	if !f.last429.IsZero() {
		f.waitedAfter429 = min(f.waitedAfter429, time.Since(f.last429))
		f.last429 = time.Time{}
	}
	roll, cutRoll := f.rng.Float64(), f.rng.Float64()
	send429 := f.left429 > 0 && roll < 0.05
	if send429 {
		f.left429--
		f.n429++
		f.last429 = time.Now()
	}
	fail := !send429 && roll < f.fail500
	if fail {
		f.n500++
	}
	isUpload := req.Method == http.MethodPatch && req.ContentLength > 1<<20
	isDownload := req.Method == http.MethodGet && strings.Contains(req.URL.Path, "/blobs/sha256:")
	// The first blob upload and download are always cut, the rest at random.
	cut := !fail && !send429 && ((isUpload && (f.nCutUp == 0 || cutRoll < f.cut)) || (isDownload && (f.nCutDown == 0 || cutRoll < f.cut)))
	if cut && isUpload {
		f.nCutUp++
	} else if cut {
		f.nCutDown++
	}
	f.mu.Unlock()

	switch {
	case send429:
		w.Header().Set("Retry-After", fmt.Sprint(int(f.retryWait.Seconds())))
		http.Error(w, `{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}`, http.StatusTooManyRequests)
	case fail:
		http.Error(w, `{"errors":[{"code":"UNKNOWN","message":"injected fault"}]}`, http.StatusInternalServerError)
	case cut && isUpload:
		// Read half the chunk, then drop the connection: the registry
		// never sees this PATCH.
		io.CopyN(io.Discard, req.Body, req.ContentLength/2)
		panic(http.ErrAbortHandler)
	case cut:
		f.proxy.ServeHTTP(&cuttingWriter{ResponseWriter: w, left: 1 << 20}, req)
	default:
		f.proxy.ServeHTTP(w, req)
	}
}

// cuttingWriter drops the connection after left more bytes of body.
type cuttingWriter struct {
	http.ResponseWriter
	left int
}

func (c *cuttingWriter) Write(b []byte) (int, error) {
	if len(b) > c.left {
		c.ResponseWriter.Write(b[:c.left])
		c.ResponseWriter.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	}
	c.left -= len(b)
	return c.ResponseWriter.Write(b)
}

// fastRetry keeps the test quick while keeping the budget generous.
var fastRetry = Retry{Attempts: 12, MinWait: time.Millisecond, MaxWait: 2 * time.Second}

func randomDisk(t *testing.T, size int64) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "disk.raw")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 7))
	buf := make([]byte, 1<<20)
	for written := int64(0); written < size; written += int64(len(buf)) {
		for i := 0; i < len(buf); i += 8 {
			v := rng.Uint64()
			for j := range 8 {
				buf[i+j] = byte(v >> (8 * j))
			}
		}
		if _, err := f.Write(buf); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPublishThroughFaults publishes a 256 MiB disk through a registry
// that fails 30% of requests with 500, sends 429 with Retry-After and cuts
// connections in the middle of blobs, then reads it back through the same
// faults: the artifact must arrive whole, and the tag must point at it.
func TestPublishThroughFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("256 MiB through a faulty proxy; skipped with -short")
	}
	ctx := context.Background()
	backend := inProcess(t)
	proxy, host := newFaultProxy(t, backend, 42)
	s, err := New(host, WithRetry(fastRetry))
	if err != nil {
		t.Fatal(err)
	}
	path := randomDisk(t, 256<<20)
	d, err := registry.PushDisk(ctx, s, "golden/base", path, nil)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := artifact.ParseVersion("1.0.0")
	e, err := registry.Publish(ctx, s, &artifact.Artifact{Name: "golden/base", Kind: artifact.KindVMDisk, Version: v, Disks: []artifact.Disk{d}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Resolve(ctx, "golden/base", "1.0.0")
	if err != nil || got.Digest != e.Descriptor.Digest {
		t.Fatalf("tag 1.0.0 = %v, %v", got.Digest, err)
	}
	rc, err := s.Fetch(ctx, "golden/base", ocispec.Descriptor{MediaType: d.Format.MediaType(), Digest: d.Digest, Size: d.Size})
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	n, err := io.Copy(h, rc)
	rc.Close()
	if err != nil || n != d.Size || digest.NewDigest(digest.SHA256, h) != d.Digest {
		t.Fatalf("read back %d bytes, %v", n, err)
	}
	proxy.mu.Lock()
	defer proxy.mu.Unlock()
	t.Logf("faults injected: %d × 500, %d × 429, %d uploads and %d downloads cut", proxy.n500, proxy.n429, proxy.nCutUp, proxy.nCutDown)
	if proxy.n500 < 10 || proxy.n429 == 0 || proxy.nCutUp == 0 || proxy.nCutDown == 0 {
		t.Errorf("the proxy did not exercise every fault")
	}
	if proxy.waitedAfter429 < proxy.retryWait*9/10 {
		t.Errorf("after a 429 with Retry-After: %v, the next request came %v later", proxy.retryWait, proxy.waitedAfter429)
	}
}

// TestGiveUpAfterBudget: a registry that always fails exhausts the budget;
// the error names registry, repository and step, and no tag appears.
func TestGiveUpAfterBudget(t *testing.T) {
	ctx := context.Background()
	backend := inProcess(t)
	proxy, host := newFaultProxy(t, backend, 1)
	proxy.fail500, proxy.left429 = 1, 0
	s, err := New(host, WithRetry(Retry{Attempts: 3, MinWait: time.Millisecond, MaxWait: 5 * time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	v, _ := artifact.ParseVersion("1.0.0")
	_, err = registry.Publish(ctx, s, &artifact.Artifact{Name: "web", Kind: artifact.KindMachineImage, Version: v,
		MachineImage: &artifact.MachineImage{Provider: "aws", Owner: "123456789012", Images: map[string]string{"eu-west-1": "ami-1"}}})
	if err == nil {
		t.Fatal("publish through a registry that always fails succeeded")
	}
	for _, want := range []string{host, "web", "push config", "injected fault"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %q: %v", want, err)
		}
	}
	direct, _ := New(backend)
	if _, err := direct.Resolve(ctx, "web", "1.0.0"); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("a failed publish left a tag: %v", err)
	}
}
