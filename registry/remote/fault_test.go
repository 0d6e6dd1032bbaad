package remote

import (
	"bytes"
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
	"github.com/brickyard/brickyard/registry/layout"
	"github.com/brickyard/brickyard/registry/registrytest"
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
	alwaysCut int     // how many blob uploads are cut before cutting at random
	retryWait time.Duration
	proxy     *httputil.ReverseProxy
	backend   *url.URL

	nRequests, n500, n429, nCutUp, nCutDown int
	upBytes                                 int64 // upload bytes passed on to the registry
	last429                                 time.Time
	waitedAfter429                          time.Duration // shortest gap seen between a 429 and the next request
}

func newFaultProxy(t *testing.T, backend string, seed uint64) (*faultProxy, string) {
	u, _ := url.Parse("http://" + backend)
	f := &faultProxy{rng: rand.New(rand.NewPCG(seed, seed)), fail500: 0.3, cut: 0.2, left429: 2, alwaysCut: 3, retryWait: time.Second,
		proxy: httputil.NewSingleHostReverseProxy(u), backend: u, waitedAfter429: time.Hour}
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
	f.nRequests++
	if fail {
		f.n500++
	}
	// A blob upload is a large PATCH, or a streamed one (unknown length).
	isUpload := req.Method == http.MethodPatch && (req.ContentLength > 1<<20 || req.ContentLength == -1)
	isDownload := req.Method == http.MethodGet && strings.Contains(req.URL.Path, "/blobs/sha256:")
	// The first three blob uploads (one cut of each kind, in the order
	// relay, drop, forward and drop) and the first download are always
	// cut, the rest at random.
	cut := !fail && !send429 && ((isUpload && (f.nCutUp < f.alwaysCut || cutRoll < f.cut)) || (isDownload && (f.nCutDown == 0 || cutRoll < f.cut)))
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
	case cut && isUpload && f.nCutUp%3 == 1:
		// Pass the first part of the PATCH on to the registry and its
		// answer back, once the rest is read (and dropped): the registry
		// took part of what was sent, and says so.
		resp, err := f.forwardPart(req)
		if err != nil {
			panic(http.ErrAbortHandler)
		}
		defer resp.Body.Close()
		io.Copy(io.Discard, req.Body)
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	case cut && isUpload && f.nCutUp%3 == 0:
		// Pass the first part of the PATCH on to the registry, then drop
		// the connection: the registry holds part of what was sent, but
		// the client does not know how much.
		if resp, err := f.forwardPart(req); err == nil {
			resp.Body.Close()
		}
		panic(http.ErrAbortHandler)
	case cut && isUpload:
		// Read part of the PATCH, then drop the connection: the registry
		// never sees it.
		io.CopyN(io.Discard, req.Body, uploadPart(req))
		panic(http.ErrAbortHandler)
	case cut:
		f.proxy.ServeHTTP(&cuttingWriter{ResponseWriter: w, left: 1 << 20}, req)
	default:
		if req.Method == http.MethodPatch {
			req.Body = &countingBody{ReadCloser: req.Body, f: f}
		}
		f.proxy.ServeHTTP(w, req)
	}
}

// countingBody counts the upload bytes the proxy passes on.
type countingBody struct {
	io.ReadCloser
	f *faultProxy
}

func (c *countingBody) Read(b []byte) (int, error) {
	n, err := c.ReadCloser.Read(b)
	c.f.mu.Lock()
	c.f.upBytes += int64(n)
	c.f.mu.Unlock()
	return n, err
}

// uploadPart is how much of an upload the proxy lets through before it
// cuts: half a PATCH of known length, 8 MiB of a streamed one.
func uploadPart(req *http.Request) int64 {
	if req.ContentLength > 0 {
		return req.ContentLength / 2
	}
	return 8 << 20
}

// forwardPart sends the registry the first uploadPart bytes of req, a
// blob PATCH, as a PATCH of its own (its Content-Range cut to match), and
// returns the registry's answer.
func (f *faultProxy) forwardPart(req *http.Request) (*http.Response, error) {
	part := uploadPart(req)
	out := req.Clone(req.Context())
	out.RequestURI = ""
	out.URL.Scheme, out.URL.Host = f.backend.Scheme, f.backend.Host
	out.Body = io.NopCloser(io.LimitReader(req.Body, part))
	if req.ContentLength > 0 {
		out.ContentLength = part
		var first, last int64
		if _, err := fmt.Sscanf(req.Header.Get("Content-Range"), "%d-%d", &first, &last); err == nil {
			out.Header.Set("Content-Range", fmt.Sprintf("%d-%d", first, first+part-1))
		}
	}
	out.Body = &countingBody{ReadCloser: out.Body, f: f}
	return http.DefaultTransport.RoundTrip(out)
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
	s.streamChunk = 64 << 20
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
	t.Logf("faults injected in %d requests: %d × 500, %d × 429, %d uploads and %d downloads cut", proxy.nRequests, proxy.n500, proxy.n429, proxy.nCutUp, proxy.nCutDown)
	if proxy.n500 < 5 || proxy.n429 == 0 || proxy.nCutUp < 3 || proxy.nCutDown == 0 {
		t.Errorf("the proxy did not exercise every fault")
	}
	if proxy.waitedAfter429 < proxy.retryWait*9/10 {
		t.Errorf("after a 429 with Retry-After: %v, the next request came %v later", proxy.retryWait, proxy.waitedAfter429)
	}
}

// TestGiveUpAfterBudget: a registry that always fails one step of a
// publish (every manifest PUT, or every blob upload PATCH), while it
// answers the rest, exhausts the budget on that step; the error names
// registry, repository and step, and no tag appears.
func TestGiveUpAfterBudget(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name, step string
		fails      func(r *http.Request) bool
	}{
		{"ManifestPut", "push manifest sha256:", func(r *http.Request) bool {
			return r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/")
		}},
		{"BlobUpload", "push blob: upload bytes", func(r *http.Request) bool {
			return r.Method == http.MethodPatch && strings.Contains(r.URL.Path, "/blobs/uploads/")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			backend := inProcess(t)
			var mu sync.Mutex
			failed := 0
			host := liar(t, backend, func(w http.ResponseWriter, r *http.Request) bool {
				if !tc.fails(r) {
					return false
				}
				io.Copy(io.Discard, r.Body)
				mu.Lock()
				failed++
				mu.Unlock()
				http.Error(w, `{"errors":[{"code":"UNKNOWN","message":"injected fault"}]}`, http.StatusInternalServerError)
				return true
			})
			s, err := New(host, WithRetry(Retry{Attempts: 3, MinWait: time.Millisecond, MaxWait: 5 * time.Millisecond}))
			if err != nil {
				t.Fatal(err)
			}
			v, _ := artifact.ParseVersion("1.0.0")
			_, err = registry.Publish(ctx, s, &artifact.Artifact{Name: "web", Kind: artifact.KindMachineImage, Version: v,
				MachineImage: &artifact.MachineImage{Provider: "aws", Owner: "123456789012", Images: map[string]string{"eu-west-1": "ami-1"}}})
			if err == nil {
				t.Fatal("publish through a registry that always fails a step succeeded")
			}
			t.Logf("publish: %v", err)
			for _, want := range []string{host + "/web", tc.step, "injected fault"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error does not name %q: %v", want, err)
				}
			}
			mu.Lock()
			if failed != 3 {
				t.Errorf("the step was tried %d times, want the budget's 3", failed)
			}
			mu.Unlock()
			direct, _ := New(backend)
			if _, err := direct.Resolve(ctx, "web", "1.0.0"); !errors.Is(err, registry.ErrNotFound) {
				t.Errorf("a failed publish left a tag: %v", err)
			}
		})
	}
}

// TestStreamResumesWhereRegistryStands pushes a 64 MiB disk in 16 MiB
// PATCHes to a real distribution registry through a proxy that cuts the
// first two: the first after passing part of it on and the registry's
// answer back, the second before passing anything on. The registry must receive every
// byte exactly once, since the push reads how much the registry holds from
// its answer or asks (GET on the upload URL), and seeks the source there. Both streams are tested: a disk file of unknown
// digest (PushDisk) and a layout blob of known digest and size (Copy).
func TestStreamResumesWhereRegistryStands(t *testing.T) {
	ctx := context.Background()
	backend := registrytest.StartDistribution(t)
	proxy, host := newFaultProxy(t, backend, 3)
	proxy.fail500, proxy.cut, proxy.left429, proxy.alwaysCut = 0, 0, 0, 2
	s, err := New(host, WithRetry(fastRetry))
	if err != nil {
		t.Fatal(err)
	}
	s.streamChunk = 16 << 20 // four PATCHes
	const size = 64 << 20
	path := randomDisk(t, size)

	var last int64
	d, err := registry.PushDisk(ctx, s, "pushed", path, func(done, total int64) { last = done })
	if err != nil {
		t.Fatal(err)
	}
	if last != size {
		t.Errorf("progress ended at %d, want %d", last, size)
	}
	proxy.mu.Lock()
	cuts, sent := proxy.nCutUp, proxy.upBytes
	proxy.mu.Unlock()
	if cuts != 2 || sent != size {
		t.Errorf("PushDisk: %d uploads cut, %d bytes reached the registry, want 2 and %d", cuts, sent, size)
	}
	checkBlob(t, s, "pushed", d)

	// A layout blob, whose digest and size are known: Content-Range PATCHes.
	src, err := layout.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := registry.PushDisk(ctx, src, "base", path, nil); err != nil {
		t.Fatal(err)
	}
	v, _ := artifact.ParseVersion("1.0.0")
	if _, err := registry.Publish(ctx, src, &artifact.Artifact{Name: "base", Kind: artifact.KindVMDisk, Version: v, Disks: []artifact.Disk{d}}); err != nil {
		t.Fatal(err)
	}
	proxy.mu.Lock()
	proxy.nCutUp, proxy.upBytes = 0, 0
	proxy.mu.Unlock()
	// A new Store, which does not know that "pushed" holds the blob and
	// so uploads it instead of mounting it.
	if s, err = New(host, WithRetry(fastRetry)); err != nil {
		t.Fatal(err)
	}
	s.streamChunk = 16 << 20
	if _, err := registry.Copy(ctx, src, "base", s, "1.0.0", registry.ToRepository("copied")); err != nil {
		t.Fatal(err)
	}
	proxy.mu.Lock()
	cuts, sent = proxy.nCutUp, proxy.upBytes
	proxy.mu.Unlock()
	// The config and empty blobs are small PATCHes, also passed on.
	if cuts != 2 || sent < size || sent > size+4096 {
		t.Errorf("Copy: %d uploads cut, %d bytes reached the registry, want 2 and %d (+ the config)", cuts, sent, size)
	}
	checkBlob(t, s, "copied", d)
}

// checkBlob reads disk d back from repo and checks its digest.
func checkBlob(t *testing.T, s *Store, repo string, d artifact.Disk) {
	t.Helper()
	rc, err := s.Fetch(context.Background(), repo, ocispec.Descriptor{MediaType: d.Format.MediaType(), Digest: d.Digest, Size: d.Size})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	h := sha256.New()
	if n, err := io.Copy(h, rc); err != nil || n != d.Size || digest.NewDigest(digest.SHA256, h) != d.Digest {
		t.Fatalf("%s: read back %d bytes, %v", repo, n, err)
	}
}

// TestChunkedPushThroughFaults pushes 48 MiB from a source that cannot
// seek, which goes in 16 MiB chunks held in memory, through a proxy that
// fails 30% of requests with 500, and cuts the first two chunk uploads:
// one after the registry took part of it and said so, one before it saw
// anything. The blob must arrive whole.
func TestChunkedPushThroughFaults(t *testing.T) {
	ctx := context.Background()
	proxy, host := newFaultProxy(t, inProcess(t), 5)
	proxy.cut, proxy.left429, proxy.alwaysCut = 0, 0, 2
	s, err := New(host, WithRetry(fastRetry))
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(randomDisk(t, 48<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	pipe := struct{ io.Reader }{io.TeeReader(f, h)} // no Seek
	got, err := s.PushBlob(ctx, "piped", ocispec.Descriptor{MediaType: "application/octet-stream"}, pipe)
	if err != nil {
		t.Fatal(err)
	}
	if want := digest.NewDigest(digest.SHA256, h); got.Digest != want || got.Size != 48<<20 {
		t.Fatalf("pushed %s, %d bytes; want %s", got.Digest, got.Size, want)
	}
	checkBlob(t, s, "piped", artifact.Disk{Format: "raw", Digest: got.Digest, Size: got.Size})
	proxy.mu.Lock()
	defer proxy.mu.Unlock()
	if proxy.nCutUp != 2 || proxy.n500 == 0 {
		t.Errorf("%d uploads cut and %d × 500, want 2 and some", proxy.nCutUp, proxy.n500)
	}
}

// TestStreamEdgeCases: a registry that keeps answering that it holds less
// than was sent ends the push with an error, not a loop; a stream of
// unknown length whose PATCH distribution took part of, unknown to the
// client, starts a new upload; a 413 for a PATCH's size makes smaller
// PATCHes; a source shorter than its size hint is pushed whole even with
// retries turned off.
func TestStreamEdgeCases(t *testing.T) {
	ctx := context.Background()
	body := bytes.Repeat([]byte("brickyard"), 1<<19) // 4.5 MiB

	t.Run("StuckRange", func(t *testing.T) {
		var patches int
		var mu sync.Mutex
		host := liar(t, inProcess(t), func(w http.ResponseWriter, r *http.Request) bool {
			if r.Method != http.MethodPatch {
				return false
			}
			io.Copy(io.Discard, r.Body)
			mu.Lock()
			patches++
			mu.Unlock()
			w.Header().Set("Location", r.URL.String())
			w.Header().Set("Range", "0-1023")
			w.WriteHeader(http.StatusAccepted)
			return true
		})
		s, err := New(host, WithRetry(Retry{Attempts: 3, MinWait: time.Millisecond, MaxWait: time.Millisecond}))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		// A stream, and chunks from a source that cannot seek: the first
		// PATCH is progress, each later one a failure of the budget.
		for _, src := range []io.Reader{bytes.NewReader(body), struct{ io.Reader }{bytes.NewReader(body)}} {
			mu.Lock()
			patches = 0
			mu.Unlock()
			_, err = s.PushBlob(ctx, "stuck", ocispec.Descriptor{Digest: digest.FromBytes(body), Size: int64(len(body))}, src)
			if err == nil || ctx.Err() != nil || !strings.Contains(err.Error(), "none of the") {
				t.Errorf("push of a %T to a registry stuck at 1024 bytes: %v (context: %v)", src, err, ctx.Err())
			}
			mu.Lock()
			if patches > 4 {
				t.Errorf("push of a %T: %d PATCHes sent", src, patches)
			}
			mu.Unlock()
		}
	})

	t.Run("UnknownLengthRestarts", func(t *testing.T) {
		proxy, host := newFaultProxy(t, registrytest.StartDistribution(t), 9)
		proxy.fail500, proxy.cut, proxy.left429, proxy.alwaysCut = 0, 0, 0, 3
		proxy.nCutUp = 2 // the next cut passes the PATCH on, then drops it
		s, err := New(host, WithRetry(fastRetry))
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.PushBlob(ctx, "restarted", ocispec.Descriptor{}, bytes.NewReader(body))
		if err != nil || got.Digest != digest.FromBytes(body) {
			t.Fatalf("push = %v, %v", got.Digest, err)
		}
		checkBlob(t, s, "restarted", artifact.Disk{Format: "raw", Digest: got.Digest, Size: got.Size})
		proxy.mu.Lock()
		defer proxy.mu.Unlock()
		if proxy.nCutUp != 3 {
			t.Errorf("the proxy cut %d uploads, want the one", proxy.nCutUp-2)
		}
	})

	t.Run("RequestTooLarge", func(t *testing.T) {
		// A proxy that takes requests of at most 16 MiB answers a larger
		// PATCH 413: the push goes on in 16 MiB PATCHes.
		var refused int
		host := liar(t, inProcess(t), func(w http.ResponseWriter, r *http.Request) bool {
			if r.Method != http.MethodPatch || r.ContentLength <= uploadChunk {
				return false
			}
			refused++
			http.Error(w, "<html><body>413 Request Entity Too Large</body></html>", http.StatusRequestEntityTooLarge)
			return true
		})
		s, err := New(host, WithRetry(Retry{Attempts: 1}))
		if err != nil {
			t.Fatal(err)
		}
		big := bytes.Repeat([]byte("brickyard"), 3<<20) // 27 MiB
		want := ocispec.Descriptor{Digest: digest.FromBytes(big), Size: int64(len(big))}
		if _, err := s.PushBlob(ctx, "limited", want, bytes.NewReader(big)); err != nil {
			t.Fatal(err)
		}
		if refused != 1 {
			t.Errorf("%d PATCHes refused, want 1", refused)
		}
		checkBlob(t, s, "limited", artifact.Disk{Format: "raw", Digest: want.Digest, Size: want.Size})
	})

	t.Run("ShortHint", func(t *testing.T) {
		s, err := New(inProcess(t), WithRetry(Retry{Attempts: 1}))
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.PushBlob(ctx, "short", ocispec.Descriptor{Size: int64(len(body)) + 5000}, bytes.NewReader(body))
		if err != nil || got.Digest != digest.FromBytes(body) || got.Size != int64(len(body)) {
			t.Fatalf("push with a size hint past the end = %+v, %v", got, err)
		}
	})
}

// TestCommitReplyLost: the registry commits a blob upload (the final PUT
// with ?digest=) but the connection drops before its answer arrives. The
// PUT sent again finds the session finished (DIGEST_INVALID from the
// in-process registry, 404 from distribution); the push must see that the
// registry holds the blob, with its size, and succeed.
func TestCommitReplyLost(t *testing.T) {
	ctx := context.Background()
	body := bytes.Repeat([]byte("brickyard"), 1000)
	for name, backend := range map[string]string{"distribution": registrytest.StartDistribution(t), "in-process": inProcess(t)} {
		t.Run(name, func(t *testing.T) {
			var mu sync.Mutex
			commits := 0
			host := liar(t, backend, func(w http.ResponseWriter, r *http.Request) bool {
				if r.Method != http.MethodPut || !strings.Contains(r.URL.Path, "/blobs/uploads/") || r.URL.Query().Get("digest") == "" {
					return false
				}
				mu.Lock()
				commits++
				first := commits == 1
				mu.Unlock()
				if !first {
					return false
				}
				// Commit, then drop the connection before the answer.
				out, err := http.NewRequestWithContext(r.Context(), http.MethodPut, "http://"+backend+r.URL.RequestURI(), r.Body)
				if err != nil {
					t.Error(err)
					return false
				}
				out.ContentLength = r.ContentLength
				resp, err := http.DefaultTransport.RoundTrip(out)
				if err != nil {
					t.Error(err)
					return false
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusCreated {
					t.Errorf("the registry answered the first commit %s", resp.Status)
				}
				panic(http.ErrAbortHandler)
			})
			s, err := New(host, WithRetry(Retry{Attempts: 3, MinWait: time.Millisecond, MaxWait: 5 * time.Millisecond}))
			if err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct {
				name string
				desc ocispec.Descriptor
				src  io.Reader
			}{
				{"KnownDigest", ocispec.Descriptor{Digest: digest.FromBytes(body), Size: int64(len(body))}, bytes.NewReader(body)},
				{"UnknownDigest", ocispec.Descriptor{}, struct{ io.Reader }{bytes.NewReader(append(body, '!'))}},
			} {
				mu.Lock()
				commits = 0
				mu.Unlock()
				got, err := s.PushBlob(ctx, "lost/"+strings.ToLower(tc.name), tc.desc, tc.src)
				if err != nil {
					t.Fatalf("%s: push whose commit answer was lost: %v", tc.name, err)
				}
				mu.Lock()
				n := commits
				mu.Unlock()
				if n < 2 {
					t.Errorf("%s: %d commits sent, want the lost one and a retry", tc.name, n)
				}
				checkBlob(t, s, "lost/"+strings.ToLower(tc.name), artifact.Disk{Format: "raw", Digest: got.Digest, Size: got.Size})
			}
		})
	}
}
