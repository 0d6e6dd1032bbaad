package remote

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/registry"
	"github.com/brickyard/brickyard/registry/layout"
	"github.com/brickyard/brickyard/registry/registrytest"
	"github.com/brickyard/brickyard/sign"
	"github.com/brickyard/brickyard/sign/cosignkey"
)

// publishedDisk starts a real distribution registry and publishes a 3 MiB
// VM disk as base 1.0.0 in a layout store in root.
func publishedDisk(t *testing.T) (remote *Store, src *layout.Store, root string, d artifact.Disk, e *artifact.Encoded) {
	t.Helper()
	ctx := context.Background()
	remote, err := New(registrytest.StartDistribution(t) + "/team")
	if err != nil {
		t.Fatal(err)
	}
	root = t.TempDir()
	if src, err = layout.New(root); err != nil {
		t.Fatal(err)
	}
	if d, err = registry.PushDisk(ctx, src, "base", randomDisk(t, 3<<20), nil); err != nil {
		t.Fatal(err)
	}
	v, _ := artifact.ParseVersion("1.0.0")
	pub, err := registry.Publish(ctx, src, &artifact.Artifact{Name: "base", Kind: artifact.KindVMDisk, Version: v, Disks: []artifact.Disk{d}})
	if err != nil {
		t.Fatal(err)
	}
	return remote, src, root, d, pub.Encoded
}

// TestCopyCarriesSignatures publishes and signs a VM disk in a layout
// store, promotes it to a real distribution registry, pulls it back into a
// fresh layout, and checks that digests survive and the signature verifies
// at each hop; skopeo reads what is in the registry.
func TestCopyCarriesSignatures(t *testing.T) {
	ctx := context.Background()
	remote, src, _, _, e := publishedDisk(t)
	priv, pub, err := cosignkey.GenerateKeyPair([]byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := cosignkey.LoadSigner(priv, []byte("pw"))
	verifier, _ := sign.NewVerifier(pub)
	if _, err := signer.Sign(ctx, src, "base", "base", e.Descriptor); err != nil {
		t.Fatal(err)
	}

	got, err := registry.Copy(ctx, src, "base", remote, "1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	if got.Digest != e.Descriptor.Digest {
		t.Fatalf("copied %s, published %s", got.Digest, e.Descriptor.Digest)
	}
	if _, err := verifier.Verify(ctx, remote, "base", "base", got.Digest); err != nil {
		t.Fatalf("signature in the registry: %v", err)
	}
	// Copying again is a no-op; onto a tag holding other content, refused.
	if _, err := registry.Copy(ctx, src, "base", remote, "1.0.0"); err != nil {
		t.Fatalf("second copy: %v", err)
	}

	back, err := layout.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := registry.Copy(ctx, remote, "base", back, "1.0.0"); err != nil {
		t.Fatal(err)
	}
	if _, err := verifier.Verify(ctx, back, "base", "base", got.Digest); err != nil {
		t.Fatalf("signature after the round trip: %v", err)
	}
	v2, _ := artifact.ParseVersion("1.0.0")
	_, err = registry.Publish(ctx, back, &artifact.Artifact{Name: "other", Kind: artifact.KindMachineImage, Version: v2,
		MachineImage: &artifact.MachineImage{Provider: "aws", Owner: "123456789012", Images: map[string]string{"eu-west-1": "ami-1"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := registry.Copy(ctx, back, "other", remote, "1.0.0", registry.ToRepository("base")); !errors.Is(err, registry.ErrImmutableTag) {
		t.Errorf("copy onto a taken version: %v", err)
	}

	t.Run("skopeo reads it", func(t *testing.T) {
		if _, err := exec.LookPath("skopeo"); err != nil {
			t.Skip("SKIPPED LOUDLY: skopeo is not installed (scripts/test installs it); interop not checked")
		}
		ref := "docker://" + remote.Identity("base") + ":1.0.0"
		out, err := exec.Command("skopeo", "inspect", "--raw", "--tls-verify=false", ref).Output()
		if err != nil || string(out) != string(e.Manifest) {
			t.Errorf("skopeo inspect --raw %s: %v\n%s", ref, err, out)
		}
		dir := filepath.Join(t.TempDir(), "oci")
		if out, err := exec.Command("skopeo", "copy", "--src-tls-verify=false", ref, "oci:"+dir+":1.0.0").CombinedOutput(); err != nil {
			t.Errorf("skopeo copy: %v\n%s", err, out)
		} else if !strings.Contains(string(out), "Writing manifest") {
			t.Logf("skopeo copy said: %s", out)
		}
	})
}

// TestPushCorruptSourceRefused corrupts a disk blob in a layout store (same
// size, other bytes) and promotes it to a real distribution registry: the
// layout's reader skips its own hash (the registry checks the digest on
// commit), so the registry must refuse the blob, and the version tag must
// not appear.
func TestPushCorruptSourceRefused(t *testing.T) {
	ctx := context.Background()
	remote, src, root, d, _ := publishedDisk(t)
	blob := filepath.Join(root, "base", "blobs", "sha256", d.Digest.Encoded())
	f, err := os.OpenFile(blob, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("bit rot"), 1<<20); err != nil {
		t.Fatal(err)
	}
	f.Close()

	_, err = registry.Copy(ctx, src, "base", remote, "1.0.0")
	if !errors.Is(err, registry.ErrDigestMismatch) || !strings.Contains(err.Error(), d.Digest.String()) {
		t.Fatalf("pushing a corrupt blob: %v, want ErrDigestMismatch naming the blob", err)
	}
	if !strings.Contains(err.Error(), "the registry refused") {
		t.Errorf("pushing a corrupt blob: %v: want the registry's refusal (the layout should not have hashed it too)", err)
	}
	if _, err := remote.Resolve(ctx, "base", "1.0.0"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("the tag after a refused push: %v, want not found", err)
	}
}
