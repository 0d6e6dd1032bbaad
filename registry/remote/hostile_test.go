package remote

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/catalog"
	"github.com/brickyard/brickyard/catalog/sqlite"
	"github.com/brickyard/brickyard/registry"
	"github.com/brickyard/brickyard/registry/layout"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestListingsBounded has a registry page its catalog, tag list and
// referrers for ever: with a Link header naming the page just read, the
// listing stops before asking for it again; with a new Link on every page,
// it stops after MaxPages. Either way the error wraps
// registry.ErrTooManyPages and names the registry and the listing.
func TestListingsBounded(t *testing.T) {
	backend := inProcess(t, ggcrregistry.WithReferrersSupport(true))
	mdesc, _, _ := seed(t, backend)
	listings := []struct {
		name, path, says string
		list             func(*Store) error
	}{
		{"catalog", "/v2/_catalog", "list repositories", func(s *Store) error { _, err := s.Repositories(context.Background()); return err }},
		{"tags", "/v2/web/tags/list", "list tags", func(s *Store) error { _, err := s.Tags(context.Background(), "web"); return err }},
		{"referrers", "/v2/web/referrers/" + mdesc.Digest.String(), "referrers of", func(s *Store) error {
			_, _, err := s.Referrers(context.Background(), "web", mdesc.Digest)
			return err
		}},
	}
	for _, l := range listings {
		for _, endless := range []bool{false, true} {
			name := l.name + "/Link to itself"
			if endless {
				name = l.name + "/a new Link on every page"
			}
			t.Run(name, func(t *testing.T) {
				var hits atomic.Int64
				host := liar(t, backend, func(w http.ResponseWriter, r *http.Request) bool {
					if r.URL.Path != l.path {
						return false
					}
					n := hits.Add(1)
					next := r.URL.RequestURI()
					if endless {
						next = l.path + "?n=1000&last=page" + strconv.FormatInt(n, 10)
					}
					w.Header().Set("Link", "<"+next+`>; rel="next"`)
					return false // the real answer, with the Link added
				})
				s, err := New(host)
				if err != nil {
					t.Fatal(err)
				}
				start := time.Now()
				err = l.list(s)
				if !errors.Is(err, registry.ErrTooManyPages) || !strings.Contains(err.Error(), host) || !strings.Contains(err.Error(), l.says) {
					t.Fatalf("err = %v, want ErrTooManyPages naming %s and %q", err, host, l.says)
				}
				want := int64(1)
				if endless {
					want = MaxPages
				}
				if hits.Load() != want {
					t.Errorf("%d pages asked for, want %d", hits.Load(), want)
				}
				t.Logf("%v after %d pages in %v", err, hits.Load(), time.Since(start).Round(time.Millisecond))
			})
		}
	}
	t.Run("a Link to another host", func(t *testing.T) {
		host := liar(t, backend, func(w http.ResponseWriter, r *http.Request) bool {
			if r.URL.Path == "/v2/web/tags/list" {
				w.Header().Set("Link", `<http://127.0.0.2:1/v2/web/tags/list?last=x>; rel="next"`)
			}
			return false
		})
		s, _ := New(host)
		if _, err := s.Tags(context.Background(), "web"); err == nil || !strings.Contains(err.Error(), "another host") {
			t.Errorf("err = %v, want one saying the Link names another host", err)
		}
	})
}

// TestRebuildStopsOnCatalogLoop: catalog.Rebuild from a registry whose
// _catalog Link points back at itself ends, with the error.
func TestRebuildStopsOnCatalogLoop(t *testing.T) {
	backend := inProcess(t)
	seed(t, backend)
	host := liar(t, backend, func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/v2/_catalog" {
			w.Header().Set("Link", "<"+r.URL.RequestURI()+`>; rel="next"`)
		}
		return false
	})
	s, _ := New(host)
	cat := newCatalog(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := catalog.Rebuild(ctx, cat, s, s.String(), nil); !errors.Is(err, registry.ErrTooManyPages) || !strings.Contains(err.Error(), host) {
		t.Fatalf("rebuild from a looping catalog: %v, want ErrTooManyPages naming %s", err, host)
	}
}

func newCatalog(t *testing.T) *sqlite.Catalog {
	t.Helper()
	cat, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cat.Close() })
	return cat
}

// invalidManifest is a manifest that is not valid OCI, made from the
// manifest of a real published VM disk (a map of its JSON), and the
// Content-Type a lying registry serves it with.
type invalidManifest struct {
	name        string
	contentType string
	edit        func(m map[string]any)
	raw         func(b []byte) []byte // edits the JSON bytes instead
	want        error
	blobGet     bool // refused only once a blob is read
}

func invalidManifests() []invalidManifest {
	layer := func(m map[string]any) map[string]any { return m["layers"].([]any)[0].(map[string]any) }
	config := func(m map[string]any) map[string]any { return m["config"].(map[string]any) }
	schema1 := func([]byte) []byte {
		return []byte(`{"schemaVersion":1,"name":"web","tag":"1.0.0","architecture":"amd64","fsLayers":[{"blobSum":"` + digest.FromString("l").String() + `"}],"history":[{"v1Compatibility":"{}"}],"signatures":[{"header":{"alg":"ES256"},"signature":"x","protected":"y"}]}`)
	}
	return []invalidManifest{
		{name: "negative layer size", edit: func(m map[string]any) { layer(m)["size"] = -1 }},
		{name: "absurd layer size", edit: func(m map[string]any) { layer(m)["size"] = int64(1) << 50 }},
		{name: "negative config size", edit: func(m map[string]any) { config(m)["size"] = -5 }},
		{name: "schema 1, signed", contentType: "application/vnd.docker.distribution.manifest.v1+prettyjws", raw: schema1},
		{name: "schema 1 served as OCI", raw: schema1},
		{name: "layers and manifests", edit: func(m map[string]any) {
			m["manifests"] = []any{map[string]any{"mediaType": ocispec.MediaTypeImageManifest, "digest": digest.FromString("other").String(), "size": 10}}
		}},
		{name: "mediaType says index, served as manifest", edit: func(m map[string]any) { m["mediaType"] = ocispec.MediaTypeImageIndex }},
		{name: "served as index", contentType: ocispec.MediaTypeImageIndex, edit: func(m map[string]any) { delete(m, "mediaType") }},
		{name: "layer digest does not parse", edit: func(m map[string]any) { layer(m)["digest"] = "sha256:nothex" }},
		{name: "config digest of an unsupported algorithm", edit: func(m map[string]any) { config(m)["digest"] = "md5:d41d8cd98f00b204e9800998ecf8427e" }},
		{name: "layer without mediaType", edit: func(m map[string]any) { delete(layer(m), "mediaType") }},
		{name: "config size disagrees with its embedded data", edit: func(m map[string]any) { config(m)["data"] = "e30=" }},
		{name: "config digest given twice", raw: func(b []byte) []byte {
			return []byte(strings.Replace(string(b), `"config":{`, `"config":{"digest":"`+digest.FromString("decoy").String()+`",`, 1))
		}},
		{name: "config larger than it is", edit: func(m map[string]any) { config(m)["size"] = config(m)["size"].(float64) + 1 },
			want: registry.ErrDigestMismatch, blobGet: true},
	}
}

// serveInvalid starts a registry that holds a published VM disk web:1.0.0
// but answers for that tag with c's manifest, and counts the blob GETs.
func serveInvalid(t *testing.T, c invalidManifest) (host string, blobGets *atomic.Int64, bad ocispec.Descriptor) {
	t.Helper()
	backend := inProcess(t)
	_, _, body := seed(t, backend)
	if c.edit != nil {
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatal(err)
		}
		c.edit(m)
		var err error
		if body, err = json.Marshal(m); err != nil {
			t.Fatal(err)
		}
	}
	if c.raw != nil {
		body = c.raw(body)
	}
	ct := c.contentType
	if ct == "" {
		ct = ocispec.MediaTypeImageManifest
	}
	bad = ocispec.Descriptor{MediaType: ct, Digest: digest.FromBytes(body), Size: int64(len(body))}
	blobGets = new(atomic.Int64)
	host = liar(t, backend, func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") {
			blobGets.Add(1)
		}
		if r.URL.Path != "/v2/web/manifests/1.0.0" && r.URL.Path != "/v2/web/manifests/"+bad.Digest.String() {
			return false
		}
		w.Header().Set("Content-Type", ct)
		w.Header().Set("Docker-Content-Digest", bad.Digest.String())
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		if r.Method == http.MethodGet {
			w.Write(body)
		}
		return true
	})
	return host, blobGets, bad
}

// TestInvalidManifestsRefused serves, for a tag, manifests that are not
// valid OCI: a copy (registry.Copy), a tracking copy (registry.CopyGraph,
// what publish oci-image --from does) and catalog.Rebuild each refuse
// every one, naming the reference and the problem, before any blob is
// fetched, and leave the layout store as it was.
func TestInvalidManifestsRefused(t *testing.T) {
	for _, c := range invalidManifests() {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			host, blobGets, bad := serveInvalid(t, c)
			s, err := New(host, WithRetry(Retry{Attempts: 1}))
			if err != nil {
				t.Fatal(err)
			}
			want := c.want
			if want == nil {
				want = artifact.ErrInvalidOCI
			}
			check := func(how string, err error, names string) {
				t.Helper()
				if !errors.Is(err, want) || !strings.Contains(err.Error(), names) {
					t.Errorf("%s: err = %v, want %v naming %s", how, err, want, names)
				}
				if n := blobGets.Load(); n > 0 && !c.blobGet {
					t.Errorf("%s: %d blobs fetched before the manifest was refused", how, n)
				}
				blobGets.Store(0)
			}

			root := t.TempDir()
			dst, err := layout.New(root)
			if err != nil {
				t.Fatal(err)
			}
			_, err = registry.Copy(ctx, s, "web", dst, "1.0.0")
			check("copy", err, "web:1.0.0")
			emptyDir(t, root)

			if desc, err := s.Resolve(ctx, "web", "1.0.0"); err != nil {
				t.Errorf("resolve: %v", err)
			} else {
				check("track", registry.CopyGraph(ctx, s, "web", dst, desc, registry.ToRepository("tracked")), bad.Digest.String())
			}
			emptyDir(t, root)

			rep, err := catalog.Rebuild(ctx, newCatalog(t), s, s.String(), nil)
			check("rebuild", err, "web:1.0.0")
			if rep.Artifacts != 0 {
				t.Errorf("rebuild recorded %d artifacts", rep.Artifacts)
			}
		})
	}
}

// emptyDir fails t if the layout store root holds anything.
func emptyDir(t *testing.T, root string) {
	t.Helper()
	var left []string
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if p != root {
			left = append(left, strings.TrimPrefix(p, root))
		}
		return err
	})
	if len(left) > 0 {
		t.Errorf("a failed copy left %v in the layout store", left)
	}
}

// TestFailedCopyTakesBack: a copy whose disk layer the registry breaks
// fails after the config is in the layout store; the store then holds
// what it held before: a new repository is gone, and in an existing one
// the other artifact's blobs and tag stay while the copy's config goes.
func TestFailedCopyTakesBack(t *testing.T) {
	ctx := context.Background()
	backend := inProcess(t)
	_, ldesc, _ := seed(t, backend)
	host := liar(t, backend, func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/"+ldesc.Digest.String()) {
			http.Error(w, "no", http.StatusForbidden)
			return true
		}
		return false
	})
	s, _ := New(host, WithRetry(Retry{Attempts: 1}))
	root := t.TempDir()
	dst, _ := layout.New(root)
	if _, err := registry.Copy(ctx, s, "team/web", dst, "1.0.0"); err == nil {
		t.Fatal("copy of a repository the registry does not have succeeded")
	}
	if _, err := registry.Copy(ctx, s, "web", dst, "1.0.0", registry.ToRepository("team/web")); err == nil {
		t.Fatal("copy with a broken layer succeeded")
	}
	emptyDir(t, root)

	// An existing repository keeps what it had.
	v, _ := artifact.ParseVersion("2.0.0")
	mi := &artifact.Artifact{Name: "web", Kind: artifact.KindMachineImage, Version: v,
		MachineImage: &artifact.MachineImage{Provider: "aws", Owner: "123456789012", Images: map[string]string{"eu-west-1": "ami-1"}}}
	if _, err := registry.Publish(ctx, dst, mi); err != nil {
		t.Fatal(err)
	}
	before := blobNames(t, root, "web")
	if _, err := registry.Copy(ctx, s, "web", dst, "1.0.0"); err == nil {
		t.Fatal("copy with a broken layer succeeded")
	}
	if after := blobNames(t, root, "web"); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("blobs before the failed copy %v, after %v", before, after)
	}
	if _, err := dst.Resolve(ctx, "web", "2.0.0"); err != nil {
		t.Errorf("the artifact that was there: %v", err)
	}
}

func blobNames(t *testing.T, root, repo string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(root, repo, "blobs", "sha256"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// FuzzListing has a registry answer every page of the catalog, tag and
// referrers listings with the same Link header and body, both arbitrary:
// each listing ends, without a panic, after at most MaxPages requests.
func FuzzListing(f *testing.F) {
	f.Add(`</v2/web/tags/list?n=1000>; rel="next"`, []byte(`{"tags":["1.0.0"],"repositories":["web"],"manifests":[]}`))
	f.Add(`<?last=x>; rel="next"`, []byte(`{}`))
	f.Add(`<http://127.0.0.1:1/v2/_catalog?n=1000&last=web>; rel="next"`, []byte(`{"repositories":["web","app"]}`))
	f.Add(``, []byte(`not json`))
	f.Fuzz(func(t *testing.T, link string, body []byte) {
		var pages atomic.Int64
		rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			h := http.Header{}
			if r.URL.Path != "/v2/" {
				pages.Add(1)
				h.Set("Link", link)
			}
			return &http.Response{StatusCode: http.StatusOK, Header: h, Body: io.NopCloser(bytes.NewReader(body)), Request: r}, nil
		})
		s, err := New("127.0.0.1:1", WithTransport(rt), WithRetry(Retry{Attempts: 1}))
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		s.Repositories(ctx)
		s.Tags(ctx, "web")
		s.Referrers(ctx, "web", digest.FromString("subject"))
		if n := pages.Load(); n > 3*MaxPages {
			t.Fatalf("%d pages asked for by three listings", n)
		}
	})
}
