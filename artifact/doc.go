// Package artifact is brickyard's model of a build artifact and its one OCI
// encoding.
//
// An Artifact is a machine image (an AMI and its copies in several regions),
// a VM disk (one or more disk files of one build: qcow2, vmdk, vhdx, vhd,
// raw, OVA, Vagrant box) or an OCI image (a container image tracked by
// reference). Every artifact has a name (OCI repository-name grammar, see
// ValidateName), a Semantic Versioning 2.0.0 version (ParseVersion), a
// platform, build information and the digests of the artifacts it was built
// from (its parents, which make the lineage).
//
// Encode turns an artifact into an OCI image-spec v1.1 image manifest whose
// artifactType says its kind, whose config blob (MediaTypeConfig) holds the
// metadata, whose layers are the disk files (or the empty descriptor), and
// whose subject is the tracked image for an OCI image. The manifest digest is
// the artifact's identity. Decode is its strict inverse for manifests read
// back from a store. ParseOCI checks any manifest or index read from
// outside (a registry, a layout another tool wrote) against the OCI image
// spec before anything it references is fetched.
//
// Package artifact imports no other brickyard package; artifact/disk detects
// disk formats.
package artifact
