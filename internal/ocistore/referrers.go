package ocistore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/internal/errdef"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// ReferrerLister is implemented by stores that may answer the OCI
// distribution spec v1.1 referrers API natively (GET
// /v2/NAME/referrers/DIGEST). supported is false when the store has no such
// API, in which case callers use the referrers tag schema.
type ReferrerLister interface {
	Referrers(ctx context.Context, repo string, subject digest.Digest) (refs []ocispec.Descriptor, supported bool, err error)
}

// ReferrersTag returns the tag of the referrers tag schema for subject
// (distribution spec v1.1 §referrers-tag-schema): "<alg>-<hex>", e.g.
// "sha256-0a1b...".
func ReferrersTag(subject digest.Digest) string {
	return subject.Algorithm().String() + "-" + subject.Encoded()
}

// Reader is what listing referrers needs of a store.
type Reader interface {
	Fetch(ctx context.Context, repo string, desc ocispec.Descriptor) (io.ReadCloser, error)
	Resolve(ctx context.Context, repo, tag string) (ocispec.Descriptor, error)
}

// Writer is what adding a referrer needs of a store.
type Writer interface {
	Reader
	PushManifest(ctx context.Context, repo, mediaType string, manifest []byte) (ocispec.Descriptor, error)
	Move(ctx context.Context, repo string, desc ocispec.Descriptor, tag string) error
}

// Referrers lists the manifests whose subject is subject in repository
// repo, keeping those of artifactType if it is not empty: through the
// referrers API when the store has it, else through the referrers tag
// schema. No referrers is an empty list, not an error.
func Referrers(ctx context.Context, s Reader, repo string, subject digest.Digest, artifactType string) ([]ocispec.Descriptor, error) {
	var refs []ocispec.Descriptor
	supported := false
	if rl, ok := s.(ReferrerLister); ok {
		var err error
		if refs, supported, err = rl.Referrers(ctx, repo, subject); err != nil {
			return nil, err
		}
	}
	if !supported {
		idx, err := tagSchemaIndex(ctx, s, repo, subject)
		if err != nil {
			return nil, err
		}
		refs = idx.Manifests
	}
	// Filter here even when the registry was asked to: some registries
	// ignore the artifactType query parameter.
	out := []ocispec.Descriptor{}
	for _, r := range refs {
		if artifactType == "" || r.ArtifactType == artifactType {
			out = append(out, r)
		}
	}
	return out, nil
}

// MutableTagLocker is implemented by stores that can hold off other
// writers, in this process and others, while a repository's tags that are
// mutable by design (the referrers tag schema's "sha256-<hex>" indexes and
// cosign's ".sig" and ".att" tags) are read and rewritten: the layout
// store, with flock(2). LockMutableTags blocks until it has the lock, and
// returns the function that releases it.
type MutableTagLocker interface {
	LockMutableTags(repo string) (unlock func(), err error)
}

// WithMutableTagsLocked runs fn holding s's lock on repo's mutable tags if
// s is a MutableTagLocker, and just runs it otherwise (a registry offers no
// lock: callers read back what they wrote, see AddReferrer).
func WithMutableTagsLocked(s any, repo string, fn func() error) error {
	if l, ok := s.(MutableTagLocker); ok {
		unlock, err := l.LockMutableTags(repo)
		if err != nil {
			return err
		}
		defer unlock()
	}
	return fn()
}

// MutableTagTries bounds how often a read-modify-write of a mutable tag is
// done again because, read back, another writer had replaced it.
const MutableTagTries = 5

// AddReferrer records that referrer (a manifest already in repository repo,
// whose subject is subject) refers to subject. A store with the referrers
// API indexes it itself when the manifest is pushed; for the others this
// adds it to the referrers tag schema index, once.
//
// The tag schema is read-modify-write. On a MutableTagLocker the update
// holds the lock, so concurrent writers lose nothing. A registry has no
// lock nor compare-and-set for tags: AddReferrer reads the index back after
// moving the tag and adds its entry again if a concurrent writer's index
// replaced it, up to MutableTagTries times (see Pause), which narrows the window to a
// writer moving the tag between that read and its own move.
func AddReferrer(ctx context.Context, s Writer, repo string, subject digest.Digest, referrer ocispec.Descriptor) error {
	if rl, ok := s.(ReferrerLister); ok {
		if _, supported, err := rl.Referrers(ctx, repo, subject); err != nil {
			return err
		} else if supported {
			return nil
		}
	}
	return WithMutableTagsLocked(s, repo, func() error {
		for try := range MutableTagTries {
			if err := Pause(ctx, try); err != nil {
				return err
			}
			added, err := addToTagSchema(ctx, s, repo, subject, referrer)
			if err != nil || !added {
				return err
			}
		}
		return fmt.Errorf("referrers of %s in %s: other writers kept replacing the referrers tag schema index %d times", subject, repo, MutableTagTries)
	})
}

// Pause waits before try number try (from 0) of a read-modify-write of a
// mutable tag: not at all before the first two (the write and its read
// back), then 50 ms, 100 ms, ..., so that a registry whose reads lag
// behind its writes has time to catch up. It returns ctx's error if ctx
// ends first.
func Pause(ctx context.Context, try int) error {
	if try < 2 {
		return nil
	}
	return Sleep(ctx, time.Duration(25<<(try-1))*time.Millisecond)
}

// Sleep waits d, or returns ctx's error if ctx ends first.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// addToTagSchema adds referrer to subject's tag schema index unless it is
// there already, and reports whether it had to.
func addToTagSchema(ctx context.Context, s Writer, repo string, subject digest.Digest, referrer ocispec.Descriptor) (bool, error) {
	idx, err := tagSchemaIndex(ctx, s, repo, subject)
	if err != nil {
		return false, err
	}
	for _, m := range idx.Manifests {
		if m.Digest == referrer.Digest {
			return false, nil
		}
	}
	idx.Manifests = append(idx.Manifests, ocispec.Descriptor{MediaType: referrer.MediaType, ArtifactType: referrer.ArtifactType,
		Digest: referrer.Digest, Size: referrer.Size, Annotations: referrer.Annotations})
	body, err := json.Marshal(idx)
	if err != nil {
		return false, err
	}
	d, err := s.PushManifest(ctx, repo, ocispec.MediaTypeImageIndex, body)
	if err != nil {
		return false, fmt.Errorf("referrers of %s: %w", subject, err)
	}
	return true, s.Move(ctx, repo, d, ReferrersTag(subject))
}

// tagSchemaIndex reads the referrers tag schema index of subject, or
// returns a new empty one.
func tagSchemaIndex(ctx context.Context, s Reader, repo string, subject digest.Digest) (ocispec.Index, error) {
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{}}
	idx.SchemaVersion = 2
	d, err := s.Resolve(ctx, repo, ReferrersTag(subject))
	if errors.Is(err, errdef.ErrNotFound) {
		return idx, nil
	}
	if err != nil {
		return idx, err
	}
	if d.Size > artifact.MaxManifestSize {
		return idx, fmt.Errorf("referrers index of %s: %d bytes: %w", subject, d.Size, artifact.ErrTooLarge)
	}
	rc, err := s.Fetch(ctx, repo, d)
	if err != nil {
		return idx, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, artifact.MaxManifestSize+1))
	if err != nil {
		return idx, err
	}
	if err := json.NewDecoder(bytes.NewReader(b)).Decode(&idx); err != nil {
		return idx, fmt.Errorf("referrers index of %s: %w: %v", subject, artifact.ErrInvalidManifest, err)
	}
	return idx, nil
}
