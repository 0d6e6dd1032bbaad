package sign

import (
	"errors"
	"strings"

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

// VerificationError is a failed verification with every reason it failed,
// as sigstore-go's verify.ErrVerification carries its cause: Verifier.Verify
// returns one when no signature of a manifest verifies, with a reason per
// signature (and per Sigstore bundle) it looked at, or the single reason
// ErrUnsigned when there is none. errors.Is matches it with ErrNotTrusted
// and with the sentinel of each reason (ErrUnsigned, ErrUntrusted,
// ErrInvalidSignature); errors.As gives the reasons:
//
//	var ve *sign.VerificationError
//	if errors.As(err, &ve) {
//		for _, r := range ve.Reasons { fmt.Println(r) }
//	}
type VerificationError struct {
	// Subject is what was verified: "REPOSITORY@DIGEST".
	Subject string
	// Reasons has one entry per signature or bundle refused, in the order
	// they were examined; each wraps a sentinel that matches
	// ErrNotTrusted. It is never empty.
	Reasons []error
}

// Error says what was verified and why it failed, reasons separated by
// "; ".
func (e *VerificationError) Error() string {
	var b strings.Builder
	b.WriteString(e.Subject)
	b.WriteString(": ")
	for i, r := range e.Reasons {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(r.Error())
	}
	return b.String()
}

// Unwrap returns the reasons, so errors.Is finds their sentinels.
func (e *VerificationError) Unwrap() []error { return e.Reasons }

// Is reports whether target is ErrNotTrusted: a VerificationError always
// is a trust failure.
func (e *VerificationError) Is(target error) bool { return target == ErrNotTrusted }

// verificationError returns a *VerificationError for subject, flattening
// reasons that are VerificationErrors themselves.
func verificationError(subject string, reasons ...error) *VerificationError {
	e := &VerificationError{Subject: subject}
	for _, r := range reasons {
		var ve *VerificationError
		if errors.As(r, &ve) {
			e.Reasons = append(e.Reasons, ve.Reasons...)
			continue
		}
		e.Reasons = append(e.Reasons, r)
	}
	return e
}
