// Package depcheck holds tests that keep DESIGN.md's dependency rules:
// cosign and sigstore only behind sign, so that a deploy tool importing
// artifact, registry or catalog does not compile them; and sign never
// importing registry, whose stores satisfy the interfaces sign declares.
package depcheck
