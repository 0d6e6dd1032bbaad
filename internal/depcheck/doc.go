// Package depcheck holds a test that keeps heavy dependency trees behind the
// packages that need them: cosign and sigstore only behind sign, so that a
// deploy tool importing artifact, registry or catalog does not compile them.
package depcheck
