package ec2

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// Permissions is who may launch an image (launchPermission) or create
// volumes from a snapshot (createVolumePermission): everyone (Public), or
// the listed accounts, organizations and organizational units. Lists are
// sorted and without repeats. Snapshots know no organizations.
type Permissions struct {
	Public              bool     `json:"public"`
	Accounts            []string `json:"accounts,omitempty"`            // 12-digit account ids
	Organizations       []string `json:"organizations,omitempty"`       // arn:aws:organizations::ACCOUNT:organization/o-…
	OrganizationalUnits []string `json:"organizationalUnits,omitempty"` // arn:aws:organizations::ACCOUNT:ou/o-…/ou-…
}

// IsZero says no one but the owner has access.
func (p Permissions) IsZero() bool {
	return !p.Public && len(p.Accounts) == 0 && len(p.Organizations) == 0 && len(p.OrganizationalUnits) == 0
}

// Equal says p and q grant the same access.
func (p Permissions) Equal(q Permissions) bool {
	p, q = p.normal(), q.normal()
	return p.Public == q.Public && slices.Equal(p.Accounts, q.Accounts) &&
		slices.Equal(p.Organizations, q.Organizations) && slices.Equal(p.OrganizationalUnits, q.OrganizationalUnits)
}

// Beyond returns what p grants that within does not: public access when
// within is not public, and every account, organization and unit not in
// within. A public within covers everything.
func (p Permissions) Beyond(within Permissions) Permissions {
	if within.Public {
		return Permissions{}
	}
	return Permissions{
		Public:              p.Public,
		Accounts:            minus(p.Accounts, within.Accounts),
		Organizations:       minus(p.Organizations, within.Organizations),
		OrganizationalUnits: minus(p.OrganizationalUnits, within.OrganizationalUnits),
	}.normal()
}

// Snapshot returns the part of p a snapshot can carry: Public and Accounts.
func (p Permissions) Snapshot() Permissions {
	return Permissions{Public: p.Public, Accounts: p.Accounts}.normal()
}

// String is "private", "public", or "accounts [..] orgs [..] ous [..]".
func (p Permissions) String() string {
	p = p.normal()
	if p.IsZero() {
		return "private"
	}
	var parts []string
	if p.Public {
		parts = append(parts, "public")
	}
	if len(p.Accounts) > 0 {
		parts = append(parts, "accounts "+strings.Join(p.Accounts, ","))
	}
	if len(p.Organizations) > 0 {
		parts = append(parts, "organizations "+strings.Join(p.Organizations, ","))
	}
	if len(p.OrganizationalUnits) > 0 {
		parts = append(parts, "units "+strings.Join(p.OrganizationalUnits, ","))
	}
	return strings.Join(parts, "; ")
}

func minus(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

func (p Permissions) normal() Permissions {
	n := func(s []string) []string {
		if len(s) == 0 {
			return nil
		}
		s = slices.Clone(s)
		slices.Sort(s)
		return slices.Compact(s)
	}
	return Permissions{Public: p.Public, Accounts: n(p.Accounts), Organizations: n(p.Organizations), OrganizationalUnits: n(p.OrganizationalUnits)}
}

var (
	accountRE = regexp.MustCompile(`^[0-9]{12}$`)
	orgRE     = regexp.MustCompile(`^arn:aws[a-z-]*:organizations::[0-9]{12}:organization/o-[a-z0-9]{10,32}$`)
	ouRE      = regexp.MustCompile(`^arn:aws[a-z-]*:organizations::[0-9]{12}:ou/o-[a-z0-9]{10,32}/ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}$`)
)

// ParsePrincipals turns a catalog visibility intent into permissions:
// public, or the principals "aws:ACCOUNT_ID" (12 digits), "aws:ARN" or a
// bare organization or organizational-unit ARN. Principals of other
// providers or registries (no "aws:" or "arn:aws" prefix) are not AWS's
// and are skipped. A malformed AWS principal is an error wrapping
// ErrInvalidPrincipal.
func ParsePrincipals(public bool, principals []string) (Permissions, error) {
	p := Permissions{Public: public}
	for _, pr := range principals {
		v, ok := strings.CutPrefix(pr, "aws:")
		if !ok && !strings.HasPrefix(pr, "arn:aws") {
			continue
		}
		switch {
		case accountRE.MatchString(v):
			p.Accounts = append(p.Accounts, v)
		case orgRE.MatchString(v):
			p.Organizations = append(p.Organizations, v)
		case ouRE.MatchString(v):
			p.OrganizationalUnits = append(p.OrganizationalUnits, v)
		default:
			return Permissions{}, fmt.Errorf("principal %q: want aws:ACCOUNT_ID (12 digits) or an organization or OU ARN: %w", pr, ErrInvalidPrincipal)
		}
	}
	return p.normal(), nil
}

// LaunchPermissions returns who may launch image id of region
// (DescribeImageAttribute launchPermission: one call per image, as EC2 has
// no batch form).
func (c *Client) LaunchPermissions(ctx context.Context, region, id string) (Permissions, error) {
	cl, err := c.client(region)
	if err != nil {
		return Permissions{}, err
	}
	out, err := cl.DescribeImageAttribute(ctx, &ec2.DescribeImageAttributeInput{ImageId: aws.String(id), Attribute: types.ImageAttributeNameLaunchPermission})
	if err != nil {
		return Permissions{}, wrap("DescribeImageAttribute", region, id, err)
	}
	var p Permissions
	for _, lp := range out.LaunchPermissions {
		switch {
		case lp.Group == types.PermissionGroupAll:
			p.Public = true
		case aws.ToString(lp.UserId) != "":
			p.Accounts = append(p.Accounts, aws.ToString(lp.UserId))
		case aws.ToString(lp.OrganizationArn) != "":
			p.Organizations = append(p.Organizations, aws.ToString(lp.OrganizationArn))
		case aws.ToString(lp.OrganizationalUnitArn) != "":
			p.OrganizationalUnits = append(p.OrganizationalUnits, aws.ToString(lp.OrganizationalUnitArn))
		}
	}
	return p.normal(), nil
}

// SnapshotPermissions returns who may create volumes from snapshot id of
// region (DescribeSnapshotAttribute createVolumePermission, one call per
// snapshot).
func (c *Client) SnapshotPermissions(ctx context.Context, region, id string) (Permissions, error) {
	cl, err := c.client(region)
	if err != nil {
		return Permissions{}, err
	}
	out, err := cl.DescribeSnapshotAttribute(ctx, &ec2.DescribeSnapshotAttributeInput{SnapshotId: aws.String(id), Attribute: types.SnapshotAttributeNameCreateVolumePermission})
	if err != nil {
		return Permissions{}, wrap("DescribeSnapshotAttribute", region, id, err)
	}
	var p Permissions
	for _, cp := range out.CreateVolumePermissions {
		if cp.Group == types.PermissionGroupAll {
			p.Public = true
		} else if aws.ToString(cp.UserId) != "" {
			p.Accounts = append(p.Accounts, aws.ToString(cp.UserId))
		}
	}
	return p.normal(), nil
}

// SetLaunchPermissions makes the launch permissions of image id of region
// exactly want: it reads them, then adds what is missing and removes what
// is extra in one ModifyImageAttribute call. No change is made when they
// already match.
func (c *Client) SetLaunchPermissions(ctx context.Context, region, id string, want Permissions) (Action, error) {
	want = want.normal()
	a := Action{Region: region, Action: "ModifyImageAttribute", Resource: id, Detail: "launchPermission → " + want.String()}
	have, err := c.LaunchPermissions(ctx, region, id)
	if err != nil {
		return a, err
	}
	if have.Equal(want) {
		return a, nil
	}
	add, remove := diff(have, want)
	cl, _ := c.client(region)
	out, err := cl.ModifyImageAttribute(ctx, &ec2.ModifyImageAttributeInput{ImageId: aws.String(id),
		LaunchPermission: &types.LaunchPermissionModifications{Add: launchPerms(add), Remove: launchPerms(remove)}})
	if err != nil {
		return a, wrap("ModifyImageAttribute", region, id, err)
	}
	a.Changed, a.RequestID = true, requestID(out.ResultMetadata)
	return a, nil
}

// diff returns what to add to have and remove from it to make it want.
func diff(have, want Permissions) (add, remove Permissions) {
	add = Permissions{Public: want.Public && !have.Public, Accounts: minus(want.Accounts, have.Accounts),
		Organizations: minus(want.Organizations, have.Organizations), OrganizationalUnits: minus(want.OrganizationalUnits, have.OrganizationalUnits)}
	remove = Permissions{Public: have.Public && !want.Public, Accounts: minus(have.Accounts, want.Accounts),
		Organizations: minus(have.Organizations, want.Organizations), OrganizationalUnits: minus(have.OrganizationalUnits, want.OrganizationalUnits)}
	return add, remove
}

func launchPerms(p Permissions) []types.LaunchPermission {
	var out []types.LaunchPermission
	if p.Public {
		out = append(out, types.LaunchPermission{Group: types.PermissionGroupAll})
	}
	for _, a := range p.Accounts {
		out = append(out, types.LaunchPermission{UserId: aws.String(a)})
	}
	for _, o := range p.Organizations {
		out = append(out, types.LaunchPermission{OrganizationArn: aws.String(o)})
	}
	for _, u := range p.OrganizationalUnits {
		out = append(out, types.LaunchPermission{OrganizationalUnitArn: aws.String(u)})
	}
	return out
}

// SetSnapshotPermissions makes the create-volume permissions of snapshot
// id of region exactly want.Snapshot() (organizations cannot be granted on
// snapshots). It removes before it adds (ModifySnapshotAttribute with
// OperationType, one call each), so a failure half-way leaves less access,
// never more. Actions are returned for the calls made; none when the
// permissions already match.
func (c *Client) SetSnapshotPermissions(ctx context.Context, region, id string, want Permissions) ([]Action, error) {
	want = want.Snapshot()
	have, err := c.SnapshotPermissions(ctx, region, id)
	if err != nil {
		return nil, err
	}
	if have.Equal(want) {
		return nil, nil
	}
	cl, _ := c.client(region)
	var acts []Action
	add, remove := diff(have, want)
	for _, op := range []struct {
		typ   types.OperationType
		perms Permissions
	}{{types.OperationTypeRemove, remove}, {types.OperationTypeAdd, add}} {
		if op.perms.IsZero() {
			continue
		}
		in := &ec2.ModifySnapshotAttributeInput{SnapshotId: aws.String(id), Attribute: types.SnapshotAttributeNameCreateVolumePermission,
			OperationType: op.typ, UserIds: op.perms.Accounts}
		if op.perms.Public {
			in.GroupNames = []string{string(types.PermissionGroupAll)}
		}
		out, err := cl.ModifySnapshotAttribute(ctx, in)
		if err != nil {
			return acts, wrap("ModifySnapshotAttribute", region, id, err)
		}
		acts = append(acts, Action{Region: region, Action: "ModifySnapshotAttribute", Resource: id, Changed: true,
			RequestID: requestID(out.ResultMetadata), Detail: "createVolumePermission " + string(op.typ) + " " + op.perms.String()})
	}
	return acts, nil
}
