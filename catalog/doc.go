// Package catalog is brickyard's record of every published artifact: what
// it is (name, kind, semver version, platform), where it is stored, what it
// was built from (its parents, which make the lineage) and who signed it.
// Records are append-only: nothing is updated or deleted; signatures are
// appended.
//
// Catalog is the contract every backend meets (catalog/sqlite is the
// embedded default); catalogtest.Run is the conformance suite they pass.
// Resolve finds the newest version in a semver range whose signature a
// Verifier accepts — package sign supplies one, so that the catalog never
// depends on cosign.
package catalog
