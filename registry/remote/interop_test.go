package remote

import (
	"bytes"
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
// through the referrers tag schema, with brickyard's artifactType; `oras cp
// -r` carries it to another repository where brickyard finds it, and
// `oras discover` finds it where brickyard's Copy carried it.
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

	// oras cp -r carries it along, and brickyard finds it in the copy...
	if out, err := exec.Command(oras, "cp", "-r", "--from-plain-http", "--to-plain-http", host+"/app@"+image.Digest.String(), host+"/by-oras:v1").CombinedOutput(); err != nil {
		t.Fatalf("oras cp -r: %v\n%s", err, out)
	}
	if refs, err := registry.Referrers(ctx, s, "by-oras", image.Digest, artifact.ArtifactTypeOCIImage); err != nil || len(refs) != 1 || refs[0].Digest != e.Descriptor.Digest {
		t.Errorf("referrers after oras cp -r = %+v, %v; want the artifact", refs, err)
	}
	// ...and the other way round: oras finds it in brickyard's copy.
	if err := s.Tag(ctx, "app", image, "v1"); err != nil {
		t.Fatal(err)
	}
	if _, err := registry.Copy(ctx, s, "app", s, "v1", registry.ToRepository("by-brickyard")); err != nil {
		t.Fatal(err)
	}
	out, err = exec.Command(oras, "discover", "--plain-http", "--format", "json", host+"/by-brickyard@"+image.Digest.String()).CombinedOutput()
	if err != nil || !strings.Contains(string(out), e.Descriptor.Digest.String()) {
		t.Errorf("oras discover after brickyard's copy: %v, does not list the artifact %s:\n%s", err, e.Descriptor.Digest, out)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestCraneInterop: against the real distribution registry, crane reads
// what brickyard pushes (manifest, digest, the disk blob byte for byte)
// and copies it intact (brickyard decodes the copy to the same artifact);
// and an image crane builds is tracked by brickyard as an OCI-image
// artifact whose subject crane then sees.
func TestCraneInterop(t *testing.T) {
	crane := cachedTool(t, "crane")
	ctx := context.Background()
	host := registrytest.StartDistribution(t)
	s, err := New(host)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	raw := filepath.Join(dir, "disk.raw")
	if err := os.WriteFile(raw, bytes.Repeat([]byte("brickyard disk 0"), 65536), 0o644); err != nil {
		t.Fatal(err)
	}
	disk, err := registry.PushDisk(ctx, s, "disk", raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := artifact.ParseVersion("1.0.0")
	e, err := registry.Publish(ctx, s, &artifact.Artifact{Name: "disk", Kind: artifact.KindVMDisk, Version: v, Disks: []artifact.Disk{disk}})
	if err != nil {
		t.Fatal(err)
	}
	craneOut := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(crane, append([]string{"--insecure"}, args...)...).Output()
		if err != nil {
			t.Fatalf("crane %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	if got := strings.TrimSpace(craneOut("digest", host+"/disk:1.0.0")); got != e.Descriptor.Digest.String() {
		t.Errorf("crane digest = %s, want %s", got, e.Descriptor.Digest)
	}
	if m := craneOut("manifest", host+"/disk:1.0.0"); !strings.Contains(m, artifact.ArtifactTypeVMDisk) {
		t.Errorf("crane manifest lacks the artifactType:\n%s", m)
	}
	want, _ := os.ReadFile(raw)
	if got := craneOut("blob", host+"/disk@"+disk.Digest.String()); got != string(want) {
		t.Errorf("crane blob: %d bytes, not the disk's %d", len(got), len(want))
	}
	craneOut("copy", host+"/disk:1.0.0", host+"/disk-copy:1.0.0")
	desc, err := s.Resolve(ctx, "disk-copy", "1.0.0")
	if err != nil || desc.Digest != e.Descriptor.Digest {
		t.Fatalf("after crane copy: %v, %v", desc, err)
	}
	a, _, _, err := registry.FetchArtifact(ctx, s, "disk-copy", desc)
	if err != nil || a.Kind != artifact.KindVMDisk || a.Version.String() != "1.0.0" || len(a.Disks) != 1 || a.Disks[0].Digest != disk.Digest {
		t.Fatalf("brickyard reads crane's copy as %+v, %v", a, err)
	}

	// crane builds an image from a tarball layer; brickyard tracks it.
	tarPath := filepath.Join(dir, "layer.tar")
	if out, err := exec.Command("tar", "-C", dir, "-cf", tarPath, "disk.raw").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}
	craneOut("append", "-f", tarPath, "-t", host+"/app:base", "--oci-empty-base")
	image, err := s.Resolve(ctx, "app", "base")
	if err != nil {
		t.Fatal(err)
	}
	tracked, err := registry.Publish(ctx, s, &artifact.Artifact{Name: "app", Kind: artifact.KindOCIImage, Version: v, Image: &image})
	if err != nil {
		t.Fatalf("track crane's image: %v", err)
	}
	if m := craneOut("manifest", host+"/app:1.0.0"); !strings.Contains(m, `"subject"`) || !strings.Contains(m, image.Digest.String()) {
		t.Errorf("crane sees no subject %s in the tracking artifact:\n%s", image.Digest, m)
	}
	if got := strings.TrimSpace(craneOut("digest", host+"/app:1.0.0")); got != tracked.Descriptor.Digest.String() {
		t.Errorf("crane digest of the tracking artifact = %s, want %s", got, tracked.Descriptor.Digest)
	}
}
