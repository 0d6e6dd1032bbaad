package sign

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/internal/errdef"
	"github.com/brickyard/brickyard/internal/ocistore"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	ggcrtypes "github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sigstore/cosign/v2/pkg/cosign"
	"github.com/sigstore/cosign/v2/pkg/oci"
	"github.com/sigstore/cosign/v2/pkg/oci/empty"
	"github.com/sigstore/cosign/v2/pkg/oci/mutate"
	"github.com/sigstore/cosign/v2/pkg/oci/static"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/payload"
)

// Reader is what verification needs of a store; registry stores satisfy it.
type Reader interface {
	Fetch(ctx context.Context, repo string, desc ocispec.Descriptor) (io.ReadCloser, error)
	Resolve(ctx context.Context, repo, tag string) (ocispec.Descriptor, error)
}

// Writer is what signing needs of a store; registry stores satisfy it.
type Writer interface {
	Reader
	PushBlob(ctx context.Context, repo string, expected ocispec.Descriptor, r io.Reader) (ocispec.Descriptor, error)
	PushManifest(ctx context.Context, repo, mediaType string, manifest []byte) (ocispec.Descriptor, error)
	Move(ctx context.Context, repo string, desc ocispec.Descriptor, tag string) error
}

// Size caps for what is read back from a store, in bytes.
const (
	maxSignatureManifest = 4 << 20
	maxPayload           = 128 << 10
	maxSignatures        = 1000
)

// cosign's annotation holding a layer's base64 signature.
const sigAnnotation = "dev.cosignproject.cosign/signature"

// SignatureTag returns cosign's tag for the signatures of manifest d:
// "sha256-<hex>.sig".
func SignatureTag(d digest.Digest) string {
	return d.Algorithm().String() + "-" + d.Encoded() + ".sig"
}

// GenerateKeyPair returns a new ECDSA P-256 key pair in cosign's formats:
// the private key as an "ENCRYPTED SIGSTORE PRIVATE KEY" PEM block
// encrypted with password (what cosign reads with COSIGN_PASSWORD), the
// public key as a PKIX "PUBLIC KEY" PEM block.
func GenerateKeyPair(password []byte) (privatePEM, publicPEM []byte, err error) {
	kb, err := cosign.GenerateKeyPair(func(bool) ([]byte, error) { return password, nil })
	if err != nil {
		return nil, nil, fmt.Errorf("generate key pair: %w", err)
	}
	return kb.PrivateBytes, kb.PublicBytes, nil
}

// KeyID returns the fingerprint of a public key: "SHA256:" and the
// unpadded base64 of the SHA-256 of its DER SubjectPublicKeyInfo (the form
// ssh-keygen -l prints).
func KeyID(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrInvalidKey, err)
	}
	sum := sha256.Sum256(der)
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:]), nil
}

// Signer signs artifacts the way `cosign sign --key` and `cosign attest
// --key` do.
type Signer struct {
	sv    signature.Signer
	keyID string
}

// NewSigner signs with any crypto.Signer whose public key is ECDSA (signed
// over SHA-256), Ed25519 (pure Ed25519 over the message, as cosign's
// verifiers expect) or RSA (PKCS #1 v1.5 over SHA-256): an in-memory key, a
// KMS or an HSM. Errors wrap ErrInvalidKey for any other key type.
func NewSigner(s crypto.Signer) (*Signer, error) {
	switch s.Public().(type) {
	case *ecdsa.PublicKey, ed25519.PublicKey, *rsa.PublicKey:
	default:
		return nil, fmt.Errorf("%w: %T keys are not supported (ECDSA, Ed25519 or RSA)", ErrInvalidKey, s.Public())
	}
	id, err := KeyID(s.Public())
	if err != nil {
		return nil, err
	}
	return &Signer{sv: cryptoSigner{s}, keyID: id}, nil
}

// LoadPEMSigner reads an unencrypted PKCS #8, SEC 1 or PKCS #1 private key
// PEM block. Errors wrap ErrInvalidKey.
func LoadPEMSigner(privatePEM []byte) (*Signer, error) {
	k, err := cryptoutils.UnmarshalPEMToPrivateKey(privatePEM, cryptoutils.SkipPassword)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidKey, err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%w: %T is not a signing key", ErrInvalidKey, k)
	}
	return NewSigner(s)
}

// cryptoSigner adapts a crypto.Signer to sigstore's signature.Signer.
// sigstore's own LoadSigner accepts only in-memory key types, not an
// opaque crypto.Signer such as a KMS or PKCS #11 key, so this small
// adapter is ours.
type cryptoSigner struct{ s crypto.Signer }

func (c cryptoSigner) PublicKey(...signature.PublicKeyOption) (crypto.PublicKey, error) {
	return c.s.Public(), nil
}

func (c cryptoSigner) SignMessage(msg io.Reader, _ ...signature.SignOption) ([]byte, error) {
	b, err := io.ReadAll(msg)
	if err != nil {
		return nil, err
	}
	if _, ok := c.s.Public().(ed25519.PublicKey); ok {
		return c.s.Sign(rand.Reader, b, crypto.Hash(0))
	}
	sum := sha256.Sum256(b)
	return c.s.Sign(rand.Reader, sum[:], crypto.SHA256)
}

// LoadSigner decrypts a cosign private key (as written by GenerateKeyPair or
// `cosign generate-key-pair`) with password. Errors wrap ErrInvalidKey or
// ErrWrongPassword.
func LoadSigner(privatePEM, password []byte) (*Signer, error) {
	sv, err := cosign.LoadPrivateKey(privatePEM, password, nil)
	if err != nil {
		// cosign wraps the decryption failure with fmt.Errorf without a
		// sentinel, so its message is the only way to tell it apart.
		if strings.HasPrefix(err.Error(), "decrypt:") {
			return nil, ErrWrongPassword
		}
		return nil, fmt.Errorf("%w: %v", ErrInvalidKey, err)
	}
	pub, err := sv.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidKey, err)
	}
	id, err := KeyID(pub)
	if err != nil {
		return nil, err
	}
	return &Signer{sv: sv, keyID: id}, nil
}

// KeyID returns the fingerprint of the signer's public key (see KeyID).
func (s *Signer) KeyID() string { return s.keyID }

// Signature describes a signature stored by Sign.
type Signature struct {
	Digest     digest.Digest      // of the signed manifest
	KeyID      string             // of the signing key
	Tag        string             // cosign's "sha256-<hex>.sig"
	Descriptor ocispec.Descriptor // of the signature manifest the tag points at
}

// Sign signs the manifest desc in repository repo: cosign's simple-signing
// payload ("cosign container image signature", with
// critical.identity.docker-reference = identity and
// critical.image.docker-manifest-digest = desc.Digest), ECDSA over its
// SHA-256, stored as cosign stores it: a layer of the signature manifest
// tagged SignatureTag(desc.Digest), appended to any signatures already
// there. identity is the name verifiers will expect, e.g.
// "127.0.0.1:5000/web" for a registry or "web" in a layout store.
func (s *Signer) Sign(ctx context.Context, st Writer, repo, identity string, desc ocispec.Descriptor) (Signature, error) {
	ref, err := name.NewDigest(identity+"@"+desc.Digest.String(), name.WeakValidation)
	if err != nil {
		return Signature{}, fmt.Errorf("sign %s@%s: identity %q: %w", repo, desc.Digest, identity, err)
	}
	body, err := payload.Cosign{Image: ref, ClaimedIdentity: identity}.MarshalJSON()
	if err != nil {
		return Signature{}, err
	}
	raw, err := s.sv.SignMessage(bytes.NewReader(body))
	if err != nil {
		return Signature{}, fmt.Errorf("sign %s@%s: %w", repo, desc.Digest, err)
	}
	sig, err := static.NewSignature(body, base64.StdEncoding.EncodeToString(raw))
	if err != nil {
		return Signature{}, err
	}
	return s.store(ctx, st, repo, desc, SignatureTag(desc.Digest), sig)
}

// pushImage stores a go-containerregistry image: layers and config first,
// then the manifest.
func pushImage(ctx context.Context, st Writer, repo string, img v1.Image) (ocispec.Descriptor, error) {
	layers, err := img.Layers()
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return ocispec.Descriptor{}, err
		}
		size, err := l.Size()
		if err != nil {
			return ocispec.Descriptor{}, err
		}
		rc, err := l.Compressed()
		if err != nil {
			return ocispec.Descriptor{}, err
		}
		_, err = st.PushBlob(ctx, repo, ocispec.Descriptor{Digest: digest.Digest(d.String()), Size: size}, rc)
		rc.Close()
		if err != nil {
			return ocispec.Descriptor{}, err
		}
	}
	m, err := img.Manifest()
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	cd := ocispec.Descriptor{MediaType: string(m.Config.MediaType), Digest: digest.Digest(m.Config.Digest.String()), Size: m.Config.Size}
	if _, err := st.PushBlob(ctx, repo, cd, bytes.NewReader(cfg)); err != nil {
		return ocispec.Descriptor{}, err
	}
	raw, err := img.RawManifest()
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	mt, err := img.MediaType()
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	return st.PushManifest(ctx, repo, string(mt), raw)
}

// MergeSignatures points tag, a cosign signature or attestation tag
// ("sha256-<hex>.sig" or ".att") in repository repo, at a signature
// manifest holding the signatures it held and those of incoming, a cosign
// signature manifest already in repo, each once (by payload and
// signature), the ones it held first. If tag does not exist it is pointed
// at incoming; if incoming adds nothing, tag is left as it is. It is the
// registry.MergeFunc with which a copy adds signatures to those the
// destination has instead of replacing them. Concurrent writers are
// handled as by Sign (see addSignatures). Errors wrap ErrInvalidSignature
// when either manifest is malformed or over the size caps.
func MergeSignatures(ctx context.Context, st Writer, repo, tag string, incoming ocispec.Descriptor) error {
	more, err := loadSignaturesAt(ctx, st, repo, tag, incoming)
	if err == nil {
		_, err = addSignatures(ctx, st, repo, tag, more, &incoming)
	}
	if err != nil {
		return fmt.Errorf("merge signatures %s:%s: %w", repo, tag, err)
	}
	return nil
}

// addSignatures points tag at a cosign signature manifest holding the
// signatures it holds and those of add that it lacks, and returns that
// manifest's descriptor. If tag does not exist and from is not nil, tag is
// pointed at *from, a manifest holding add. The read-modify-write holds
// the store's lock on mutable tags where it has one (the layout store);
// on a registry, which has none, the tag is read back after the move and
// the missing signatures added again if a concurrent writer replaced it,
// up to ocistore.MutableTagTries times.
func addSignatures(ctx context.Context, st Writer, repo, tag string, add []oci.Signature, from *ocispec.Descriptor) (ocispec.Descriptor, error) {
	var out ocispec.Descriptor
	err := ocistore.WithMutableTagsLocked(st, repo, func() error {
		for try := range ocistore.MutableTagTries {
			if err := ocistore.Pause(ctx, try); err != nil {
				return err
			}
			existing, err := loadSignatures(ctx, st, repo, tag)
			absent := errors.Is(err, errdef.ErrNotFound)
			if err != nil && !absent {
				return err
			}
			all, err := unionSignatures(existing, add)
			if err != nil {
				return err
			}
			if len(all) == len(existing) && !absent {
				if out.Digest == "" {
					out, err = st.Resolve(ctx, repo, tag)
				}
				return err
			}
			if len(all) > maxSignatures {
				return fmt.Errorf("%d signatures under %s: %w (limit %d)", len(all), tag, ErrInvalidSignature, maxSignatures)
			}
			if absent && from != nil {
				out = *from
			} else {
				sigs, err := mutate.AppendSignatures(empty.Signatures(), false, all...)
				if err != nil {
					return err
				}
				if out, err = pushImage(ctx, st, repo, sigs); err != nil {
					return fmt.Errorf("store %s: %w", tag, err)
				}
			}
			if err := st.Move(ctx, repo, out, tag); err != nil {
				return fmt.Errorf("tag %s: %w", tag, err)
			}
		}
		return fmt.Errorf("tag %s: other writers kept replacing it %d times", tag, ocistore.MutableTagTries)
	})
	return out, err
}

// unionSignatures returns have followed by the signatures of add that are
// not in have. A signature is its payload and the signature over it: two
// keys signing one digest give the same payload (cosign's own duplicate
// check compares both too); an attestation's payload, a DSSE envelope,
// holds its signatures.
func unionSignatures(have, add []oci.Signature) ([]oci.Signature, error) {
	key := func(s oci.Signature) (string, error) {
		d, err := s.Digest()
		if err != nil {
			return "", err
		}
		b64, err := s.Base64Signature()
		return d.String() + " " + b64, err
	}
	seen := map[string]bool{}
	for _, s := range have {
		k, err := key(s)
		if err != nil {
			return nil, err
		}
		seen[k] = true
	}
	all := have
	for _, s := range add {
		k, err := key(s)
		if err != nil {
			return nil, err
		}
		if !seen[k] {
			seen[k] = true
			all = append(all, s)
		}
	}
	return all, nil
}

// loadSignatures reads the signatures under tag, each with all its layer
// annotations, within the size caps. It returns an error wrapping
// errdef.ErrNotFound if there is no such tag.
func loadSignatures(ctx context.Context, st Reader, repo, tag string) ([]oci.Signature, error) {
	desc, err := st.Resolve(ctx, repo, tag)
	if err != nil {
		return nil, err
	}
	return loadSignaturesAt(ctx, st, repo, tag, desc)
}

// loadSignaturesAt reads the signatures of the cosign signature manifest
// desc, which tag names in errors.
func loadSignaturesAt(ctx context.Context, st Reader, repo, tag string, desc ocispec.Descriptor) ([]oci.Signature, error) {
	if desc.Size > maxSignatureManifest {
		return nil, fmt.Errorf("signature manifest %s of %d bytes: %w (limit %d)", tag, desc.Size, ErrInvalidSignature, maxSignatureManifest)
	}
	b, err := readAll(ctx, st, repo, desc, maxSignatureManifest)
	if err != nil {
		return nil, err
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("signature manifest %s: %w: %v", tag, ErrInvalidSignature, err)
	}
	if len(m.Layers) > maxSignatures {
		return nil, fmt.Errorf("signature manifest %s holds %d signatures: %w (limit %d)", tag, len(m.Layers), ErrInvalidSignature, maxSignatures)
	}
	var out []oci.Signature
	for _, l := range m.Layers {
		if l.Size > maxPayload {
			return nil, fmt.Errorf("signature payload %s of %d bytes: %w (limit %d)", l.Digest, l.Size, ErrInvalidSignature, maxPayload)
		}
		body, err := readAll(ctx, st, repo, l, maxPayload)
		if err != nil {
			return nil, err
		}
		sig, err := static.NewSignature(body, l.Annotations[sigAnnotation], static.WithAnnotations(l.Annotations),
			static.WithLayerMediaType(ggcrtypes.MediaType(l.MediaType)))
		if err != nil {
			return nil, err
		}
		out = append(out, sig)
	}
	return out, nil
}

// readAll reads desc within limit bytes; content over it is an invalid
// signature.
func readAll(ctx context.Context, st Reader, repo string, desc ocispec.Descriptor, limit int64) ([]byte, error) {
	b, err := ocistore.ReadAll(ctx, st, repo, desc, limit)
	if errors.Is(err, artifact.ErrTooLarge) {
		return nil, fmt.Errorf("%w: %w", ErrInvalidSignature, err)
	}
	return b, err
}
