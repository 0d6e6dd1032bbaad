package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/internal/ocistore"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// ContentReport says what VerifyContent read.
type ContentReport struct {
	Blobs int   // manifests, configs and layers re-hashed
	Bytes int64 // their bytes
}

// VerifyContent re-reads the manifest desc of repository repo from st and
// everything it references, and checks each against its digest and size
// (the stores' readers hash what they deliver): the manifest, its config,
// and unless shallow, its layers, the manifests of an index and the
// subject (the image an OCI-image artifact tracks) with theirs in turn. It
// stops at the first blob that does not match, with an error wrapping
// ErrDigestMismatch (or ErrNotFound if it is missing) that names the
// blob, its role and the artifact. Blobs stream: a multi-GB disk layer is
// hashed without being held in memory.
func VerifyContent(ctx context.Context, st Fetcher, repo string, desc ocispec.Descriptor, shallow bool) (ContentReport, error) {
	var rep ContentReport
	seen := map[string]bool{}
	var walk func(desc ocispec.Descriptor, role string, top bool) error
	walk = func(desc ocispec.Descriptor, role string, top bool) error {
		if seen[desc.Digest.String()] {
			return nil
		}
		seen[desc.Digest.String()] = true
		b, err := ocistore.ReadAll(ctx, st, repo, desc, artifact.MaxManifestSize)
		if err != nil {
			return fmt.Errorf("%s %s: %w", role, desc.Digest, err)
		}
		rep.Blobs++
		rep.Bytes += int64(len(b))
		var m struct {
			Config    *ocispec.Descriptor  `json:"config"`
			Layers    []ocispec.Descriptor `json:"layers"`
			Manifests []ocispec.Descriptor `json:"manifests"`
			Subject   *ocispec.Descriptor  `json:"subject"`
		}
		if err := json.Unmarshal(b, &m); err != nil {
			return fmt.Errorf("%s %s: %w: %v", role, desc.Digest, artifact.ErrInvalidManifest, err)
		}
		if m.Config != nil {
			if err := blob(ctx, st, repo, *m.Config, "config of "+role, &rep); err != nil {
				return err
			}
		}
		if shallow && top {
			return nil
		}
		for i, l := range m.Layers {
			what := fmt.Sprintf("layer %d", i)
			if t := l.Annotations[ocispec.AnnotationTitle]; t != "" {
				what += " (" + t + ")"
			}
			if err := blob(ctx, st, repo, l, what+" of "+role, &rep); err != nil {
				return err
			}
		}
		for i, c := range m.Manifests {
			if err := walk(c, fmt.Sprintf("manifest %d of %s", i, role), false); err != nil {
				return err
			}
		}
		if m.Subject != nil {
			return walk(*m.Subject, "subject of "+role, false)
		}
		return nil
	}
	if err := walk(desc, "manifest", true); err != nil {
		return rep, fmt.Errorf("verify content of %s@%s: %w", repo, desc.Digest, err)
	}
	return rep, nil
}

// blob streams the blob d through st's verifying reader.
func blob(ctx context.Context, st Fetcher, repo string, d ocispec.Descriptor, role string, rep *ContentReport) error {
	if len(d.Data) > 0 && int64(len(d.Data)) == d.Size {
		// Embedded data (the empty descriptor) is checked against the
		// digest here, and the store's copy below.
		if got := digest.FromBytes(d.Data); got != d.Digest {
			return fmt.Errorf("%s %s: embedded data has digest %s: %w", role, d.Digest, got, ErrDigestMismatch)
		}
	}
	rc, err := st.Fetch(ctx, repo, d)
	if err != nil {
		return fmt.Errorf("%s %s: %w", role, d.Digest, err)
	}
	defer rc.Close()
	n, err := io.Copy(io.Discard, rc)
	if err != nil {
		return fmt.Errorf("%s %s: %w", role, d.Digest, err)
	}
	rep.Blobs++
	rep.Bytes += n
	return nil
}
