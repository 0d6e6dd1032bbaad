// Package layout is brickyard's embedded store: a registry.Store over a
// directory holding one OCI image layout (OCI image-spec v1.1
// §image-layout) per repository. Tags live in each layout's index.json as
// org.opencontainers.image.ref.name annotations, so standard tools read it:
//
//	skopeo inspect --raw oci:ROOT/web:1.1.0
//	umoci ls --layout ROOT/web
//
// Blobs are ingested containerd-style (hashed while written to a temporary
// file, renamed into place only when digest and size match), and index.json
// changes are serialised by a lock file and written atomically, so a crash
// or a failed push never leaves a half-written blob or tag visible. What a
// killed writer leaves (an ingest file, blobs no tag reaches) is collected
// by Store.GC, safely alongside writers, and Store.Fsck checks the whole
// store as git fsck does.
package layout
