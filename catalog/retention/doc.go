// Package retention decides what a team keeps and deletes, explains every
// decision, and deletes the rest everywhere.
//
// A Policy (YAML, ParsePolicy) holds rules per name pattern: keep the
// newest N per major, per minor or per major.minor stream in semver order,
// prereleases for D days, anything younger than a minimum age, the last K
// targets of each channel; delete revoked or deprecated artifacts after so
// long. Protections always win: what is in use (Sources: a file, Kubernetes
// manifests, a Terraform state, or any Source), pinned, or a channel's
// current target is kept, and so is the whole ancestry of anything kept.
//
// MakePlan is the dry run: one Decision per stored artifact, keep or
// delete, with the rule that decided it and, for a kept ancestor, the kept
// artifact holding it; Plan.Measure adds the bytes each store would
// reclaim (a blob a kept manifest still holds reclaims nothing). The plan's
// digest covers its inputs: the catalog's event log head, the policy, the
// in-use set and the time.
//
// Apply executes a plan, refusing a stale or edited one: descendants before
// ancestors, attachments (signatures, attestations, referrers) before their
// subject, a tombstone in the catalog (catalog.Tombstones) after the
// store's delete, a journal so that a killed apply finishes when run again,
// then each store's garbage collection (Collector). Machine images go
// through an ImageDeleter (catalog/cloud.RetentionDeleter for AWS): an image
// the cloud refuses to delete (ErrRefused) leaves its artifact whole and is
// reported, while the rest proceeds.
//
// MakeReport is the sprawl report (per name and per store, orphans,
// dangling records, what a plan would reclaim); Report.Chart draws it.
package retention
