package sign

import (
	"bytes"
	"context"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/opencontainers/go-digest"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/payload"

	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/internal/errdef"
)

// Verifier checks cosign signatures against a set of trusted public keys.
type Verifier struct {
	keys    []trustedKey
	bundles BundleVerifier // nil: Sigstore bundles are not looked for
}

// trustedKey is a trusted public key and the verifiers of the hashes a
// signature by it may be made over: SHA-256 (what cosign's verifiers use
// by default) and, for ECDSA P-384 and P-521, the curve's own (see
// NewSigner).
type trustedKey struct {
	Key
	vs []signature.Verifier
}

// Key is a trusted public key.
type Key struct {
	ID     string           // its fingerprint (KeyID)
	Public crypto.PublicKey // *ecdsa.PublicKey, ed25519.PublicKey or *rsa.PublicKey
}

// BundleVerifier verifies signatures kept in another form than cosign's
// signature tag: package sign/bundle verifies Sigstore bundles attached as
// OCI referrers (`cosign sign --new-bundle-format`) with sigstore-go, which
// adds ~25 MB to a program, so a Verifier looks for bundles only when
// given one (WithBundles).
type BundleVerifier interface {
	// VerifyBundles returns found == false if manifest d in repository
	// repo has no bundle; else the verification by one of keys, or an
	// error matching ErrNotTrusted (a *VerificationError whose reasons
	// wrap ErrUntrusted or ErrInvalidSignature) saying why none verifies.
	// Any other error is a store error and is returned as is.
	VerifyBundles(ctx context.Context, st Reader, repo string, d digest.Digest, keys []Key) (v Verified, found bool, err error)
}

// NewVerifier trusts the given PEM public keys (PKIX "PUBLIC KEY" blocks, as
// cosign writes them; ECDSA, Ed25519 or RSA). Errors wrap ErrInvalidKey and
// say which key (by position) is malformed.
func NewVerifier(publicPEMs ...[]byte) (*Verifier, error) {
	if len(publicPEMs) == 0 {
		return nil, fmt.Errorf("no public key given: %w", ErrInvalidKey)
	}
	v := &Verifier{}
	for i, p := range publicPEMs {
		pub, err := cryptoutils.UnmarshalPEMToPublicKey(p)
		if err != nil {
			return nil, fmt.Errorf("public key %d: %w: %v", i+1, ErrInvalidKey, err)
		}
		k, err := newTrustedKey(pub)
		if err != nil {
			return nil, fmt.Errorf("public key %d: %w", i+1, err)
		}
		v.keys = append(v.keys, k)
	}
	return v, nil
}

func newTrustedKey(pub crypto.PublicKey) (trustedKey, error) {
	id, err := KeyID(pub)
	if err != nil {
		return trustedKey{}, err
	}
	k := trustedKey{Key: Key{ID: id, Public: pub}}
	hashes := []crypto.Hash{crypto.SHA256}
	if h := hashFor(pub); h != crypto.SHA256 {
		hashes = append(hashes, h)
	}
	for _, h := range hashes {
		sv, err := signature.LoadVerifier(pub, h)
		if err != nil {
			return trustedKey{}, fmt.Errorf("%w: %v", ErrInvalidKey, err)
		}
		k.vs = append(k.vs, sv)
	}
	return k, nil
}

// Keys returns the trusted keys, in the order given.
func (v *Verifier) Keys() []Key {
	out := make([]Key, len(v.keys))
	for i, k := range v.keys {
		out[i] = k.Key
	}
	return out
}

// WithBundles returns a copy of v that, when a manifest has no cosign
// signature that verifies, also accepts what b verifies with v's keys
// (package sign/bundle: Sigstore bundles).
func (v *Verifier) WithBundles(b BundleVerifier) *Verifier {
	c := *v
	c.bundles = b
	return &c
}

// verifies reports whether sig, a cosign simple-signing layer, is signed
// by k: the base64 signature in its annotation over its payload, as
// cosign's verifyOCISignature checks it.
func (k trustedKey) verifies(sig sigLayer) bool {
	raw, err := base64.StdEncoding.DecodeString(sig.annotations[sigAnnotation])
	if err != nil || len(raw) == 0 {
		return false
	}
	for _, sv := range k.vs {
		if sv.VerifySignature(bytes.NewReader(raw), bytes.NewReader(sig.payload)) == nil {
			return true
		}
	}
	return false
}

// Verified is the outcome of a successful verification.
type Verified struct {
	Digest digest.Digest // the manifest digest that was verified: use this, never a tag
	KeyID  string        // the trusted key that verified it
}

// Verify checks that the manifest d in repository repo carries a cosign
// signature, stored under SignatureTag(d), made by one of the trusted keys,
// whose payload names d and identity (critical.identity.docker-reference;
// cosign does not check it, brickyard does, so a signature copied to
// another repository does not verify there). The check is cosign's
// (the signature annotation over the simple-signing payload), offline,
// without a transparency log. With WithBundles, a manifest without such a
// signature may instead be signed by a Sigstore bundle.
//
// Errors: a trust failure is a *VerificationError with a reason per
// signature (and bundle) refused, matching ErrNotTrusted and each reason's
// sentinel: ErrUnsigned if there is no signature; ErrUntrusted for one no
// trusted key verifies; ErrInvalidSignature for one that verifies but
// names another digest or identity, or is malformed. Store errors
// otherwise, never matching ErrNotTrusted.
func (v *Verifier) Verify(ctx context.Context, st Reader, repo, identity string, d digest.Digest) (Verified, error) {
	if err := d.Validate(); err != nil {
		return Verified{}, fmt.Errorf("verify %s@%s: %w", repo, d, err)
	}
	subject := repo + "@" + d.String()
	ver, reasons, err := v.verifySignatures(ctx, st, repo, identity, d)
	if err != nil || reasons == nil {
		return ver, err
	}
	if v.bundles != nil {
		bver, found, berr := v.bundles.VerifyBundles(ctx, st, repo, d, v.Keys())
		switch {
		case found && berr == nil:
			return bver, nil
		case berr != nil && !errors.Is(berr, ErrNotTrusted):
			return Verified{}, fmt.Errorf("verify %s: Sigstore bundles: %w", subject, berr)
		case found && errors.Is(reasons[0], ErrUnsigned):
			reasons = []error{berr} // no .sig at all: the bundles' reasons are the whole story
		case found:
			reasons = append(reasons, berr)
		}
	}
	return Verified{}, verificationError(subject, reasons...)
}

// verifySignatures verifies the cosign .sig signatures of d. A trust
// failure is not an error: it returns the reasons, one per signature (or
// ErrUnsigned alone); err is a store error.
func (v *Verifier) verifySignatures(ctx context.Context, st Reader, repo, identity string, d digest.Digest) (_ Verified, reasons []error, err error) {
	sigs, err := loadSignatures(ctx, st, repo, SignatureTag(d))
	switch {
	case errors.Is(err, errdef.ErrNotFound) || (err == nil && len(sigs) == 0):
		return Verified{}, []error{ErrUnsigned}, nil
	case errors.Is(err, ErrNotTrusted):
		return Verified{}, []error{err}, nil // malformed or oversized signature manifest
	case err != nil:
		return Verified{}, nil, fmt.Errorf("verify %s@%s: %w", repo, d, err)
	}
	for i, sig := range sigs {
		verified := false
		for _, k := range v.keys {
			if !k.verifies(sig) {
				continue
			}
			verified = true
			if err := checkClaims(sig, d, identity); err != nil {
				reasons = append(reasons, fmt.Errorf("signature %d of %d, by key %s: %w", i+1, len(sigs), k.ID, err))
				break
			}
			return Verified{Digest: d, KeyID: k.ID}, nil, nil
		}
		if !verified {
			reasons = append(reasons, fmt.Errorf("signature %d of %d: %w", i+1, len(sigs), ErrUntrusted))
		}
	}
	return Verified{}, reasons, nil
}

// checkClaims checks a signature payload's type, digest and identity; it
// is separate from the signature check so that "signed by an untrusted
// key" and "signed, but for something else" stay distinct errors.
func checkClaims(sig sigLayer, d digest.Digest, identity string) error {
	var p payload.SimpleContainerImage
	if err := json.Unmarshal(sig.payload, &p); err != nil {
		return fmt.Errorf("%w: payload: %v", ErrInvalidSignature, err)
	}
	switch {
	case p.Critical.Type != payload.CosignSignatureType:
		return fmt.Errorf("%w: payload type %q", ErrInvalidSignature, p.Critical.Type)
	case p.Critical.Image.DockerManifestDigest != d.String():
		return fmt.Errorf("%w: payload signs %s, not %s", ErrInvalidSignature, p.Critical.Image.DockerManifestDigest, d)
	case p.Critical.Identity.DockerReference != identity:
		return fmt.Errorf("%w: payload names %q, not %q (copied from another repository?)", ErrInvalidSignature, p.Critical.Identity.DockerReference, identity)
	}
	return nil
}

// Identifier is implemented by stores whose repositories have a fuller
// name than the one given to their methods: a registry store's "web" is
// "registry.example:5000/team/web", the docker-reference cosign signs.
type Identifier interface {
	Identity(repo string) string
}

// IdentityOf returns the identity a signature for repo in st names: what
// st.Identity says if st is an Identifier, else repo itself.
func IdentityOf(st any, repo string) string {
	if id, ok := st.(Identifier); ok {
		return id.Identity(repo)
	}
	return repo
}

// StoreVerifier binds a Verifier to a store; the expected identity of a
// repository is IdentityOf(Store, repo). It satisfies catalog.Verifier.
type StoreVerifier struct {
	Store    Reader
	Verifier *Verifier
}

// Verify checks the signature of a's manifest in its repository (see
// Verifier.Verify) and returns the id of the key that verified it. It
// applies no policy beyond "signed by one of the keys": use
// PolicyVerifier for owner and provenance checks.
func (s StoreVerifier) Verify(ctx context.Context, a artifact.Stored) (string, error) {
	v, err := s.Verifier.Verify(ctx, s.Store, a.Repository, IdentityOf(s.Store, a.Repository), a.Manifest.Digest)
	return v.KeyID, err
}

// FindSignatures returns the signatures of manifest d in repository repo
// that verify with one of the trusted keys (and name d and repo's
// identity), one per key: the key id, and the tag and descriptor of the
// signature manifest (SignatureTag(d)). None is not an error. It is what
// rebuilding a catalog from a store needs.
func (s StoreVerifier) FindSignatures(ctx context.Context, repo string, d digest.Digest) ([]Signature, error) {
	tag := SignatureTag(d)
	sigs, err := loadSignatures(ctx, s.Store, repo, tag)
	if errors.Is(err, errdef.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	desc, err := s.Store.Resolve(ctx, repo, tag)
	if err != nil {
		return nil, err
	}
	identity := IdentityOf(s.Store, repo)
	var out []Signature
	for _, k := range s.Verifier.keys {
		for _, sig := range sigs {
			if !k.verifies(sig) || checkClaims(sig, d, identity) != nil {
				continue
			}
			out = append(out, Signature{Digest: d, KeyID: k.ID, Tag: tag, Descriptor: desc})
			break
		}
	}
	return out, nil
}
