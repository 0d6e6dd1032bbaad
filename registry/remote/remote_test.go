package remote

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/brickyard/brickyard/registry"
	"github.com/brickyard/brickyard/registry/registrytest"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func inProcess(t *testing.T, opts ...ggcrregistry.Option) string {
	t.Helper()
	srv := httptest.NewServer(ggcrregistry.New(append(opts, ggcrregistry.Logger(log.New(io.Discard, "", 0)))...))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func store(t *testing.T, host string) registry.Store {
	t.Helper()
	s, err := New(host)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformanceInProcess(t *testing.T) {
	registrytest.Run(t, func(t *testing.T) registry.Store { return store(t, inProcess(t)) }, registrytest.WithoutAtomicTags())
}

// TestConformanceInProcessReferrers runs the suite against the in-process
// registry with its OCI 1.1 referrers API turned on.
func TestConformanceInProcessReferrers(t *testing.T) {
	registrytest.Run(t, func(t *testing.T) registry.Store {
		return store(t, inProcess(t, ggcrregistry.WithReferrersSupport(true)))
	}, registrytest.WithoutAtomicTags(), registrytest.WithWrongReferrersArtifactType())
}

func TestConformanceDistribution(t *testing.T) {
	registrytest.Run(t, func(t *testing.T) registry.Store { return store(t, registrytest.StartDistribution(t)) }, registrytest.WithoutAtomicTags())
}

func TestNew(t *testing.T) {
	for _, bad := range []string{"", "UPPER CASE:5000", "host/Bad Namespace"} {
		if _, err := New(bad); err == nil {
			t.Errorf("New(%q) accepted", bad)
		}
	}
	s, err := New("127.0.0.1:5000/team")
	if err != nil || s.String() != "127.0.0.1:5000/team" {
		t.Fatalf("New = %v, %v", s, err)
	}
	if _, err := s.Tags(context.Background(), "Bad Name"); err == nil {
		t.Error("invalid repository accepted")
	}
	if _, err := New("127.0.0.1:5000/Team"); err == nil {
		t.Error("invalid namespace accepted")
	}
}

// TestCrossRepositoryMount: a blob the registry holds in one repository is
// mounted into another (POST with mount=) without being read or sent
// again. Distribution keeps each repository's blobs apart, so the second
// push needs the mount; go-containerregistry's in-process registry shares
// blobs across repositories, so there a HEAD finds the blob and no mount
// happens, and it is not tested.
func TestCrossRepositoryMount(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	var mounts []string
	host := liar(t, registrytest.StartDistribution(t), func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodPost && r.URL.Query().Get("mount") != "" {
			mu.Lock()
			mounts = append(mounts, r.URL.Path+" from "+r.URL.Query().Get("from"))
			mu.Unlock()
		}
		return false
	})
	s := store(t, host)
	body := strings.Repeat("shared base layer ", 100_000)
	d, err := s.PushBlob(ctx, "team/base", ocispec.Descriptor{MediaType: "application/octet-stream"}, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.PushBlob(ctx, "team/web", d, failingReader{})
	if err != nil || got.Digest != d.Digest {
		t.Fatalf("mount: %v, %v", got, err)
	}
	if ok, err := s.Exists(ctx, "team/web", d); !ok || err != nil {
		t.Fatalf("mounted blob missing: %v, %v", ok, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := "/v2/team/web/blobs/uploads/ from team/base"; len(mounts) != 1 || mounts[0] != want {
		t.Errorf("mount requests %q, want one: %q", mounts, want)
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }

// TestRepositories lists a registry's repositories through its catalog
// API, whole and below a namespace, and names a registry that does not
// offer it.
func TestRepositories(t *testing.T) {
	ctx := context.Background()
	for name, host := range map[string]string{"distribution": registrytest.StartDistribution(t), "in-process": inProcess(t)} {
		t.Run(name, func(t *testing.T) {
			s := store(t, host)
			cfg := []byte("{}")
			for _, repo := range []string{"team/web", "other", "team/base"} {
				cd, err := s.PushBlob(ctx, repo, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig}, bytes.NewReader(cfg))
				if err != nil {
					t.Fatal(err)
				}
				m, _ := json.Marshal(ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest, Config: cd, Layers: []ocispec.Descriptor{}})
				md, err := s.PushManifest(ctx, repo, ocispec.MediaTypeImageManifest, m)
				if err != nil {
					t.Fatal(err)
				}
				if err := s.Tag(ctx, repo, md, "1.0.0"); err != nil {
					t.Fatal(err)
				}
			}
			all, err := s.(*Store).Repositories(ctx)
			if err != nil || !slices.Equal(all, []string{"other", "team/base", "team/web"}) {
				t.Errorf("Repositories = %q, %v", all, err)
			}
			team, err := New(host + "/team")
			if err != nil {
				t.Fatal(err)
			}
			if got, err := team.Repositories(ctx); err != nil || !slices.Equal(got, []string{"base", "web"}) {
				t.Errorf("Repositories below team/ = %q, %v", got, err)
			}
		})
	}
	t.Run("NoCatalog", func(t *testing.T) {
		host := liar(t, inProcess(t), func(w http.ResponseWriter, r *http.Request) bool {
			if r.URL.Path != "/v2/_catalog" {
				return false
			}
			http.Error(w, `{"errors":[{"code":"UNSUPPORTED","message":"the catalog is not offered"}]}`, http.StatusNotFound)
			return true
		})
		_, err := store(t, host).(*Store).Repositories(ctx)
		if !errors.Is(err, errors.ErrUnsupported) || !strings.Contains(err.Error(), host) {
			t.Errorf("Repositories of a registry without a catalog = %v, want ErrUnsupported naming %s", err, host)
		}
	})
}

// TestExistingBlobOfOtherSize: a blob the registry holds is not skipped,
// nor reported present, for a descriptor of another size: that is an error
// naming the registry, repository and blob.
func TestExistingBlobOfOtherSize(t *testing.T) {
	ctx := context.Background()
	host := inProcess(t)
	s := store(t, host)
	body := "hello world"
	d, err := s.PushBlob(ctx, "sized", ocispec.Descriptor{MediaType: "application/octet-stream"}, strings.NewReader(body))
	if err != nil || d.Size != int64(len(body)) {
		t.Fatalf("push = %+v, %v", d, err)
	}
	wrong := d
	wrong.Size = 999
	got, err := s.PushBlob(ctx, "sized", wrong, strings.NewReader(body))
	if !errors.Is(err, registry.ErrDigestMismatch) {
		t.Fatalf("push again with size 999 = %+v, %v; want ErrDigestMismatch", got, err)
	}
	for _, want := range []string{host, "sized", d.Digest.String(), "999", "11"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %q: %v", want, err)
		}
	}
	if ok, err := s.Exists(ctx, "sized", wrong); ok || !errors.Is(err, registry.ErrDigestMismatch) {
		t.Errorf("Exists with size 999 = %v, %v; want ErrDigestMismatch", ok, err)
	}
	if ok, err := s.Exists(ctx, "sized", d); !ok || err != nil {
		t.Errorf("Exists with its size = %v, %v", ok, err)
	}
}
