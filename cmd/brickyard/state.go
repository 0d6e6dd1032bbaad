package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/brickyard/brickyard"
	"github.com/brickyard/brickyard/catalog"
	"github.com/opencontainers/go-digest"
	"github.com/spf13/cobra"
	"golang.org/x/mod/sumdb/note"
)

func parseAt(flag, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, usageError{fmt.Errorf("--%s %q: want RFC 3339, e.g. 2026-12-01T00:00:00Z", flag, s)}
	}
	return t, nil
}

// newLifecycleCmd makes deprecate, revoke and reinstate.
func newLifecycleCmd(e *env, state catalog.State, use, short string) *cobra.Command {
	var reason, actor, platform, at string
	var secrets, noCascade bool
	cmd := &cobra.Command{
		Use:   use + " REF",
		Short: short,
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			ctx := cmd.Context()
			if reason == "" {
				return usageError{fmt.Errorf("--reason is required: say why %s is %s", argv[0], state)}
			}
			eff, err := parseAt("at", at)
			if err != nil {
				return err
			}
			rec, err := e.openRecord(ctx, argv[0], platform)
			if err != nil {
				return err
			}
			changed, err := e.c.ChangeLifecycle(ctx, rec, catalog.LifecycleChange{
				State: state, Reason: reason, Actor: actor, Secrets: secrets, Effective: eff, NoCascade: noCascade})
			if err != nil {
				return err
			}
			var refs []string
			var digests []digest.Digest
			for _, r := range changed {
				refs = append(refs, r.Ref())
				digests = append(digests, r.Digest)
			}
			if e.json {
				return e.printJSON(map[string]any{"state": state, "changed": refs, "digests": digests, "effective": eff})
			}
			when := "now"
			if !eff.IsZero() {
				when = "from " + eff.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(e.out, "%s %s (%s): %s\n", state, refs[0], when, reason)
			for _, r := range refs[1:] {
				fmt.Fprintf(e.out, "%s %s (by ancestor %s)\n", state, r, refs[0])
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&reason, "reason", "", "why (required)")
	fl.StringVar(&actor, "actor", "", "who (default: $USER)")
	fl.StringVar(&platform, "platform", "", "pick the platform when a version has several")
	if state != catalog.StateActive {
		fl.StringVar(&at, "at", "", "take effect at this future time, RFC 3339 (default: now)")
		fl.BoolVar(&secrets, "secrets", false, "the artifact holds secrets: it may never be made public")
	}
	if state == catalog.StateRevoked {
		fl.BoolVar(&noCascade, "no-cascade", false, "revoke only this artifact, not everything built on it")
	}
	return cmd
}

func newChannelCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "channel", Short: "Named pointers per artifact name at a version (dev, prod, ...), with history"}
	var reason, actor string
	set := &cobra.Command{
		Use:   "set NAME CHANNEL VERSION",
		Short: "Point NAME's CHANNEL at VERSION (refused for an unknown or revoked version)",
		Args:  args(cobra.ExactArgs(3)),
		RunE: func(cmd *cobra.Command, a []string) error {
			if err := e.open(cmd.Context()); err != nil {
				return err
			}
			ch, err := e.c.SetChannel(cmd.Context(), catalog.ChannelChange{Name: a[0], Channel: a[1], Version: a[2], Reason: reason, Actor: actor})
			if err != nil {
				return err
			}
			return e.printChannel(a[0], a[1], ch)
		},
	}
	set.Flags().StringVar(&reason, "reason", "", "why")
	set.Flags().StringVar(&actor, "actor", "", "who (default: $USER)")
	get := &cobra.Command{
		Use:   "get NAME CHANNEL",
		Short: "Show the version NAME's CHANNEL points at",
		Args:  args(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, a []string) error {
			if err := e.open(cmd.Context()); err != nil {
				return err
			}
			ch, err := e.c.Catalog().Channel(cmd.Context(), a[0], a[1])
			if err != nil {
				return err
			}
			return e.printChannel(a[0], a[1], ch)
		},
	}
	history := &cobra.Command{
		Use:   "history NAME CHANNEL",
		Short: "Show every move of NAME's CHANNEL, oldest first",
		Args:  args(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, a []string) error {
			if err := e.open(cmd.Context()); err != nil {
				return err
			}
			h, err := e.c.Catalog().ChannelHistory(cmd.Context(), a[0], a[1])
			if err != nil {
				return err
			}
			if len(h) == 0 {
				return fmt.Errorf("channel %s/%s was never set: %w", a[0], a[1], catalog.ErrNotFound)
			}
			if e.json {
				return e.printJSON(h)
			}
			tw := tabwriter.NewWriter(e.out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "AT\tVERSION\tACTOR\tREASON")
			for _, c := range h {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.At.Format(time.RFC3339), c.Version, c.Actor, dash(c.Reason))
			}
			return tw.Flush()
		},
	}
	var rbReason, rbActor string
	rollback := &cobra.Command{
		Use:   "rollback NAME CHANNEL",
		Short: "Point NAME's CHANNEL back at the version it pointed at before, as a new move",
		Args:  args(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, a []string) error {
			if err := e.open(cmd.Context()); err != nil {
				return err
			}
			if rbActor == "" {
				rbActor = e.c.Actor()
			}
			ch, err := e.c.Catalog().RollbackChannel(cmd.Context(), a[0], a[1], rbActor, rbReason)
			if err != nil {
				return err
			}
			return e.printChannel(a[0], a[1], ch)
		},
	}
	rollback.Flags().StringVar(&rbReason, "reason", "", "why (default: \"rollback from VERSION\")")
	rollback.Flags().StringVar(&rbActor, "actor", "", "who (default: $USER)")
	cmd.AddCommand(set, get, history, rollback)
	return cmd
}

func (e *env) printChannel(name, channel string, c catalog.ChannelChange) error {
	if e.json {
		return e.printJSON(c)
	}
	fmt.Fprintf(e.out, "%s/%s → %s@%s (set by %s at %s)\n", name, channel, name, c.Version, c.Actor, c.At.Format(time.RFC3339))
	return nil
}

func newVisibilityCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "visibility", Short: "Record who may see an artifact: private, shared or public"}
	var with []string
	var reason, actor, platform string
	set := &cobra.Command{
		Use:   "set REF private|shared|public",
		Short: "Record an artifact's intended visibility (public is refused for revoked or secret-holding artifacts)",
		Args:  args(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, a []string) error {
			ctx := cmd.Context()
			if reason == "" {
				return usageError{fmt.Errorf("--reason is required")}
			}
			if err := e.open(ctx); err != nil {
				return err
			}
			rec, err := e.c.Lookup(ctx, a[0], platform)
			if err != nil {
				return err
			}
			v := catalog.VisibilityChange{Level: a[1], Principals: with, Reason: reason, Actor: actor}
			if err := e.c.SetVisibility(ctx, rec, v); err != nil {
				return err
			}
			if e.json {
				return e.printJSON(map[string]any{"digest": rec.Digest, "level": v.Level, "principals": v.Principals})
			}
			fmt.Fprintf(e.out, "%s@%s is %s", rec.Name, rec.Version, v.Level)
			if len(with) > 0 {
				fmt.Fprintf(e.out, " with %s", strings.Join(with, ", "))
			}
			fmt.Fprintln(e.out)
			return nil
		},
	}
	set.Flags().StringArrayVar(&with, "with", nil, "for shared: an account, organisation or registry namespace, e.g. aws:123456789012 (repeatable)")
	set.Flags().StringVar(&reason, "reason", "", "why (required)")
	set.Flags().StringVar(&actor, "actor", "", "who (default: $USER)")
	set.Flags().StringVar(&platform, "platform", "", "pick the platform when a version has several")
	cmd.AddCommand(set)
	return cmd
}

func newLogCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "log", Short: "The catalog's append-only event log: verify it, checkpoint it, show it"}
	var keys []string
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Check offline that the event log was only appended to (exit 3 if it was tampered with)",
		Long: `Check the catalog's event log: every event follows the one before it in the
hash chain, and every signed checkpoint (a Merkle tree root over the first N
events, signed with the home's log.key) still matches the events. An edited,
deleted, inserted or reordered row is reported, naming the first one at
fault. --key gives the checkpoint verifier keys (default: HOME/log.pub).`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			vs, err := e.checkpointVerifiers(keys)
			if err != nil {
				return err
			}
			if err := e.open(ctx); err != nil {
				return err
			}
			rep, err := catalog.VerifyLog(ctx, e.c.Catalog(), vs)
			if err != nil {
				var unv *note.UnverifiedNoteError
				if errors.As(err, &unv) {
					return fmt.Errorf("%w: %v", catalog.ErrLogTampered, err)
				}
				return err
			}
			if e.json {
				return e.printJSON(map[string]any{"events": rep.Events, "checkpoints": rep.Checkpoints, "root": rep.Root.String(), "verified": true})
			}
			fmt.Fprintf(e.out, "log verified: %d events, %d signed checkpoints, root %s\n", rep.Events, rep.Checkpoints, rep.Root)
			return nil
		},
	}
	verify.Flags().StringArrayVar(&keys, "key", nil, "checkpoint verifier key file (repeatable; default HOME/log.pub)")
	show := &cobra.Command{
		Use:   "show",
		Short: "Print the event log",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := e.open(cmd.Context()); err != nil {
				return err
			}
			events, err := e.c.Catalog().Events(cmd.Context())
			if err != nil {
				return err
			}
			if e.json {
				return e.printJSON(events)
			}
			return printEvents(e.out, events)
		},
	}
	cmd.AddCommand(verify, show, newLogCheckpointCmd(e))
	return cmd
}

func printEvents(w io.Writer, events []catalog.Event) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tAT\tACTOR\tTYPE\tSUBJECT\tBODY")
	for _, ev := range events {
		subject := ev.Subject
		if d, err := digest.Parse(subject); err == nil {
			subject = short(d)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", ev.Seq, ev.At.Format(time.RFC3339), ev.Actor, ev.Type, subject, ev.Body)
	}
	return tw.Flush()
}

func newCatalogCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "catalog", Short: "Maintain the catalog itself"}
	var from string
	var keys []string
	rebuild := &cobra.Command{
		Use:   "rebuild --from STORE",
		Short: "Reconstruct the artifact records from what a store holds into the (empty) catalog",
		Long: `Walk every repository of STORE, decode each version tag's manifest (kind,
version, platform, build info, parents) and record it, parents first; with
--key, also record the signatures that verify with those keys. Recording is
idempotent: an interrupted rebuild is resumed by running it again.
Lifecycle, channel and visibility history live only in the catalog's event
log and are not rebuilt.

STORE is an OCI layout directory (default: the home's store) or a registry,
HOST[:PORT][/NAMESPACE], whose catalog API (GET /v2/_catalog) lists its
repositories (credentials from the docker config.json; plain HTTP for
loopback hosts or with --insecure). Records rebuilt from a registry name it
as their store, and sign, verify, resolve and inspect then go to that
registry. A signature is bound to its repository: one made in the home
store does not verify for a copy in a registry; sign there again.

  brickyard catalog rebuild --key cosign.pub
  brickyard catalog rebuild --from registry.example:5000/golden --key cosign.pub`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if len(keys) > 0 {
				if err := e.trustKeys(keys, ""); err != nil {
					return err
				}
			}
			if from != "" && !brickyard.IsRegistry(from) {
				if _, err := os.Stat(from); err != nil {
					return fmt.Errorf("rebuild --from %s: %w", from, err)
				}
			}
			if err := e.openOrCreate(ctx); err != nil {
				return err
			}
			rep, err := e.c.Rebuild(ctx, from)
			if err != nil {
				return err
			}
			if from == "" {
				from = e.c.StoreName()
				if from == brickyard.LayoutStoreName {
					from = filepath.Join(e.home, "store")
				}
			}
			if e.json {
				return e.printJSON(rep)
			}
			fmt.Fprintf(e.out, "rebuilt %d artifacts and %d signatures from %d repositories of %s\n", rep.Artifacts, rep.Signatures, rep.Repositories, from)
			for _, s := range rep.Skipped {
				fmt.Fprintln(e.err, "skipped", s)
			}
			return nil
		},
	}
	rebuild.Flags().StringVar(&from, "from", "", "the OCI layout directory or registry (HOST[:PORT][/NAMESPACE]) to read (default: HOME/store)")
	rebuild.Flags().StringArrayVar(&keys, "key", nil, "record signatures that verify with this public key (repeatable)")
	cmd.AddCommand(rebuild, newCatalogReconcileCmd(e))
	return cmd
}

// checkpointVerifiers reads the note verifier keys of the event log's
// checkpoints from files (default: HOME/log.pub).
func (e *env) checkpointVerifiers(files []string) (note.Verifiers, error) {
	if len(files) == 0 {
		files = []string{brickyard.LogPublicKeyFile(e.home)}
	}
	var vs []note.Verifier
	for _, k := range files {
		b, err := os.ReadFile(k)
		if err != nil {
			return nil, fmt.Errorf("checkpoint verifier key: %w", err)
		}
		v, err := note.NewVerifier(strings.TrimSpace(string(b)))
		if err != nil {
			return nil, fmt.Errorf("checkpoint verifier key %s: %w", k, err)
		}
		vs = append(vs, v)
	}
	return note.VerifierList(vs...), nil
}
