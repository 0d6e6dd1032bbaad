package sign

import (
	"fmt"

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
