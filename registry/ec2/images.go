package ec2

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// Image is an AMI as DescribeImages reports it.
type Image struct {
	Region       string            `json:"region"`
	ID           string            `json:"id"`
	Name         string            `json:"name"`
	Description  string            `json:"description,omitempty"`
	Owner        string            `json:"owner"` // account id
	OwnerAlias   string            `json:"ownerAlias,omitempty"`
	Architecture string            `json:"architecture,omitempty"` // x86_64, arm64, i386...
	BootMode     string            `json:"bootMode,omitempty"`     // uefi, legacy-bios, uefi-preferred
	Created      time.Time         `json:"created"`
	Tags         map[string]string `json:"tags,omitempty"`
	Snapshots    []string          `json:"snapshots,omitempty"` // of its EBS block devices, sorted
	Public       bool              `json:"public"`
	State        string            `json:"state"` // available, pending, failed, disabled...
	// Deprecation is when the image is (or was) deprecated; zero if never.
	Deprecation time.Time `json:"deprecation,omitzero"`
	// DeregistrationProtected is set while the image may not be deregistered.
	DeregistrationProtected bool `json:"deregistrationProtected,omitempty"`
	// SourceImageID and SourceRegion name the image this one was copied from
	// (CopyImage), when EC2 says so.
	SourceImageID string `json:"sourceImageId,omitempty"`
	SourceRegion  string `json:"sourceRegion,omitempty"`
}

// ImageQuery selects images; the zero query lists the images the account
// owns (Owners self).
type ImageQuery struct {
	IDs             []string
	Owners          []string // account ids, "self", "amazon"...
	ExecutableUsers []string // account ids, "self" or "all" (public)
	// Filters are DescribeImages filters, e.g. "name" → ["web-*"],
	// "is-public" → ["true"], "tag:brickyard:name" → ["web"].
	Filters map[string][]string
}

// Images lists the images of region that q selects, every page
// (NextToken), disabled and deprecated images included. API errors wrap
// ErrAccessDenied or the SDK's error, naming the region.
func (c *Client) Images(ctx context.Context, region string, q ImageQuery) ([]Image, error) {
	var out []Image
	err := c.EachImage(ctx, region, q, func(im Image) error { out = append(out, im); return nil })
	return out, err
}

// EachImage calls fn for every image of region that q selects, page by
// page, and stops at fn's first error.
func (c *Client) EachImage(ctx context.Context, region string, q ImageQuery, fn func(Image) error) error {
	cl, err := c.client(region)
	if err != nil {
		return err
	}
	in := &ec2.DescribeImagesInput{
		ImageIds:          q.IDs,
		Owners:            q.Owners,
		ExecutableUsers:   q.ExecutableUsers,
		Filters:           filters(q.Filters),
		IncludeDeprecated: aws.Bool(true),
		IncludeDisabled:   aws.Bool(true),
	}
	if len(q.IDs) == 0 && len(q.Owners) == 0 && len(q.ExecutableUsers) == 0 {
		in.Owners = []string{"self"}
	}
	// MaxResults cannot go with ImageIds.
	p := ec2.NewDescribeImagesPaginator(cl, in, func(po *ec2.DescribeImagesPaginatorOptions) {
		if len(q.IDs) == 0 {
			po.Limit = c.pageMax
		}
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return wrap("DescribeImages", region, strings.Join(q.IDs, ","), err)
		}
		for _, im := range page.Images {
			if err := fn(image(region, im)); err != nil {
				return err
			}
		}
	}
	return nil
}

func filters(m map[string][]string) []types.Filter {
	var out []types.Filter
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, types.Filter{Name: aws.String(k), Values: m[k]})
	}
	return out
}

func image(region string, im types.Image) Image {
	i := Image{
		Region: region, ID: aws.ToString(im.ImageId), Name: aws.ToString(im.Name),
		Description: aws.ToString(im.Description), Owner: aws.ToString(im.OwnerId),
		OwnerAlias: aws.ToString(im.ImageOwnerAlias), Architecture: string(im.Architecture),
		BootMode: string(im.BootMode), Public: aws.ToBool(im.Public), State: string(im.State),
		SourceImageID: aws.ToString(im.SourceImageId), SourceRegion: aws.ToString(im.SourceImageRegion),
		Created:                 parseTime(aws.ToString(im.CreationDate)),
		Deprecation:             parseTime(aws.ToString(im.DeprecationTime)),
		DeregistrationProtected: strings.HasPrefix(aws.ToString(im.DeregistrationProtection), "enabled"),
	}
	if len(im.Tags) > 0 {
		i.Tags = map[string]string{}
		for _, t := range im.Tags {
			i.Tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
		}
	}
	for _, b := range im.BlockDeviceMappings {
		if b.Ebs != nil && aws.ToString(b.Ebs.SnapshotId) != "" {
			i.Snapshots = append(i.Snapshots, aws.ToString(b.Ebs.SnapshotId))
		}
	}
	sort.Strings(i.Snapshots)
	return i
}

// parseTime reads EC2's ISO 8601 times ("2026-12-03T10:00:00.000Z");
// anything else is the zero time.
func parseTime(s string) time.Time {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.000Z", "2006-01-02T15:04:05Z"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

// DescribeAMI returns the owner account of image id in region and the ids
// of the EBS snapshots backing it, sorted (DescribeImages). Errors wrap
// ErrNotFound, ErrAccessDenied or the SDK's, naming the image and region.
// It satisfies brickyard.AMIDescriber, for a Packer build's AMIs.
func (c *Client) DescribeAMI(ctx context.Context, region, id string) (owner string, snapshots []string, err error) {
	im, err := c.lookup(ctx, region, id)
	if err != nil {
		return "", nil, err
	}
	return im.Owner, im.Snapshots, nil
}

// lookup returns image id of region, or an error wrapping ErrNotFound.
func (c *Client) lookup(ctx context.Context, region, id string) (Image, error) {
	ims, err := c.Images(ctx, region, ImageQuery{IDs: []string{id}})
	if err != nil {
		return Image{}, err
	}
	for _, im := range ims {
		if im.ID == id {
			return im, nil
		}
	}
	return Image{}, fmt.Errorf("ec2 image %s in %s: %w", id, region, ErrNotFound)
}

// Tag sets tags on the resources ids (images, snapshots) of region
// (CreateTags; existing keys are overwritten). No call is made when every
// resource already carries them: have maps resource → its current tags;
// pass nil to always call.
func (c *Client) Tag(ctx context.Context, region string, ids []string, tags map[string]string, have map[string]map[string]string) (Action, error) {
	a := Action{Region: region, Action: "CreateTags", Resource: strings.Join(ids, ",")}
	if have != nil {
		same := true
		for _, id := range ids {
			for k, v := range tags {
				if cur, ok := have[id][k]; !ok || cur != v {
					same = false
				}
			}
		}
		if same {
			return a, nil
		}
	}
	cl, err := c.client(region)
	if err != nil {
		return a, err
	}
	in := &ec2.CreateTagsInput{Resources: ids}
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		in.Tags = append(in.Tags, types.Tag{Key: aws.String(k), Value: aws.String(tags[k])})
	}
	out, err := cl.CreateTags(ctx, in)
	if err != nil {
		return a, wrap("CreateTags", region, a.Resource, err)
	}
	a.Changed, a.RequestID = true, requestID(out.ResultMetadata)
	return a, nil
}

// Deprecate deprecates image id of region at time at (EnableImageDeprecation;
// EC2 rounds to the minute). No call is made if the image is already
// deprecated at or before at. ErrNotFound if the image is gone.
func (c *Client) Deprecate(ctx context.Context, region, id string, at time.Time) (Action, error) {
	a := Action{Region: region, Action: "EnableImageDeprecation", Resource: id, Detail: at.UTC().Format(time.RFC3339)}
	im, err := c.lookup(ctx, region, id)
	if err != nil {
		return a, err
	}
	if !im.Deprecation.IsZero() && !im.Deprecation.After(at) {
		return a, nil
	}
	cl, _ := c.client(region)
	out, err := cl.EnableImageDeprecation(ctx, &ec2.EnableImageDeprecationInput{ImageId: aws.String(id), DeprecateAt: aws.Time(at.UTC())})
	if err != nil {
		return a, wrap("EnableImageDeprecation", region, id, err)
	}
	a.Changed, a.RequestID = true, requestID(out.ResultMetadata)
	return a, nil
}

// Disable disables image id of region (DisableImage): it can no longer be
// launched and its launch permissions are removed by EC2. No call is made
// if it is disabled already. ErrNotFound if the image is gone.
func (c *Client) Disable(ctx context.Context, region, id string) (Action, error) {
	a := Action{Region: region, Action: "DisableImage", Resource: id}
	im, err := c.lookup(ctx, region, id)
	if err != nil {
		return a, err
	}
	if im.State == string(types.ImageStateDisabled) {
		return a, nil
	}
	cl, _ := c.client(region)
	out, err := cl.DisableImage(ctx, &ec2.DisableImageInput{ImageId: aws.String(id)})
	if err != nil {
		return a, wrap("DisableImage", region, id, err)
	}
	a.Changed, a.RequestID = true, requestID(out.ResultMetadata)
	return a, nil
}

// Deregister deregisters image id of region (DeregisterImage), then deletes
// the snapshots that image alone used: a snapshot another image of the
// account still names is kept (its Action says so). An image under
// deregistration protection is refused with an error wrapping
// ErrDeregistrationProtected, before any call that changes anything. The
// actions are returned in the order made.
//
// An image already gone is no DeregisterImage call; snapshots, if given
// (the image's snapshot ids as recorded elsewhere, e.g. in the catalog),
// are then deleted unless another image of the account names them: a
// deregistration interrupted between DeregisterImage and the snapshots'
// deletion finishes when run again.
func (c *Client) Deregister(ctx context.Context, region, id string, snapshots ...string) ([]Action, error) {
	im, err := c.lookup(ctx, region, id)
	if err != nil {
		if !isNotFound(err) {
			return nil, err
		}
		acts := []Action{{Region: region, Action: "DeregisterImage", Resource: id, Detail: "already gone"}}
		keep, err := c.snapshotsInUse(ctx, region, id, snapshots)
		if err != nil {
			return acts, err
		}
		return c.deleteSnapshots(ctx, region, snapshots, keep, acts)
	}
	if im.DeregistrationProtected {
		return nil, fmt.Errorf("deregister %s in %s: %w (disable it first: DisableImageDeregistrationProtection)", id, region, ErrDeregistrationProtected)
	}
	// Which snapshots does another image still use? Asked before the
	// image goes.
	keep, err := c.snapshotsInUse(ctx, region, id, im.Snapshots)
	if err != nil {
		return nil, err
	}
	cl, _ := c.client(region)
	out, err := cl.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: aws.String(id)})
	if err != nil {
		return nil, wrap("DeregisterImage", region, id, err)
	}
	acts := []Action{{Region: region, Action: "DeregisterImage", Resource: id, Changed: true, RequestID: requestID(out.ResultMetadata)}}
	return c.deleteSnapshots(ctx, region, im.Snapshots, keep, acts)
}

// snapshotsInUse returns which of snaps an image of the account other
// than id names (snapshot id → that image's id): one call per snapshot,
// as EC2 filters by one value set.
func (c *Client) snapshotsInUse(ctx context.Context, region, id string, snaps []string) (map[string]string, error) {
	keep := map[string]string{}
	for _, s := range snaps {
		others, err := c.Images(ctx, region, ImageQuery{Owners: []string{"self"}, Filters: map[string][]string{"block-device-mapping.snapshot-id": {s}}})
		if err != nil {
			return nil, err
		}
		for _, o := range others {
			if o.ID != id {
				keep[s] = o.ID
			}
		}
	}
	return keep, nil
}

// deleteSnapshots deletes snaps but those in keep, appending an action
// for each to acts.
func (c *Client) deleteSnapshots(ctx context.Context, region string, snaps []string, keep map[string]string, acts []Action) ([]Action, error) {
	for _, s := range snaps {
		if other, ok := keep[s]; ok {
			acts = append(acts, Action{Region: region, Action: "DeleteSnapshot", Resource: s, Detail: "kept: also used by " + other})
			continue
		}
		a, err := c.DeleteSnapshot(ctx, region, s)
		acts = append(acts, a)
		if err != nil {
			return acts, err
		}
	}
	return acts, nil
}

// DeleteSnapshot deletes snapshot id of region; one already gone is a no-op.
func (c *Client) DeleteSnapshot(ctx context.Context, region, id string) (Action, error) {
	a := Action{Region: region, Action: "DeleteSnapshot", Resource: id}
	cl, err := c.client(region)
	if err != nil {
		return a, err
	}
	out, err := cl.DeleteSnapshot(ctx, &ec2.DeleteSnapshotInput{SnapshotId: aws.String(id)})
	if err != nil {
		err = wrap("DeleteSnapshot", region, id, err)
		if isNotFound(err) {
			a.Detail = "already gone"
			return a, nil
		}
		return a, err
	}
	a.Changed, a.RequestID = true, requestID(out.ResultMetadata)
	return a, nil
}
