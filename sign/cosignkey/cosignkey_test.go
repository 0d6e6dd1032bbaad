package cosignkey_test

import (
	"bytes"
	"crypto"
	"errors"
	"testing"

	"github.com/sigstore/cosign/v2/pkg/cosign"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/brickyard/brickyard/sign"
	"github.com/brickyard/brickyard/sign/cosignkey"
)

// TestCosignKeyFiles: a key pair made here is read by cosign's own
// LoadPrivateKey, and one made by cosign's GenerateKeyPair is read here;
// both sign what the other's public key verifies. A wrong password is
// ErrWrongPassword, anything else not a cosign key ErrInvalidKey.
func TestCosignKeyFiles(t *testing.T) {
	pw := []byte("pw")
	priv, pub, err := cosignkey.GenerateKeyPair(pw)
	if err != nil {
		t.Fatal(err)
	}
	sv, err := cosign.LoadPrivateKey(priv, pw, nil)
	if err != nil {
		t.Fatalf("cosign reads our key: %v", err)
	}
	msg := []byte("payload")
	sig, err := sv.SignMessage(bytes.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	pk, err := cryptoutils.UnmarshalPEMToPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	pv, err := signature.LoadVerifier(pk, crypto.SHA256)
	if err == nil {
		err = pv.VerifySignature(bytes.NewReader(sig), bytes.NewReader(msg))
	}
	if err != nil {
		t.Fatalf("our public key verifies cosign's signature: %v", err)
	}

	kb, err := cosign.GenerateKeyPair(func(bool) ([]byte, error) { return pw, nil })
	if err != nil {
		t.Fatal(err)
	}
	s, err := cosignkey.LoadSigner(kb.PrivateBytes, pw)
	if err != nil {
		t.Fatalf("we read cosign's key: %v", err)
	}
	want, err := sign.NewVerifier(kb.PublicBytes)
	if err != nil {
		t.Fatal(err)
	}
	if s.KeyID() != want.Keys()[0].ID {
		t.Errorf("key id %s, cosign's public key has %s", s.KeyID(), want.Keys()[0].ID)
	}

	if _, err := cosignkey.LoadSigner(kb.PrivateBytes, []byte("wrong")); !errors.Is(err, sign.ErrWrongPassword) {
		t.Errorf("wrong password: %v", err)
	}
	for _, bad := range [][]byte{nil, []byte("not pem"), kb.PublicBytes} {
		if _, err := cosignkey.LoadSigner(bad, pw); !errors.Is(err, sign.ErrInvalidKey) {
			t.Errorf("LoadSigner(%.20q): %v, want ErrInvalidKey", bad, err)
		}
	}
}
