package sign

import (
	"context"
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

	"github.com/brickyard/brickyard/internal/ocistore"
)

// BundleArtifactType is the artifactType of a Sigstore bundle (v0.3)
// attached to an artifact as an OCI referrer, as `cosign sign
// --new-bundle-format` attaches it.
const BundleArtifactType = "application/vnd.dev.sigstore.bundle.v0.3+json"

// cosignSignPredicate is the in-toto predicate type of the statement a
// `cosign sign --new-bundle-format` bundle signs: "this digest is signed".
const cosignSignPredicate = "https://sigstore.dev/cosign/sign/v1"

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

// WithTrustedRoot returns a copy of v that also checks, against tr, the
// transparency-log entries and RFC 3161 signed timestamps a Sigstore
// bundle carries: with a trusted root, a bundle whose evidence does not
// verify is refused; without one, that evidence is ignored (as cosign's
// --insecure-ignore-tlog does) and the bundle's signature alone is checked
// against the trusted keys.
func (v *Verifier) WithTrustedRoot(tr root.TrustedMaterial) *Verifier {
	c := *v
	c.root = tr
	return &c
}

// verifyBundles looks for Sigstore bundles attached to d in repo as
// referrers and verifies each offline with sigstore-go: the DSSE envelope
// must be signed by a trusted key, its in-toto statement must be cosign's
// "signed" statement with d as a subject, and the bundle's tlog entries and
// signed timestamps must verify against the trusted root when one is set.
//
// A bundle names no repository (its statement names only the digest), so
// unlike a cosign .sig signature it is bound to the digest alone.
//
// It returns found == false when there is no bundle.
func (v *Verifier) verifyBundles(ctx context.Context, st Reader, repo string, d digest.Digest) (ver Verified, found bool, err error) {
	// All referrers, then filter: in the referrers tag schema index that
	// go-containerregistry (and so cosign) writes for registries without
	// the referrers API, a descriptor's artifactType is the manifest's
	// config media type (application/vnd.oci.empty.v1+json), not its
	// artifactType; loadBundle checks the manifest's own.
	all, err := ocistore.Referrers(ctx, st, repo, d, "")
	if err != nil {
		return Verified{}, false, err
	}
	var refs []ocispec.Descriptor
	for _, r := range all {
		if r.ArtifactType == BundleArtifactType || r.MediaType == ocispec.MediaTypeImageManifest {
			refs = append(refs, r)
		}
	}
	if len(refs) > maxSignatures {
		refs = refs[:maxSignatures]
	}
	var last error
	n := 0
	for _, ref := range refs {
		b, err := loadBundle(ctx, st, repo, ref)
		if errors.Is(err, errNotBundle) {
			continue
		}
		n++
		if err != nil {
			last = err
			continue
		}
		ver, err := v.verifyBundle(b, d)
		if err == nil {
			return ver, true, nil
		}
		last = err
	}
	if n == 0 {
		return Verified{}, false, nil
	}
	return Verified{}, true, last
}

// errNotBundle marks a referrer that is not a Sigstore bundle.
var errNotBundle = errors.New("not a Sigstore bundle")

// loadBundle reads the bundle layer of referrer manifest ref.
func loadBundle(ctx context.Context, st Reader, repo string, ref ocispec.Descriptor) (*bundle.Bundle, error) {
	if ref.Size > maxSignatureManifest {
		return nil, fmt.Errorf("bundle manifest %s of %d bytes: %w (limit %d)", ref.Digest, ref.Size, ErrInvalidSignature, maxSignatureManifest)
	}
	raw, err := readAll(ctx, st, repo, ref, maxSignatureManifest)
	if err != nil {
		return nil, err
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("bundle manifest %s: %w: %v", ref.Digest, ErrInvalidSignature, err)
	}
	if m.ArtifactType != BundleArtifactType {
		return nil, errNotBundle
	}
	if len(m.Layers) != 1 || !strings.HasPrefix(m.Layers[0].MediaType, "application/vnd.dev.sigstore.bundle") {
		return nil, fmt.Errorf("bundle manifest %s: want one layer of a Sigstore bundle media type: %w", ref.Digest, ErrInvalidSignature)
	}
	l := m.Layers[0]
	if l.Size > maxBundle {
		return nil, fmt.Errorf("bundle %s of %d bytes: %w (limit %d)", l.Digest, l.Size, ErrInvalidSignature, maxBundle)
	}
	body, err := readAll(ctx, st, repo, l, maxBundle)
	if err != nil {
		return nil, err
	}
	if err := l.Digest.Validate(); err != nil || l.Digest.Algorithm().FromBytes(body) != l.Digest {
		return nil, fmt.Errorf("bundle %s: content does not match its digest: %w", l.Digest, ErrInvalidSignature)
	}
	var b bundle.Bundle
	if err := b.UnmarshalJSON(body); err != nil {
		return nil, fmt.Errorf("bundle %s: %w: %v", l.Digest, ErrInvalidSignature, err)
	}
	return &b, nil
}

// verifyBundle verifies one bundle for d with each trusted key in turn.
func (v *Verifier) verifyBundle(b *bundle.Bundle, d digest.Digest) (Verified, error) {
	env := b.GetDsseEnvelope()
	if env == nil {
		return Verified{}, fmt.Errorf("bundle holds no DSSE envelope: %w", ErrInvalidSignature)
	}
	var st struct {
		PredicateType string `json:"predicateType"`
	}
	if err := json.Unmarshal(env.GetPayload(), &st); err != nil || st.PredicateType != cosignSignPredicate {
		return Verified{}, fmt.Errorf("bundle is not a cosign signature (predicate type %q): %w", st.PredicateType, ErrInvalidSignature)
	}
	vc, err := b.VerificationContent()
	if err != nil {
		return Verified{}, fmt.Errorf("bundle: %w: %v", ErrInvalidSignature, err)
	}
	if vc.PublicKey() == nil {
		// Keyless (Fulcio certificate) bundles are trusted by signer
		// identity, which brickyard's trust policy does not express yet.
		return Verified{}, fmt.Errorf("bundle is signed with a certificate, not a key; brickyard trusts keys: %w", ErrUntrusted)
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
		return Verified{}, err
	}
	policy := verify.NewPolicy(verify.WithArtifactDigest(d.Algorithm().String(), raw), verify.WithKey())
	var last error
	for _, k := range v.keys {
		key := root.NewExpiringKey(k.v, time.Time{}, time.Time{})
		var tm root.TrustedMaterial = root.NewTrustedPublicKeyMaterial(func(string) (root.TimeConstrainedVerifier, error) { return key, nil })
		if v.root != nil {
			tm = root.TrustedMaterialCollection{v.root, tm}
		}
		sv, err := verify.NewVerifier(tm, opts...)
		if err != nil {
			return Verified{}, err
		}
		if _, err := sv.Verify(b, policy); err != nil {
			last = err
			continue
		}
		return Verified{Digest: d, KeyID: k.id}, nil
	}
	return Verified{}, fmt.Errorf("Sigstore bundle refused: %w: %v", ErrUntrusted, last)
}

// hexBytes returns d's encoded part as bytes.
func hexBytes(d digest.Digest) ([]byte, error) {
	if err := d.Validate(); err != nil {
		return nil, fmt.Errorf("digest %q: %w", d, err)
	}
	return hex.DecodeString(d.Encoded())
}
