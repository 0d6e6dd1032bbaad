package registry_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/registry"
	"github.com/brickyard/brickyard/registry/remote"
	"github.com/brickyard/brickyard/sign"
	"github.com/brickyard/brickyard/sign/cosignkey"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// inProcess starts go-containerregistry's in-process registry, with the
// OCI 1.1 referrers API or without it (then referrers use the tag schema).
func inProcess(t *testing.T, referrersAPI bool) registry.Store {
	t.Helper()
	srv := httptest.NewServer(ggcrregistry.New(ggcrregistry.WithReferrersSupport(referrersAPI), ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	s, err := remote.New(strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// pushImage pushes a one-layer image manifest holding content into repo,
// untagged.
func pushImage(t *testing.T, s registry.Store, repo, content string) ocispec.Descriptor {
	t.Helper()
	ctx := context.Background()
	cfg, err := s.PushBlob(ctx, repo, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig}, strings.NewReader(`{"architecture":"amd64","os":"linux"}`))
	if err != nil {
		t.Fatal(err)
	}
	layer, err := s.PushBlob(ctx, repo, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer}, strings.NewReader(content))
	if err != nil {
		t.Fatal(err)
	}
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: cfg, Layers: []ocispec.Descriptor{layer}}
	m.SchemaVersion = 2
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	d, err := s.PushManifest(ctx, repo, ocispec.MediaTypeImageManifest, b)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func keys(t *testing.T) (*sign.Signer, *sign.Verifier) {
	t.Helper()
	priv, pub, err := cosignkey.GenerateKeyPair([]byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := cosignkey.LoadSigner(priv, []byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := sign.NewVerifier(pub)
	if err != nil {
		t.Fatal(err)
	}
	return s, v
}

// attest attests SLSA provenance of image in repository "app" of st, as
// built by builder.
func attest(t *testing.T, signer *sign.Signer, st registry.Store, image ocispec.Descriptor, builder string) {
	t.Helper()
	stmt, err := sign.ProvenanceStatement("app", image.Digest, sign.Provenance{BuilderID: builder, BuildType: "https://www.packer.io/build@v1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := signer.Attest(context.Background(), st, "app", image, stmt); err != nil {
		t.Fatal(err)
	}
}

func mergeSignatures(ctx context.Context, dst registry.CopyTarget, repo, tag string, incoming ocispec.Descriptor) error {
	return sign.MergeSignatures(ctx, dst, repo, tag, incoming)
}

// TestCopyCarriesAttachments copies an image that has a signature, an
// attestation and a referrer (an OCI-image artifact tracking it), itself signed, between
// stores with and without the referrers API, onto a destination that
// already has its own signature, attestation and referrer of the image. Everything
// arrives, at both depths; nothing the destination had is lost; and with
// no way to merge signatures the copy fails before the tag is written.
func TestCopyCarriesAttachments(t *testing.T) {
	for _, tc := range []struct {
		name     string
		src, dst func(t *testing.T) registry.Store
	}{
		{"layout to referrers API", func(t *testing.T) registry.Store { return newLayout(t) }, func(t *testing.T) registry.Store { return inProcess(t, true) }},
		{"referrers API to layout", func(t *testing.T) registry.Store { return inProcess(t, true) }, func(t *testing.T) registry.Store { return newLayout(t) }},
		{"tag schema to tag schema", func(t *testing.T) registry.Store { return inProcess(t, false) }, func(t *testing.T) registry.Store { return inProcess(t, false) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			src, dst := tc.src(t), tc.dst(t)
			signerA, verifierA := keys(t)
			signerB, verifierB := keys(t)

			image := pushImage(t, src, "app", "the image")
			if err := src.Tag(ctx, "app", image, "v1"); err != nil {
				t.Fatal(err)
			}
			if _, err := signerA.Sign(ctx, src, "app", "app", image); err != nil {
				t.Fatal(err)
			}
			attest(t, signerA, src, image, "https://ci.example/a")
			v1, _ := artifact.ParseVersion("1.0.0")
			tracking, err := registry.Publish(ctx, src, &artifact.Artifact{Name: "app", Kind: artifact.KindOCIImage, Version: v1, Image: &image})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := signerA.Sign(ctx, src, "app", "app", tracking.Descriptor); err != nil {
				t.Fatal(err)
			}

			// The destination's own: the image, signed by B, and another
			// artifact tracking it.
			if err := registry.CopyGraph(ctx, src, "app", dst, image); err != nil {
				t.Fatal(err)
			}
			if _, err := signerB.Sign(ctx, dst, "app", "app", image); err != nil {
				t.Fatal(err)
			}
			attest(t, signerB, dst, image, "https://ci.example/b")
			v2, _ := artifact.ParseVersion("2.0.0")
			own, err := registry.Publish(ctx, dst, &artifact.Artifact{Name: "app", Kind: artifact.KindOCIImage, Version: v2, Image: &image})
			if err != nil {
				t.Fatal(err)
			}

			_, err = registry.Copy(ctx, src, "app", dst, "v1")
			if !errors.Is(err, registry.ErrImmutableTag) || !strings.Contains(err.Error(), ".sig") {
				t.Fatalf("copy onto other signatures without a merge: %v, want ErrImmutableTag naming the .sig tag", err)
			}
			if _, err := dst.Resolve(ctx, "app", "v1"); !errors.Is(err, registry.ErrNotFound) {
				t.Fatalf("tag after a failed copy: %v, want not found", err)
			}

			got, err := registry.Copy(ctx, src, "app", dst, "v1", registry.WithMerge(mergeSignatures))
			if err != nil {
				t.Fatal(err)
			}
			if got.Digest != image.Digest {
				t.Fatalf("copied %s, want %s", got.Digest, image.Digest)
			}
			for who, v := range map[string]*sign.Verifier{"A (copied)": verifierA, "B (the destination's own)": verifierB} {
				if _, err := v.Verify(ctx, dst, "app", "app", image.Digest); err != nil {
					t.Errorf("image signature by %s: %v", who, err)
				}
				if _, err := v.VerifyAttestation(ctx, dst, "app", image.Digest, sign.PredicateSLSAProvenance, sign.WithIdentity("app")); err != nil {
					t.Errorf("image attestation by %s: %v", who, err)
				}
			}
			if _, err := verifierA.Verify(ctx, dst, "app", "app", tracking.Descriptor.Digest); err != nil {
				t.Errorf("signature of the referrer: %v", err)
			}
			refs, err := registry.Referrers(ctx, dst.(registry.ReferrerStore), "app", image.Digest, "")
			if err != nil {
				t.Fatal(err)
			}
			found := map[string]bool{}
			for _, r := range refs {
				found[r.Digest.String()] = true
			}
			if len(refs) != 2 || !found[tracking.Descriptor.Digest.String()] || !found[own.Descriptor.Digest.String()] {
				t.Errorf("referrers in the destination = %+v, want the copied and the own artifact, once each", refs)
			}

			// Again: nothing new, nothing doubled.
			if _, err := registry.Copy(ctx, src, "app", dst, "v1", registry.WithMerge(mergeSignatures)); err != nil {
				t.Fatalf("second copy: %v", err)
			}
			if refs, _ := registry.Referrers(ctx, dst.(registry.ReferrerStore), "app", image.Digest, ""); len(refs) != 2 {
				t.Errorf("referrers after a second copy = %d, want 2", len(refs))
			}
		})
	}
}

// TestCopyTrackingArtifactIndexesIt copies an OCI-image artifact by its
// version tag: in the destination it is among its image's referrers, as
// after a publish there.
func TestCopyTrackingArtifactIndexesIt(t *testing.T) {
	for _, api := range []bool{false, true} {
		ctx := context.Background()
		src, dst := newLayout(t), inProcess(t, api)
		image := pushImage(t, src, "app", "the image")
		v, _ := artifact.ParseVersion("1.0.0")
		e, err := registry.Publish(ctx, src, &artifact.Artifact{Name: "app", Kind: artifact.KindOCIImage, Version: v, Image: &image})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := registry.Copy(ctx, src, "app", dst, "1.0.0"); err != nil {
			t.Fatal(err)
		}
		refs, err := registry.Referrers(ctx, dst.(registry.ReferrerStore), "app", image.Digest, "")
		if err != nil || len(refs) != 1 || refs[0].Digest != e.Descriptor.Digest {
			t.Errorf("referrers API %v: referrers of the image in the destination = %+v, %v; want the artifact", api, refs, err)
		}
	}
}

// TestCopyIndexCarriesPlatformSignatures copies a two-platform index whose
// platform manifests are signed one by one: the signatures come along.
func TestCopyIndexCarriesPlatformSignatures(t *testing.T) {
	ctx := context.Background()
	src, dst := newLayout(t), newLayout(t)
	signer, verifier := keys(t)
	amd, arm := pushImage(t, src, "app", "amd64"), pushImage(t, src, "app", "arm64")
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{amd, arm}}
	idx.SchemaVersion = 2
	b, err := json.Marshal(idx)
	if err != nil {
		t.Fatal(err)
	}
	index, err := src.PushManifest(ctx, "app", ocispec.MediaTypeImageIndex, b)
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Tag(ctx, "app", index, "v1"); err != nil {
		t.Fatal(err)
	}
	for _, m := range []ocispec.Descriptor{amd, arm} {
		if _, err := signer.Sign(ctx, src, "app", "app", m); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := registry.Copy(ctx, src, "app", dst, "v1"); err != nil {
		t.Fatal(err)
	}
	for _, m := range []ocispec.Descriptor{amd, arm} {
		if _, err := verifier.Verify(ctx, dst, "app", "app", m.Digest); err != nil {
			t.Errorf("signature of platform manifest %s after the copy: %v", m.Digest, err)
		}
	}
}
