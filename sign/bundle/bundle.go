// Package bundle verifies Sigstore bundles (v0.3) attached to artifacts
// as OCI referrers, as `cosign sign --new-bundle-format` attaches them, with
// sigstore-go: its DSSE statement must name the digest and be signed by a
// key the sign.Verifier trusts and, given a trusted root file
// (LoadTrustedRoot), its transparency-log entries and RFC 3161 timestamps
// must verify against that root, offline.
//
// It is a package of its own because sigstore-go adds ~25 MB to a program:
// package sign verifies cosign's key signatures without it, and a tool
// imports bundle only when it accepts bundles:
//
//	v, _ := sign.NewVerifier(pub)
//	v = v.WithBundles(bundle.New(nil))
//	pol, _ := sign.LoadPolicy("policy.yaml", bundle.PolicyOption())
package bundle

import (
	"context"
	"crypto"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/internal/ocistore"
	"github.com/brickyard/brickyard/sign"
)

// ArtifactType is the artifactType of a Sigstore bundle (v0.3)
// attached to an artifact as an OCI referrer, as `cosign sign
// --new-bundle-format` attaches it.
const ArtifactType = "application/vnd.dev.sigstore.bundle.v0.3+json"

// cosignSignPredicate is the in-toto predicate type of the statement a
// `cosign sign --new-bundle-format` bundle signs: "this digest is signed".
const cosignSignPredicate = "https://sigstore.dev/cosign/sign/v1"

// Size caps for what is read back from a store, in bytes, and on the
// referrers examined.
const (
	maxManifest  = 4 << 20
	maxReferrers = 1000
)

// maxBundle caps a bundle read back from a store, in bytes: a DSSE
// statement, a certificate chain, tlog entries and timestamps fit in a few
// tens of KiB.
const maxBundle = 1 << 20

// LoadTrustedRoot reads a Sigstore trusted root file (trusted_root.json,
// media type application/vnd.dev.sigstore.trustedroot+json;version=0.1, as
// `cosign trusted-root create` writes it or the Sigstore TUF repository
// serves it): the certificate authorities, transparency logs and
// timestamping authorities whose evidence a bundle may carry. Reading it is
// the only I/O: nothing is fetched. Errors name the file.
func LoadTrustedRoot(file string) (*root.TrustedRoot, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("trusted root: %w", err)
	}
	tr, err := root.NewTrustedRootFromJSON(b)
	if err != nil {
		return nil, fmt.Errorf("trusted root %s: not a Sigstore trusted root: %w", file, err)
	}
	return tr, nil
}

// Verifier verifies Sigstore bundles with the keys of a sign.Verifier; it
// satisfies sign.BundleVerifier.
type Verifier struct {
	root root.TrustedMaterial // nil: a bundle's tlog entries and timestamps are not checked
}

var _ sign.BundleVerifier = (*Verifier)(nil)

// New returns a Verifier that also checks, against tr, the
// transparency-log entries and RFC 3161 signed timestamps a bundle
// carries: with a trusted root, a bundle whose evidence does not verify is
// refused; with tr nil, that evidence is ignored (as cosign's
// --insecure-ignore-tlog does) and the bundle's signature alone is checked
// against the trusted keys.
func New(tr root.TrustedMaterial) *Verifier { return &Verifier{root: tr} }

// Load returns a Verifier checking bundles' evidence against the trusted
// root file trustedRoot (LoadTrustedRoot), or New(nil) for "": what a
// program that takes a --trusted-root flag needs without importing
// sigstore-go itself. Errors name the file.
func Load(trustedRoot string) (*Verifier, error) {
	if trustedRoot == "" {
		return New(nil), nil
	}
	tr, err := LoadTrustedRoot(trustedRoot)
	if err != nil {
		return nil, err
	}
	return New(tr), nil
}

// PolicyOption lets sign.LoadPolicy and sign.ParsePolicy accept Sigstore
// bundles, checked against the policy's trustedRoot file when it names one.
func PolicyOption() sign.PolicyOption {
	return sign.WithBundleSupport(func(trustedRoot string) (sign.BundleVerifier, error) {
		v, err := Load(trustedRoot)
		if err != nil {
			return nil, err
		}
		return v, nil
	})
}

// VerifyBundles looks for Sigstore bundles attached to d in repo as
// referrers and verifies each offline with sigstore-go: the DSSE envelope
// must be signed by a trusted key, its in-toto statement must be cosign's
// "signed" statement with d as a subject, and the bundle's tlog entries and
// signed timestamps must verify against the trusted root when one is set.
//
// A bundle names no repository (its statement names only the digest), so
// unlike a cosign .sig signature it is bound to the digest alone.
//
// It returns found == false when there is no bundle; when none verifies, a
// *sign.VerificationError with a reason per bundle (each matching
// sign.ErrUntrusted or sign.ErrInvalidSignature); a store error as is.
func (v *Verifier) VerifyBundles(ctx context.Context, st sign.Reader, repo string, d digest.Digest, keys []sign.Key) (ver sign.Verified, found bool, err error) {
	// All referrers, then filter: in the referrers tag schema index that
	// go-containerregistry (and so cosign) writes for registries without
	// the referrers API, a descriptor's artifactType is the manifest's
	// config media type (application/vnd.oci.empty.v1+json), not its
	// artifactType; loadBundle checks the manifest's own.
	all, err := ocistore.Referrers(ctx, st, repo, d, "")
	if err != nil {
		return sign.Verified{}, false, err
	}
	var refs []ocispec.Descriptor
	for _, r := range all {
		if r.ArtifactType == ArtifactType || r.MediaType == ocispec.MediaTypeImageManifest {
			refs = append(refs, r)
		}
	}
	if len(refs) > maxReferrers {
		refs = refs[:maxReferrers]
	}
	var reasons []error
	for _, ref := range refs {
		b, err := loadBundle(ctx, st, repo, ref)
		if errors.Is(err, errNotBundle) {
			continue
		}
		if err != nil && !errors.Is(err, sign.ErrNotTrusted) {
			return sign.Verified{}, true, err // a store error
		}
		if err == nil {
			var ver sign.Verified
			if ver, err = v.verifyBundle(b, d, keys); err == nil {
				return ver, true, nil
			}
		}
		reasons = append(reasons, fmt.Errorf("Sigstore bundle %d (%s): %w", len(reasons)+1, ref.Digest, err))
	}
	if len(reasons) == 0 {
		return sign.Verified{}, false, nil
	}
	return sign.Verified{}, true, &sign.VerificationError{Subject: repo + "@" + d.String(), Reasons: reasons}
}

// errNotBundle marks a referrer that is not a Sigstore bundle.
var errNotBundle = errors.New("not a Sigstore bundle")

// loadBundle reads the bundle layer of referrer manifest ref.
func loadBundle(ctx context.Context, st sign.Reader, repo string, ref ocispec.Descriptor) (*bundle.Bundle, error) {
	if ref.Size > maxManifest {
		return nil, fmt.Errorf("bundle manifest %s of %d bytes: %w (limit %d)", ref.Digest, ref.Size, sign.ErrInvalidSignature, maxManifest)
	}
	raw, err := readAll(ctx, st, repo, ref, maxManifest)
	if err != nil {
		return nil, err
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("bundle manifest %s: %w: %v", ref.Digest, sign.ErrInvalidSignature, err)
	}
	if m.ArtifactType != ArtifactType {
		return nil, errNotBundle
	}
	if len(m.Layers) != 1 || !strings.HasPrefix(m.Layers[0].MediaType, "application/vnd.dev.sigstore.bundle") {
		return nil, fmt.Errorf("bundle manifest %s: want one layer of a Sigstore bundle media type: %w", ref.Digest, sign.ErrInvalidSignature)
	}
	l := m.Layers[0]
	if l.Size > maxBundle {
		return nil, fmt.Errorf("bundle %s of %d bytes: %w (limit %d)", l.Digest, l.Size, sign.ErrInvalidSignature, maxBundle)
	}
	body, err := readAll(ctx, st, repo, l, maxBundle)
	if err != nil {
		return nil, err
	}
	if err := l.Digest.Validate(); err != nil || l.Digest.Algorithm().FromBytes(body) != l.Digest {
		return nil, fmt.Errorf("bundle %s: content does not match its digest: %w", l.Digest, sign.ErrInvalidSignature)
	}
	var b bundle.Bundle
	if err := b.UnmarshalJSON(body); err != nil {
		return nil, fmt.Errorf("bundle %s: %w: %v", l.Digest, sign.ErrInvalidSignature, err)
	}
	return &b, nil
}

// verifyBundle verifies one bundle for d with each trusted key in turn.
func (v *Verifier) verifyBundle(b *bundle.Bundle, d digest.Digest, keys []sign.Key) (sign.Verified, error) {
	env := b.GetDsseEnvelope()
	if env == nil {
		return sign.Verified{}, fmt.Errorf("bundle holds no DSSE envelope: %w", sign.ErrInvalidSignature)
	}
	var st struct {
		PredicateType string `json:"predicateType"`
	}
	if err := json.Unmarshal(env.GetPayload(), &st); err != nil || st.PredicateType != cosignSignPredicate {
		return sign.Verified{}, fmt.Errorf("bundle is not a cosign signature (predicate type %q): %w", st.PredicateType, sign.ErrInvalidSignature)
	}
	vc, err := b.VerificationContent()
	if err != nil {
		return sign.Verified{}, fmt.Errorf("bundle: %w: %v", sign.ErrInvalidSignature, err)
	}
	if vc.PublicKey() == nil {
		// Keyless (Fulcio certificate) bundles are trusted by signer
		// identity, which brickyard's trust policy does not express yet.
		return sign.Verified{}, fmt.Errorf("bundle is signed with a certificate, not a key; brickyard trusts keys: %w", sign.ErrUntrusted)
	}
	var opts []verify.VerifierOption
	if v.root != nil {
		if entries, err := b.TlogEntries(); err == nil && len(entries) > 0 {
			opts = append(opts, verify.WithTransparencyLog(1))
		}
	}
	if ts, err := b.Timestamps(); err == nil && len(ts) > 0 && v.root != nil {
		opts = append(opts, verify.WithSignedTimestamps(1))
	} else {
		opts = append(opts, verify.WithNoObserverTimestamps())
	}
	raw, err := hexBytes(d)
	if err != nil {
		return sign.Verified{}, err
	}
	policy := verify.NewPolicy(verify.WithArtifactDigest(d.Algorithm().String(), raw), verify.WithKey())
	var last error
	for _, k := range keys {
		kv, err := signature.LoadVerifier(k.Public, crypto.SHA256)
		if err != nil {
			return sign.Verified{}, fmt.Errorf("key %s: %w: %v", k.ID, sign.ErrInvalidKey, err)
		}
		key := root.NewExpiringKey(kv, time.Time{}, time.Time{})
		var tm root.TrustedMaterial = root.NewTrustedPublicKeyMaterial(func(string) (root.TimeConstrainedVerifier, error) { return key, nil })
		if v.root != nil {
			tm = root.TrustedMaterialCollection{v.root, tm}
		}
		sv, err := verify.NewVerifier(tm, opts...)
		if err != nil {
			return sign.Verified{}, err
		}
		if _, err := sv.Verify(b, policy); err != nil {
			last = err
			continue
		}
		return sign.Verified{Digest: d, KeyID: k.ID}, nil
	}
	return sign.Verified{}, fmt.Errorf("Sigstore bundle refused: %w: %v", sign.ErrUntrusted, last)
}

// hexBytes returns d's encoded part as bytes.
func hexBytes(d digest.Digest) ([]byte, error) {
	if err := d.Validate(); err != nil {
		return nil, fmt.Errorf("digest %q: %w", d, err)
	}
	return hex.DecodeString(d.Encoded())
}

// readAll reads desc within limit bytes; content over it is an invalid
// signature.
func readAll(ctx context.Context, st sign.Reader, repo string, desc ocispec.Descriptor, limit int64) ([]byte, error) {
	b, err := ocistore.ReadAll(ctx, st, repo, desc, limit)
	if errors.Is(err, artifact.ErrTooLarge) {
		return nil, fmt.Errorf("%w: %w", sign.ErrInvalidSignature, err)
	}
	return b, err
}
