package sign_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/catalog"
	"github.com/brickyard/brickyard/catalog/sqlite"
	"github.com/brickyard/brickyard/registry"
	"github.com/brickyard/brickyard/registry/layout"
	"github.com/brickyard/brickyard/sign"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
)

// policyFixture is a layout store, a SQLite catalog, and key files A and B
// in dir.
type policyFixture struct {
	ctx context.Context
	st  *layout.Store
	cat *sqlite.Catalog
	dir string
}

func newPolicyFixture(t *testing.T) *policyFixture {
	t.Helper()
	keys(t)
	dir := t.TempDir()
	st, err := layout.New(filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	cat, err := sqlite.Open(context.Background(), filepath.Join(dir, "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cat.Close() })
	for name, pem := range map[string][]byte{"a.pub": pubA, "b.pub": pubB} {
		if err := os.WriteFile(filepath.Join(dir, name), pem, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return &policyFixture{ctx: context.Background(), st: st, cat: cat, dir: dir}
}

func (f *policyFixture) policy(t *testing.T, yaml string) *sign.Policy {
	t.Helper()
	p := filepath.Join(f.dir, "policy.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	pol, err := sign.LoadPolicy(p)
	if err != nil {
		t.Fatal(err)
	}
	return pol
}

// publish publishes a, records it in the catalog and returns its record.
func (f *policyFixture) publish(t *testing.T, a *artifact.Artifact) catalog.Record {
	t.Helper()
	e, err := registry.Publish(f.ctx, f.st, a)
	if err != nil {
		t.Fatal(err)
	}
	r := catalog.Record{Name: a.Name, Kind: a.Kind, Version: a.Version, Digest: e.Descriptor.Digest, Parents: a.Parents,
		Created: time.Now(), Store: "oci-layout", Repository: a.Name, MediaType: e.Descriptor.MediaType, Size: e.Descriptor.Size}
	if err := f.cat.Record(f.ctx, r); err != nil {
		t.Fatal(err)
	}
	return r
}

func ami(t *testing.T, name, version, account string, parents ...digest.Digest) *artifact.Artifact {
	t.Helper()
	v, err := artifact.ParseVersion(version)
	if err != nil {
		t.Fatal(err)
	}
	return &artifact.Artifact{Name: name, Kind: artifact.KindMachineImage, Version: v, Parents: parents,
		MachineImage: &artifact.MachineImage{Provider: "aws", Owner: account, Images: map[string]string{"eu-west-1": "ami-" + version}}}
}

func desc(r catalog.Record) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: r.MediaType, Digest: r.Digest, Size: r.Size}
}

func (f *policyFixture) attest(t *testing.T, s *sign.Signer, r catalog.Record, subject digest.Digest, p sign.Provenance) {
	t.Helper()
	stmt, err := sign.ProvenanceStatement(r.Repository, subject, p)
	if err != nil {
		t.Fatal(err)
	}
	d := desc(r)
	d.Digest = subject
	if _, err := s.Attest(f.ctx, f.st, r.Repository, d, stmt); err != nil {
		t.Fatal(err)
	}
}

// TestPolicy checks each refusal of the trust policy, distinct under
// errors.Is, both from PolicyVerifier and through catalog.Resolve.
func TestPolicy(t *testing.T) {
	f := newPolicyFixture(t)
	const yaml = `
version: 1
rules:
  - names: ["base"]
    keys: ["a.pub"]
    owner: {accounts: ["123456789012"]}
  - names: ["web", "web-*"]
    keys: ["a.pub"]
    owner:
      repositories: ["web", "web-prod"]
      accounts: ["123456789012"]
    provenance:
      required: true
      builders: ["https://ci.example/packer"]
  - names: ["team/*"]
    keys: ["b.pub"]
    owner: {repositories: ["other"]}
`
	pol := f.policy(t, yaml)
	pv := sign.PolicyVerifier{Store: f.st, Policy: pol}

	base := f.publish(t, ami(t, "base", "1.0.0", "123456789012"))
	if _, err := signerA.Sign(f.ctx, f.st, "base", "base", desc(base)); err != nil {
		t.Fatal(err)
	}
	if _, err := pv.Verify(f.ctx, base.Stored()); err != nil {
		t.Fatalf("trusted base: %v", err)
	}
	good := sign.Provenance{BuilderID: "https://ci.example/packer", BuildType: "https://www.packer.io/build@v1",
		Dependencies: []sign.Dependency{{Name: "base@1.0.0", Digest: base.Digest}}}

	// web 1.0.0: signed, provenance agrees: trusted.
	web1 := f.publish(t, ami(t, "web", "1.0.0", "123456789012", base.Digest))
	signerA.Sign(f.ctx, f.st, "web", "web", desc(web1))
	f.attest(t, signerA, web1, web1.Digest, good)
	if id, err := pv.Verify(f.ctx, web1.Stored()); err != nil || id != signerA.KeyID() {
		t.Fatalf("trusted web 1.0.0 = %q, %v", id, err)
	}

	// Each other version fails in exactly one way.
	cases := []struct {
		version string
		setup   func(r catalog.Record)
		account string
		want    error
	}{
		{"1.1.0", func(r catalog.Record) {}, "123456789012", sign.ErrUnsigned},
		{"1.2.0", func(r catalog.Record) { // the "whoAMI" attack: right name, signed, another account
			signerA.Sign(f.ctx, f.st, "web", "web", desc(r))
			f.attest(t, signerA, r, r.Digest, good)
		}, "666666666666", sign.ErrOwnerMismatch},
		{"1.3.0", func(r catalog.Record) { // signed, no provenance
			signerA.Sign(f.ctx, f.st, "web", "web", desc(r))
		}, "123456789012", sign.ErrProvenanceMissing},
		{"1.4.0", func(r catalog.Record) { // provenance names no base: disagrees with the catalog's lineage
			signerA.Sign(f.ctx, f.st, "web", "web", desc(r))
			p := good
			p.Dependencies = nil
			f.attest(t, signerA, r, r.Digest, p)
		}, "123456789012", sign.ErrProvenanceMismatch},
		{"1.5.0", func(r catalog.Record) { // a builder the policy does not allow
			signerA.Sign(f.ctx, f.st, "web", "web", desc(r))
			p := good
			p.BuilderID = "https://laptop.example/me"
			f.attest(t, signerA, r, r.Digest, p)
		}, "123456789012", sign.ErrProvenanceMismatch},
		{"1.6.0", func(r catalog.Record) { // an attestation whose subject is web 1.0.0, filed under 1.6.0
			signerA.Sign(f.ctx, f.st, "web", "web", desc(r))
			att, err := f.st.Resolve(f.ctx, "web", sign.AttestationTag(web1.Digest))
			if err != nil {
				t.Fatal(err)
			}
			if err := f.st.Move(f.ctx, "web", att, sign.AttestationTag(r.Digest)); err != nil {
				t.Fatal(err)
			}
		}, "123456789012", sign.ErrInvalidSignature},
		{"1.7.0", func(r catalog.Record) { // provenance signed by an untrusted key
			signerA.Sign(f.ctx, f.st, "web", "web", desc(r))
			f.attest(t, signerB(t), r, r.Digest, good)
		}, "123456789012", sign.ErrUntrusted},
	}
	for _, tc := range cases {
		r := f.publish(t, ami(t, "web", tc.version, tc.account, base.Digest))
		tc.setup(r)
		_, err := pv.Verify(f.ctx, r.Stored())
		if !errors.Is(err, tc.want) {
			t.Errorf("web %s: %v, want %v", tc.version, err, tc.want)
		}
		for _, other := range []error{sign.ErrUnsigned, sign.ErrUntrusted, sign.ErrOwnerMismatch, sign.ErrProvenanceMissing, sign.ErrProvenanceMismatch, sign.ErrInvalidSignature} {
			if other != tc.want && errors.Is(err, other) {
				t.Errorf("web %s: %v is also %v: errors must be distinct", tc.version, err, other)
			}
		}
	}

	// Resolve applies the policy: the newest passing version is 1.0.0, and
	// asking for 1.2 gives the owner mismatch, not a generic "untrusted".
	got, err := catalog.Resolve(f.ctx, f.cat, catalog.Query{Name: "web", Constraint: "^1"}, pv)
	if err != nil || got.Digest != web1.Digest {
		t.Errorf("Resolve web ^1 = %v, %v; want 1.0.0", got.Version, err)
	}
	if _, err := catalog.Resolve(f.ctx, f.cat, catalog.Query{Name: "web", Constraint: "~1.2"}, pv); !errors.Is(err, sign.ErrOwnerMismatch) || errors.Is(err, sign.ErrUntrusted) {
		t.Errorf("Resolve web ~1.2: %v, want ErrOwnerMismatch", err)
	}
	if _, err := f.cat.ChangeLifecycle(f.ctx, web1.Digest, catalog.LifecycleChange{State: catalog.StateRevoked, Reason: "leaked key", Actor: "sec"}); err != nil {
		t.Fatal(err)
	}
	if _, err := catalog.Resolve(f.ctx, f.cat, catalog.Query{Name: "web", Constraint: "~1.0"}, pv); !errors.Is(err, catalog.ErrRevoked) {
		t.Errorf("Resolve web ~1.0 after revocation: %v, want ErrRevoked", err)
	}

	// A repository the rule does not name as owner.
	rogue := f.publish(t, ami(t, "web-rogue", "1.0.0", "123456789012"))
	signerA.Sign(f.ctx, f.st, "web-rogue", "web-rogue", desc(rogue))
	if _, err := pv.Verify(f.ctx, rogue.Stored()); !errors.Is(err, sign.ErrOwnerMismatch) {
		t.Errorf("repository outside the owner prefixes: %v, want ErrOwnerMismatch", err)
	}
	// A name no rule covers.
	api := f.publish(t, ami(t, "api", "1.0.0", "123456789012"))
	if _, err := pv.Verify(f.ctx, api.Stored()); !errors.Is(err, sign.ErrNoPolicy) {
		t.Errorf("name without a rule: %v, want ErrNoPolicy", err)
	}
}

func signerB(t *testing.T) *sign.Signer {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := sign.NewSigner(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestKeyRotation: an artifact signed by an old key verifies while the
// policy lists that key, and stops verifying once the policy drops it.
func TestKeyRotation(t *testing.T) {
	f := newPolicyFixture(t)
	r := f.publish(t, ami(t, "base", "1.0.0", "123456789012"))
	signerA.Sign(f.ctx, f.st, "base", "base", desc(r))
	both := f.policy(t, "version: 1\nrules:\n- names: [base]\n  keys: [a.pub, b.pub]\n  owner: {accounts: ['123456789012']}\n")
	if _, err := (sign.PolicyVerifier{Store: f.st, Policy: both}).Verify(f.ctx, r.Stored()); err != nil {
		t.Errorf("old key still in the policy: %v", err)
	}
	newOnly := f.policy(t, "version: 1\nrules:\n- names: [base]\n  keys: [b.pub]\n  owner: {accounts: ['123456789012']}\n")
	if _, err := (sign.PolicyVerifier{Store: f.st, Policy: newOnly}).Verify(f.ctx, r.Stored()); !errors.Is(err, sign.ErrUntrusted) {
		t.Errorf("old key dropped from the policy: %v, want ErrUntrusted", err)
	}
}

// TestSigners: Ed25519 and ECDSA crypto.Signers (what a KMS or HSM
// provides) and inline PEM keys in a policy.
func TestSigners(t *testing.T) {
	f := newPolicyFixture(t)
	_, edPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecPriv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for name, priv := range map[string]crypto.Signer{"ed25519": edPriv, "ecdsa-p256": ecPriv} {
		t.Run(name, func(t *testing.T) {
			s, err := sign.NewSigner(priv)
			if err != nil {
				t.Fatal(err)
			}
			pem, err := cryptoutils.MarshalPublicKeyToPEM(priv.Public())
			if err != nil {
				t.Fatal(err)
			}
			r := f.publish(t, ami(t, "base-"+name, "1.0.0", "123456789012"))
			if _, err := s.Sign(f.ctx, f.st, r.Repository, r.Repository, desc(r)); err != nil {
				t.Fatal(err)
			}
			f.attest(t, s, r, r.Digest, sign.Provenance{BuilderID: "b", BuildType: "t"})
			inline := strings.ReplaceAll(strings.TrimSpace(string(pem)), "\n", "\n      ")
			pol := f.policy(t, "version: 1\nrules:\n- names: ['base-*']\n  keys:\n    - |\n      "+inline+"\n  owner: {accounts: ['123456789012']}\n  provenance: {required: true}\n")
			if id, err := (sign.PolicyVerifier{Store: f.st, Policy: pol}).Verify(f.ctx, r.Stored()); err != nil || id != s.KeyID() {
				t.Errorf("Verify = %q, %v", id, err)
			}
		})
	}
}

// TestPolicyRefusesBadFiles: a malformed policy is an error naming the
// problem, never a policy that trusts too much.
func TestPolicyRefusesBadFiles(t *testing.T) {
	f := newPolicyFixture(t)
	cases := map[string]struct {
		yaml string
		want error
		say  string
	}{
		"unknown field":   {"version: 1\nrules:\n- names: [a]\n  keys: [a.pub]\n  owner: {accounts: ['1']}\n  trustEverything: true\n", sign.ErrInvalidPolicy, "trustEverything"},
		"wrong version":   {"version: 2\nrules: []\n", sign.ErrInvalidPolicy, "version 2"},
		"no rules":        {"version: 1\n", sign.ErrInvalidPolicy, "no rules"},
		"no owner":        {"version: 1\nrules:\n- names: [a]\n  keys: [a.pub]\n", sign.ErrInvalidPolicy, "owner"},
		"no keys":         {"version: 1\nrules:\n- names: [a]\n  owner: {accounts: ['1']}\n", sign.ErrInvalidPolicy, "keys"},
		"bad pattern":     {"version: 1\nrules:\n- names: ['[']\n  keys: [a.pub]\n  owner: {accounts: ['1']}\n", sign.ErrInvalidPolicy, "pattern"},
		"missing keyfile": {"version: 1\nrules:\n- names: [a]\n  keys: [nope.pub]\n  owner: {accounts: ['1']}\n", sign.ErrInvalidPolicy, "nope.pub"},
		"malformed PEM":   {"version: 1\nrules:\n- names: [a]\n  keys: ['-----BEGIN PUBLIC KEY-----\n\n    AAAA\n\n    -----END PUBLIC KEY-----']\n  owner: {accounts: ['1']}\n", sign.ErrInvalidKey, "rule 1"},
		"not yaml":        {"\x00\x01{", sign.ErrInvalidPolicy, ""},
		"oversized":       {strings.Repeat("#", sign.MaxPolicySize+1), sign.ErrInvalidPolicy, "bytes"},
	}
	for name, tc := range cases {
		_, err := sign.ParsePolicy([]byte(tc.yaml), f.dir)
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.say) {
			t.Errorf("%s: %v, want %v saying %q", name, err, tc.want, tc.say)
		}
	}
}
