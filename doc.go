// Package brickyard is the workflow over brickyard's parts: one Client that
// publishes VM disks, machine images and OCI images as immutable,
// semver-tagged OCI artifacts, records them in a catalog, signs, verifies,
// resolves, fetches, copies and retires them. The brickyard command is a
// thin shell over it; deploy tools, Packer post-processors and audit
// scripts import it.
//
// It sits on top: artifact (the model and its OCI encoding) ← registry
// (stores: an OCI layout directory, or any OCI registry) ← sign (cosign
// signatures, trust policies) and catalog (records, lineage, channels,
// lifecycle, visibility, the event log) ← brickyard ← cmd, examples. The
// packages below stay usable alone; the Client is what gets the order of
// operations right:
//
//   - publish checks name, version, platform, parents (each in the catalog)
//     and that the version is free before a byte is written, streams disk
//     files into the store, derives the catalog record from the manifest it
//     stored (catalog.RecordOf), then signs and attests in the same call;
//   - several builds of one version (the builders of one Packer run, or
//     one build per platform) publish as one OCI image index over one
//     artifact per build (PublishIndex, PublishPacker), tagged, recorded
//     and signed once, by the index digest; Members reads the builds back
//     and FetchDisk picks them by platform and format;
//   - resolve never returns an artifact that is revoked or whose signature
//     the trust policy or keys do not verify, in the store the record names,
//     and returns the digest that was verified;
//   - fetch verifies before it writes, checks size and digest while it
//     streams, and renames a synced file into place only when they match.
//
// A home (Open, Init) is a directory holding an OCI layout store
// (HOME/store) and a SQLite catalog (HOME/catalog.db); a team points every
// home at one registry (WithStore("HOST[:PORT]/NAMESPACE")) and one
// PostgreSQL catalog (WithCatalog("postgres://...")), and records then name
// the registry, so anyone sharing the catalog can fetch and verify what
// anyone published. New takes explicit parts instead.
//
// Errors are the sentinels of errors.go and those of the packages below,
// wrapped with what was being done to which artifact; test with errors.Is.
package brickyard
