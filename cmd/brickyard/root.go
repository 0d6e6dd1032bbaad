package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"strings"

	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/catalog"
	"github.com/brickyard/brickyard/catalog/postgres"
	"github.com/brickyard/brickyard/catalog/sqlite"
	"github.com/brickyard/brickyard/registry"
	"github.com/brickyard/brickyard/registry/layout"
	"github.com/brickyard/brickyard/registry/remote"
	"github.com/brickyard/brickyard/sign"
	"github.com/opencontainers/go-digest"
	"github.com/spf13/cobra"
)

// env is what every command shares: where the store and catalog live, how to
// print, and the opened store and catalog.
type env struct {
	home     string
	json     bool
	progress string
	out, err io.Writer

	store   *layout.Store
	remotes map[string]*remote.Store // registries records name, opened by storeOf
	// insecure allows plain HTTP to registries not on a loopback address.
	insecure bool
	catDSN   string // --catalog: a SQLite file or a PostgreSQL URL; "" is HOME/catalog.db
	cat      cliCatalog
	logSize  int64 // events in the log when the catalog was opened
}

// cliCatalog is what the CLI needs of a catalog backend: both
// catalog/sqlite and catalog/postgres provide it.
type cliCatalog interface {
	catalog.Catalog
	// LogSize returns the number of events in the log.
	LogSize(ctx context.Context) (int64, error)
}

const homeHelp = `brickyard keeps its embedded defaults in one directory, --home (or
$BRICKYARD_HOME, default ./.brickyard): an OCI image-layout store in
HOME/store (one layout per artifact name, readable by skopeo, oras, umoci)
and a SQLite catalog in HOME/catalog.db. A team can share one catalog in
PostgreSQL instead: --catalog postgres://USER@HOST:5432/DB (or
$BRICKYARD_CATALOG); the schema is created on first use.`

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
mismatch, revoked, event log tampered with); 4 not found.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPostRunE: func(cmd *cobra.Command, _ []string) error {
			if err := e.checkpointIfChanged(cmd.Context()); err != nil {
				e.close()
				return fmt.Errorf("sign a checkpoint of the event log: %w", err)
			}
			return e.close()
		},
	}
	def := os.Getenv("BRICKYARD_HOME")
	if def == "" {
		def = ".brickyard"
	}
	root.PersistentFlags().StringVar(&e.home, "home", def, "directory holding the store and catalog")
	root.PersistentFlags().BoolVar(&e.insecure, "insecure", false, "allow plain HTTP to registries not on a loopback address (loopback ones always may)")
	root.PersistentFlags().StringVar(&e.catDSN, "catalog", os.Getenv("BRICKYARD_CATALOG"), "the catalog: a SQLite file or a postgres:// URL (default HOME/catalog.db)")
	root.PersistentFlags().BoolVar(&e.json, "json", false, "print results as JSON")
	root.PersistentFlags().StringVar(&e.progress, "progress", "auto", "progress bars on stderr for blob transfers: auto (when a terminal), always, never")
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newInitCmd(e), newKeygenCmd(e), newPublishCmd(e), newSignCmd(e), newVerifyCmd(e),
		newResolveCmd(e), newListCmd(e), newInspectCmd(e), newLineageCmd(e), newCopyCmd(e), newFetchCmd(e),
		newAttestCmd(e), newVerifyAttestationCmd(e), newPolicyCmd(e),
		newLifecycleCmd(e, catalog.StateDeprecated, "deprecate", "Deprecate an artifact: resolve still returns it, with a warning"),
		newLifecycleCmd(e, catalog.StateRevoked, "revoke", "Revoke an artifact and everything built on it: resolve never returns them"),
		newLifecycleCmd(e, catalog.StateActive, "reinstate", "Make a deprecated or revoked artifact active again (a new event)"),
		newChannelCmd(e), newVisibilityCmd(e), newLogCmd(e), newCatalogCmd(e))
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

func (e *env) storeDir() string { return filepath.Join(e.home, "store") }

// catalogPath is the SQLite catalog file, or "" when --catalog names a
// PostgreSQL database.
func (e *env) catalogPath() string {
	switch {
	case isPostgresURL(e.catDSN):
		return ""
	case e.catDSN != "":
		return e.catDSN
	}
	return filepath.Join(e.home, "catalog.db")
}

// catalogName describes the catalog for people: the SQLite path, or the
// PostgreSQL URL without its password.
func (e *env) catalogName() string {
	if p := e.catalogPath(); p != "" {
		return p + " (SQLite)"
	}
	if u, err := url.Parse(e.catDSN); err == nil {
		return u.Redacted() + " (PostgreSQL)"
	}
	return "PostgreSQL"
}

func isPostgresURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// storeOf returns the store the artifact of rec is in: the home store for
// what was published here (Store "oci-layout"), else the registry its Store
// names, HOST[:PORT][/NAMESPACE] (records rebuilt from a registry), opened
// once per run. Signing, verifying and reading an artifact back go there.
func (e *env) storeOf(rec catalog.Record) (registry.Store, error) {
	if rec.Store == "" || rec.Store == "oci-layout" {
		return e.store, nil
	}
	if s, ok := e.remotes[rec.Store]; ok {
		return s, nil
	}
	s, err := remote.New(rec.Store, e.remoteOptions()...)
	if err != nil {
		return nil, fmt.Errorf("%s@%s: its store %q: %w", rec.Name, rec.Version, rec.Store, err)
	}
	if e.remotes == nil {
		e.remotes = map[string]*remote.Store{}
	}
	e.remotes[rec.Store] = s
	return s, nil
}

// remoteOptions are the options of every registry store the CLI opens.
func (e *env) remoteOptions() []remote.Option {
	if e.insecure {
		return []remote.Option{remote.WithInsecure()}
	}
	return nil
}

// perStore is a catalog.Verifier that checks each record in the store it
// names (env.storeOf), with the verifier forStore makes for that store.
type perStore struct {
	e        *env
	forStore func(st sign.Reader) catalog.Verifier
}

// keyVerifier checks each record's signature with v's keys, in the store
// the record names.
func (e *env) keyVerifier(v *sign.Verifier) catalog.Verifier {
	return perStore{e, func(st sign.Reader) catalog.Verifier { return sign.StoreVerifier{Store: st, Verifier: v} }}
}

func (p perStore) Verify(ctx context.Context, r catalog.Record) (string, error) {
	st, err := p.e.storeOf(r)
	if err != nil {
		return "", err
	}
	return p.forStore(st).Verify(ctx, r)
}

// open opens the store and catalog of an initialised home.
func (e *env) open(ctx context.Context) error {
	if p := e.catalogPath(); p != "" {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("no catalog at %s: run `brickyard init --home %s` first", p, e.home)
		}
	}
	return e.openOrCreate(ctx)
}

func (e *env) openOrCreate(ctx context.Context) error {
	var err error
	if e.store, err = layout.New(e.storeDir()); err != nil {
		return err
	}
	if p := e.catalogPath(); p != "" {
		e.cat, err = sqlite.Open(ctx, p)
	} else {
		e.cat, err = postgres.Open(ctx, e.catDSN)
	}
	if err != nil {
		return err
	}
	e.logSize, err = e.cat.LogSize(ctx)
	return err
}

func (e *env) close() error {
	if e.cat != nil {
		return e.cat.Close()
	}
	return nil
}

// printJSON writes v as indented JSON to stdout.
func (e *env) printJSON(v any) error {
	enc := json.NewEncoder(e.out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// openRecord opens the home store and catalog and looks ref up (see
// lookup), for the commands that act on one artifact.
func (e *env) openRecord(ctx context.Context, ref, platform string) (catalog.Record, error) {
	if err := e.open(ctx); err != nil {
		return catalog.Record{}, err
	}
	return e.lookup(ctx, ref, platform)
}

// lookup finds the catalog record that ref names: "NAME@VERSION",
// "NAME@sha256:<hex>" or "sha256:<hex>". platform, if not empty, picks
// among several records of one version.
func (e *env) lookup(ctx context.Context, ref, platform string) (catalog.Record, error) {
	name, sel, ok := strings.Cut(ref, "@")
	if !ok {
		if d, err := digest.Parse(ref); err == nil {
			return e.cat.Get(ctx, d)
		}
		return catalog.Record{}, usageError{fmt.Errorf("reference %q: want NAME@VERSION, NAME@DIGEST or a digest", ref)}
	}
	if err := artifact.ValidateName(name); err != nil {
		return catalog.Record{}, err
	}
	if d, err := digest.Parse(sel); err == nil {
		r, err := e.cat.Get(ctx, d)
		if err == nil && r.Name != name {
			return catalog.Record{}, fmt.Errorf("reference %q: digest belongs to %s, not %s: %w", ref, r.Name, name, catalog.ErrNotFound)
		}
		return r, err
	}
	v, err := artifact.ParseVersion(sel)
	if err != nil {
		return catalog.Record{}, err
	}
	var want artifact.Platform
	if platform != "" {
		if want, err = artifact.ParsePlatform(platform); err != nil {
			return catalog.Record{}, err
		}
	}
	recs, err := e.cat.Versions(ctx, name)
	if err != nil {
		return catalog.Record{}, err
	}
	var found []catalog.Record
	for _, r := range recs {
		if r.Version.Equal(v) && r.Version.Metadata() == v.Metadata() && (platform == "" || r.Platform.Matches(want)) {
			found = append(found, r)
		}
	}
	switch len(found) {
	case 0:
		return catalog.Record{}, fmt.Errorf("%s: no such version in the catalog: %w", ref, catalog.ErrNotFound)
	case 1:
		return found[0], nil
	}
	var ps []string
	for _, r := range found {
		ps = append(ps, r.Platform.String())
	}
	return catalog.Record{}, usageError{fmt.Errorf("%s exists for several platforms (%s): pick one with --platform", ref, strings.Join(ps, ", "))}
}

// isNotFound reports whether err means "absent" in the catalog or the store.
func isNotFound(err error) bool { return errors.Is(err, catalog.ErrNotFound) }

// defaultActor names who runs a command that records an event: $USER, the
// account name, or "unknown".
func defaultActor() string {
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username // CI containers often have no $USER
	}
	return "unknown"
}
