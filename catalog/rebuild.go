package catalog

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/internal/ocistore"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// RebuildSource is a store Rebuild can walk: every repository, its tags,
// and the manifests and configs they point at. registry/layout satisfies it.
type RebuildSource interface {
	Repositories(ctx context.Context) ([]string, error)
	Tags(ctx context.Context, repo string) ([]string, error)
	Resolve(ctx context.Context, repo, tag string) (ocispec.Descriptor, error)
	Fetch(ctx context.Context, repo string, desc ocispec.Descriptor) (io.ReadCloser, error)
}

// SignatureFinder returns the signatures of manifest d in repository repo
// that verify with a trusted key, as catalog signatures (key id and the
// digest of the signature manifest; At is set by Rebuild if zero). The
// catalog does not import sign: the workflow adapts sign.StoreVerifier's
// FindSignatures to it.
type SignatureFinder interface {
	FindSignatures(ctx context.Context, repo string, d digest.Digest) ([]Signature, error)
}

// RebuildReport says what Rebuild did.
type RebuildReport struct {
	Repositories int
	Artifacts    int      // recorded
	Signatures   int      // recorded
	Skipped      []string // tags that are not brickyard artifacts, "repo:tag: why"
}

// Rebuild reconstructs the artifact records of everything brickyard
// published in src into dst: each version tag's manifest is decoded
// (artifact.Decode, strict) for the kind, version, platform, build info and
// parents, and sigs finds its signatures. Records are written parents
// first; recording is idempotent, so an interrupted rebuild is resumed by
// running it again. storeName is recorded as each record's Store.
//
// Lifecycle, channel and visibility history live only in the catalog's
// event log, not in the registry, and are not rebuilt.
func Rebuild(ctx context.Context, dst interface {
	Recorder
	SignatureRecorder
}, src RebuildSource, storeName string, sigs SignatureFinder) (RebuildReport, error) {
	var rep RebuildReport
	repos, err := src.Repositories(ctx)
	if err != nil {
		return rep, err
	}
	rep.Repositories = len(repos)
	type found struct {
		rec  Record
		repo string
	}
	pending := map[digest.Digest]found{}
	for _, repo := range repos {
		tags, err := src.Tags(ctx, repo)
		if err != nil {
			return rep, fmt.Errorf("rebuild: tags of %s: %w", repo, err)
		}
		for _, tag := range tags {
			if strings.HasSuffix(tag, ".sig") || strings.HasSuffix(tag, ".att") || strings.HasPrefix(tag, "sha256-") {
				continue // cosign's and the referrers tag schema's tags
			}
			if _, err := artifact.VersionOfTag(tag); err != nil {
				rep.Skipped = append(rep.Skipped, repo+":"+tag+": not a version tag")
				continue
			}
			desc, err := src.Resolve(ctx, repo, tag)
			if err != nil {
				return rep, fmt.Errorf("rebuild: %s:%s: %w", repo, tag, err)
			}
			_, manifest, cfg, err := ocistore.FetchArtifact(ctx, src, repo, desc)
			var rec Record
			if err == nil {
				rec, err = RecordOf(storeName, repo, desc, manifest, cfg)
			}
			if err != nil {
				rep.Skipped = append(rep.Skipped, repo+":"+tag+": "+err.Error())
				continue
			}
			rec.Actor = "rebuild"
			pending[desc.Digest] = found{repo: repo, rec: rec}
		}
	}
	recorded := map[digest.Digest]bool{}
	for len(pending) > 0 {
		progress := false
		for d, f := range pending {
			ready := true
			for _, p := range f.rec.Parents {
				if _, waiting := pending[p]; waiting {
					ready = false
				}
			}
			if !ready {
				continue
			}
			if err := dst.Record(ctx, f.rec); err != nil {
				return rep, fmt.Errorf("rebuild: %s: %w", f.rec.Ref(), err)
			}
			rep.Artifacts++
			recorded[d] = true
			delete(pending, d)
			progress = true
			if sigs == nil {
				continue
			}
			ss, err := sigs.FindSignatures(ctx, f.repo, d)
			if err != nil {
				return rep, fmt.Errorf("rebuild: signatures of %s: %w", f.rec.Ref(), err)
			}
			for _, s := range ss {
				if s.At.IsZero() {
					s.At = time.Now()
				}
				if err := dst.AddSignature(ctx, d, s); err != nil {
					return rep, err
				}
				rep.Signatures++
			}
		}
		if !progress {
			var left []string
			for _, f := range pending {
				left = append(left, f.rec.Ref())
			}
			return rep, fmt.Errorf("rebuild: %s: %w (their parents are not in the store)", strings.Join(left, ", "), ErrUnknownParent)
		}
	}
	return rep, nil
}
