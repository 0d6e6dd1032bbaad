package bundle_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	cbundle "github.com/sigstore/cosign/v2/pkg/cosign/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/testing/ca"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	sigdsse "github.com/sigstore/sigstore/pkg/signature/dsse"

	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/registry"
	"github.com/brickyard/brickyard/registry/layout"
	"github.com/brickyard/brickyard/sign"
	"github.com/brickyard/brickyard/sign/bundle"
)

// bundleKey is a key pair for Sigstore bundles made in tests.
type bundleKey struct {
	sv     signature.SignerVerifier
	pub    crypto.PublicKey
	pubPEM []byte
}

func newBundleKey(t *testing.T) bundleKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sv, err := signature.LoadECDSASignerVerifier(priv, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	pem, err := cryptoutils.MarshalPublicKeyToPEM(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	return bundleKey{sv: sv, pub: priv.Public(), pubPEM: pem}
}

// attachBundle makes the bundle `cosign sign --new-bundle-format --key`
// makes for subject (cosign's own MakeNewBundle), signed by k, with an RFC
// 3161 timestamp from tsa if it is not nil, and attaches it to attachTo as
// a referrer the way cosign does.
func attachBundle(t *testing.T, st *layout.Store, repo string, attachTo ocispec.Descriptor, subject digest.Digest, k bundleKey, tsa *ca.VirtualSigstore) {
	t.Helper()
	ctx := context.Background()
	statement, _ := json.Marshal(map[string]any{
		"_type":         "https://in-toto.io/Statement/v1",
		"subject":       []any{map[string]any{"digest": map[string]string{subject.Algorithm().String(): subject.Encoded()}}},
		"predicateType": "https://sigstore.dev/cosign/sign/v1",
	})
	env, err := sigdsse.WrapSigner(k.sv, "application/vnd.in-toto+json").SignMessage(bytes.NewReader(statement))
	if err != nil {
		t.Fatal(err)
	}
	var ts []byte
	if tsa != nil {
		var e struct {
			Signatures []struct {
				Sig []byte `json:"sig"`
			} `json:"signatures"`
		}
		if err := json.Unmarshal(env, &e); err != nil {
			t.Fatal(err)
		}
		if ts, err = tsa.TimestampResponse(e.Signatures[0].Sig); err != nil {
			t.Fatal(err)
		}
	}
	b, err := cbundle.MakeNewBundle(k.pub, nil, statement, env, k.pubPEM, ts)
	if err != nil {
		t.Fatal(err)
	}
	layer, err := st.PushBlob(ctx, repo, ocispec.Descriptor{MediaType: bundle.ArtifactType}, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := st.PushBlob(ctx, repo, ocispec.DescriptorEmptyJSON, bytes.NewReader(ocispec.DescriptorEmptyJSON.Data))
	if err != nil {
		t.Fatal(err)
	}
	cfg.MediaType = ocispec.MediaTypeEmptyJSON
	subj := attachTo
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, ArtifactType: bundle.ArtifactType, Config: cfg,
		Layers: []ocispec.Descriptor{layer}, Subject: &ocispec.Descriptor{MediaType: subj.MediaType, Digest: subj.Digest, Size: subj.Size}}
	m.SchemaVersion = 2
	raw, _ := json.Marshal(m)
	desc, err := st.PushManifest(ctx, repo, ocispec.MediaTypeImageManifest, raw)
	if err != nil {
		t.Fatal(err)
	}
	desc.ArtifactType = bundle.ArtifactType
	if err := registry.AddReferrer(ctx, st, repo, attachTo.Digest, desc); err != nil {
		t.Fatal(err)
	}
}

// trustedRootFile writes the trusted root of a virtual Sigstore (its
// certificate authority, logs and timestamping authority) as
// trusted_root.json.
func trustedRootFile(t *testing.T, vs *ca.VirtualSigstore) string {
	t.Helper()
	tr, err := root.NewTrustedRoot(root.TrustedRootMediaType01, vs.FulcioCertificateAuthorities(), vs.CTLogs(), vs.TimestampingAuthorities(), vs.RekorLogs())
	if err != nil {
		t.Fatal(err)
	}
	b, err := tr.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "trusted_root.json")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSigstoreBundle: an artifact signed only with a Sigstore bundle (the
// new cosign format) is unsigned to a verifier without bundle support, and
// verifies offline with the trusted key, and its signed
// timestamp against a trusted root read from a file; the wrong key, the
// wrong trusted root and a bundle for another digest are refused.
func TestSigstoreBundle(t *testing.T) {
	ctx := context.Background()
	st, err := layout.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	k, other := newBundleKey(t), newBundleKey(t)
	trusted, err := sign.NewVerifier(k.pubPEM)
	if err != nil {
		t.Fatal(err)
	}
	untrusted, err := sign.NewVerifier(other.pubPEM)
	if err != nil {
		t.Fatal(err)
	}
	sigstoreA, err := ca.NewVirtualSigstore()
	if err != nil {
		t.Fatal(err)
	}
	sigstoreB, err := ca.NewVirtualSigstore()
	if err != nil {
		t.Fatal(err)
	}
	rootA, err := bundle.LoadTrustedRoot(trustedRootFile(t, sigstoreA))
	if err != nil {
		t.Fatal(err)
	}
	rootB, err := bundle.LoadTrustedRoot(trustedRootFile(t, sigstoreB))
	if err != nil {
		t.Fatal(err)
	}

	plain := publish(t, st, "web", "1.0.0")
	attachBundle(t, st, "web", plain, plain.Digest, k, nil)
	if _, err := trusted.Verify(ctx, st, "web", "web", plain.Digest); !errors.Is(err, sign.ErrUnsigned) {
		t.Errorf("bundle, verifier without bundle support: %v, want ErrUnsigned", err)
	}
	trusted, untrusted = trusted.WithBundles(bundle.New(nil)), untrusted.WithBundles(bundle.New(nil))
	got, err := trusted.Verify(ctx, st, "web", "web", plain.Digest)
	if err != nil || got.Digest != plain.Digest || got.KeyID == "" {
		t.Fatalf("keyed bundle: %+v, %v", got, err)
	}
	if _, err := untrusted.Verify(ctx, st, "web", "web", plain.Digest); !errors.Is(err, sign.ErrUntrusted) {
		t.Errorf("wrong key: %v, want ErrUntrusted", err)
	}

	stamped := publish(t, st, "web", "1.1.0")
	attachBundle(t, st, "web", stamped, stamped.Digest, k, sigstoreA)
	if got, err := trusted.WithBundles(bundle.New(rootA)).Verify(ctx, st, "web", "web", stamped.Digest); err != nil || got.Digest != stamped.Digest {
		t.Fatalf("timestamped bundle with its trusted root: %+v, %v", got, err)
	}
	if _, err := trusted.WithBundles(bundle.New(rootB)).Verify(ctx, st, "web", "web", stamped.Digest); !errors.Is(err, sign.ErrUntrusted) {
		t.Errorf("timestamp from a timestamping authority outside the trusted root: %v, want ErrUntrusted", err)
	}

	moved := publish(t, st, "web", "1.2.0")
	attachBundle(t, st, "web", moved, plain.Digest, k, nil) // a bundle for 1.0.0 attached to 1.2.0
	if _, err := trusted.Verify(ctx, st, "web", "web", moved.Digest); !errors.Is(err, sign.ErrUntrusted) {
		t.Errorf("bundle for another digest: %v, want ErrUntrusted", err)
	}

	none := publish(t, st, "web", "1.3.0")
	if _, err := trusted.Verify(ctx, st, "web", "web", none.Digest); !errors.Is(err, sign.ErrUnsigned) {
		t.Errorf("no signature, no bundle: %v, want ErrUnsigned", err)
	}
}

func TestLoadTrustedRootErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "trusted_root.json")
	if err := os.WriteFile(bad, []byte(`{"mediaType": "something else"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{bad, filepath.Join(dir, "missing.json")} {
		_, err := bundle.LoadTrustedRoot(f)
		if err == nil || !strings.Contains(err.Error(), filepath.Base(f)) {
			t.Errorf("LoadTrustedRoot(%s) = %v, want an error naming the file", filepath.Base(f), err)
		}
	}
}

// TestPolicyTrustedRoot: a policy names its trusted root relative to
// itself; a missing or malformed one makes the policy invalid, naming it.
func TestPolicyTrustedRoot(t *testing.T) {
	vs, err := ca.NewVirtualSigstore()
	if err != nil {
		t.Fatal(err)
	}
	good := trustedRootFile(t, vs)
	k := newBundleKey(t)
	policy := func(rootFile string) []byte {
		keyJSON, _ := json.Marshal(string(k.pubPEM))
		return []byte("version: 1\ntrustedRoot: " + rootFile + "\nrules:\n  - names: [web]\n    keys: [" + string(keyJSON) + "]\n    owner: {repositories: [web]}\n")
	}
	if _, err := sign.ParsePolicy(policy(filepath.Base(good)), filepath.Dir(good), bundle.PolicyOption()); err != nil {
		t.Fatalf("policy with a trusted root: %v", err)
	}
	if _, err := sign.ParsePolicy(policy(filepath.Base(good)), filepath.Dir(good)); !errors.Is(err, sign.ErrInvalidPolicy) {
		t.Errorf("policy with a trusted root, no bundle support: %v, want ErrInvalidPolicy", err)
	}
	_, err = sign.ParsePolicy(policy("missing.json"), filepath.Dir(good), bundle.PolicyOption())
	if !errors.Is(err, sign.ErrInvalidPolicy) || !strings.Contains(err.Error(), "missing.json") {
		t.Errorf("policy with a missing trusted root: %v, want ErrInvalidPolicy naming it", err)
	}
}

// publish puts a real machine-image artifact into a layout store.
func publish(t *testing.T, st *layout.Store, name, version string) ocispec.Descriptor {
	t.Helper()
	v, err := artifact.ParseVersion(version)
	if err != nil {
		t.Fatal(err)
	}
	e, err := registry.Publish(context.Background(), st, &artifact.Artifact{Name: name, Kind: artifact.KindMachineImage, Version: v,
		MachineImage: &artifact.MachineImage{Provider: "aws", Owner: "123456789012", Images: map[string]string{"eu-west-1": "ami-0abc"}}})
	if err != nil {
		t.Fatal(err)
	}
	return e.Descriptor
}
