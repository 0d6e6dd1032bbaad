package retention

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/catalog"
	"github.com/brickyard/brickyard/internal/ocistore"
	"github.com/brickyard/brickyard/registry"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// ImageDeleter deletes the cloud images a machine-image artifact stands
// for (deregisters the image in every region, deletes the snapshots it
// alone used), recording each cloud action in the catalog's log under
// plan. For an index (artifact.KindIndex) with machine-image members, it
// deletes the images of every such member. It is idempotent: an image already gone is not an error, and a
// delete interrupted halfway finishes when asked again. An image the
// cloud must not delete (deregistration protection) is an error wrapping
// ErrRefused: Apply then leaves that artifact (manifest and record stay),
// reports it, and goes on with the others. catalog/cloud.RetentionDeleter
// implements it for AWS.
type ImageDeleter interface {
	DeleteImages(ctx context.Context, plan digest.Digest, d Decision) error
}

// Collector removes the blobs no manifest reaches any more (a store's
// mark-and-sweep garbage collection). Apply calls it on every store it
// deleted from that has one, after every delete.
type Collector interface {
	GC(ctx context.Context) error
}

// Catalog is what Apply needs of a catalog: to make the plan again, to
// check its log, and to record tombstones.
type Catalog interface {
	catalog.Scanner
	catalog.EventLog
	catalog.Tombstones
}

// ApplyOptions are Apply's inputs besides the catalog and the plan.
type ApplyOptions struct {
	Stores   Stores
	Images   ImageDeleter // nil: a plan that deletes machine images (or an index of some) is refused
	Policy   *Policy      // the policy, read again: it must be the plan's
	InUse    InUseSet     // the in-use set, gathered again: it must be the plan's
	Identify Identifier
	// Journal is the file Apply records its progress in (created if
	// missing, appended to, synced after each step): one journal per plan.
	Journal string
	Actor   string // recorded in each tombstone; required
	// Progress, if set, is told of each artifact deleted.
	Progress func(d Decision)
}

// ApplyReport says what Apply did.
type ApplyReport struct {
	Deleted   int       // artifacts deleted by this run
	Resumed   int       // deleted by an earlier, interrupted run of the same plan
	Collected int       // stores garbage-collected
	Refused   []Refusal `json:"refused,omitempty"` // artifacts left because the cloud refused to delete their images
}

// Refusal is an artifact the plan deletes that Apply left, and why.
type Refusal struct {
	Ref    string        `json:"ref"` // NAME@VERSION
	Digest digest.Digest `json:"digest"`
	Reason string        `json:"reason"` // the ImageDeleter's error
}

// stepHook, if set (by tests), runs before each step of Apply: they kill
// the process there.
var stepHook func(step string)

// Apply executes plan. It refuses a stale plan (ErrStalePlan): the
// catalog must be as it was when the plan was made, apart from this
// plan's own tombstones (a run interrupted earlier); the policy and
// in-use set must have the plan's digests; and making the plan again from
// these inputs must give the plan's decisions (an edited plan is refused).
//
// For each artifact to delete, descendants before ancestors: its machine
// images (through o.Images; for an index, those of its machine-image
// members, read from its manifest in its store), then in its store its attachments (referrers,
// signatures, attestations, their indexes; attachments of attachments
// first), then its manifest with every tag pointing at it, then its
// tombstone in the catalog. Every step is idempotent and the journal
// records each artifact done: after a kill at any point, Apply with the
// same plan finishes the job, and deletes nothing the plan keeps. Last,
// each store deleted from that is a Collector collects its unreachable
// blobs.
//
// An artifact whose images the ImageDeleter refuses (ErrRefused) is left
// whole in its store and the catalog and listed in ApplyReport.Refused;
// the others are still deleted, and Apply then returns an error wrapping
// ErrRefused. Applying the plan again refuses it again and changes
// nothing else.
func Apply(ctx context.Context, c Catalog, plan *Plan, o ApplyOptions) (ApplyReport, error) {
	var rep ApplyReport
	if strings.TrimSpace(o.Actor) == "" {
		return rep, fmt.Errorf("retention apply: an actor is required: %w", catalog.ErrInvalidChange)
	}
	if plan.Format != PlanFormat || plan.Inputs.digest() != plan.Digest || decidedDigest(plan.Decisions) != plan.Decided {
		return rep, fmt.Errorf("plan %s: its digests do not match its contents (edited?): %w", plan.Digest, ErrStalePlan)
	}
	if o.Policy == nil || o.Policy.Digest != plan.Inputs.Policy {
		return rep, fmt.Errorf("plan %s: the policy changed since the plan was made: %w", plan.Digest, ErrStalePlan)
	}
	if o.InUse.Digest != plan.Inputs.InUse {
		return rep, fmt.Errorf("plan %s: the in-use set changed since the plan was made: %w", plan.Digest, ErrStalePlan)
	}
	if err := checkLog(ctx, c, plan); err != nil {
		return rep, err
	}
	again, err := MakePlan(ctx, c, o.Policy, Options{Now: plan.Inputs.Now, InUse: o.InUse, Identify: o.Identify, Resume: plan.Digest})
	if err != nil {
		return rep, err
	}
	if again.Decided != plan.Decided {
		return rep, fmt.Errorf("plan %s: made again from the same inputs it decides otherwise: %w", plan.Digest, ErrStalePlan)
	}
	var dels []Decision
	var images []string
	withImages := map[digest.Digest]bool{}
	for _, d := range again.Decisions {
		if !d.Delete {
			continue
		}
		dels = append(dels, d)
		has := d.Kind == artifact.KindMachineImage
		if d.Kind == artifact.KindIndex {
			if has, err = indexOfImages(ctx, o.Stores, d); err != nil {
				return rep, err
			}
		}
		if has {
			withImages[d.Digest] = true
			images = append(images, d.Ref())
		}
	}
	if len(images) > 0 && o.Images == nil {
		return rep, fmt.Errorf("plan %s deletes machine images (%s): %w", plan.Digest, strings.Join(images, ", "), ErrNoImageDeleter)
	}
	sort.Slice(dels, func(i, j int) bool { return dels[i].Order > dels[j].Order }) // descendants first

	j, done, err := openJournal(o.Journal, plan.Digest)
	if err != nil {
		return rep, err
	}
	defer j.Close()
	used := map[string]registry.Store{}
	for _, d := range dels {
		s, err := o.Stores(d.Store)
		if err != nil {
			return rep, err
		}
		used[d.Store] = s
		if done[d.Digest] {
			rep.Resumed++
			continue
		}
		if err := deleteOne(ctx, s, o, plan.Digest, d, withImages[d.Digest]); err != nil {
			if errors.Is(err, ErrRefused) {
				rep.Refused = append(rep.Refused, Refusal{Ref: d.Ref(), Digest: d.Digest, Reason: err.Error()})
				continue
			}
			return rep, err
		}
		hook("tombstone")
		if err := c.MarkDeleted(ctx, d.Digest, catalog.Deletion{Plan: plan.Digest.String(), Rule: d.Rule, Actor: o.Actor}); err != nil {
			return rep, err
		}
		if err := j.record("done " + d.Digest.String()); err != nil {
			return rep, err
		}
		rep.Deleted++
		if o.Progress != nil {
			o.Progress(d)
		}
	}
	names := make([]string, 0, len(used))
	for n := range used {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if gc, ok := used[n].(Collector); ok {
			hook("gc")
			if err := gc.GC(ctx); err != nil {
				return rep, fmt.Errorf("retention apply: collect the blobs of store %s: %w", n, err)
			}
			rep.Collected++
		}
	}
	if len(rep.Refused) > 0 {
		refs := make([]string, len(rep.Refused))
		for i, r := range rep.Refused {
			refs[i] = r.Ref
		}
		return rep, fmt.Errorf("plan %s: %d artifacts left, their images refused (%s): %w", plan.Digest, len(refs), strings.Join(refs, ", "), ErrRefused)
	}
	return rep, j.record("finished")
}

func hook(step string) {
	if stepHook != nil {
		stepHook(step)
	}
}

// indexOfImages says whether d, an index, has machine-image members. An
// index whose manifest is gone from its store already was deleted by an
// interrupted apply after its images were: it has none left to delete.
func indexOfImages(ctx context.Context, stores Stores, d Decision) (bool, error) {
	s, err := stores(d.Store)
	if err != nil {
		return false, err
	}
	a, _, _, err := registry.FetchArtifact(ctx, s, d.Repository, d.Descriptor())
	switch {
	case errors.Is(err, registry.ErrNotFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("retention apply: read the index %s: %w", d.Ref(), err)
	}
	for _, m := range a.Members {
		if m.ArtifactType == artifact.ArtifactTypeMachineImage {
			return true, nil
		}
	}
	return false, nil
}

// deleteOne deletes one artifact's machine images (if images: a machine
// image, or an index with machine-image members), attachments and
// manifest; what is gone already is skipped.
func deleteOne(ctx context.Context, s registry.Store, o ApplyOptions, plan digest.Digest, d Decision, images bool) error {
	if images {
		hook("images")
		if err := o.Images.DeleteImages(ctx, plan, d); err != nil {
			return fmt.Errorf("delete the machine images of %s: %w", d.Ref(), err)
		}
	}
	atts, err := attachments(ctx, s, d.Repository, d.Digest)
	if err != nil {
		return fmt.Errorf("attachments of %s: %w", d.Ref(), err)
	}
	for _, a := range atts {
		hook("attachment")
		if err := s.Delete(ctx, d.Repository, a); err != nil && !errors.Is(err, registry.ErrNotFound) {
			return fmt.Errorf("delete %s@%s, attached to %s: %w", d.Repository, a.Digest, d.Ref(), err)
		}
	}
	if d.Kind == artifact.KindOCIImage {
		hook("subject")
		if err := unrefer(ctx, s, d); err != nil {
			return fmt.Errorf("remove %s from its image's referrers: %w", d.Ref(), err)
		}
	}
	hook("manifest")
	if err := s.Delete(ctx, d.Repository, d.Descriptor()); err != nil && !errors.Is(err, registry.ErrNotFound) {
		return fmt.Errorf("delete %s (%s@%s): %w", d.Ref(), d.Repository, d.Digest, err)
	}
	return nil
}

// checkLog refuses the plan if the catalog changed since it was made,
// apart from tombstones and cloud actions of this plan.
func checkLog(ctx context.Context, c catalog.EventLog, plan *Plan) error {
	events, err := c.Events(ctx)
	if err != nil {
		return err
	}
	h := plan.Inputs.Catalog
	if int64(len(events)) < h.Size || (h.Size > 0 && events[h.Size-1].Hash != h.Hash) {
		return fmt.Errorf("plan %s: the catalog's event log is not the one the plan was made from: %w", plan.Digest, ErrStalePlan)
	}
	for _, e := range events[h.Size:] {
		var body struct {
			Plan string `json:"plan"`
		}
		if (e.Type != catalog.EventDeleted && e.Type != catalog.EventCloudAction) || json.Unmarshal([]byte(e.Body), &body) != nil || body.Plan != plan.Digest.String() {
			return fmt.Errorf("plan %s: the catalog changed since (event %d: %s %s by %s): %w", plan.Digest, e.Seq, e.Type, e.Subject, e.Actor, ErrStalePlan)
		}
	}
	return nil
}

// journal is an append-only file of lines: "plan DIGEST" first, then
// "done DIGEST" per artifact deleted, "finished" at the end; each line is
// synced before the next step.
type journal struct{ f *os.File }

func openJournal(path string, plan digest.Digest) (*journal, map[digest.Digest]bool, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("retention journal: %w", err)
	}
	done := map[digest.Digest]bool{}
	sc := bufio.NewScanner(f)
	first := true
	for sc.Scan() {
		line := sc.Text()
		if first {
			if line != "plan "+plan.String() {
				f.Close()
				return nil, nil, fmt.Errorf("retention journal %s is of another plan (%q): %w", path, line, ErrInvalidPlan)
			}
			first = false
			continue
		}
		if d, ok := strings.CutPrefix(line, "done "); ok {
			done[digest.Digest(d)] = true
		}
	}
	if err := sc.Err(); err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("retention journal %s: %w", path, err)
	}
	j := &journal{f}
	if first {
		if err := j.record("plan " + plan.String()); err != nil {
			f.Close()
			return nil, nil, err
		}
	}
	return j, done, nil
}

// record appends a line and syncs it. A line cut short by a crash is
// ignored by openJournal (it is not "done <digest>" whole, or names an
// artifact whose steps are idempotent anyway).
func (j *journal) record(line string) error {
	if _, err := j.f.WriteString(line + "\n"); err != nil {
		return fmt.Errorf("retention journal: %w", err)
	}
	return j.f.Sync()
}

func (j *journal) Close() error { return j.f.Close() }

// ReadPlan parses a plan's JSON, refusing unknown fields.
func ReadPlan(b []byte) (*Plan, error) {
	var p Plan
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidPlan, err)
	}
	if p.Format != PlanFormat {
		return nil, fmt.Errorf("%w: format %d, this program knows %d", ErrInvalidPlan, p.Format, PlanFormat)
	}
	return &p, nil
}

// unrefer removes an OCI-image artifact from the referrers tag schema
// index of the image it tracks (its subject), before the artifact's own
// manifest goes: the index is rewritten without it, or deleted if it held
// nothing else. It holds the store's lock on mutable tags if it has one.
// A manifest already gone (a resumed apply) has nothing left to remove.
func unrefer(ctx context.Context, s registry.Store, d Decision) error {
	b, err := fetchManifest(ctx, s, d.Repository, d.Descriptor())
	if errors.Is(err, registry.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(b, &m); err != nil || m.Subject == nil {
		return nil // not an artifact with a subject: nothing refers
	}
	return ocistore.WithMutableTagsLocked(s, d.Repository, func() error {
		tag := registry.ReferrersTag(m.Subject.Digest)
		idxDesc, err := s.Resolve(ctx, d.Repository, tag)
		if errors.Is(err, registry.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		ib, err := fetchManifest(ctx, s, d.Repository, idxDesc)
		if err != nil {
			return err
		}
		var idx ocispec.Index
		if err := json.Unmarshal(ib, &idx); err != nil {
			return fmt.Errorf("%s:%s: %w: %v", d.Repository, tag, artifact.ErrInvalidManifest, err)
		}
		kept := idx.Manifests[:0]
		for _, r := range idx.Manifests {
			if r.Digest != d.Digest {
				kept = append(kept, r)
			}
		}
		switch {
		case len(kept) == len(idx.Manifests):
			return nil
		case len(kept) == 0:
			if err := s.Delete(ctx, d.Repository, idxDesc); err != nil && !errors.Is(err, registry.ErrNotFound) {
				return err
			}
			return nil
		}
		idx.Manifests = kept
		nb, err := json.Marshal(idx)
		if err != nil {
			return err
		}
		nd, err := s.PushManifest(ctx, d.Repository, ocispec.MediaTypeImageIndex, nb)
		if err != nil {
			return err
		}
		return s.Move(ctx, d.Repository, nd, tag)
	})
}
