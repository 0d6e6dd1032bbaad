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

	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/internal/errdef"
	"github.com/brickyard/brickyard/internal/ocistore"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	ggcrtypes "github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
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
// over SHA-256 for P-256, SHA-384 for P-384, SHA-512 for P-521), Ed25519 (pure Ed25519 over the message, as cosign's
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
	h := hashFor(c.s.Public())
	if h == 0 {
		return c.s.Sign(rand.Reader, b, crypto.Hash(0))
	}
	hh := h.New()
	hh.Write(b)
	return c.s.Sign(rand.Reader, hh.Sum(nil), h)
}

// hashFor returns the hash a signature by pub is made over: none for
// Ed25519 (pure Ed25519 over the message), the curve's hash for ECDSA
// P-384 and P-521 (SHA-384, SHA-512: what sigstore's default algorithms
// and cosign's own key files use, and the only digests a KMS signs with
// such keys), SHA-256 otherwise.
func hashFor(pub crypto.PublicKey) crypto.Hash {
	switch k := pub.(type) {
	case ed25519.PublicKey:
		return 0
	case *ecdsa.PublicKey:
		switch k.Curve.Params().BitSize {
		case 384:
			return crypto.SHA384
		case 521:
			return crypto.SHA512
		}
	}
	return crypto.SHA256
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
// critical.image.docker-manifest-digest = desc.Digest), signed over its
// hash (see NewSigner), stored as cosign stores it: a layer of the
// signature manifest tagged SignatureTag(desc.Digest) whose annotation
// dev.cosignproject.cosign/signature holds the base64 signature, appended
// to any signatures already there. identity is the name verifiers will
// expect, e.g. "127.0.0.1:5000/web" for a registry or "web" in a layout
// store.
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
	sig := sigLayer{payload: body, mediaType: simpleSigningMediaType,
		annotations: map[string]string{sigAnnotation: base64.StdEncoding.EncodeToString(raw)}}
	return s.store(ctx, st, repo, desc, SignatureTag(desc.Digest), sig)
}

// simpleSigningMediaType is the media type of a cosign signature layer.
const simpleSigningMediaType = "application/vnd.dev.cosign.simplesigning.v1+json"

// sigLayer is one signature or attestation as cosign stores it: a layer of
// a signature manifest whose blob is the payload (a simple-signing JSON or
// a DSSE envelope) and whose annotations hold the base64 signature
// (sigAnnotation; none for an envelope, which holds its own) and, for an
// attestation, its predicateType. cosign's own type for it (oci.Signature)
// would bring cosign's hundreds of modules into every verifier.
type sigLayer struct {
	payload     []byte
	mediaType   string
	annotations map[string]string
}

// key identifies a signature: its payload and the signature over it. Two
// keys signing one digest give the same payload (cosign's own duplicate
// check compares both too); an attestation's payload, a DSSE envelope,
// holds its signatures.
func (l sigLayer) key() string {
	return digest.FromBytes(l.payload).String() + " " + l.annotations[sigAnnotation]
}

// signatureManifest returns cosign's signature manifest holding sigs, one
// layer each in order: an OCI image manifest with an image config listing
// the layers' diff ids, exactly what cosign's AppendSignatures builds.
func signatureManifest(sigs []sigLayer) (v1.Image, error) {
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, ggcrtypes.OCIManifestSchema1), ggcrtypes.OCIConfigJSON)
	adds := make([]mutate.Addendum, 0, len(sigs))
	for _, s := range sigs {
		adds = append(adds, mutate.Addendum{Layer: static.NewLayer(s.payload, ggcrtypes.MediaType(s.mediaType)), Annotations: s.annotations})
	}
	img, err := mutate.Append(base, adds...)
	if err != nil {
		return nil, err
	}
	return img, nil
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
func addSignatures(ctx context.Context, st Writer, repo, tag string, add []sigLayer, from *ocispec.Descriptor) (ocispec.Descriptor, error) {
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
			all := unionSignatures(existing, add)
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
				img, err := signatureManifest(all)
				if err != nil {
					return err
				}
				if out, _, err = ocistore.PushImage(ctx, st, repo, img); err != nil {
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
// not in have (see sigLayer.key).
func unionSignatures(have, add []sigLayer) []sigLayer {
	seen := map[string]bool{}
	for _, s := range have {
		seen[s.key()] = true
	}
	all := have
	for _, s := range add {
		if k := s.key(); !seen[k] {
			seen[k] = true
			all = append(all, s)
		}
	}
	return all
}

// loadSignatures reads the signatures under tag, each with all its layer
// annotations, within the size caps. It returns an error wrapping
// errdef.ErrNotFound if there is no such tag.
func loadSignatures(ctx context.Context, st Reader, repo, tag string) ([]sigLayer, error) {
	desc, err := st.Resolve(ctx, repo, tag)
	if err != nil {
		return nil, err
	}
	return loadSignaturesAt(ctx, st, repo, tag, desc)
}

// loadSignaturesAt reads the signatures of the cosign signature manifest
// desc, which tag names in errors.
func loadSignaturesAt(ctx context.Context, st Reader, repo, tag string, desc ocispec.Descriptor) ([]sigLayer, error) {
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
	var out []sigLayer
	for _, l := range m.Layers {
		if l.Size > maxPayload {
			return nil, fmt.Errorf("signature payload %s of %d bytes: %w (limit %d)", l.Digest, l.Size, ErrInvalidSignature, maxPayload)
		}
		body, err := readAll(ctx, st, repo, l, maxPayload)
		if err != nil {
			return nil, err
		}
		out = append(out, sigLayer{payload: body, mediaType: l.MediaType, annotations: l.Annotations})
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
