package sign

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/opencontainers/go-digest"
	"github.com/sigstore/cosign/v2/pkg/cosign"
	"github.com/sigstore/cosign/v2/pkg/oci"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/payload"

	"github.com/brickyard/brickyard/catalog"
	"github.com/brickyard/brickyard/internal/errdef"
)

// Verifier checks cosign signatures against a set of trusted public keys.
type Verifier struct {
	keys []trustedKey
	root root.TrustedMaterial // nil: a bundle's tlog entries and timestamps are not checked
}

type trustedKey struct {
	id string
	v  signature.Verifier
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
		sv, err := signature.LoadVerifier(pub, crypto.SHA256)
		if err != nil {
			return nil, fmt.Errorf("public key %d: %w: %v", i+1, ErrInvalidKey, err)
		}
		id, err := KeyID(pub)
		if err != nil {
			return nil, err
		}
		v.keys = append(v.keys, trustedKey{id: id, v: sv})
	}
	return v, nil
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
// another repository does not verify there). The cryptographic check is
// cosign's own (cosign.VerifyImageSignature), offline, without a
// transparency log.
//
// Errors: ErrUnsigned if there is no signature; ErrUntrusted if none
// verifies with a trusted key; ErrInvalidSignature if one verifies but names
// another digest or identity, or is malformed; store errors otherwise.
func (v *Verifier) Verify(ctx context.Context, st Reader, repo, identity string, d digest.Digest) (Verified, error) {
	h, err := v1.NewHash(d.String())
	if err != nil {
		return Verified{}, fmt.Errorf("verify %s@%s: %w", repo, d, err)
	}
	ver, err := v.verifySignatures(ctx, st, repo, identity, d, h)
	if err == nil || !(errors.Is(err, ErrUnsigned) || errors.Is(err, ErrUntrusted) || errors.Is(err, ErrInvalidSignature)) {
		return ver, err
	}
	bver, found, berr := v.verifyBundles(ctx, st, repo, d)
	switch {
	case !found && berr == nil:
		return Verified{}, err
	case berr == nil:
		return bver, nil
	case errors.Is(err, ErrUnsigned):
		return Verified{}, fmt.Errorf("%s@%s: %w", repo, d, berr)
	default:
		return Verified{}, fmt.Errorf("%w; %v", err, berr)
	}
}

// verifySignatures verifies the cosign .sig signatures of d.
func (v *Verifier) verifySignatures(ctx context.Context, st Reader, repo, identity string, d digest.Digest, h v1.Hash) (Verified, error) {
	sigs, err := loadSignatures(ctx, st, repo, SignatureTag(d))
	if errors.Is(err, errdef.ErrNotFound) || (err == nil && len(sigs) == 0) {
		return Verified{}, fmt.Errorf("%s@%s: %w", repo, d, ErrUnsigned)
	}
	if err != nil {
		return Verified{}, fmt.Errorf("verify %s@%s: %w", repo, d, err)
	}
	var invalid error
	for _, sig := range sigs {
		for _, k := range v.keys {
			co := &cosign.CheckOpts{SigVerifier: k.v, IgnoreTlog: true, IgnoreSCT: true, Offline: true, ClaimVerifier: noClaims}
			if _, err := cosign.VerifyImageSignature(ctx, sig, h, co); err != nil {
				continue
			}
			if err := checkClaims(sig, d, identity); err != nil {
				invalid = err
				continue
			}
			return Verified{Digest: d, KeyID: k.id}, nil
		}
	}
	if invalid != nil {
		return Verified{}, fmt.Errorf("%s@%s: %w", repo, d, invalid)
	}
	return Verified{}, fmt.Errorf("%s@%s: %d signature(s), none by a trusted key: %w", repo, d, len(sigs), ErrUntrusted)
}

// noClaims defers the claim checks to checkClaims, so that "signed by an
// untrusted key" and "signed, but for something else" stay distinct errors.
func noClaims(oci.Signature, v1.Hash, map[string]interface{}) error { return nil }

// checkClaims checks a signature payload's type, digest and identity.
func checkClaims(sig oci.Signature, d digest.Digest, identity string) error {
	body, err := sig.Payload()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidSignature, err)
	}
	var p payload.SimpleContainerImage
	if err := json.Unmarshal(body, &p); err != nil {
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

// Verify checks the signature of record r's manifest in its repository
// (see Verifier.Verify) and returns the id of the key that verified it. It
// applies no policy beyond "signed by one of the keys": use
// PolicyVerifier for owner and provenance checks.
func (s StoreVerifier) Verify(ctx context.Context, r catalog.Record) (string, error) {
	v, err := s.Verifier.Verify(ctx, s.Store, r.Repository, IdentityOf(s.Store, r.Repository), r.Digest)
	return v.KeyID, err
}

// FindSignatures returns the signatures of manifest d in repository repo
// that verify with one of the trusted keys (and name d and repo's
// identity), one per key, as catalog signatures: the key id and the digest
// of the signature manifest under SignatureTag(d). None is not an error.
// It satisfies catalog.SignatureFinder, for catalog.Rebuild.
func (s StoreVerifier) FindSignatures(ctx context.Context, repo string, d digest.Digest) ([]catalog.Signature, error) {
	sigs, err := loadSignatures(ctx, s.Store, repo, SignatureTag(d))
	if errors.Is(err, errdef.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	desc, err := s.Store.Resolve(ctx, repo, SignatureTag(d))
	if err != nil {
		return nil, err
	}
	h, err := v1.NewHash(d.String())
	if err != nil {
		return nil, err
	}
	identity := IdentityOf(s.Store, repo)
	var out []catalog.Signature
	for _, k := range s.Verifier.keys {
		for _, sig := range sigs {
			co := &cosign.CheckOpts{SigVerifier: k.v, IgnoreTlog: true, IgnoreSCT: true, Offline: true, ClaimVerifier: noClaims}
			if _, err := cosign.VerifyImageSignature(ctx, sig, h, co); err != nil || checkClaims(sig, d, identity) != nil {
				continue
			}
			out = append(out, catalog.Signature{KeyID: k.id, Digest: desc.Digest, At: time.Now().UTC().Truncate(time.Second)})
			break
		}
	}
	return out, nil
}
