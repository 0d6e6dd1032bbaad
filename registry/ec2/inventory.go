package ec2

import (
	"context"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// Snapshot is an EBS snapshot as DescribeSnapshots reports it.
type Snapshot struct {
	Region string `json:"region"`
	ID     string `json:"id"`
	Owner  string `json:"owner"`
}

// SnapshotQuery selects snapshots: by owner ("self" or account ids) and
// by who may restore them ("all" lists public ones).
type SnapshotQuery struct {
	Owners       []string
	RestorableBy []string
}

// Snapshots lists the snapshots of region that q selects, every page.
func (c *Client) Snapshots(ctx context.Context, region string, q SnapshotQuery) ([]Snapshot, error) {
	cl, err := c.client(region)
	if err != nil {
		return nil, err
	}
	p := ec2.NewDescribeSnapshotsPaginator(cl, &ec2.DescribeSnapshotsInput{OwnerIds: q.Owners, RestorableByUserIds: q.RestorableBy},
		func(po *ec2.DescribeSnapshotsPaginatorOptions) { po.Limit = c.pageMax })
	var out []Snapshot
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, wrap("DescribeSnapshots", region, "", err)
		}
		for _, s := range page.Snapshots {
			out = append(out, Snapshot{Region: region, ID: aws.ToString(s.SnapshotId), Owner: aws.ToString(s.OwnerId)})
		}
	}
	return out, nil
}

// Use is one thing that launches an image: an instance, or a version of a
// launch template.
type Use struct {
	Region  string `json:"region"`
	ImageID string `json:"imageId"`
	// Kind is "instance" or "launch-template"; ID is the instance id or
	// "lt-…:VERSION".
	Kind string `json:"kind"`
	ID   string `json:"id"`
}

// Uses lists what uses images in region: every instance not terminated
// (DescribeInstances, paged) and every version of every launch template
// (DescribeLaunchTemplates paged, then DescribeLaunchTemplateVersions per
// template, paged), with the image each one launches. Calls grow with
// instances and templates, not with images.
func (c *Client) Uses(ctx context.Context, region string) ([]Use, error) {
	cl, err := c.client(region)
	if err != nil {
		return nil, err
	}
	var out []Use
	ip := ec2.NewDescribeInstancesPaginator(cl, &ec2.DescribeInstancesInput{}, func(po *ec2.DescribeInstancesPaginatorOptions) { po.Limit = c.pageMax })
	for ip.HasMorePages() {
		page, err := ip.NextPage(ctx)
		if err != nil {
			return nil, wrap("DescribeInstances", region, "", err)
		}
		for _, r := range page.Reservations {
			for _, in := range r.Instances {
				if in.State != nil && in.State.Name == types.InstanceStateNameTerminated {
					continue
				}
				out = append(out, Use{Region: region, ImageID: aws.ToString(in.ImageId), Kind: "instance", ID: aws.ToString(in.InstanceId)})
			}
		}
	}
	tp := ec2.NewDescribeLaunchTemplatesPaginator(cl, &ec2.DescribeLaunchTemplatesInput{}, func(po *ec2.DescribeLaunchTemplatesPaginatorOptions) { po.Limit = 200 })
	for tp.HasMorePages() {
		page, err := tp.NextPage(ctx)
		if err != nil {
			return nil, wrap("DescribeLaunchTemplates", region, "", err)
		}
		for _, t := range page.LaunchTemplates {
			id := aws.ToString(t.LaunchTemplateId)
			vp := ec2.NewDescribeLaunchTemplateVersionsPaginator(cl, &ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateId: aws.String(id)},
				func(po *ec2.DescribeLaunchTemplateVersionsPaginatorOptions) { po.Limit = 200 })
			for vp.HasMorePages() {
				vpage, err := vp.NextPage(ctx)
				if err != nil {
					return nil, wrap("DescribeLaunchTemplateVersions", region, id, err)
				}
				for _, v := range vpage.LaunchTemplateVersions {
					if v.LaunchTemplateData == nil || !strings.HasPrefix(aws.ToString(v.LaunchTemplateData.ImageId), "ami-") {
						continue // none, or an SSM parameter ("resolve:ssm:…")
					}
					out = append(out, Use{Region: region, ImageID: aws.ToString(v.LaunchTemplateData.ImageId), Kind: "launch-template",
						ID: id + ":" + itoa(aws.ToInt64(v.VersionNumber))})
				}
			}
		}
	}
	return out, nil
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// BlockPublicAccess returns region's Image Block Public Access state
// (GetImageBlockPublicAccessState): "unblocked" or "block-new-sharing".
func (c *Client) BlockPublicAccess(ctx context.Context, region string) (string, error) {
	cl, err := c.client(region)
	if err != nil {
		return "", err
	}
	out, err := cl.GetImageBlockPublicAccessState(ctx, &ec2.GetImageBlockPublicAccessStateInput{})
	if err != nil {
		return "", wrap("GetImageBlockPublicAccessState", region, "", err)
	}
	return aws.ToString(out.ImageBlockPublicAccessState), nil
}
