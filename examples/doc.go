// Package examples holds runnable programs for brickyard's users, each a
// small main package over the brickyard Client, under 60 lines of code:
//
//   - examples/deploy: a deploy tool — resolve the newest trusted version
//     of a name in a semver range on a channel for a platform, verify it,
//     and fetch its disk files;
//   - examples/publish: a Packer-style publisher — publish a build's disk
//     files as one version built on its parent, signed with any
//     crypto.Signer (an ECDSA P-384 key standing in for a KMS key) and
//     attested with SLSA provenance;
//   - examples/audit: a scripted audit — unsigned artifacts, revoked ones
//     still shared or public, public ones, and disk files identified by
//     their digest.
//
// Each is tested against real qcow2 disks made by qemu-img.
package examples
