// Package sign signs and verifies brickyard artifacts exactly as cosign
// signs container images, so that cosign verifies brickyard's signatures
// and brickyard verifies cosign's, for machine images and VM disks as for
// container images.
//
// A signature is cosign's simple-signing payload for the artifact's
// manifest digest, signed with a cosign key (GenerateKeyPair, LoadSigner)
// and stored under cosign's "sha256-<hex>.sig" tag in the same store.
// Everything works offline: no transparency log, no Fulcio. Verify returns
// the digest it verified, to be used from then on instead of any tag.
//
// Verify also accepts a Sigstore bundle (v0.3) attached as an OCI referrer,
// as `cosign sign --new-bundle-format` attaches it: its DSSE statement must
// name the digest and be signed by a trusted key, and, given a trusted root
// file (LoadTrustedRoot, Verifier.WithTrustedRoot), its transparency-log
// entries and RFC 3161 timestamps must verify against that root, offline
// (sigstore-go does the checking).
//
// Package sign is the only brickyard package that imports cosign and
// sigstore (hundreds of modules): a deploy tool that imports artifact,
// registry or catalog alone does not compile them. It declares the small
// Reader and Writer interfaces it needs, and registry stores satisfy them;
// it uses registry's functions to read artifacts and list referrers, and
// registry never imports sign.
package sign
