package brickyard

import (
	"context"
	"fmt"
	"time"

	"github.com/brickyard/brickyard/catalog"
	"github.com/brickyard/brickyard/internal/faults"
	"github.com/brickyard/brickyard/sign"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// signRecord makes sure that the artifact rec names, in repository
// rec.Repository of st (identity sign.IdentityOf(st, rec.Repository)),
// carries a signature by s and that cat records it, writing only what is
// missing: if rec already lists a signature by s's key, nothing; if st
// holds one (a run stopped between signing and recording), it is
// recorded; else the artifact is signed, then the signature recorded. So
// a signing step that was interrupted is completed by running it again,
// without piling up signatures. existed reports that no new signature was
// made. It lives here, above sign and catalog, because neither imports the
// other.
func signRecord(ctx context.Context, s *sign.Signer, st sign.Writer, cat catalog.SignatureRecorder, rec catalog.Record) (sig sign.Signature, existed bool, err error) {
	tag := sign.SignatureTag(rec.Digest)
	for _, cs := range rec.Signatures {
		if cs.KeyID == s.KeyID() {
			return sign.Signature{Digest: rec.Digest, KeyID: s.KeyID(), Tag: tag, Descriptor: ocispec.Descriptor{Digest: cs.Digest}}, true, nil
		}
	}
	v, err := s.Verifier()
	if err != nil {
		return sign.Signature{}, false, err
	}
	found, err := sign.StoreVerifier{Store: st, Verifier: v}.FindSignatures(ctx, rec.Repository, rec.Digest)
	if err != nil {
		return sign.Signature{}, false, fmt.Errorf("sign %s: look for its signatures: %w", rec.Ref(), err)
	}
	if len(found) > 0 {
		cs := catalog.Signature{KeyID: found[0].KeyID, Digest: found[0].Descriptor.Digest, At: time.Now().UTC()}
		if err := cat.AddSignature(ctx, rec.Digest, cs); err != nil {
			return sign.Signature{}, false, fmt.Errorf("record signature of %s: %w", rec.Ref(), err)
		}
		return found[0], true, nil
	}
	desc := ocispec.Descriptor{MediaType: rec.MediaType, Digest: rec.Digest, Size: rec.Size}
	if sig, err = s.Sign(ctx, st, rec.Repository, sign.IdentityOf(st, rec.Repository), desc); err != nil {
		return sign.Signature{}, false, fmt.Errorf("sign %s: %w", rec.Ref(), err)
	}
	faults.Point("signature")
	cs := catalog.Signature{KeyID: sig.KeyID, Digest: sig.Descriptor.Digest, At: time.Now().UTC()}
	if err := cat.AddSignature(ctx, rec.Digest, cs); err != nil {
		return sign.Signature{}, false, fmt.Errorf("record signature of %s: %w", rec.Ref(), err)
	}
	faults.Point("signature-recorded")
	return sig, false, nil
}
