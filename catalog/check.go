package catalog

import (
	"context"
	"errors"
	"fmt"

	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/internal/ocistore"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/mod/sumdb/note"
)

// CheckSource is the store Check compares the catalog with.
type CheckSource interface {
	RebuildSource
	Exists(ctx context.Context, repo string, desc ocispec.Descriptor) (bool, error)
}

// CheckTarget is what Check reads of a catalog.
type CheckTarget interface {
	Lister
	Getter
	EventLog
}

// Inconsistency is one disagreement Check found between a catalog and a
// store, or in the catalog's event log.
type Inconsistency struct {
	// What: "missing manifest" (a record's digest is not in its store),
	// "tag mismatch" (the record's version tag is absent or points
	// elsewhere), "unrecorded tag" (a version tag the catalog lacks, which
	// Reconcile records), "event log" (VerifyLog failed).
	What   string `json:"what"`
	Ref    string `json:"ref"`
	Detail string `json:"detail,omitempty"`
}

// CheckReport is what Check checked and found.
type CheckReport struct {
	Records         int             `json:"records"`
	Events          int64           `json:"events"`
	Checkpoints     int             `json:"checkpoints"`
	Inconsistencies []Inconsistency `json:"inconsistencies"`
}

// Check compares catalog c with store src, whose records name it as
// storeName, and verifies c's event log (VerifyLog, with verifiers): every
// record of storeName has its manifest in its repository and its version
// tag pointing at it, and every version tag of src holding a brickyard
// artifact is recorded. It changes nothing (Reconcile records the
// unrecorded tags). The error is for failures to check, not for what was
// found, which is in the report.
func Check(ctx context.Context, c CheckTarget, src CheckSource, storeName string, verifiers note.Verifiers) (CheckReport, error) {
	rep := CheckReport{Inconsistencies: []Inconsistency{}}
	add := func(what, ref, detail string) {
		rep.Inconsistencies = append(rep.Inconsistencies, Inconsistency{What: what, Ref: ref, Detail: detail})
	}
	names, err := c.Names(ctx)
	if err != nil {
		return rep, err
	}
	for _, name := range names {
		recs, err := c.Versions(ctx, name)
		if err != nil {
			return rep, err
		}
		for _, r := range recs {
			rep.Records++
			if r.Store != storeName {
				continue
			}
			desc := ocispec.Descriptor{MediaType: r.MediaType, Digest: r.Digest, Size: r.Size}
			ok, err := src.Exists(ctx, r.Repository, desc)
			if err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, artifact.ErrInvalidName) {
				return rep, err
			}
			if !ok {
				add("missing manifest", r.Ref(), fmt.Sprintf("%s is not in repository %s of %s", r.Digest, r.Repository, storeName))
				continue
			}
			tag, _ := artifact.Tag(r.Version)
			cur, err := src.Resolve(ctx, r.Repository, tag)
			switch {
			case err != nil:
				add("tag mismatch", r.Ref(), fmt.Sprintf("%s:%s: %v", r.Repository, tag, err))
			case cur.Digest != r.Digest:
				add("tag mismatch", r.Ref(), fmt.Sprintf("%s:%s points at %s, the catalog records %s", r.Repository, tag, cur.Digest, r.Digest))
			}
		}
	}
	repos, err := src.Repositories(ctx)
	if err != nil {
		return rep, err
	}
	for _, repo := range repos {
		tags, err := src.Tags(ctx, repo)
		if err != nil {
			return rep, err
		}
		for _, tag := range tags {
			if _, err := artifact.VersionOfTag(tag); err != nil {
				continue
			}
			desc, err := src.Resolve(ctx, repo, tag)
			if err != nil {
				continue // reported by the store's own check
			}
			if _, err := c.Get(ctx, desc.Digest); err == nil {
				continue
			} else if !errors.Is(err, ErrNotFound) {
				return rep, err
			}
			if _, _, _, err := ocistore.FetchArtifact(ctx, src, repo, desc); err != nil {
				continue // not a brickyard artifact, or reported by the store's own check
			}
			add("unrecorded tag", repo+":"+tag, desc.Digest.String()+" is not in the catalog (catalog reconcile records it)")
		}
	}
	lr, err := VerifyLog(ctx, c, verifiers)
	if err != nil {
		add("event log", "log", err.Error())
	}
	rep.Events, rep.Checkpoints = lr.Events, lr.Checkpoints
	return rep, nil
}
