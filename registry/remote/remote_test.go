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
