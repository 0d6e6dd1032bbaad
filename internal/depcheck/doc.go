// Package depcheck holds the test that keeps DESIGN.md's dependency rules:
// imports point down only (artifact ← registry ← sign / catalog ← the
// workflow in the module's root package ← cmd, examples), and heavy
// dependency trees stay behind the packages that need them (cosign's Go
// packages only in sign/cosignkey, sigstore-go only in sign/bundle), so
// that a deploy tool stays small.
package depcheck
