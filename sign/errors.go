package sign

import (
	"errors"

	"github.com/brickyard/brickyard/internal/errdef"
)

// Sentinel errors; test with errors.Is. A verification failure is never the
// same error as not-found or an I/O error. Every trust failure (ErrUnsigned,
// ErrUntrusted, ErrInvalidSignature, ErrOwnerMismatch, ErrNoPolicy,
// ErrProvenanceMissing, ErrProvenanceMismatch, and catalog.ErrRevoked)
// also matches ErrNotTrusted.
var (
	// ErrNotTrusted is matched by every trust failure. It is the same
	// error as catalog.ErrNotTrusted.
	ErrNotTrusted = errdef.ErrNotTrusted
	// ErrUnsigned: the artifact has no signature at all. It is the same
	// error as catalog.ErrUnsigned.
	ErrUnsigned = errdef.ErrUnsigned
	// ErrUntrusted: signatures exist, but none verifies with a trusted key.
	// It is the same error as catalog.ErrUntrusted.
	ErrUntrusted = errdef.ErrUntrusted
	// ErrInvalidSignature: a signature verifies but its payload is for
	// another digest or another identity (repository), or is malformed or
	// over the size cap.
	ErrInvalidSignature = errdef.NotTrusted("invalid signature payload")
	// ErrOwnerMismatch: the artifact is signed by a trusted key but comes
	// from a repository or cloud account the policy does not name as its
	// owner.
	ErrOwnerMismatch = errdef.NotTrusted("owner does not match the trust policy")
	// ErrNoPolicy: the trust policy has no rule for the artifact's name.
	ErrNoPolicy = errdef.NotTrusted("no trust policy rule for this name")
	// ErrInvalidPolicy: a policy file is malformed.
	ErrInvalidPolicy = errors.New("invalid trust policy")
	// ErrProvenanceMissing: no attestation of the required predicate type
	// (SLSA provenance) is attached, or the policy requires one and none
	// verifies.
	ErrProvenanceMissing = errdef.NotTrusted("provenance missing")
	// ErrProvenanceMismatch: the signed provenance disagrees with what the
	// catalog records (lineage) or the policy allows (builder).
	ErrProvenanceMismatch = errdef.NotTrusted("provenance does not match")
	// ErrWrongPassword: the private key could not be decrypted.
	ErrWrongPassword = errors.New("wrong password for the private key (COSIGN_PASSWORD)")
	// ErrInvalidKey: a key file is not a PEM key brickyard can use.
	ErrInvalidKey = errors.New("invalid key")
)
