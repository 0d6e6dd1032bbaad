// Package ocistore holds the operations over a store's small interfaces
// that both package registry and package sign need: reading an artifact
// back (FetchArtifact) and listing and adding referrers through the OCI
// referrers API or the referrers tag schema. It exists so that sign does
// not import registry (DESIGN.md: sign declares the interfaces it needs
// and registry's stores satisfy them); registry re-exports these functions
// as its public API, and importers use those. It also holds what the
// layout and remote stores share: the references a manifest needs present
// before it is written (References) and their verifying readers' seeks
// (SeekOffset).
package ocistore
