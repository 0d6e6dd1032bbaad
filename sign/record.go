package sign

import (
	"context"
	"fmt"
	"time"

	"github.com/brickyard/brickyard/catalog"
	"github.com/brickyard/brickyard/internal/faults"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
)

// Verifier returns a Verifier that trusts the signer's own public key.
func (s *Signer) Verifier() (*Verifier, error) {
	pub, err := s.sv.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidKey, err)
	}
	pem, err := cryptoutils.MarshalPublicKeyToPEM(pub)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidKey, err)
	}
	return NewVerifier(pem)
}

// SignRecord makes sure that the artifact rec names, in repository
// rec.Repository of st (identity IdentityOf(st, rec.Repository)), carries a
// signature by s and that cat records it, writing only what is missing:
// if rec already lists a signature by s's key, nothing; if st holds one
// (a run stopped between signing and recording), it is recorded; else the
// artifact is signed, then the signature recorded. So a signing step that
// was interrupted is completed by running it again, without piling up
// signatures. existed reports that no new signature was made.
func (s *Signer) SignRecord(ctx context.Context, st Writer, cat catalog.SignatureRecorder, rec catalog.Record) (sig Signature, existed bool, err error) {
	tag := SignatureTag(rec.Digest)
	for _, cs := range rec.Signatures {
		if cs.KeyID == s.keyID {
			return Signature{Digest: rec.Digest, KeyID: s.keyID, Tag: tag, Descriptor: ocispec.Descriptor{Digest: cs.Digest}}, true, nil
		}
	}
	v, err := s.Verifier()
	if err != nil {
		return Signature{}, false, err
	}
	found, err := StoreVerifier{Store: st, Verifier: v}.FindSignatures(ctx, rec.Repository, rec.Digest)
	if err != nil {
		return Signature{}, false, fmt.Errorf("sign %s: look for its signatures: %w", rec.Ref(), err)
	}
	if len(found) > 0 {
		if err := cat.AddSignature(ctx, rec.Digest, found[0]); err != nil {
			return Signature{}, false, fmt.Errorf("record signature of %s: %w", rec.Ref(), err)
		}
		return Signature{Digest: rec.Digest, KeyID: s.keyID, Tag: tag, Descriptor: ocispec.Descriptor{Digest: found[0].Digest}}, true, nil
	}
	desc := ocispec.Descriptor{MediaType: rec.MediaType, Digest: rec.Digest, Size: rec.Size}
	if sig, err = s.Sign(ctx, st, rec.Repository, IdentityOf(st, rec.Repository), desc); err != nil {
		return Signature{}, false, fmt.Errorf("sign %s: %w", rec.Ref(), err)
	}
	faults.Point("signature")
	cs := catalog.Signature{KeyID: sig.KeyID, Digest: sig.Descriptor.Digest, At: time.Now().UTC()}
	if err := cat.AddSignature(ctx, rec.Digest, cs); err != nil {
		return Signature{}, false, fmt.Errorf("record signature of %s: %w", rec.Ref(), err)
	}
	faults.Point("signature-recorded")
	return sig, false, nil
}
