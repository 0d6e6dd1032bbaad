package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/brickyard/brickyard/catalog"
	"github.com/brickyard/brickyard/catalog/audit"
	"github.com/brickyard/brickyard/catalog/cloud"
	"github.com/brickyard/brickyard/registry"
	"github.com/brickyard/brickyard/registry/ec2"
	"github.com/opencontainers/go-digest"
	"github.com/spf13/cobra"
)

// errFindings says an audit found something at or above --fail-on.
var errFindings = errors.New("audit findings at or above the --fail-on severity")

// awsFlags are how every AWS command reaches the account.
type awsFlags struct {
	regions    []string
	profile    string
	roleARN    string
	externalID string
	endpoint   string
}

func (f *awsFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringArrayVar(&f.regions, "region", nil, "AWS region (repeatable; default: the config chain's region)")
	fl.StringVar(&f.profile, "profile", "", "shared config profile (default: $AWS_PROFILE or the default chain)")
	fl.StringVar(&f.roleARN, "assume-role", "", "act in another account: assume this role ARN")
	fl.StringVar(&f.externalID, "external-id", "", "external id for --assume-role")
	fl.StringVar(&f.endpoint, "endpoint", "", "EC2 and STS endpoint URL (VPC endpoints, emulators; default $AWS_ENDPOINT_URL or AWS's)")
}

func (f *awsFlags) client(ctx context.Context) (*ec2.Client, error) {
	var opts []ec2.Option
	if len(f.regions) > 0 {
		opts = append(opts, ec2.WithRegions(f.regions...))
	}
	if f.profile != "" {
		opts = append(opts, ec2.WithProfile(f.profile))
	}
	if f.roleARN != "" {
		opts = append(opts, ec2.WithAssumeRole(f.roleARN, f.externalID))
	}
	if f.endpoint != "" {
		opts = append(opts, ec2.WithEndpoint(f.endpoint))
	}
	c, err := ec2.New(ctx, opts...)
	if errors.Is(err, ec2.ErrInvalidOption) {
		return nil, usageError{err}
	}
	return c, err
}

// index reads the catalog's AWS machine images.
func (e *env) awsIndex(ctx context.Context) (*cloud.Index, error) {
	return cloud.BuildIndex(ctx, e.c.Catalog(), func(r catalog.Record) (registry.Fetcher, error) { return e.c.StoreOf(r) }, "aws")
}

func (e *env) syncer(ctx context.Context, c *ec2.Client, actor string) (*cloud.Syncer, error) {
	if actor == "" {
		actor = e.c.Actor()
	}
	acct, err := c.Account(ctx)
	if err != nil {
		return nil, err
	}
	return &cloud.Syncer{Cloud: c, Log: e.c.Catalog(), Account: acct, Actor: actor}, nil
}

// newImportEC2Cmd is `brickyard import ec2`.
func newImportEC2Cmd(e *env) *cobra.Command {
	var af awsFlags
	var owners, filters, tags []string
	var actor string
	ec2Cmd := &cobra.Command{
		Use:   "ec2 --region REGION... [--owner self] [--filter name=web-*] [--tag KEY=VALUE]",
		Short: "Record the AMIs an account has as machine-image artifacts",
		Long: `Record the AMIs an account already has as machine-image artifacts: one artifact
per image and its copies in other regions (same brickyard:name and
brickyard:version tags, same AMI name, or copied from one another), with
region → image id, snapshots, owner, name, architecture, boot mode,
creation date and tags.

The version comes from the tag brickyard:version (with brickyard:name), else
from the AMI name NAME-VERSION, NAME_VERSION, NAME/VERSION or "NAME VERSION",
VERSION being semver with an optional leading v ("web-1.2.3",
"web_v1.2.3-rc.1"). The parent comes from the tag brickyard:parent
(NAME@VERSION or a digest), else from the artifact of the image named by the
tag brickyard:source-ami or the image it was copied from. Images without a
version are listed as skipped (` + "`brickyard audit aws`" + ` reports them as
unknown). Each imported image is tagged with brickyard:name,
brickyard:version and brickyard:digest. Importing again is a no-op.`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if err := e.open(ctx); err != nil {
				return err
			}
			if actor == "" {
				actor = e.c.Actor()
			}
			o := cloud.ImportOptions{Owners: owners, Filters: map[string][]string{}, StoreName: e.c.StoreName(), Actor: actor,
				ResolveParent: func(ctx context.Context, ref string) (digest.Digest, error) {
					r, err := e.c.Lookup(ctx, ref, "")
					return r.Digest, err
				}}
			for _, kv := range filters {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return usageError{fmt.Errorf("--filter %q: want NAME=VALUE, e.g. name=web-*", kv)}
				}
				o.Filters[k] = append(o.Filters[k], v)
			}
			for _, kv := range tags {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return usageError{fmt.Errorf("--tag %q: want KEY=VALUE", kv)}
				}
				o.Filters["tag:"+k] = append(o.Filters["tag:"+k], v)
			}
			c, err := af.client(ctx)
			if err != nil {
				return err
			}
			o.Regions = c.Regions()
			ix, err := e.awsIndex(ctx)
			if err != nil {
				return err
			}
			s, err := e.syncer(ctx, c, actor)
			if err != nil {
				return err
			}
			rep, err := (&cloud.Importer{Images: c, Store: e.c.Store(), Cat: e.c.Catalog(), Syncer: s}).Import(ctx, ix, o)
			if err != nil {
				return err
			}
			if e.json {
				return e.printJSON(rep)
			}
			for _, im := range rep.Imported {
				var where []string
				for _, r := range slices.Sorted(maps.Keys(im.Images)) {
					where = append(where, r+"="+im.Images[r])
				}
				fmt.Fprintf(e.out, "imported %s %s %s\n", im.Ref, im.Digest, strings.Join(where, " "))
			}
			for _, sk := range rep.Skipped {
				fmt.Fprintf(e.out, "skipped  %s %s %q: %s\n", sk.Region, sk.ImageID, sk.Name, sk.Reason)
			}
			return nil
		},
	}
	af.register(ec2Cmd)
	fl := ec2Cmd.Flags()
	fl.StringArrayVar(&owners, "owner", []string{"self"}, "image owners: self or account ids (repeatable)")
	fl.StringArrayVar(&filters, "filter", nil, "DescribeImages filter NAME=VALUE, e.g. name=web-* (repeatable)")
	fl.StringArrayVar(&tags, "tag", nil, "only images with tag KEY=VALUE (repeatable)")
	fl.StringVar(&actor, "actor", "", "who (default: $USER)")
	return ec2Cmd
}

func newAuditCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "Join what clouds hold with the catalog and report findings"}
	var af awsFlags
	var format, failOn string
	var trusted []string
	awsCmd := &cobra.Command{
		Use:   "aws --region REGION... [--format table|json|sarif] [--fail-on SEVERITY]",
		Short: "Audit an AWS account's AMIs and snapshots against the catalog (fails closed)",
		Long: `Audit the AMIs and snapshots of an AWS account against the catalog's machine
images: public or shared beyond the visibility intent, snapshots wider than
their AMI, revoked or deprecated images still shared or in use, images the
catalog does not know and records whose image is gone, unsigned artifacts,
Image Block Public Access off, and public images of other owners named like
the catalog's (whoAMI). A call that fails is itself a finding (BY-AWS-000),
never silence.

Output: a table, --json (or --format json), or --format sarif (SARIF 2.1.0).
Exit code 5 when a finding is at or above --fail-on (default high).

Rules:
` + rulesHelp(),
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			threshold, err := audit.ParseSeverity(failOn)
			if err != nil {
				return usageError{err}
			}
			if e.json {
				format = "json"
			}
			if format != "table" && format != "json" && format != "sarif" {
				return usageError{fmt.Errorf("--format %q: want table, json or sarif", format)}
			}
			if err := e.open(ctx); err != nil {
				return err
			}
			c, err := af.client(ctx)
			if err != nil {
				return err
			}
			ix, err := e.awsIndex(ctx)
			if err != nil {
				return err
			}
			rep, err := audit.AWS(ctx, c, ix, audit.AWSOptions{Regions: c.Regions(), TrustedOwners: trusted})
			if err != nil {
				return err
			}
			switch format {
			case "json":
				err = rep.WriteJSON(e.out)
			case "sarif":
				err = rep.WriteSARIF(e.out, "")
			default:
				err = rep.WriteTable(e.out)
			}
			if err != nil {
				return err
			}
			if rep.Fails(threshold) {
				return fmt.Errorf("%w (%s): highest is %s", errFindings, threshold, rep.Max())
			}
			return nil
		},
	}
	af.register(awsCmd)
	fl := awsCmd.Flags()
	fl.StringVar(&format, "format", "table", "table, json or sarif")
	fl.StringVar(&failOn, "fail-on", "high", "exit 5 when a finding is at or above: info, low, medium, high, critical")
	fl.StringArrayVar(&trusted, "trusted-owner", nil, "account whose public AMIs may carry the catalog's names (repeatable)")
	cmd.AddCommand(awsCmd)
	return cmd
}

func rulesHelp() string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	for _, r := range audit.Rules {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", r.ID, r.Name, r.Severity)
	}
	tw.Flush()
	return b.String()
}

func newAWSCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "aws", Short: "Make catalog decisions about machine images reach AWS"}
	var af awsFlags
	var actor string
	sync := &cobra.Command{
		Use:   "sync REF...",
		Short: "Apply lifecycle and visibility to the AMIs: deprecate, disable and unshare revoked, set permissions to the intent",
		Long: `Make the AMIs of machine-image artifacts match the catalog: a deprecated
artifact's AMIs are deprecated (EnableImageDeprecation) at the time the
deprecation took effect; a revoked artifact's AMIs lose every launch and
snapshot permission and are disabled (DisableImage); otherwise launch and
snapshot permissions are set to exactly the visibility intent (private when
none was set; snapshots carry accounts and public, never organizations).
Idempotent: a second run changes nothing. Every change is a cloud-action
event in the catalog's log, with the AWS request id.`,
		Args: args(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, refs []string) error {
			return e.eachKnown(cmd.Context(), &af, actor, refs, func(ctx context.Context, s *cloud.Syncer, k cloud.Known) ([]ec2.Action, error) {
				return s.Sync(ctx, k)
			})
		},
	}
	del := &cobra.Command{
		Use:   "delete REF...",
		Short: "Deregister the AMIs of artifacts and delete the snapshots they alone used",
		Long: `Deregister every AMI of the artifacts, then delete the snapshots each one
alone used, as retention does. Images under deregistration protection are
refused and reported; the others are still deleted. The catalog records stay
(records are never deleted): ` + "`brickyard audit aws`" + ` then reports them as gone.`,
		Args: args(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, refs []string) error {
			return e.eachKnown(cmd.Context(), &af, actor, refs, func(ctx context.Context, s *cloud.Syncer, k cloud.Known) ([]ec2.Action, error) {
				return s.Delete(ctx, k)
			})
		},
	}
	tag := &cobra.Command{
		Use:   "tag REF...",
		Short: "Tag the AMIs of artifacts with their name, version and digest",
		Args:  args(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, refs []string) error {
			return e.eachKnown(cmd.Context(), &af, actor, refs, func(ctx context.Context, s *cloud.Syncer, k cloud.Known) ([]ec2.Action, error) {
				return s.Tag(ctx, k, nil)
			})
		},
	}
	for _, c := range []*cobra.Command{sync, del, tag} {
		af.register(c)
		c.Flags().StringVar(&actor, "actor", "", "who (default: $USER)")
		cmd.AddCommand(c)
	}
	return cmd
}

// eachKnown runs fn on the machine-image artifact of each ref and prints
// the actions; errors of one artifact do not stop the others.
func (e *env) eachKnown(ctx context.Context, af *awsFlags, actor string, refs []string,
	fn func(context.Context, *cloud.Syncer, cloud.Known) ([]ec2.Action, error)) error {
	if err := e.open(ctx); err != nil {
		return err
	}
	var ks []cloud.Known
	ix, err := e.awsIndex(ctx)
	if err != nil {
		return err
	}
	for _, ref := range refs {
		r, err := e.c.Lookup(ctx, ref, "")
		if err != nil {
			return err
		}
		i := slices.IndexFunc(ix.Artifacts, func(k cloud.Known) bool { return k.Record.Digest == r.Digest })
		if i < 0 {
			return usageError{fmt.Errorf("%s is a %s, not an AWS machine image: %w", r.Ref(), r.Kind, cloud.ErrNotMachineImage)}
		}
		ks = append(ks, ix.Artifacts[i])
	}
	if len(af.regions) == 0 {
		seen := map[string]bool{}
		for _, k := range ks {
			for r := range k.Image.Images {
				if !seen[r] {
					seen[r] = true
					af.regions = append(af.regions, r)
				}
			}
		}
	}
	c, err := af.client(ctx)
	if err != nil {
		return err
	}
	s, err := e.syncer(ctx, c, actor)
	if err != nil {
		return err
	}
	type result struct {
		Ref     string       `json:"ref"`
		Actions []ec2.Action `json:"actions"`
		Error   string       `json:"error,omitempty"`
	}
	var out []result
	var errs []error
	for _, k := range ks {
		acts, err := fn(ctx, s, k)
		res := result{Ref: k.Record.Ref(), Actions: acts}
		if err != nil {
			res.Error = err.Error()
			errs = append(errs, err)
		}
		out = append(out, res)
	}
	if e.json {
		if err := e.printJSON(out); err != nil {
			return err
		}
	} else {
		tw := tabwriter.NewWriter(e.out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ARTIFACT\tREGION\tACTION\tRESOURCE\tCHANGED\tREQUEST ID\tDETAIL")
		for _, r := range out {
			for _, a := range r.Actions {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%v\t%s\t%s\n", r.Ref, a.Region, a.Action, a.Resource, a.Changed, dash(a.RequestID), dash(a.Detail))
			}
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return errors.Join(errs...)
}

// registerTagging adds the flags with which publish machine-image tags the
// AMIs it records.
func (f *awsFlags) registerTagging(cmd *cobra.Command, tag *bool) {
	fl := cmd.Flags()
	fl.BoolVar(tag, "tag-images", false, "tag each AMI (provider aws) with brickyard:name, brickyard:version and brickyard:digest, so it points back at its record")
	fl.StringVar(&f.profile, "profile", "", "with --tag-images: shared config profile")
	fl.StringVar(&f.roleARN, "assume-role", "", "with --tag-images: assume this role ARN")
	fl.StringVar(&f.endpoint, "endpoint", "", "with --tag-images: EC2 and STS endpoint URL")
}

// tagPublished tags the AMIs of the machine image just recorded as ref in
// every region, and logs each tagging as a cloud action.
func (e *env) tagPublished(ctx context.Context, af *awsFlags, ref string) error {
	r, err := e.c.Lookup(ctx, ref, "")
	if err != nil {
		return err
	}
	ix, err := e.awsIndex(ctx)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(ix.Artifacts, func(k cloud.Known) bool { return k.Record.Digest == r.Digest })
	if i < 0 {
		return usageError{fmt.Errorf("--tag-images: %s is not an AWS machine image: %w", ref, cloud.ErrNotMachineImage)}
	}
	k := ix.Artifacts[i]
	af.regions = slices.Sorted(maps.Keys(k.Image.Images))
	c, err := af.client(ctx)
	if err != nil {
		return err
	}
	s, err := e.syncer(ctx, c, e.c.Actor())
	if err != nil {
		return err
	}
	acts, err := s.Tag(ctx, k, nil)
	for _, a := range acts {
		fmt.Fprintf(e.err, "tagged    %s in %s (request %s)\n", a.Resource, a.Region, dash(a.RequestID))
	}
	return err
}
