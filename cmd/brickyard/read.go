package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/brickyard/brickyard"
	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/catalog"
	"github.com/brickyard/brickyard/sign"
	"github.com/brickyard/brickyard/sign/bundle"
	"github.com/opencontainers/go-digest"
	"github.com/spf13/cobra"
)

// recordJSON is the --json shape of a catalog record.
type recordJSON struct {
	Name        string          `json:"name"`
	Version     string          `json:"version"`
	Kind        artifact.Kind   `json:"kind"`
	Digest      digest.Digest   `json:"digest"`
	Platform    string          `json:"platform,omitempty"`
	Parents     []digest.Digest `json:"parents,omitempty"`
	Created     time.Time       `json:"created"`
	Repository  string          `json:"repository"`
	SignedBy    []string        `json:"signedBy,omitempty"`
	State       string          `json:"state"`                 // active, deprecated or revoked, now
	StateReason string          `json:"stateReason,omitempty"` // who, when and why, if not active
	Visibility  string          `json:"visibility,omitempty"`  // private, shared or public, if set
	Warnings    []string        `json:"warnings,omitempty"`
}

func toJSON(r catalog.Record) recordJSON {
	j := recordJSON{Name: r.Name, Version: r.Version.Original(), Kind: r.Kind, Digest: r.Digest,
		Parents: r.Parents, Created: r.Created, Repository: r.Repository}
	if !r.Platform.IsZero() {
		j.Platform = r.Platform.String()
	}
	for _, s := range r.Signatures {
		j.SignedBy = append(j.SignedBy, s.KeyID)
	}
	state, ch := r.Status(time.Now())
	j.State = string(state)
	if ch != nil {
		j.StateReason = ch.Describe()
	}
	if r.Visibility != nil {
		j.Visibility = r.Visibility.Level
	}
	j.Warnings = r.Warnings
	return j
}

func newResolveCmd(e *env) *cobra.Command {
	var keys []string
	var platform, policyFile, channel, trustedRoot string
	cmd := &cobra.Command{
		Use:   "resolve NAME [RANGE]",
		Short: "Resolve the newest signed version of NAME in a semver RANGE (e.g. ^1.0) to the digest to deploy",
		Long: `Resolve the highest version of NAME that matches the semver RANGE (Masterminds
semver syntax: ^1.2, ~1.2.3, >=1.0 <2, 1.x), runs on --platform, is not
revoked, and carries a signature that verifies with one of the trusted --key
files, or passes the trust --policy (keys, owner, provenance per name). Prereleases
match only when the range names one (>=1.2.0-rc.0). With --channel, the
version is the one the channel points at (and must match RANGE if given).
A deprecated version is returned with a warning on stderr. Prints the
digest, which is what was verified: deploy by digest, never by tag.`,
		Args: args(cobra.RangeArgs(1, 2)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			ctx := cmd.Context()
			if (policyFile == "") == (len(keys) == 0) {
				return usageError{fmt.Errorf("give a trust policy (--policy FILE) or trusted keys (--key PATH), one or the other")}
			}
			if policyFile != "" && trustedRoot != "" {
				return usageError{fmt.Errorf("--trusted-root goes with --key; with --policy, name it in the policy file (trustedRoot: FILE)")}
			}
			if err := artifact.ValidateName(argv[0]); err != nil {
				return err
			}
			if len(argv) == 1 && channel == "" {
				return usageError{fmt.Errorf("resolve %s: give a RANGE (e.g. ^1.0), a --channel, or both", argv[0])}
			}
			q := brickyard.Query{Name: argv[0], Channel: channel, Platform: platform}
			if len(argv) == 2 {
				q.Range = argv[1]
			}
			if policyFile != "" {
				pol, err := sign.LoadPolicy(policyFile, bundle.PolicyOption())
				if err != nil {
					return err
				}
				e.opts = append(e.opts, brickyard.WithPolicy(pol))
			} else if err := e.trustKeys(keys, trustedRoot); err != nil {
				return err
			}
			if err := e.open(ctx); err != nil {
				return err
			}
			rec, err := e.c.Resolve(ctx, q)
			if err != nil {
				return err
			}
			for _, w := range rec.Warnings {
				fmt.Fprintln(e.err, "warning:", w)
			}
			if e.json {
				return e.printJSON(toJSON(rec))
			}
			fmt.Fprintf(e.out, "%s@%s %s\n", rec.Name, rec.Version, rec.Digest)
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&keys, "key", nil, "trusted cosign public key file (repeatable); or use --policy")
	cmd.Flags().StringVar(&trustedRoot, "trusted-root", "", trustedRootUsage)
	cmd.Flags().StringVar(&channel, "channel", "", "resolve the version this channel points at, e.g. prod")
	cmd.Flags().StringVar(&policyFile, "policy", "", "trust policy file: keys, owner and provenance per name (see `brickyard policy check`)")
	cmd.Flags().StringVar(&platform, "platform", "", "os/arch[/variant] to deploy on, e.g. linux/amd64")
	return cmd
}

func newListCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "list [NAME]",
		Short: "List artifact names, or the versions of NAME in semver order",
		Args:  args(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			ctx := cmd.Context()
			if err := e.open(ctx); err != nil {
				return err
			}
			var f brickyard.Filter
			if len(argv) == 1 {
				if err := artifact.ValidateName(argv[0]); err != nil {
					return err
				}
				f.Name = argv[0]
			}
			recs, err := e.c.Find(ctx, f)
			if err != nil {
				return err
			}
			var all []recordJSON
			for _, r := range recs {
				all = append(all, toJSON(r))
			}
			if e.json {
				if all == nil {
					all = []recordJSON{}
				}
				return e.printJSON(all)
			}
			tw := tabwriter.NewWriter(e.out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tVERSION\tKIND\tPLATFORM\tSIGNED\tDIGEST")
			for _, r := range all {
				signed := "no"
				if len(r.SignedBy) > 0 {
					signed = "yes"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, r.Version, r.Kind, dash(r.Platform), signed, short(r.Digest))
			}
			return tw.Flush()
		},
	}
}

func newInspectCmd(e *env) *cobra.Command {
	var platform string
	cmd := &cobra.Command{
		Use:   "inspect REF",
		Short: "Show an artifact's catalog record, its decoded metadata and its OCI manifest",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			ctx := cmd.Context()
			rec, err := e.openRecord(ctx, argv[0], platform)
			if err != nil {
				return err
			}
			_, manifest, cfg, err := e.c.Inspect(ctx, rec)
			if err != nil {
				return err
			}
			out := struct {
				Record   recordJSON      `json:"record"`
				Config   json.RawMessage `json:"config"`
				Manifest json.RawMessage `json:"manifest"`
			}{toJSON(rec), cfg, manifest}
			return e.printJSON(out)
		},
	}
	cmd.Flags().StringVar(&platform, "platform", "", "pick the platform when a version has several")
	return cmd
}

func newLineageCmd(e *env) *cobra.Command {
	var platform string
	var descendants, dot, outOfDate bool
	cmd := &cobra.Command{
		Use:   "lineage REF",
		Short: "Show what an artifact was built from (or, with --descendants, what was built on it)",
		Long: `Show the lineage of REF (NAME@VERSION or digest) as a tree: what it was built
from, or with --descendants what was built on it, across kinds (an OCI image
built on a VM disk built from an AMI). --dot prints a Graphviz digraph,
--json the tree. --out-of-date lists REF and its descendants whose parent
has a newer version in the same semver stream (same name, platform and
major version; not a prerelease, not revoked).`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			ctx := cmd.Context()
			rec, err := e.openRecord(ctx, argv[0], platform)
			if err != nil {
				return err
			}
			if outOfDate {
				return e.printOutOfDate(ctx, rec)
			}
			lin, err := e.c.Lineage(ctx, rec, descendants)
			if err != nil {
				return err
			}
			tree := toNode(lin)
			switch {
			case e.json:
				return e.printJSON(tree)
			case dot:
				fmt.Fprintln(e.out, "digraph lineage {\n  rankdir=BT;")
				printDot(e.out, tree, descendants, map[string]bool{})
				fmt.Fprintln(e.out, "}")
				return nil
			}
			printTree(e.out, tree, "", "")
			return nil
		},
	}
	cmd.Flags().StringVar(&platform, "platform", "", "pick the platform when a version has several")
	cmd.Flags().BoolVar(&descendants, "descendants", false, "show what was built on the artifact instead of what it was built from")
	cmd.Flags().BoolVar(&dot, "dot", false, "print a Graphviz digraph (child -> parent)")
	cmd.Flags().BoolVar(&outOfDate, "out-of-date", false, "list the artifact and descendants built on a parent that has a newer version")
	return cmd
}

// node is one artifact in a lineage tree; --json prints it as is.
type node struct {
	recordJSON
	Next []node `json:"next,omitempty"`
}

// toNode turns a lineage tree into its --json shape.
func toNode(n brickyard.Node) node {
	out := node{recordJSON: toJSON(n.Record)}
	for _, x := range n.Next {
		out.Next = append(out.Next, toNode(x))
	}
	return out
}

// printDot prints n's edges, child -> parent, each once.
func printDot(w io.Writer, n node, descendants bool, seen map[string]bool) {
	label := func(x node) string { return fmt.Sprintf("%q", x.Name+"@"+x.Version+"\n"+string(x.Kind)) }
	for _, c := range n.Next {
		from, to := label(n), label(c)
		if descendants {
			from, to = to, from
		}
		if e := from + " -> " + to; !seen[e] {
			seen[e] = true
			fmt.Fprintf(w, "  %s;\n", e)
		}
		printDot(w, c, descendants, seen)
	}
}

func (e *env) printOutOfDate(ctx context.Context, rec catalog.Record) error {
	stale, err := e.c.OutOfDate(ctx, rec)
	if err != nil {
		return err
	}
	if e.json {
		type row struct {
			Ref    string        `json:"ref"`
			Digest digest.Digest `json:"digest"`
			Parent string        `json:"parent"`
			Newer  string        `json:"newer"`
		}
		out := []row{}
		for _, s := range stale {
			out = append(out, row{s.Record.Ref(), s.Record.Digest, s.Parent.Ref(), s.Newer.Ref()})
		}
		return e.printJSON(out)
	}
	if len(stale) == 0 {
		fmt.Fprintf(e.out, "%s and everything built on it are up to date\n", rec.Ref())
		return nil
	}
	for _, s := range stale {
		fmt.Fprintf(e.out, "OUT_OF_DATE %s: built on %s, %s is newer\n", s.Record.Ref(), s.Parent.Ref(), s.Newer.Ref())
	}
	return nil
}

func printTree(w io.Writer, n node, first, rest string) {
	signed := "unsigned"
	if len(n.SignedBy) > 0 {
		signed = "signed"
	}
	state := ""
	if n.State != "" && n.State != string(catalog.StateActive) {
		state = "  " + strings.ToUpper(n.State)
	}
	fmt.Fprintf(w, "%s%s@%s  %s  %s  %s%s\n", first, n.Name, n.Version, n.Kind, short(n.Digest), signed, state)
	for i, c := range n.Next {
		if i == len(n.Next)-1 {
			printTree(w, c, rest+"└── ", rest+"    ")
		} else {
			printTree(w, c, rest+"├── ", rest+"│   ")
		}
	}
}

func short(d digest.Digest) string {
	s := d.String()
	if i := strings.Index(s, ":"); i >= 0 && len(s) > i+13 {
		return s[:i+13]
	}
	return s
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
