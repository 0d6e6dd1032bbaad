package remote

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/registry"
	"github.com/brickyard/brickyard/registry/layout"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// liar forwards to a real (in-process) registry but lets a test rewrite
// some answers.
func liar(t *testing.T, backend string, lie func(w http.ResponseWriter, r *http.Request) bool) string {
	u, _ := url.Parse("http://" + backend)
	proxy := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/" || !lie(w, r) {
			proxy.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// seed publishes a small VM disk directly to backend and returns its
// manifest descriptor, the disk layer's and the manifest bytes.
func seed(t *testing.T, backend string) (manifest, layer ocispec.Descriptor, body []byte) {
	t.Helper()
	ctx := context.Background()
	s, err := New(backend)
	if err != nil {
		t.Fatal(err)
	}
	d, err := registry.PushDisk(ctx, s, "web", randomDisk(t, 1<<20), nil)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := artifact.ParseVersion("1.0.0")
	e, err := registry.Publish(ctx, s, &artifact.Artifact{Name: "web", Kind: artifact.KindVMDisk, Version: v, Disks: []artifact.Disk{d}})
	if err != nil {
		t.Fatal(err)
	}
	return e.Descriptor, ocispec.Descriptor{MediaType: d.Format.MediaType(), Digest: d.Digest, Size: d.Size}, e.Manifest
}

func TestBadAnswers(t *testing.T) {
	quick := WithRetry(Retry{Attempts: 2, MinWait: time.Millisecond, MaxWait: 2 * time.Millisecond})
	isManifestGet := func(r *http.Request) bool {
		return r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/manifests/")
	}
	isBlobGet := func(r *http.Request) bool {
		return r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/sha256:")
	}
	cases := []struct {
		name  string
		lie   func(body []byte) func(w http.ResponseWriter, r *http.Request) bool
		fetch string // "manifest" or "blob"
		want  error
		says  string
	}{
		{"manifest body for another digest", func(body []byte) func(http.ResponseWriter, *http.Request) bool {
			return func(w http.ResponseWriter, r *http.Request) bool {
				if !isManifestGet(r) {
					return false
				}
				w.Header().Set("Content-Type", ocispec.MediaTypeImageManifest)
				w.Write(bytes.Replace(body, []byte(`"1.0.0"`), []byte(`"6.6.6"`), 1))
				return true
			}
		}, "manifest", registry.ErrDigestMismatch, "content with digest"},
		{"Docker-Content-Digest disagrees", func(body []byte) func(http.ResponseWriter, *http.Request) bool {
			return func(w http.ResponseWriter, r *http.Request) bool {
				if !isManifestGet(r) {
					return false
				}
				w.Header().Set("Content-Type", ocispec.MediaTypeImageManifest)
				w.Header().Set("Docker-Content-Digest", "sha256:0000000000000000000000000000000000000000000000000000000000000000")
				w.Write(body)
				return true
			}
		}, "manifest", registry.ErrDigestMismatch, "Docker-Content-Digest"},
		{"manifest over 4 MiB", func([]byte) func(http.ResponseWriter, *http.Request) bool {
			return func(w http.ResponseWriter, r *http.Request) bool {
				if !isManifestGet(r) {
					return false
				}
				w.Header().Set("Content-Type", ocispec.MediaTypeImageManifest)
				w.Write(bytes.Repeat([]byte(" "), 5<<20))
				return true
			}
		}, "manifest", registry.ErrTooLarge, "limit"},
		{"wrong Content-Type", func(body []byte) func(http.ResponseWriter, *http.Request) bool {
			return func(w http.ResponseWriter, r *http.Request) bool {
				if !isManifestGet(r) {
					return false
				}
				w.Header().Set("Content-Type", "text/plain")
				w.Write(body)
				return true
			}
		}, "manifest", artifact.ErrInvalidManifest, `"text/plain"`},
		{"HTML error page", func([]byte) func(http.ResponseWriter, *http.Request) bool {
			return func(w http.ResponseWriter, r *http.Request) bool {
				if !isManifestGet(r) {
					return false
				}
				w.Header().Set("Content-Type", "text/html")
				w.WriteHeader(http.StatusBadGateway)
				w.Write([]byte("<html><body><h1>502 Bad Gateway</h1></body></html>"))
				return true
			}
		}, "manifest", nil, "502 Bad Gateway"},
		{"401 without credentials", func([]byte) func(http.ResponseWriter, *http.Request) bool {
			return func(w http.ResponseWriter, r *http.Request) bool {
				w.Header().Set("WWW-Authenticate", `Basic realm="registry"`)
				w.WriteHeader(http.StatusUnauthorized)
				return true
			}
		}, "manifest", registry.ErrUnauthorized, "docker login"},
		{"403 for these credentials", func([]byte) func(http.ResponseWriter, *http.Request) bool {
			return func(w http.ResponseWriter, r *http.Request) bool {
				if !isManifestGet(r) {
					return false
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusForbidden)
				w.Write([]byte(`{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}`))
				return true
			}
		}, "manifest", registry.ErrDenied, "docker login"},
		{"blob shorter than its descriptor", func([]byte) func(http.ResponseWriter, *http.Request) bool {
			return func(w http.ResponseWriter, r *http.Request) bool {
				if !isBlobGet(r) {
					return false
				}
				w.Write(make([]byte, 1000))
				return true
			}
		}, "blob", registry.ErrDigestMismatch, "shorter"},
		{"blob longer than its descriptor", func([]byte) func(http.ResponseWriter, *http.Request) bool {
			return func(w http.ResponseWriter, r *http.Request) bool {
				if !isBlobGet(r) {
					return false
				}
				w.Write(make([]byte, 2<<20))
				return true
			}
		}, "blob", registry.ErrDigestMismatch, "longer"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			backend := inProcess(t)
			mdesc, ldesc, body := seed(t, backend)
			host := liar(t, backend, c.lie(body))
			s, err := New(host, quick)
			if err != nil {
				t.Fatal(err)
			}
			desc := mdesc
			if c.fetch == "blob" {
				desc = ldesc
			}
			rc, err := s.Fetch(ctx, "web", desc)
			if err == nil {
				_, err = readAll(rc)
				rc.Close()
			}
			// Each error names the registry and the repository.
			if err == nil || (c.want != nil && !errors.Is(err, c.want)) || !strings.Contains(err.Error(), c.says) || !strings.Contains(err.Error(), host+"/web") {
				t.Fatalf("got %v, want %v saying %q and naming %s/web", err, c.want, c.says, host)
			}
			// Nothing changes locally: a copy from the liar leaves no tag.
			dst, _ := layout.New(t.TempDir())
			if _, err := registry.Copy(ctx, s, "web", dst, "1.0.0"); err == nil {
				t.Fatal("copy from a lying registry succeeded")
			}
			if _, err := dst.Resolve(ctx, "web", "1.0.0"); !errors.Is(err, registry.ErrNotFound) {
				t.Errorf("a failed copy left a tag: %v", err)
			}
		})
	}
}

func readAll(rc interface{ Read([]byte) (int, error) }) ([]byte, error) {
	var buf bytes.Buffer
	_, err := buf.ReadFrom(rc)
	return buf.Bytes(), err
}

func TestInvalidReferences(t *testing.T) {
	for _, target := range []string{"", "http://127.0.0.1:5000", "UPPER CASE", "127.0.0.1:5000/Team"} {
		if _, err := New(target); err == nil {
			t.Errorf("New(%q) accepted", target)
		}
	}
	s, _ := New("127.0.0.1:1")
	ctx := context.Background()
	for _, repo := range []string{"Web", "a//b", strings.Repeat("x", 300)} {
		if _, err := s.Resolve(ctx, repo, "1.0.0"); !errors.Is(err, artifact.ErrInvalidName) {
			t.Errorf("repository %q: %v", repo, err)
		}
	}
	for _, tag := range []string{"-x", "1.0.0+build", ""} {
		if _, err := s.Resolve(ctx, "web", tag); !errors.Is(err, registry.ErrInvalidRef) {
			t.Errorf("tag %q: %v", tag, err)
		}
	}
}

// TestCopyRefusesAlteredBlob has a registry answer a blob GET with the
// right number of bytes, one of them altered: a copy into a layout store
// (which hashes in its own pipeline stage, the remote reader skipping its
// hash) fails with ErrDigestMismatch and leaves neither the blob nor a tag.
func TestCopyRefusesAlteredBlob(t *testing.T) {
	ctx := context.Background()
	backend := inProcess(t)
	_, ldesc, _ := seed(t, backend)
	host := liar(t, backend, func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodGet || !strings.Contains(r.URL.Path, "/blobs/"+ldesc.Digest.String()) {
			return false
		}
		resp, err := http.Get("http://" + backend + r.URL.Path)
		if err != nil {
			t.Error(err)
			return false
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Error(err)
			return false
		}
		b[len(b)/2] ^= 0x40
		w.Write(b)
		return true
	})
	s, err := New(host)
	if err != nil {
		t.Fatal(err)
	}
	dst, _ := layout.New(t.TempDir())
	if _, err := registry.Copy(ctx, s, "web", dst, "1.0.0"); !errors.Is(err, registry.ErrDigestMismatch) || !strings.Contains(err.Error(), ldesc.Digest.String()) {
		t.Fatalf("copy of an altered blob: %v, want ErrDigestMismatch naming %s", err, ldesc.Digest)
	}
	if ok, err := dst.Exists(ctx, "web", ldesc); ok || err != nil {
		t.Errorf("the altered blob is in the layout: %v, %v", ok, err)
	}
	if _, err := dst.Resolve(ctx, "web", "1.0.0"); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("a failed copy left a tag: %v", err)
	}
}
