package brickyard

import "errors"

// Sentinel errors of the workflow; test with errors.Is. The errors of the
// packages below pass through wrapped: catalog.ErrNotFound,
// registry.ErrImmutableTag, sign.ErrUntrusted and so on.
var (
	// ErrNoHome: Open found no catalog in the home directory (run Init).
	ErrNoHome = errors.New("not a brickyard home")
	// ErrInvalidRef: a reference is not NAME@VERSION, NAME@DIGEST or a
	// digest (or, for Copy, not NAME:TAG or HOST[:PORT]/NAME:TAG).
	ErrInvalidRef = errors.New("invalid reference")
	// ErrAmbiguous: NAME@VERSION names records for several platforms and no
	// platform was given.
	ErrAmbiguous = errors.New("reference names several platforms")
	// ErrNoSigner: signing was asked for but the Client has no signer.
	ErrNoSigner = errors.New("no signing key")
	// ErrNoTrust: verification was asked for but the Client trusts no key
	// and has no policy.
	ErrNoTrust = errors.New("no trusted key or trust policy")
	// ErrStoreUnreachable: a record names a store this Client cannot reach,
	// such as another home's layout directory.
	ErrStoreUnreachable = errors.New("store not reachable from this home")
	// ErrWrongKind: the artifact is not of the kind the call needs (a
	// machine image has no disk file to fetch).
	ErrWrongKind = errors.New("wrong kind of artifact")
	// ErrExists: a file that fetch would write exists and replacing was not
	// asked for.
	ErrExists = errors.New("file exists")
)
