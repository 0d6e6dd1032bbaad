package sign_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/catalog"
	"github.com/brickyard/brickyard/registry"
	"github.com/brickyard/brickyard/registry/layout"
	"github.com/brickyard/brickyard/sign"
	"github.com/brickyard/brickyard/sign/cosignkey"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

var (
	keysOnce             sync.Once
	privA, pubA, pubB    []byte
	signerA              *sign.Signer
	verifierA, verifierB *sign.Verifier
)

// keys makes two key pairs once: scrypt makes key generation slow on purpose.
func keys(t *testing.T) {
	t.Helper()
	keysOnce.Do(func() {
		var err error
		if privA, pubA, err = cosignkey.GenerateKeyPair([]byte("pw")); err != nil {
			t.Fatal(err)
		}
		if _, pubB, err = cosignkey.GenerateKeyPair([]byte("pw")); err != nil {
			t.Fatal(err)
		}
		if signerA, err = cosignkey.LoadSigner(privA, []byte("pw")); err != nil {
			t.Fatal(err)
		}
		if verifierA, err = sign.NewVerifier(pubA); err != nil {
			t.Fatal(err)
		}
		if verifierB, err = sign.NewVerifier(pubB); err != nil {
			t.Fatal(err)
		}
	})
}

// publish puts a real machine-image artifact into a layout store.
func publish(t *testing.T, st *layout.Store, name, version string) ocispec.Descriptor {
	t.Helper()
	v, err := artifact.ParseVersion(version)
	if err != nil {
		t.Fatal(err)
	}
	a := &artifact.Artifact{Name: name, Kind: artifact.KindMachineImage, Version: v,
		MachineImage: &artifact.MachineImage{Provider: "aws", Owner: "123456789012", Images: map[string]string{"eu-west-1": "ami-" + version}}}
	e, err := registry.Publish(context.Background(), st, a)
	if err != nil {
		t.Fatal(err)
	}
	return e.Descriptor
}

func TestSignVerify(t *testing.T) {
	keys(t)
	ctx := context.Background()
	st, err := layout.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	web := publish(t, st, "web", "1.0.0")
	sig, err := signerA.Sign(ctx, st, "web", "web", web)
	if err != nil {
		t.Fatal(err)
	}
	if sig.Tag != "sha256-"+web.Digest.Encoded()+".sig" || sig.KeyID != signerA.KeyID() || !strings.HasPrefix(sig.KeyID, "SHA256:") {
		t.Errorf("signature %+v", sig)
	}
	got, err := verifierA.Verify(ctx, st, "web", "web", web.Digest)
	if err != nil || got.Digest != web.Digest || got.KeyID != signerA.KeyID() {
		t.Fatalf("Verify = %+v, %v", got, err)
	}
	keyID, err := sign.StoreVerifier{Store: st, Verifier: verifierA}.Verify(ctx, catalog.Record{Name: "web", Repository: "web", Digest: web.Digest}.Stored())
	if err != nil || keyID != signerA.KeyID() {
		t.Fatalf("StoreVerifier = %q, %v", keyID, err)
	}

	// The signature manifest is cosign's: one simple-signing layer per
	// signature, the base64 signature in its annotation.
	m := sigManifest(t, st, "web", sig.Tag)
	if len(m.Layers) != 1 || m.Layers[0].MediaType != "application/vnd.dev.cosign.simplesigning.v1+json" ||
		m.Layers[0].Annotations["dev.cosignproject.cosign/signature"] == "" {
		t.Fatalf("signature manifest %+v", m)
	}
	var p struct {
		Critical struct {
			Identity struct {
				DockerReference string `json:"docker-reference"`
			} `json:"identity"`
			Image struct {
				Digest string `json:"docker-manifest-digest"`
			} `json:"image"`
			Type string `json:"type"`
		} `json:"critical"`
	}
	if err := json.Unmarshal(blob(t, st, "web", m.Layers[0]), &p); err != nil {
		t.Fatal(err)
	}
	if p.Critical.Type != "cosign container image signature" || p.Critical.Image.Digest != web.Digest.String() || p.Critical.Identity.DockerReference != "web" {
		t.Errorf("payload %+v", p)
	}

	// A second key appends; both verify; the same signature again is not duplicated.
	if _, err := signerA.Sign(ctx, st, "web", "web", web); err != nil {
		t.Fatal(err)
	}
	if n := len(sigManifest(t, st, "web", sig.Tag).Layers); n != 2 {
		// ECDSA signatures are randomised, so signing twice adds a layer.
		t.Errorf("%d signature layers after signing twice, want 2", n)
	}
	both, err := sign.NewVerifier(pubB, pubA)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := both.Verify(ctx, st, "web", "web", web.Digest); err != nil {
		t.Errorf("a policy trusting A among others: %v", err)
	}
}

func sigManifest(t *testing.T, st *layout.Store, repo, tag string) ocispec.Manifest {
	t.Helper()
	d, err := st.Resolve(context.Background(), repo, tag)
	if err != nil {
		t.Fatal(err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(blob(t, st, repo, d), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func blob(t *testing.T, st *layout.Store, repo string, d ocispec.Descriptor) []byte {
	t.Helper()
	rc, err := st.Fetch(context.Background(), repo, d)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// forge stores a signature manifest for target whose only layer is
// payload signed (or not) as given, under target's signature tag.
func forge(t *testing.T, st *layout.Store, repo string, target digest.Digest, payload []byte, b64sig string) {
	t.Helper()
	ctx := context.Background()
	pd, err := st.PushBlob(ctx, repo, ocispec.Descriptor{}, bytes.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	pd.MediaType = "application/vnd.dev.cosign.simplesigning.v1+json"
	pd.Annotations = map[string]string{"dev.cosignproject.cosign/signature": b64sig}
	cfg := []byte(`{"architecture":"","os":"","config":{},"rootfs":{"type":"layers","diff_ids":[]}}`)
	cd, err := st.PushBlob(ctx, repo, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig}, bytes.NewReader(cfg))
	if err != nil {
		t.Fatal(err)
	}
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: cd, Layers: []ocispec.Descriptor{pd}}
	m.SchemaVersion = 2
	body, _ := json.Marshal(m)
	md, err := st.PushManifest(ctx, repo, ocispec.MediaTypeImageManifest, body)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Move(ctx, repo, md, sign.SignatureTag(target)); err != nil {
		t.Fatal(err)
	}
}

func TestAttacksRefused(t *testing.T) {
	keys(t)
	ctx := context.Background()
	st, err := layout.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	web := publish(t, st, "web", "1.0.0")
	other := publish(t, st, "web", "2.0.0")
	if _, err := signerA.Sign(ctx, st, "web", "web", web); err != nil {
		t.Fatal(err)
	}
	goodLayer := sigManifest(t, st, "web", sign.SignatureTag(web.Digest)).Layers[0]
	goodPayload := blob(t, st, "web", goodLayer)
	goodSig := goodLayer.Annotations["dev.cosignproject.cosign/signature"]

	// Wrong key.
	if _, err := verifierB.Verify(ctx, st, "web", "web", web.Digest); !errors.Is(err, sign.ErrUntrusted) {
		t.Errorf("wrong key: %v, want ErrUntrusted", err)
	}
	// Unsigned, distinct from not found and from untrusted.
	if _, err := verifierA.Verify(ctx, st, "web", "web", other.Digest); !errors.Is(err, sign.ErrUnsigned) || errors.Is(err, registry.ErrNotFound) {
		t.Errorf("unsigned: %v, want ErrUnsigned", err)
	}
	// A valid signature of web@1.0.0 replayed as the signature of 2.0.0:
	// it verifies cryptographically but names another digest.
	forge(t, st, "web", other.Digest, goodPayload, goodSig)
	if _, err := verifierA.Verify(ctx, st, "web", "web", other.Digest); !errors.Is(err, sign.ErrInvalidSignature) {
		t.Errorf("payload for another digest: %v, want ErrInvalidSignature", err)
	}
	// The artifact and its signature copied into another repository: the
	// payload still names "web".
	body := blob(t, st, "web", web)
	cfgAndLayers(t, st, "web", "mirror", body)
	if _, err := st.PushManifest(ctx, "mirror", web.MediaType, body); err != nil {
		t.Fatal(err)
	}
	forge(t, st, "mirror", web.Digest, goodPayload, goodSig)
	if _, err := verifierA.Verify(ctx, st, "mirror", "mirror", web.Digest); !errors.Is(err, sign.ErrInvalidSignature) {
		t.Errorf("signature replayed from another repository: %v, want ErrInvalidSignature", err)
	}
	// The manifest changed after signing (an annotation edited and pushed
	// again): its digest changes, so the signature does not cover it; and
	// the old signature copied under the new digest's tag names the old
	// digest.
	var m map[string]any
	if err := json.Unmarshal(blob(t, st, "web", web), &m); err != nil {
		t.Fatal(err)
	}
	m["annotations"].(map[string]any)["org.opencontainers.image.source"] = "https://attacker.example/backdoor"
	changedBody, _ := json.Marshal(m)
	changed, err := st.PushManifest(ctx, "web", web.MediaType, changedBody)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := verifierA.Verify(ctx, st, "web", "web", changed.Digest); !errors.Is(err, sign.ErrUnsigned) {
		t.Errorf("manifest changed after signing: %v, want ErrUnsigned", err)
	}
	forge(t, st, "web", changed.Digest, goodPayload, goodSig)
	if _, err := verifierA.Verify(ctx, st, "web", "web", changed.Digest); !errors.Is(err, sign.ErrInvalidSignature) {
		t.Errorf("manifest changed after signing, signature copied: %v, want ErrInvalidSignature", err)
	}
	// Tampered signature bytes.
	raw, _ := base64.StdEncoding.DecodeString(goodSig)
	raw[len(raw)-1] ^= 0xff
	forge(t, st, "web", web.Digest, goodPayload, base64.StdEncoding.EncodeToString(raw))
	if _, err := verifierA.Verify(ctx, st, "web", "web", web.Digest); !errors.Is(err, sign.ErrUntrusted) {
		t.Errorf("tampered signature: %v, want ErrUntrusted", err)
	}
	// Tampered payload (another digest) with the original signature.
	forge(t, st, "web", web.Digest, bytes.Replace(goodPayload, []byte(web.Digest.Encoded()[:8]), []byte("00000000"), 1), goodSig)
	if _, err := verifierA.Verify(ctx, st, "web", "web", web.Digest); !errors.Is(err, sign.ErrUntrusted) {
		t.Errorf("tampered payload: %v, want ErrUntrusted", err)
	}
	// A payload over the size cap is refused before it is read whole.
	forge(t, st, "web", web.Digest, bytes.Repeat([]byte("x"), 200<<10), goodSig)
	if _, err := verifierA.Verify(ctx, st, "web", "web", web.Digest); !errors.Is(err, sign.ErrInvalidSignature) {
		t.Errorf("oversized payload: %v, want ErrInvalidSignature", err)
	}
	// Several signatures, each refused for its own reason: one
	// *VerificationError lists them all, in order, and matches
	// ErrNotTrusted and each reason's sentinel.
	forge(t, st, "web", other.Digest, goodPayload, goodSig)
	if _, err := signerB(t).Sign(ctx, st, "web", "web", other); err != nil {
		t.Fatal(err)
	}
	_, err = verifierA.Verify(ctx, st, "web", "web", other.Digest)
	var ve *sign.VerificationError
	if !errors.As(err, &ve) || len(ve.Reasons) != 2 || ve.Subject != "web@"+other.Digest.String() {
		t.Fatalf("two refused signatures: %#v, want a *VerificationError for web@%s with 2 reasons", err, other.Digest)
	}
	if !errors.Is(ve.Reasons[0], sign.ErrInvalidSignature) || !errors.Is(ve.Reasons[1], sign.ErrUntrusted) {
		t.Errorf("reasons %v, want [ErrInvalidSignature ErrUntrusted]", ve.Reasons)
	}
	if !errors.Is(err, sign.ErrNotTrusted) || !errors.Is(err, catalog.ErrNotTrusted) || errors.Is(err, sign.ErrUnsigned) || errors.Is(err, registry.ErrNotFound) {
		t.Errorf("two refused signatures: %v: want ErrNotTrusted, not ErrUnsigned or ErrNotFound", err)
	}
	// No signature at all: a *VerificationError with the one reason.
	_, err = verifierA.Verify(ctx, st, "web", "web", publish(t, st, "web", "3.0.0").Digest)
	if !errors.As(err, &ve) || len(ve.Reasons) != 1 || !errors.Is(err, sign.ErrUnsigned) {
		t.Errorf("unsigned: %v, want a *VerificationError with ErrUnsigned alone", err)
	}
}

// cfgAndLayers copies the config and layers of manifest body from one
// repository to another.
func cfgAndLayers(t *testing.T, st *layout.Store, from, to string, body []byte) {
	t.Helper()
	var m ocispec.Manifest
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	for _, d := range append([]ocispec.Descriptor{m.Config}, m.Layers...) {
		if _, err := st.PushBlob(context.Background(), to, d, bytes.NewReader(blob(t, st, from, d))); err != nil {
			t.Fatal(err)
		}
	}
}

func TestKeys(t *testing.T) {
	keys(t)
	if _, err := cosignkey.LoadSigner(privA, []byte("wrong")); !errors.Is(err, sign.ErrWrongPassword) {
		t.Errorf("wrong password: %v", err)
	}
	if _, err := cosignkey.LoadSigner([]byte("-----BEGIN NOTHING-----\n"), []byte("pw")); !errors.Is(err, sign.ErrInvalidKey) {
		t.Errorf("malformed private key: %v", err)
	}
	for _, bad := range [][]byte{nil, []byte("not pem"), []byte("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"), privA} {
		if _, err := sign.NewVerifier(bad); !errors.Is(err, sign.ErrInvalidKey) {
			t.Errorf("NewVerifier(%.20q): %v", bad, err)
		}
	}
	if _, err := sign.NewVerifier(); !errors.Is(err, sign.ErrInvalidKey) {
		t.Errorf("NewVerifier(): %v", err)
	}
}

func writeRaw(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "disk.raw")
	if err := os.WriteFile(p, bytes.Repeat([]byte{1}, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// publishManifest pushes a minimal OCI image for an OCI-image artifact to track.
func publishManifest(t *testing.T, st interface {
	PushBlob(context.Context, string, ocispec.Descriptor, io.Reader) (ocispec.Descriptor, error)
	PushManifest(context.Context, string, string, []byte) (ocispec.Descriptor, error)
}) ocispec.Descriptor {
	t.Helper()
	ctx := context.Background()
	cfg, err := st.PushBlob(ctx, "interop-image", ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig}, strings.NewReader(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`))
	if err != nil {
		t.Fatal(err)
	}
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: cfg, Layers: []ocispec.Descriptor{}}
	m.SchemaVersion = 2
	b, _ := json.Marshal(m)
	d, err := st.PushManifest(ctx, "interop-image", ocispec.MediaTypeImageManifest, b)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestSignConcurrently: four signers signing one artifact at once in a
// layout store all end up under its signature tag (the read-modify-write
// holds the layout's lock on mutable tags).
func TestSignConcurrently(t *testing.T) {
	ctx := context.Background()
	st, err := layout.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	d := publish(t, st, "web", "1.0.0")
	signers := make([]*sign.Signer, 4)
	for i := range signers {
		priv, _, err := cosignkey.GenerateKeyPair([]byte("pw"))
		if err != nil {
			t.Fatal(err)
		}
		if signers[i], err = cosignkey.LoadSigner(priv, []byte("pw")); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(signers))
	for _, s := range signers {
		wg.Go(func() {
			_, err := s.Sign(ctx, st, "web", "web", d)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if m := sigManifest(t, st, "web", sign.SignatureTag(d.Digest)); len(m.Layers) != len(signers) {
		t.Errorf("signatures after %d concurrent signers: %d", len(signers), len(m.Layers))
	}
}
