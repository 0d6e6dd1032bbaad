// Package sign signs and verifies brickyard artifacts exactly as cosign
// signs container images, so that cosign verifies brickyard's signatures
// and brickyard verifies cosign's, for machine images and VM disks as for
// container images.
//
// A signature is cosign's simple-signing payload for the artifact's
// manifest digest (critical.image.docker-manifest-digest, naming the
// repository in critical.identity.docker-reference), signed with a key
// (NewSigner takes any crypto.Signer: an in-memory key, a KMS, an HSM;
// package sign/cosignkey reads and writes cosign's encrypted key files)
// and stored under cosign's "sha256-<hex>.sig" tag in the same store, the
// base64 signature in the layer's dev.cosignproject.cosign/signature
// annotation. Attestations are DSSE envelopes of in-toto statements under
// the ".att" tag, as `cosign attest` stores them. Everything works
// offline: no transparency log, no Fulcio. Verify returns the digest it
// verified, to be used from then on instead of any tag; PolicyVerifier
// applies a trust policy (keys, owner, provenance) per artifact name.
//
// Package sign is light: it is built on go-containerregistry,
// sigstore/sigstore and in-toto, not on cosign's Go packages (hundreds of
// modules), so a deploy tool that verifies stays small. Sigstore bundles
// (`cosign sign --new-bundle-format`) are verified by package sign/bundle
// (sigstore-go, ~25 MB) when a program plugs it in (Verifier.WithBundles,
// bundle.PolicyOption).
//
// sign imports neither registry nor catalog: it declares the small Reader
// and Writer interfaces it needs, which registry stores satisfy, and its
// verifiers take an artifact.Stored, which catalog.Record.Stored returns,
// so they satisfy catalog.Verifier.
package sign
