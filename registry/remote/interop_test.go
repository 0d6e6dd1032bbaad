package remote

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/registry"
	"github.com/brickyard/brickyard/registry/registrytest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// cachedTool finds a peer CLI built by scripts/build-tools.
func cachedTool(t *testing.T, name string) string {
	t.Helper()
	dir, err := os.UserCacheDir()
	if err == nil {
		p := filepath.Join(dir, "brickyard-test", "bin", name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	t.Skipf("SKIPPED LOUDLY: %s is not built (scripts/build-tools %s); interop with it not checked", name, name)
	return ""
}

// TestOrasDiscoversReferrers: an OCI-image artifact published to the
// distribution registry (no referrers API) is found by `oras discover`
// through the referrers tag schema, with brickyard's artifactType.
func TestOrasDiscoversReferrers(t *testing.T) {
	oras := cachedTool(t, "oras")
	ctx := context.Background()
	host := registrytest.StartDistribution(t)
	s, err := New(host)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := s.PushBlob(ctx, "app", ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig}, strings.NewReader(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`))
	if err != nil {
		t.Fatal(err)
	}
	m := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` +
		cfg.Digest.String() + `","size":` + itoa(cfg.Size) + `},"layers":[]}`
	image, err := s.PushManifest(ctx, "app", ocispec.MediaTypeImageManifest, []byte(m))
	if err != nil {
		t.Fatal(err)
	}
	v, _ := artifact.ParseVersion("1.0.0")
	e, err := registry.Publish(ctx, s, &artifact.Artifact{Name: "app", Kind: artifact.KindOCIImage, Version: v, Image: &image})
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(oras, "discover", "--plain-http", "--format", "json", host+"/app@"+image.Digest.String()).CombinedOutput()
	if err != nil {
		t.Fatalf("oras discover: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), e.Descriptor.Digest.String()) || !strings.Contains(string(out), artifact.ArtifactTypeOCIImage) {
		t.Errorf("oras discover does not list the artifact %s:\n%s", e.Descriptor.Digest, out)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
