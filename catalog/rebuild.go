package catalog

import (
	"context"
	"errors"
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

// RebuildTarget is the catalog Rebuild records into.
type RebuildTarget interface {
	Recorder
	SignatureRecorder
}

// Rebuild reconstructs the artifact records of everything brickyard
// published in src into dst: each version tag's manifest is decoded
// (artifact.Decode, strict) for the kind, version, platform, build info and
// parents, and sigs finds its signatures. Records are written parents
// first; recording is idempotent, so an interrupted rebuild is resumed by
// running it again. storeName is recorded as each record's Store.
//
// A tag whose manifest is not valid OCI (artifact.ErrInvalidOCI: Docker
// schema 1, media-type confusion, a bad descriptor; see artifact.ParseOCI)
// is refused before its config is fetched, as is one whose content is too
// large or not what its digest names: the rest is recorded, and Rebuild
// then returns an error naming each refused tag, wrapping their errors.
// Valid content that is not a brickyard artifact is listed in Skipped.
//
// Lifecycle, channel and visibility history live only in the catalog's
// event log, not in the registry, and are not rebuilt.
func Rebuild(ctx context.Context, dst RebuildTarget, src RebuildSource, storeName string, sigs SignatureFinder) (RebuildReport, error) {
	return rebuild(ctx, dst, src, storeName, sigs, nil, "rebuild")
}

// ReconcileTarget is what Reconcile needs of a catalog.
type ReconcileTarget interface {
	Recorder
	SignatureRecorder
	Getter
}

// Reconcile records, as Rebuild would, every version tag of src whose
// manifest dst does not hold yet, and, when sigs is not nil, the
// signatures found in src that dst lacks for the artifacts it holds. It is
// how a write sequence interrupted between the store and the catalog (a
// publish or copy killed after its tag, a catalog locked or a disk full at
// the moment of the record) is completed: the report counts only what was
// added, so a consistent pair gives an empty one. Errors as Rebuild.
func Reconcile(ctx context.Context, dst ReconcileTarget, src RebuildSource, storeName string, sigs SignatureFinder) (RebuildReport, error) {
	return rebuild(ctx, dst, src, storeName, sigs, dst, "reconcile")
}

// rebuild is Rebuild, or Reconcile when have is not nil: then a manifest
// have already holds is not recorded again, only its missing signatures.
func rebuild(ctx context.Context, dst interface {
	Recorder
	SignatureRecorder
}, src RebuildSource, storeName string, sigs SignatureFinder, have Getter, actor string) (RebuildReport, error) {
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
	addSigs := func(repo string, d digest.Digest, known []Signature) error {
		if sigs == nil {
			return nil
		}
		ss, err := sigs.FindSignatures(ctx, repo, d)
		if err != nil {
			return fmt.Errorf("%s: signatures of %s: %w", actor, d, err)
		}
	next:
		for _, s := range ss {
			for _, k := range known {
				if k.Digest == s.Digest && k.KeyID == s.KeyID {
					continue next
				}
			}
			if s.At.IsZero() {
				s.At = time.Now()
			}
			if err := dst.AddSignature(ctx, d, s); err != nil {
				return err
			}
			rep.Signatures++
		}
		return nil
	}
	var invalid []error // tags refused
	for _, repo := range repos {
		tags, err := src.Tags(ctx, repo)
		if err != nil {
			return rep, fmt.Errorf("%s: tags of %s: %w", actor, repo, err)
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
				return rep, fmt.Errorf("%s: %s:%s: %w", actor, repo, tag, err)
			}
			if have != nil {
				if r, err := have.Get(ctx, desc.Digest); err == nil {
					if err := addSigs(repo, desc.Digest, r.Signatures); err != nil {
						return rep, err
					}
					continue
				} else if !errors.Is(err, ErrNotFound) {
					return rep, err
				}
			}
			_, manifest, cfg, err := ocistore.FetchArtifact(ctx, src, repo, desc)
			if refused(err) {
				invalid = append(invalid, fmt.Errorf("%s:%s: %w", repo, tag, err))
				continue
			}
			var rec Record
			if err == nil {
				rec, err = RecordOf(storeName, repo, desc, manifest, cfg)
			}
			if err != nil {
				rep.Skipped = append(rep.Skipped, repo+":"+tag+": "+err.Error())
				continue
			}
			rec.Actor = actor
			pending[desc.Digest] = found{repo: repo, rec: rec}
		}
	}
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
				return rep, fmt.Errorf("%s: %s: %w", actor, f.rec.Ref(), err)
			}
			rep.Artifacts++
			delete(pending, d)
			progress = true
			if err := addSigs(f.repo, d, nil); err != nil {
				return rep, err
			}
		}
		if !progress {
			var left []string
			for _, f := range pending {
				left = append(left, f.rec.Ref())
			}
			return rep, fmt.Errorf("%s: %s: %w (their parents are not in the store)", actor, strings.Join(left, ", "), ErrUnknownParent)
		}
	}
	if len(invalid) > 0 {
		return rep, fmt.Errorf("rebuild: recorded %d artifacts, refused %d tags whose manifest is not valid OCI or not what the store says it is: %w", rep.Artifacts, len(invalid), errors.Join(invalid...))
	}
	return rep, nil
}

// refused tells an error of reading a tag's artifact back that Rebuild
// refuses, and reports as its error once it has recorded the rest (a
// manifest or config that is not valid OCI, too large, or not the content
// its digest names: a store that lies), from one it skips (valid content
// that is not a brickyard artifact).
func refused(err error) bool {
	return errors.Is(err, artifact.ErrInvalidOCI) || errors.Is(err, artifact.ErrTooLarge) || errors.Is(err, artifact.ErrDigestMismatch)
}
