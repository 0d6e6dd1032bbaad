package remote

import (
	"context"
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/brickyard/brickyard/registry"
	"github.com/brickyard/brickyard/registry/registrytest"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
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
// mounted into another without being read or sent again.
func TestCrossRepositoryMount(t *testing.T) {
	ctx := context.Background()
	for name, host := range map[string]string{"distribution": registrytest.StartDistribution(t), "in-process": inProcess(t)} {
		t.Run(name, func(t *testing.T) {
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
		})
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }
