package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/catalog/cloud"
	"github.com/brickyard/brickyard/catalog/retention"
	"github.com/brickyard/brickyard/registry"
	"github.com/brickyard/brickyard/registry/layout"
	"github.com/spf13/cobra"
)

func newRetentionCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "retention",
		Short: "Plan and apply a retention policy: what to keep, why, and delete the rest everywhere",
	}
	cmd.AddCommand(newRetentionPlanCmd(e), newRetentionApplyCmd(e))
	return cmd
}

const inUseHelp = `in-use sources: file:PATH (one digest, NAME@VERSION, image reference or
AMI id per line), k8s:DIR (Kubernetes manifests: every image: and KubeVirt
containerDisk), terraform:PATH (a Terraform state); without a prefix, a
directory is k8s, a *.tfstate file terraform, anything else file`

// source turns an --in-use argument into a retention.Source.
func source(spec string) (retention.Source, error) {
	kind, path, ok := strings.Cut(spec, ":")
	if !ok || (kind != "file" && kind != "k8s" && kind != "terraform") {
		kind, path = "file", spec
		if fi, err := os.Stat(spec); err == nil && fi.IsDir() {
			kind = "k8s"
		} else if strings.HasSuffix(spec, ".tfstate") {
			kind = "terraform"
		}
	}
	switch kind {
	case "k8s":
		return retention.KubernetesSource(path), nil
	case "terraform":
		return retention.TerraformSource(path), nil
	}
	return retention.FileSource(path), nil
}

func gather(ctx context.Context, specs []string) (retention.InUseSet, error) {
	var srcs []retention.Source
	for _, s := range specs {
		src, err := source(s)
		if err != nil {
			return retention.InUseSet{}, err
		}
		srcs = append(srcs, src)
	}
	return retention.Gather(ctx, srcs...)
}

func readPolicy(path string) (*retention.Policy, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, usageError{fmt.Errorf("policy: %w", err)}
	}
	p, err := retention.ParsePolicy(b)
	if err != nil {
		return nil, usageError{fmt.Errorf("%s: %w", path, err)}
	}
	return p, nil
}

// stores opens stores by the names records give them (Client.StoreNamed).
func (e *env) stores(name string) (registry.Store, error) {
	st, err := e.c.StoreNamed(name)
	if l, ok := st.(*layout.Store); ok && err == nil {
		return collecting{l}, nil
	}
	return st, err
}

// collecting makes a layout store a retention.Collector: apply then
// collects the blobs its deletions left unreachable, with the layout's
// default grace periods (a blob a concurrent publish is writing is never
// taken).
type collecting struct{ *layout.Store }

func (c collecting) GC(ctx context.Context) error {
	_, err := c.Store.GC(ctx, layout.GCOptions{})
	return err
}

// makePlan opens the home and makes (and measures) a plan.
func (e *env) makePlan(ctx context.Context, policyPath string, inUse []string, at string) (*retention.Plan, error) {
	p, err := readPolicy(policyPath)
	if err != nil {
		return nil, err
	}
	now, err := parseAt("at", at)
	if err != nil {
		return nil, err
	}
	in, err := gather(ctx, inUse)
	if err != nil {
		return nil, err
	}
	if err := e.open(ctx); err != nil {
		return nil, err
	}
	pl, err := retention.MakePlan(ctx, e.c.Catalog(), p, retention.Options{Now: now, InUse: in, Identify: retention.StoreIdentities(e.stores)})
	if err != nil {
		return nil, err
	}
	if pl.Inputs.PolicyFile, err = filepath.Abs(policyPath); err != nil {
		return nil, err
	}
	pl.Inputs.Sources = inUse
	return pl, pl.Measure(ctx, e.stores)
}

func newRetentionPlanCmd(e *env) *cobra.Command {
	var inUse []string
	var out, at string
	cmd := &cobra.Command{
		Use:   "plan POLICY",
		Short: "Decide what a retention policy keeps and deletes (a dry run): a reason for each artifact, bytes reclaimed per store",
		Long: `Decide, for every artifact the catalog holds in a store, keep or delete under
the policy file POLICY (YAML; see docs of catalog/retention.Policy and
examples/retention/policy.yaml), and why; and what deleting would reclaim in
each store, counting blobs shared between versions once. Nothing is deleted:
write the plan with --out and give it to 'brickyard retention apply'.

` + inUseHelp,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			ctx := cmd.Context()
			pl, err := e.makePlan(ctx, a[0], inUse, at)
			if err != nil {
				return err
			}
			if out != "" {
				if err := writeJSONFile(out, pl); err != nil {
					return err
				}
			}
			if e.json {
				return e.printJSON(pl)
			}
			printPlan(e, pl)
			if out != "" {
				fmt.Fprintf(e.out, "\nplan %s written to %s: brickyard retention apply %s\n", pl.Digest, out, out)
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&inUse, "in-use", nil, "an in-use source (repeatable): file:PATH, k8s:DIR, terraform:PATH")
	cmd.Flags().StringVarP(&out, "out", "o", "", "write the plan (JSON) to `file`, for apply")
	cmd.Flags().StringVar(&at, "at", "", "count ages to this time (RFC 3339) instead of now")
	return cmd
}

func writeJSONFile(path string, v any) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	e := &env{out: f}
	if err := e.printJSON(v); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func printPlan(e *env, pl *retention.Plan) {
	tw := tabwriter.NewWriter(e.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ACTION\tARTIFACT\tPLATFORM\tDIGEST\tWHY")
	dels := 0
	ds := append([]retention.Decision(nil), pl.Decisions...)
	sort.SliceStable(ds, func(i, j int) bool {
		if ds[i].Name != ds[j].Name {
			return ds[i].Name < ds[j].Name
		}
		vi, erri := semver.StrictNewVersion(ds[i].Version)
		vj, errj := semver.StrictNewVersion(ds[j].Version)
		if erri == nil && errj == nil && !vi.Equal(vj) {
			return vi.LessThan(vj)
		}
		return ds[i].Platform < ds[j].Platform
	})
	for _, d := range ds {
		why := d.Rule
		if d.HeldBy != "" {
			why += ": " + d.HeldBy
		}
		if d.Delete {
			dels++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", d.Action(), d.Ref(), dash(d.Platform), d.Digest.String()[:19], why)
	}
	tw.Flush()
	fmt.Fprintf(e.out, "\n%d to delete, %d to keep; plan %s\n", dels, len(pl.Decisions)-dels, pl.Digest)
	for _, r := range pl.Reclaim {
		fmt.Fprintf(e.out, "reclaims in %s: %d manifests, %d blobs, %d bytes\n", r.Store, r.Manifests, r.Blobs, r.Bytes)
	}
}

func newRetentionApplyCmd(e *env) *cobra.Command {
	var actor string
	var af awsFlags
	cmd := &cobra.Command{
		Use:   "apply PLAN.json",
		Short: "Execute a retention plan: delete what it deletes, in every store, leaving tombstones in the catalog",
		Long: `Execute a plan made by 'brickyard retention plan --out'. The plan is refused
if the catalog, the policy file or the in-use sources changed since it was
made. Deletes, descendants first: attachments (signatures, attestations,
referrers), then manifests and their tags; the catalog keeps a tombstone of
each. Progress is journaled in HOME/retention: after an interruption (even
kill -9), apply the same plan again to finish.

An AWS machine image the plan deletes has its AMI deregistered in every
region and the snapshots it alone used deleted, each change a cloud-action
event with the AWS request id and the plan's digest; the AWS flags are those
of 'brickyard aws delete' (regions default to those of the images). An AMI
under deregistration protection is refused: its artifact is left whole and
reported, the rest proceeds, and apply exits non-zero; apply again once the
protection is lifted.`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			ctx := cmd.Context()
			b, err := os.ReadFile(a[0])
			if err != nil {
				return usageError{err}
			}
			pl, err := retention.ReadPlan(b)
			if err != nil {
				return usageError{fmt.Errorf("%s: %w", a[0], err)}
			}
			p, err := readPolicy(pl.Inputs.PolicyFile)
			if err != nil {
				return err
			}
			in, err := gather(ctx, pl.Inputs.Sources)
			if err != nil {
				return err
			}
			if err := e.open(ctx); err != nil {
				return err
			}
			if actor == "" {
				actor = e.c.Actor()
			}
			dir := filepath.Join(e.home, "retention")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			images, err := e.imageDeleter(ctx, &af, actor, pl)
			if err != nil {
				return err
			}
			start := time.Now()
			rep, err := retention.Apply(ctx, e.c.Catalog(), pl, retention.ApplyOptions{
				Stores: e.stores, Policy: p, InUse: in, Identify: retention.StoreIdentities(e.stores), Actor: actor, Images: images,
				Journal: filepath.Join(dir, pl.Digest.Encoded()+".journal"),
				Progress: func(d retention.Decision) {
					if !e.json {
						fmt.Fprintf(e.out, "deleted %s (%s)\n", d.Ref(), d.Digest)
					}
				},
			})
			if errors.Is(err, retention.ErrStalePlan) {
				return fmt.Errorf("%w: make a new plan", err)
			}
			if err != nil && !errors.Is(err, retention.ErrRefused) {
				return err
			}
			if e.json {
				if jerr := e.printJSON(rep); jerr != nil {
					return jerr
				}
				return err
			}
			for _, r := range rep.Refused {
				fmt.Fprintf(e.out, "refused %s (%s): %s\n", r.Ref, r.Digest, r.Reason)
			}
			fmt.Fprintf(e.out, "plan %s applied in %s: %d deleted now, %d by an earlier run, %d refused, %d stores garbage-collected\n",
				pl.Digest, time.Since(start).Round(time.Millisecond), rep.Deleted, rep.Resumed, len(rep.Refused), rep.Collected)
			return err
		},
	}
	af.register(cmd)
	cmd.Flags().StringVar(&actor, "actor", "", "who deletes, for the catalog's event log (default: the user)")
	return cmd
}

// imageDeleter returns the deleter of the AWS machine images plan
// deletes, or nil when it deletes none (no AWS call is made then).
// Without --region, the regions are those of the images.
func (e *env) imageDeleter(ctx context.Context, af *awsFlags, actor string, pl *retention.Plan) (retention.ImageDeleter, error) {
	if !slices.ContainsFunc(pl.Decisions, func(d retention.Decision) bool { return d.Delete && d.Kind == artifact.KindMachineImage }) {
		return nil, nil
	}
	ix, err := e.awsIndex(ctx)
	if err != nil {
		return nil, err
	}
	if len(af.regions) == 0 {
		seen := map[string]bool{}
		for _, d := range pl.Decisions {
			k, ok := ix.ByDigest(d.Digest)
			if !d.Delete || !ok {
				continue
			}
			for r := range k.Image.Images {
				if !seen[r] {
					seen[r] = true
					af.regions = append(af.regions, r)
				}
			}
		}
		slices.Sort(af.regions)
	}
	c, err := af.client(ctx)
	if err != nil {
		return nil, err
	}
	s, err := e.syncer(ctx, c, actor)
	if err != nil {
		return nil, err
	}
	return &cloud.RetentionDeleter{Syncer: s, Index: ix}, nil
}

func newReportCmd(e *env) *cobra.Command {
	var inUse []string
	var policy, chart string
	cmd := &cobra.Command{
		Use:   "report",
		Short: "Sprawl report: versions, bytes, unsigned, revoked, idle per name and store; orphans, dangling records, what a policy would reclaim",
		Long: `Report what the catalog and its stores hold, per name and per store:
versions, unique and shared bytes, unsigned, revoked, deprecated, idle (in no
channel and not in use) and an age histogram; orphans (repositories and tags
the catalog does not know), dangling records (gone from their store); and,
with --policy, what that policy would reclaim. --chart draws versions and
bytes over time per name (SVG or PNG, by the file's extension).

` + inUseHelp,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if policy == "" {
				f, err := os.CreateTemp("", "brickyard-empty-policy-*.yaml")
				if err != nil {
					return err
				}
				defer os.Remove(f.Name())
				f.WriteString("version: 1\n")
				f.Close()
				policy = f.Name()
			}
			pl, err := e.makePlan(ctx, policy, inUse, "")
			if err != nil {
				return err
			}
			rep, err := retention.MakeReport(ctx, e.c.Catalog(), pl, e.stores)
			if err != nil {
				return err
			}
			if chart != "" {
				format := strings.TrimPrefix(filepath.Ext(chart), ".")
				f, err := os.Create(chart)
				if err != nil {
					return err
				}
				if err := rep.Chart(f, format); err != nil {
					f.Close()
					os.Remove(chart)
					return usageError{err}
				}
				if err := f.Close(); err != nil {
					return err
				}
			}
			if e.json {
				return e.printJSON(rep)
			}
			printReport(e, rep)
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&inUse, "in-use", nil, "an in-use source (repeatable): file:PATH, k8s:DIR, terraform:PATH")
	cmd.Flags().StringVar(&policy, "policy", "", "a retention policy: report what it would reclaim")
	cmd.Flags().StringVar(&chart, "chart", "", "draw versions and bytes over time per name into `file` (.svg or .png)")
	return cmd
}

func printReport(e *env, rep *retention.Report) {
	for _, part := range []struct {
		title  string
		groups []retention.Group
	}{{"NAME", rep.Names}, {"STORE", rep.Owners}} {
		tw := tabwriter.NewWriter(e.out, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "%s\tVERSIONS\tUNIQUE\tSHARED\tUNSIGNED\tREVOKED\tDEPRECATED\tIDLE\tDELETED\tAGES %s\n", part.title, strings.Join(retention.AgeLabels, "/"))
		for _, g := range part.groups {
			ages := make([]string, len(g.Ages))
			for i, n := range g.Ages {
				ages[i] = fmt.Sprint(n)
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\n", g.Key, g.Versions, bytesHuman(g.UniqueBytes), bytesHuman(g.SharedBytes),
				g.Unsigned, g.Revoked, g.Deprecated, g.Idle, g.Deleted, strings.Join(ages, "/"))
		}
		tw.Flush()
		fmt.Fprintln(e.out)
	}
	fmt.Fprintf(e.out, "orphans (%d):\n", len(rep.Orphans))
	for _, o := range rep.Orphans {
		fmt.Fprintln(e.out, "  "+o)
	}
	fmt.Fprintf(e.out, "dangling records (%d):\n", len(rep.Dangling))
	for _, d := range rep.Dangling {
		fmt.Fprintln(e.out, "  "+d)
	}
	fmt.Fprintf(e.out, "the policy would delete %d artifacts", rep.Deletes)
	for _, r := range rep.Reclaim {
		fmt.Fprintf(e.out, "; reclaim %s in %s", bytesHuman(r.Bytes), r.Store)
	}
	fmt.Fprintln(e.out)
}

func bytesHuman(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
