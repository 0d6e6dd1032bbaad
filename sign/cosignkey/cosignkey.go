// Package cosignkey makes and reads cosign's password-encrypted key files
// ("ENCRYPTED SIGSTORE PRIVATE KEY", as `cosign generate-key-pair` writes
// them, read with COSIGN_PASSWORD). Package sign signs and verifies
// without it; a deploy tool never needs it, a signing tool needs it only
// for cosign's key files (sign.NewSigner takes any crypto.Signer,
// sign.LoadPEMSigner an unencrypted PEM key).
//
// The format is cosign's (pkg/cosign/keys.go: a PKCS #8 key encrypted by
// go-securesystemslib's encrypted package, scrypt and NaCl secretbox, in a
// PEM block). It is written and read here with that same library rather
// than through cosign's Go packages, which would link ~700 modules and
// tens of MB into every signing tool; the tests check both directions
// against cosign's own functions and the cosign CLI.
package cosignkey

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"

	"github.com/secure-systems-lab/go-securesystemslib/encrypted"
	"github.com/sigstore/sigstore/pkg/cryptoutils"

	"github.com/brickyard/brickyard/sign"
)

// PEM block types of cosign's encrypted private keys: the one cosign
// writes, and the older one it still reads.
const (
	SigstorePrivateKeyPemType = "ENCRYPTED SIGSTORE PRIVATE KEY"
	CosignPrivateKeyPemType   = "ENCRYPTED COSIGN PRIVATE KEY"
)

// GenerateKeyPair returns a new ECDSA P-256 key pair in cosign's formats:
// the private key as an "ENCRYPTED SIGSTORE PRIVATE KEY" PEM block
// encrypted with password (what cosign reads with COSIGN_PASSWORD), the
// public key as a PKIX "PUBLIC KEY" PEM block.
func GenerateKeyPair(password []byte) (privatePEM, publicPEM []byte, err error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate key pair: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, nil, fmt.Errorf("generate key pair: %w", err)
	}
	enc, err := encrypted.Encrypt(der, password)
	if err != nil {
		return nil, nil, fmt.Errorf("generate key pair: encrypt: %w", err)
	}
	if publicPEM, err = cryptoutils.MarshalPublicKeyToPEM(priv.Public()); err != nil {
		return nil, nil, fmt.Errorf("generate key pair: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: SigstorePrivateKeyPemType, Bytes: enc}), publicPEM, nil
}

// LoadSigner decrypts a cosign private key (as written by GenerateKeyPair or
// `cosign generate-key-pair`: a PKCS #8 key in an "ENCRYPTED SIGSTORE
// PRIVATE KEY" or "ENCRYPTED COSIGN PRIVATE KEY" PEM block, scrypt and
// secretbox as cosign's LoadPrivateKey reads it) with password. Errors
// wrap sign.ErrInvalidKey or sign.ErrWrongPassword.
func LoadSigner(privatePEM, password []byte) (*sign.Signer, error) {
	p, _ := pem.Decode(privatePEM)
	if p == nil {
		return nil, fmt.Errorf("%w: no PEM block", sign.ErrInvalidKey)
	}
	if p.Type != CosignPrivateKeyPemType && p.Type != SigstorePrivateKeyPemType {
		return nil, fmt.Errorf("%w: PEM block %q is not a cosign private key", sign.ErrInvalidKey, p.Type)
	}
	der, err := encrypted.Decrypt(p.Bytes, password)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", sign.ErrWrongPassword, err)
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", sign.ErrInvalidKey, err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%w: %T is not a signing key", sign.ErrInvalidKey, k)
	}
	return sign.NewSigner(s)
}
