package cloud

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/brickyard/brickyard/catalog"
	"github.com/brickyard/brickyard/registry/ec2"
)

// Deprecator deprecates an image (EnableImageDeprecation).
type Deprecator interface {
	Deprecate(ctx context.Context, region, id string, at time.Time) (ec2.Action, error)
}

// Disabler disables an image (DisableImage).
type Disabler interface {
	Disable(ctx context.Context, region, id string) (ec2.Action, error)
}

// PermissionSetter sets launch and snapshot permissions to exactly an
// intent.
type PermissionSetter interface {
	SetLaunchPermissions(ctx context.Context, region, id string, want ec2.Permissions) (ec2.Action, error)
	SetSnapshotPermissions(ctx context.Context, region, id string, want ec2.Permissions) ([]ec2.Action, error)
}

// Deleter deregisters an image and deletes the snapshots it alone used;
// an image under deregistration protection is refused with an error
// wrapping ec2.ErrDeregistrationProtected. It is the machine-image
// deleter retention needs.
type Deleter interface {
	// snapshots are the image's snapshot ids as the catalog recorded
	// them: deleted (unless another image uses them) when the image is
	// gone already, so an interrupted delete finishes.
	Deregister(ctx context.Context, region, id string, snapshots ...string) ([]ec2.Action, error)
}

// Tagger tags images.
type Tagger interface {
	Tag(ctx context.Context, region string, ids []string, tags map[string]string, have map[string]map[string]string) (ec2.Action, error)
}

// Cloud is everything a Syncer does in a cloud; *ec2.Client satisfies it.
type Cloud interface {
	Deprecator
	Disabler
	PermissionSetter
	Deleter
	Tagger
}

var _ Cloud = (*ec2.Client)(nil)

// Syncer makes catalog decisions about machine images reach the cloud and
// records each change made as an EventCloudAction.
type Syncer struct {
	Cloud   Cloud
	Log     catalog.CloudActionRecorder
	Account string // the account acted in, for the log
	Actor   string
	Now     func() time.Time // nil: time.Now
	// Plan, if set, is the retention plan acted under: each action's
	// event names it.
	Plan string
}

func (s *Syncer) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// record logs the actions that changed something.
func (s *Syncer) record(ctx context.Context, k Known, acts ...ec2.Action) error {
	for _, a := range acts {
		if !a.Changed {
			continue
		}
		if err := s.Log.RecordCloudAction(ctx, k.Record.Digest, catalog.CloudAction{Provider: k.Image.Provider, Account: s.Account,
			Region: a.Region, Action: a.Action, Resource: a.Resource, RequestID: a.RequestID, Detail: a.Detail, Plan: s.Plan, Actor: s.Actor}); err != nil {
			return fmt.Errorf("record %s of %s in the log: %w", a.Action, a.Resource, err)
		}
	}
	return nil
}

// Intent returns the permissions a record's visibility intent asks for in
// AWS: nil or private is none, public is everyone, shared is its AWS
// principals (see ec2.ParsePrincipals).
func Intent(r catalog.Record) (ec2.Permissions, error) {
	if r.Visibility == nil {
		return ec2.Permissions{}, nil
	}
	switch r.Visibility.Level {
	case catalog.VisibilityPublic:
		return ec2.Permissions{Public: true}, nil
	case catalog.VisibilityShared:
		return ec2.ParsePrincipals(false, r.Visibility.Principals)
	}
	return ec2.Permissions{}, nil
}

// Sync makes every image of k match the catalog's decisions at this time,
// region by region, and returns the actions (made or found unneeded):
//
//   - revoked: launch and snapshot permissions removed, then DisableImage;
//   - deprecated: EnableImageDeprecation at the time the deprecation took
//     effect, and permissions as the visibility intent says;
//   - active: permissions as the visibility intent says.
//
// Running it again makes no calls that change anything and records no
// events. A reinstated artifact's disabled images are left disabled
// (enabling is a deliberate act: EnableImage). An image that is gone is
// an error naming it; the other regions are still synced.
func (s *Syncer) Sync(ctx context.Context, k Known) ([]ec2.Action, error) {
	if k.Image == nil {
		return nil, fmt.Errorf("sync %s: %w", k.Record.Ref(), ErrNotMachineImage)
	}
	now := s.now()
	state, change := k.Record.Status(now)
	want, err := Intent(k.Record)
	if err != nil {
		return nil, fmt.Errorf("sync %s: %w", k.Record.Ref(), err)
	}
	if state == catalog.StateRevoked {
		want = ec2.Permissions{}
	}
	var all []ec2.Action
	var errs []error
	for _, region := range slices.Sorted(maps.Keys(k.Image.Images)) {
		acts, err := s.syncRegion(ctx, k, region, state, change, want)
		all = append(all, acts...)
		if rerr := s.record(ctx, k, acts...); rerr != nil {
			return all, rerr
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("sync %s in %s: %w", k.Record.Ref(), region, err))
		}
	}
	return all, errors.Join(errs...)
}

func (s *Syncer) syncRegion(ctx context.Context, k Known, region string, state catalog.State, change *catalog.LifecycleChange, want ec2.Permissions) ([]ec2.Action, error) {
	id := k.Image.Images[region]
	var acts []ec2.Action
	a, err := s.Cloud.SetLaunchPermissions(ctx, region, id, want)
	acts = append(acts, a)
	if err != nil {
		return acts, err
	}
	for _, snap := range k.Image.Snapshots[region] {
		sa, err := s.Cloud.SetSnapshotPermissions(ctx, region, snap, want)
		acts = append(acts, sa...)
		if err != nil {
			return acts, err
		}
	}
	switch state {
	case catalog.StateRevoked:
		a, err := s.Cloud.Disable(ctx, region, id)
		acts = append(acts, a)
		if err != nil {
			return acts, err
		}
	case catalog.StateDeprecated:
		at := change.At
		if !change.Effective.IsZero() {
			at = change.Effective
		}
		a, err := s.Cloud.Deprecate(ctx, region, id, at)
		acts = append(acts, a)
		if err != nil {
			return acts, err
		}
	}
	return acts, nil
}

// Delete deletes every image of k from the cloud, as retention does:
// deregister, then delete the snapshots the image alone used. Images
// under deregistration protection are refused (the error wraps ErrRefused
// and ec2.ErrDeregistrationProtected and names each); the other regions
// are still deleted. Images already gone are no DeregisterImage call, and
// the snapshots the record names for them are deleted unless another
// image uses them: a Delete interrupted halfway finishes when run again.
func (s *Syncer) Delete(ctx context.Context, k Known) ([]ec2.Action, error) {
	if k.Image == nil {
		return nil, fmt.Errorf("delete %s: %w", k.Record.Ref(), ErrNotMachineImage)
	}
	var all []ec2.Action
	var errs []error
	for _, region := range slices.Sorted(maps.Keys(k.Image.Images)) {
		id := k.Image.Images[region]
		acts, err := s.Cloud.Deregister(ctx, region, id, k.Image.Snapshots[region]...)
		all = append(all, acts...)
		if rerr := s.record(ctx, k, acts...); rerr != nil {
			return all, rerr
		}
		switch {
		case errors.Is(err, ec2.ErrDeregistrationProtected):
			errs = append(errs, fmt.Errorf("delete %s: image %s in %s: %w: %w", k.Record.Ref(), id, region, ErrRefused, err))
		case err != nil:
			errs = append(errs, fmt.Errorf("delete %s: image %s in %s: %w", k.Record.Ref(), id, region, err))
		}
	}
	return all, errors.Join(errs...)
}

// Tag keys that point a cloud image back at its catalog record.
const (
	TagName    = "brickyard:name"
	TagVersion = "brickyard:version"
	TagDigest  = "brickyard:digest"
	TagParent  = "brickyard:parent"
)

// Tag writes the name, version and digest of k's record on its image in
// every region (TagName, TagVersion, TagDigest), so the cloud object
// points back at its record. have, if not nil, maps image id → current
// tags; images that carry them already are not tagged again.
func (s *Syncer) Tag(ctx context.Context, k Known, have map[string]map[string]string) ([]ec2.Action, error) {
	if k.Image == nil {
		return nil, fmt.Errorf("tag %s: %w", k.Record.Ref(), ErrNotMachineImage)
	}
	tags := map[string]string{TagName: k.Record.Name, TagVersion: k.Record.Version.Original(), TagDigest: k.Record.Digest.String()}
	var all []ec2.Action
	for _, region := range slices.Sorted(maps.Keys(k.Image.Images)) {
		a, err := s.Cloud.Tag(ctx, region, []string{k.Image.Images[region]}, tags, have)
		all = append(all, a)
		if err != nil {
			return all, fmt.Errorf("tag %s in %s: %w", k.Record.Ref(), region, err)
		}
		if err := s.record(ctx, k, a); err != nil {
			return all, err
		}
	}
	return all, nil
}
