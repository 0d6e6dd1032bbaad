package main

import (
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// lyingRegistry starts an in-process registry holding a published VM disk
// web:1.0.0 (published and copied there by brickyard itself) and, in
// front of it, a registry that forwards to it but lets lie rewrite
// answers. It returns the lying registry's host, the real manifest of
// web:1.0.0, and the count of blob GETs the lying registry received.
func lyingRegistry(t *testing.T, lie func(w http.ResponseWriter, r *http.Request) bool) (host string, manifest []byte, blobGets *atomic.Int64) {
	t.Helper()
	backend := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)), ggcrregistry.WithReferrersSupport(true)))
	t.Cleanup(backend.Close)
	seeder := newCLI(t)
	seeder.ok("publish", "vm-disk", "web", "1.0.0", seeder.disk("web.qcow2", "qcow2"), "--key", seeder.key())
	bhost := strings.TrimPrefix(backend.URL, "http://")
	seeder.ok("copy", "web@1.0.0", bhost+"/web:1.0.0")
	req, _ := http.NewRequest(http.MethodGet, backend.URL+"/v2/web/manifests/1.0.0", nil)
	req.Header.Set("Accept", ocispec.MediaTypeImageManifest)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	manifest, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(backend.URL)
	proxy := httputil.NewSingleHostReverseProxy(u)
	blobGets = new(atomic.Int64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") {
			blobGets.Add(1)
		}
		if r.URL.Path == "/v2/" || !lie(w, r) {
			proxy.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://"), manifest, blobGets
}

// within runs brickyard argv, failing t if it has not ended after a
// minute (a listing that loops would never end).
func (c *cli) within(argv ...string) (stdout, stderr string, code int) {
	c.t.Helper()
	type result struct {
		out, errs string
		code      int
	}
	done := make(chan result, 1)
	go func() {
		out, errs, code := c.run(argv...)
		done <- result{out, errs, code}
	}()
	select {
	case r := <-done:
		return r.out, r.errs, r.code
	case <-time.After(time.Minute):
		c.t.Fatalf("brickyard %s has not ended after a minute", strings.Join(argv, " "))
		return "", "", 0
	}
}

// storeFiles lists what the home store holds.
func (c *cli) storeFiles() []string {
	c.t.Helper()
	var files []string
	root := filepath.Join(c.home, "store")
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && p != root {
			files = append(files, strings.TrimPrefix(p, root))
		}
		return nil
	})
	return files
}

// TestPaginationLoopsEnd: `catalog rebuild --from` a registry whose
// _catalog Link header points back at itself, or to a new page every time,
// and `copy` from one whose referrers do, end with exit 1 and an error
// naming the registry and the listing; the copy leaves nothing in the
// home store.
func TestPaginationLoopsEnd(t *testing.T) {
	for _, endless := range []bool{false, true} {
		var pages atomic.Int64
		host, _, _ := lyingRegistry(t, func(w http.ResponseWriter, r *http.Request) bool {
			if r.URL.Path == "/v2/_catalog" || strings.Contains(r.URL.Path, "/referrers/") {
				next := r.URL.RequestURI()
				if endless {
					next = r.URL.Path + "?last=" + strconv.FormatInt(pages.Add(1), 10)
				}
				w.Header().Set("Link", "<"+next+`>; rel="next"`)
			}
			return false
		})
		c := newCLI(t)
		says := []string{host, "list repositories", "the Link header of page 1 names page 1 again"}
		if endless {
			says = []string{host, "list repositories", "more than 1000 pages"}
		}
		_, errs, code := c.within("catalog", "rebuild", "--from", host)
		if code != exitError || !containsAll(errs, says) {
			t.Errorf("rebuild (endless %v): exit %d, want %d and %q:\n%s", endless, code, exitError, says, errs)
		}
		before := c.storeFiles()
		says[1] = "referrers of"
		_, errs, code = c.within("copy", host+"/web:1.0.0", "web:1.0.0")
		if code != exitError || !containsAll(errs, says) {
			t.Errorf("copy (endless %v): exit %d, want %d and %q:\n%s", endless, code, exitError, says, errs)
		}
		if after := c.storeFiles(); !slices.Equal(before, after) {
			t.Errorf("copy (endless %v) left %v in the home store (before: %v)", endless, after, before)
		}
	}
}

func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// TestInvalidManifestsRefusedByCLI has a registry answer for web:1.0.0
// with a manifest that is not valid OCI: copy, publish oci-image --from
// and catalog rebuild --from each exit 1 naming the problem, fetch no
// blob, and leave the home store and catalog as they were.
func TestInvalidManifestsRefusedByCLI(t *testing.T) {
	cases := []struct {
		name, contentType, says string
		edit                    func(m map[string]any)
		body                    string
	}{
		{name: "negative layer size", says: "negative size", edit: func(m map[string]any) { m["layers"].([]any)[0].(map[string]any)["size"] = -1 }},
		{name: "absurd config size", says: "exceeds size limit", edit: func(m map[string]any) { m["config"].(map[string]any)["size"] = int64(1) << 60 }},
		{name: "schema 1", says: "schema 1", contentType: "application/vnd.docker.distribution.manifest.v1+prettyjws",
			body: `{"schemaVersion":1,"name":"web","tag":"1.0.0","fsLayers":[{"blobSum":"` + digest.FromString("l").String() + `"}],"signatures":[{"signature":"x"}]}`},
		{name: "layers and manifests", says: "CVE-2021-41190", edit: func(m map[string]any) {
			m["manifests"] = []any{map[string]any{"mediaType": ocispec.MediaTypeImageManifest, "digest": digest.FromString("x").String(), "size": 3}}
		}},
		{name: "mediaType field says index", says: "CVE-2021-41190", edit: func(m map[string]any) { m["mediaType"] = ocispec.MediaTypeImageIndex }},
		{name: "digest that does not parse", says: `"sha256:NOTHEX"`, edit: func(m map[string]any) { m["layers"].([]any)[0].(map[string]any)["digest"] = "sha256:NOTHEX" }},
		{name: "layer without media type", says: "no mediaType", edit: func(m map[string]any) { delete(m["layers"].([]any)[0].(map[string]any), "mediaType") }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var bad []byte
			ct := tc.contentType
			if ct == "" {
				ct = ocispec.MediaTypeImageManifest
			}
			host, manifest, blobGets := lyingRegistry(t, func(w http.ResponseWriter, r *http.Request) bool {
				if r.URL.Path != "/v2/web/manifests/1.0.0" && r.URL.Path != "/v2/web/manifests/"+digest.FromBytes(bad).String() {
					return false
				}
				w.Header().Set("Content-Type", ct)
				w.Header().Set("Docker-Content-Digest", digest.FromBytes(bad).String())
				w.Header().Set("Content-Length", strconv.Itoa(len(bad)))
				if r.Method == http.MethodGet {
					w.Write(bad)
				}
				return true
			})
			if tc.edit != nil {
				var m map[string]any
				if err := json.Unmarshal(manifest, &m); err != nil {
					t.Fatal(err)
				}
				tc.edit(m)
				bad, _ = json.Marshal(m)
			} else {
				bad = []byte(tc.body)
			}
			c := newCLI(t)
			before := c.storeFiles()
			for _, argv := range [][]string{
				{"copy", host + "/web:1.0.0", "web:1.0.0"},
				{"publish", "oci-image", "tracked", "1.0.0", "--from", "docker://" + host + "/web:1.0.0"},
				{"catalog", "rebuild", "--from", host},
			} {
				blobGets.Store(0)
				c.fail(exitError, []string{"invalid manifest", tc.says, "web"}, argv...)
				if n := blobGets.Load(); n > 0 {
					t.Errorf("%s: %d blobs fetched before the manifest was refused", argv[0], n)
				}
				if after := c.storeFiles(); !slices.Equal(before, after) {
					t.Errorf("%s left %v in the home store (before: %v)", argv[0], after, before)
				}
			}
			c.fail(exitNotFound, nil, "inspect", "web@1.0.0")
			c.fail(exitNotFound, nil, "inspect", "tracked@1.0.0")
		})
	}
}

// TestFailedPublishLeavesNothing: a publish whose second disk cannot be
// read, and one whose version tag the store already holds for other
// content (the catalog having lost its record), fail and leave the home
// store as it was: no disk blob, config, manifest or empty repository.
func TestFailedPublishLeavesNothing(t *testing.T) {
	c := newCLI(t)
	before := c.storeFiles()
	notADisk := filepath.Join(c.dir, "a-directory")
	if err := os.Mkdir(notADisk, 0o755); err != nil {
		t.Fatal(err)
	}
	c.fail(exitError, []string{"a-directory"}, "publish", "vm-disk", "web", "1.0.0", c.disk("web.qcow2", "qcow2"), notADisk)
	if after := c.storeFiles(); !slices.Equal(before, after) {
		t.Errorf("a failed publish left %v in the home store (before: %v)", after, before)
	}

	c.ok("publish", "vm-disk", "web", "1.0.0", c.disk("web.qcow2", "qcow2"))
	for _, f := range []string{"catalog.db", "catalog.db-wal", "catalog.db-shm"} {
		os.Remove(filepath.Join(c.home, f))
	}
	c.ok("init")
	before = c.storeFiles()
	other := filepath.Join(c.dir, "other.raw")
	if err := os.WriteFile(other, []byte(strings.Repeat("other disk ", 512)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, errs, code := c.run("publish", "vm-disk", "web", "1.0.0", other); code == exitOK || !strings.Contains(errs, "immutable") {
		t.Fatalf("publishing other content under a version the store holds: exit %d, want a failure saying the tag is immutable:\n%s", code, errs)
	}
	if after := c.storeFiles(); !slices.Equal(before, after) {
		t.Errorf("a refused publish left %v in the home store (before: %v)", after, before)
	}
}
