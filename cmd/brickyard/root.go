package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"

	"github.com/brickyard/brickyard"
	"github.com/brickyard/brickyard/catalog"
	"github.com/brickyard/brickyard/registry/remote"
	"github.com/spf13/cobra"
)

// env is what every command shares: where the store and catalog live, how to
// print, the options commands add (keys, signer, policy) and the client
// opened with them.
type env struct {
	home     string
	json     bool
	progress string
	out, err io.Writer

	storeTarget string // --store: a layout directory or HOST[:PORT]/NAMESPACE; "" is HOME/store
	catDSN      string // --catalog: a SQLite file or a PostgreSQL URL; "" is HOME/catalog.db
	// insecure allows plain HTTP to registries not on a loopback address.
	insecure bool
	opts     []brickyard.Option
	c        *brickyard.Client
}

const homeHelp = `brickyard keeps its embedded defaults in one directory, --home (or
$BRICKYARD_HOME, default ./.brickyard): an OCI image-layout store in
HOME/store (one layout per artifact name, readable by skopeo, oras, umoci)
and a SQLite catalog in HOME/catalog.db. A team shares one registry as the
store, --store HOST[:PORT]/NAMESPACE (or $BRICKYARD_STORE), and one catalog
in PostgreSQL, --catalog postgres://USER@HOST:5432/DB (or
$BRICKYARD_CATALOG; the schema is created on first use): records then name
the registry, so everyone sharing the catalog can fetch and verify what
anyone published.`

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	e := &env{out: stdout, err: stderr}
	root := &cobra.Command{
		Use:   "brickyard",
		Short: "Publish, sign, catalog and resolve machine images, VM disks and OCI images as semver-tagged OCI artifacts",
		Long: `brickyard treats every image a team builds — AMIs, VM disks, OCI images — as an
immutable, signed, semver-tagged build artifact, recorded in a catalog that
knows its lineage.

` + homeHelp + `

Exit codes: 0 success; 1 error; 2 usage error or malformed argument;
3 not trusted (unsigned, untrusted or invalid signature, owner or provenance
mismatch, revoked, event log tampered with, unsafe disk image); 4 not found;
5 audit findings at or above --fail-on.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPostRunE: func(cmd *cobra.Command, _ []string) error {
			if e.c == nil {
				return nil
			}
			return e.c.Close(cmd.Context())
		},
	}
	def := os.Getenv("BRICKYARD_HOME")
	if def == "" {
		def = ".brickyard"
	}
	root.PersistentFlags().StringVar(&e.home, "home", def, "directory holding the store and catalog")
	root.PersistentFlags().BoolVar(&e.insecure, "insecure", false, "allow plain HTTP to registries not on a loopback address (loopback ones always may)")
	root.PersistentFlags().StringVar(&e.storeTarget, "store", os.Getenv("BRICKYARD_STORE"), "the store: an OCI layout directory or a registry, HOST[:PORT]/NAMESPACE (default HOME/store)")
	root.PersistentFlags().StringVar(&e.catDSN, "catalog", os.Getenv("BRICKYARD_CATALOG"), "the catalog: a SQLite file or a postgres:// URL (default HOME/catalog.db)")
	root.PersistentFlags().BoolVar(&e.json, "json", false, "print results as JSON")
	root.PersistentFlags().StringVar(&e.progress, "progress", "auto", "progress bars on stderr for blob transfers: auto (when a terminal), always, never")
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newInitCmd(e), newKeygenCmd(e), newPublishCmd(e), newSignCmd(e), newVerifyCmd(e),
		newResolveCmd(e), newListCmd(e), newInspectCmd(e), newLineageCmd(e), newCopyCmd(e), newFetchCmd(e),
		newAttestCmd(e), newVerifyAttestationCmd(e), newPolicyCmd(e), newImportCmd(e),
		newLifecycleCmd(e, catalog.StateDeprecated, "deprecate", "Deprecate an artifact: resolve still returns it, with a warning"),
		newLifecycleCmd(e, catalog.StateRevoked, "revoke", "Revoke an artifact and everything built on it: resolve never returns them"),
		newLifecycleCmd(e, catalog.StateActive, "reinstate", "Make a deprecated or revoked artifact active again (a new event)"),
		newChannelCmd(e), newVisibilityCmd(e), newLogCmd(e), newCatalogCmd(e),
		newRetentionCmd(e), newReportCmd(e))
	root.AddCommand(newAuditCmd(e), newAWSCmd(e), newGCCmd(e), newFsckCmd(e))
	return root
}

// args wraps cobra's argument checks so that their errors exit with exitUsage.
func args(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, a []string) error {
		if err := check(cmd, a); err != nil {
			return usageError{fmt.Errorf("%s: %w", cmd.CommandPath(), err)}
		}
		return nil
	}
}

// options are the client's options: store, catalog, registries, progress,
// and what the command added.
func (e *env) options() []brickyard.Option {
	opts := []brickyard.Option{brickyard.WithStore(e.storeTarget), brickyard.WithCatalog(e.catDSN),
		brickyard.WithProgress(e.progressBars())}
	if e.insecure {
		opts = append(opts, brickyard.WithRemoteOptions(remote.WithInsecure()))
	}
	return append(opts, e.opts...)
}

// open opens the home with the options commands added.
func (e *env) open(ctx context.Context) error {
	c, err := brickyard.Open(ctx, e.home, e.options()...)
	if err != nil {
		return err
	}
	e.c = c
	return nil
}

// openOrCreate makes the home if needed (brickyard.Init) and opens it.
func (e *env) openOrCreate(ctx context.Context) error {
	c, err := brickyard.Init(ctx, e.home, e.options()...)
	if err != nil {
		return err
	}
	e.c = c
	return nil
}

// printJSON writes v as indented JSON to stdout.
func (e *env) printJSON(v any) error {
	enc := json.NewEncoder(e.out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// openRecord opens the home and looks ref up (brickyard.Client.Lookup), for
// the commands that act on one artifact.
func (e *env) openRecord(ctx context.Context, ref, platform string) (catalog.Record, error) {
	if err := e.open(ctx); err != nil {
		return catalog.Record{}, err
	}
	return e.c.Lookup(ctx, ref, platform)
}

// catalogName describes the catalog for people: the SQLite path, or the
// PostgreSQL URL without its password.
func (e *env) catalogName() string {
	switch {
	case brickyard.IsPostgresURL(e.catDSN):
		if u, err := url.Parse(e.catDSN); err == nil {
			return u.Redacted() + " (PostgreSQL)"
		}
		return "PostgreSQL"
	case e.catDSN != "":
		return e.catDSN + " (SQLite)"
	}
	return filepath.Join(e.home, "catalog.db") + " (SQLite)"
}
