package brickyard

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/catalog"
	"github.com/brickyard/brickyard/catalog/postgres"
	"github.com/brickyard/brickyard/catalog/sqlite"
	"github.com/brickyard/brickyard/internal/faults"
	"github.com/brickyard/brickyard/registry"
	"github.com/brickyard/brickyard/registry/layout"
	"github.com/brickyard/brickyard/registry/remote"
	"github.com/brickyard/brickyard/sign"
	"github.com/brickyard/brickyard/sign/cosignkey"
	"golang.org/x/mod/sumdb/note"
)

// LayoutStoreName is what records of artifacts published to a home's OCI
// image-layout directory name as their store. A record published to a
// registry names the registry instead, HOST[:PORT][/NAMESPACE], so that
// anyone sharing the catalog can reach it.
const LayoutStoreName = "oci-layout"

// Store is what a Client needs of the store it publishes to: the whole
// registry.Store contract, and the list of repositories (for rebuilds).
// registry/layout and registry/remote satisfy it.
type Store interface {
	registry.Store
	Repositories(ctx context.Context) ([]string, error)
}

// Catalog is what a Client needs of its catalog: catalog/sqlite and
// catalog/postgres satisfy it.
type Catalog interface {
	catalog.Catalog
	// LogSize returns the number of events in the event log.
	LogSize(ctx context.Context) (int64, error)
}

var (
	_ Store   = (*layout.Store)(nil)
	_ Store   = (*remote.Store)(nil)
	_ Catalog = (*sqlite.Catalog)(nil)
	_ Catalog = (*postgres.Catalog)(nil)
)

// Progress is told how far a blob transfer is: what moves (e.g. "push
// web.qcow2", "fetch web.qcow2", "copy 0123456789ab"), bytes done and the
// total size in bytes.
type Progress func(what string, done, total int64)

// Client is one user's view of brickyard: a store that artifacts are
// published to, a catalog that records them, and the keys that sign and
// verify them. Its methods are the whole workflow (publish, sign, verify,
// resolve, fetch, copy, lineage, lifecycle, lookup); each checks what it
// must before it writes anything. A Client is safe for concurrent use if
// its catalog is.
type Client struct {
	home      string // "" for a Client made with New
	store     Store
	storeName string
	cat       Catalog
	owned     bool // Close closes cat
	o         options

	mu      sync.Mutex
	remotes map[string]*remote.Store
}

type options struct {
	storeTarget string
	catalogDSN  string
	signer      *sign.Signer
	keys        *sign.Verifier
	policy      *sign.Policy
	remote      []remote.Option
	now         func() time.Time
	progress    Progress
	actor       string
	logSigner   note.Signer
}

// Option configures Open and New. An option that cannot be applied (an
// unreadable key file, say) makes Open or New return its error.
type Option func(*options) error

// WithStore makes Open use target as the store instead of HOME/store: an
// OCI image-layout directory (a path), or a registry,
// HOST[:PORT][/NAMESPACE] (its first component has a '.' or ':' or is
// "localhost", as docker reads it). Records then name that registry, so
// that anyone sharing the catalog can fetch and verify what was published.
func WithStore(target string) Option {
	return func(o *options) error { o.storeTarget = target; return nil }
}

// WithCatalog makes Open use dsn as the catalog instead of
// HOME/catalog.db: a SQLite file, or a postgres:// or postgresql:// URL
// (a team's shared catalog; the schema is created on first use).
func WithCatalog(dsn string) Option {
	return func(o *options) error { o.catalogDSN = dsn; return nil }
}

// WithSigner signs with s (Publish with Sign, Sign, Attest).
func WithSigner(s *sign.Signer) Option {
	return func(o *options) error { o.signer = s; return nil }
}

// WithCryptoSigner signs with any crypto.Signer whose key is ECDSA (P-256
// with SHA-256, P-384 with SHA-384, ...), Ed25519 or RSA: an in-memory
// key, a KMS or an HSM (see sign.NewSigner).
func WithCryptoSigner(s crypto.Signer) Option {
	return func(o *options) error {
		ss, err := sign.NewSigner(s)
		if err != nil {
			return err
		}
		o.signer = ss
		return nil
	}
}

// WithKeyFile signs with the cosign private key in file, decrypted with
// password (an encrypted key, as cosign generate-key-pair writes it).
func WithKeyFile(file string, password []byte) Option {
	return func(o *options) error {
		pem, err := os.ReadFile(file)
		if err != nil {
			return fmt.Errorf("signing key: %w", err)
		}
		s, err := cosignkey.LoadSigner(pem, password)
		if err != nil {
			return fmt.Errorf("signing key %s: %w", file, err)
		}
		o.signer = s
		return nil
	}
}

// WithVerifier trusts the keys of v: Verify, Resolve and FetchDisk accept
// an artifact signed by one of them.
func WithVerifier(v *sign.Verifier) Option {
	return func(o *options) error { o.keys = v; return nil }
}

// WithPublicKeyFiles trusts the PEM public keys in files (see
// WithVerifier). Errors wrap sign.ErrInvalidKey or the file's error.
func WithPublicKeyFiles(files ...string) Option {
	return func(o *options) error {
		var pems [][]byte
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				return fmt.Errorf("trusted key: %w", err)
			}
			pems = append(pems, b)
		}
		v, err := sign.NewVerifier(pems...)
		if err != nil {
			return fmt.Errorf("trusted keys %v: %w", files, err)
		}
		o.keys = v
		return nil
	}
}

// WithPublicKeys trusts the public keys keys (ECDSA, Ed25519 or RSA), such
// as a KMS key's (see WithVerifier). Errors wrap sign.ErrInvalidKey.
func WithPublicKeys(keys ...crypto.PublicKey) Option {
	return func(o *options) error {
		var pems [][]byte
		for i, k := range keys {
			der, err := x509.MarshalPKIXPublicKey(k)
			if err != nil {
				return fmt.Errorf("public key %d: %w: %v", i+1, sign.ErrInvalidKey, err)
			}
			pems = append(pems, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
		}
		v, err := sign.NewVerifier(pems...)
		if err != nil {
			return err
		}
		o.keys = v
		return nil
	}
}

// WithPolicy applies the trust policy p (keys, owner and provenance per
// name) in Verify, Resolve and FetchDisk, instead of plain keys.
func WithPolicy(p *sign.Policy) Option {
	return func(o *options) error { o.policy = p; return nil }
}

// WithRemoteOptions are the options of every registry the Client opens:
// its store, if a registry, and the registries records name.
func WithRemoteOptions(opts ...remote.Option) Option {
	return func(o *options) error { o.remote = append(o.remote, opts...); return nil }
}

// WithClock makes the Client read the time from now (build times by
// default, signature times, lifecycle states); the default is time.Now.
func WithClock(now func() time.Time) Option {
	return func(o *options) error { o.now = now; return nil }
}

// WithProgress reports blob transfers to fn.
func WithProgress(fn Progress) Option {
	return func(o *options) error { o.progress = fn; return nil }
}

// WithActor names who makes the changes the Client records (default: $USER,
// else the account name, else "unknown").
func WithActor(actor string) Option {
	return func(o *options) error { o.actor = actor; return nil }
}

// WithCheckpointSigner signs a checkpoint of the catalog's event log with s
// when Close finds the log grew. Open uses HOME/log.key by default.
func WithCheckpointSigner(s note.Signer) Option {
	return func(o *options) error { o.logSigner = s; return nil }
}

// Paths of a home's parts.
func storeDir(home string) string    { return filepath.Join(home, "store") }
func catalogFile(home string) string { return filepath.Join(home, "catalog.db") }

// LogKeyFile and LogPublicKeyFile are the home's event-log checkpoint key
// pair: the signer (a note key, kept private) and its verifier key, which
// auditors use (catalog.VerifyLog).
func LogKeyFile(home string) string       { return filepath.Join(home, "log.key") }
func LogPublicKeyFile(home string) string { return filepath.Join(home, "log.pub") }

// IsPostgresURL reports whether dsn names a PostgreSQL database.
func IsPostgresURL(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// IsRegistry reports whether target names a registry, HOST[:PORT][/...],
// rather than a directory: it is not an existing path, and its first
// component has a '.' or ':' or is "localhost", as docker reads image
// references.
func IsRegistry(target string) bool {
	first, _, _ := strings.Cut(target, "/")
	if first == "." || first == ".." || first == "" {
		return false
	}
	if _, err := os.Stat(target); err == nil {
		return false
	}
	return strings.ContainsAny(first, ".:") || first == "localhost"
}

// Open opens the home directory home: its store (HOME/store, an OCI image
// layout, unless WithStore names another) and catalog (HOME/catalog.db,
// SQLite, unless WithCatalog names another), and the checkpoint key
// HOME/log.key if there is one. The home must have been made by Init (or
// `brickyard init`) unless both store and catalog are elsewhere.
//
// Errors: ErrNoHome if the SQLite catalog does not exist; the store's and
// catalog's errors otherwise.
func Open(ctx context.Context, home string, opts ...Option) (*Client, error) {
	return open(ctx, home, false, opts)
}

// Init creates the home directory home, its store and catalog (see Open)
// and its checkpoint key pair (LogKeyFile, LogPublicKeyFile) where they do
// not exist yet, and opens it. Running it again on a home is harmless.
func Init(ctx context.Context, home string, opts ...Option) (*Client, error) {
	if err := os.MkdirAll(home, 0o755); err != nil {
		return nil, err
	}
	if err := ensureLogKey(home); err != nil {
		return nil, err
	}
	return open(ctx, home, true, opts)
}

func open(ctx context.Context, home string, create bool, opts []Option) (*Client, error) {
	o, err := collect(opts)
	if err != nil {
		return nil, err
	}
	var st Store
	var name string
	switch {
	case o.storeTarget != "" && IsRegistry(o.storeTarget):
		rs, err := remote.New(o.storeTarget, o.remote...)
		if err != nil {
			return nil, err
		}
		st, name = rs, rs.String()
	default:
		dir := o.storeTarget
		if dir == "" {
			dir = storeDir(home)
		}
		if st, err = layout.New(dir); err != nil {
			return nil, err
		}
		name = LayoutStoreName
	}
	var cat Catalog
	if IsPostgresURL(o.catalogDSN) {
		cat, err = postgres.Open(ctx, o.catalogDSN)
	} else {
		p := o.catalogDSN
		if p == "" {
			p = catalogFile(home)
		}
		if _, serr := os.Stat(p); serr != nil && !create {
			return nil, fmt.Errorf("no catalog at %s: run `brickyard init --home %s` first: %w", p, home, ErrNoHome)
		}
		cat, err = sqlite.Open(ctx, p)
	}
	if err != nil {
		return nil, err
	}
	if o.logSigner == nil {
		b, err := os.ReadFile(LogKeyFile(home))
		switch {
		case err == nil:
			if o.logSigner, err = note.NewSigner(strings.TrimSpace(string(b))); err != nil {
				cat.Close()
				return nil, fmt.Errorf("checkpoint key %s: %w", LogKeyFile(home), err)
			}
		case !errors.Is(err, os.ErrNotExist):
			cat.Close()
			return nil, err
		}
	}
	c, err := newClient(ctx, st, name, cat, o)
	if err != nil {
		cat.Close()
		return nil, err
	}
	c.home, c.owned = home, true
	return c, nil
}

// New makes a Client over explicit parts: st, which records name as
// storeName (LayoutStoreName for a layout directory, the registry's
// HOST[:PORT][/NAMESPACE] for a registry: see remote.Store.String), and
// cat. Close does not close cat. WithStore and WithCatalog are ignored.
func New(ctx context.Context, st Store, storeName string, cat Catalog, opts ...Option) (*Client, error) {
	o, err := collect(opts)
	if err != nil {
		return nil, err
	}
	return newClient(ctx, st, storeName, cat, o)
}

func collect(opts []Option) (options, error) {
	var o options
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return o, err
		}
	}
	if o.now == nil {
		o.now = time.Now
	}
	if o.actor == "" {
		o.actor = defaultActor()
	}
	return o, nil
}

func newClient(_ context.Context, st Store, name string, cat Catalog, o options) (*Client, error) {
	return &Client{store: st, storeName: name, cat: cat, o: o, remotes: map[string]*remote.Store{}}, nil
}

// Store returns the store the Client publishes to.
func (c *Client) Store() Store { return c.store }

// StoreName returns what records of artifacts published by c name as
// their store (LayoutStoreName, or the registry's HOST[:PORT][/NAMESPACE]).
func (c *Client) StoreName() string { return c.storeName }

// Catalog returns the Client's catalog, for what the workflow does not
// wrap: channels, the event log.
func (c *Client) Catalog() Catalog { return c.cat }

// Home returns the home directory Open or Init opened, "" for New.
func (c *Client) Home() string { return c.home }

// Actor returns who the Client records changes as.
func (c *Client) Actor() string { return c.o.actor }

// StoreOf returns the store that holds the artifact of r (StoreNamed of
// r.Store); errors name r.
func (c *Client) StoreOf(r catalog.Record) (Store, error) {
	return c.storeOf(r.Stored())
}

// storeOf is StoreOf for what a catalog.Verifier is given.
func (c *Client) storeOf(r artifact.Stored) (Store, error) {
	s, err := c.StoreNamed(r.Store)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.Ref(), err)
	}
	return s, nil
}

// StoreNamed returns the store records name name: the Client's own store
// for its StoreName (and for LayoutStoreName or "" while the Client's
// store is a layout), else the registry name names,
// HOST[:PORT][/NAMESPACE], opened once with the Client's remote options.
//
// Errors: ErrStoreUnreachable for another home's layout directory;
// remote.New's errors for a malformed registry name.
func (c *Client) StoreNamed(name string) (Store, error) {
	switch {
	case c.store != nil && name == c.storeName:
		return c.store, nil
	case name == "" || name == LayoutStoreName:
		if _, ok := c.store.(*layout.Store); ok {
			return c.store, nil
		}
		return nil, fmt.Errorf("store %q is another home's OCI layout directory, not a registry: %w", name, ErrStoreUnreachable)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.remotes[name]; ok {
		return s, nil
	}
	s, err := remote.New(name, c.o.remote...)
	if err != nil {
		return nil, fmt.Errorf("store %q: %w", name, err)
	}
	c.remotes[name] = s
	return s, nil
}

// Close signs a checkpoint of the catalog's event log if the newest one
// does not cover the whole log and a checkpoint signer is known
// (HOME/log.key, or WithCheckpointSigner): after a change, and after an
// earlier run whose change was committed but whose checkpoint was not
// (killed, a full disk), which is how that checkpoint is retried. Then it
// closes the catalog if Open or Init opened it. A checkpoint that fails
// leaves the changes in place: the error says so, and the next Close (or
// Checkpoint) signs it.
func (c *Client) Close(ctx context.Context) error {
	var err error
	if st, cerr := c.Checkpoint(ctx); cerr != nil {
		err = fmt.Errorf("done: the changes are in the catalog; NOT done: sign a checkpoint of the event log "+
			"(%d events, the newest signed checkpoint covers %d): %w; the next brickyard command that opens "+
			"the catalog, or `brickyard log checkpoint`, signs it", st.Events, st.Covered, cerr)
	}
	if c.owned {
		err = errors.Join(err, c.cat.Close())
	}
	return err
}

// Checkpoint signs a checkpoint of the event log if the newest one covers
// fewer events than the log holds (catalog.CheckpointIfBehind), and says
// how far the log is covered. Without a checkpoint signer it does nothing.
func (c *Client) Checkpoint(ctx context.Context) (catalog.CheckpointStatus, error) {
	if c.o.logSigner == nil {
		return catalog.CheckpointStatus{}, nil // a home made before the event log: Init adds the key
	}
	return catalog.CheckpointIfBehind(ctx, failingCheckpointer{c.cat}, c.o.logSigner)
}

// failingCheckpointer lets the crash tests make signing a checkpoint fail
// (faults.Fail("checkpoint"), as a full disk would).
type failingCheckpointer struct{ Catalog }

func (f failingCheckpointer) Checkpoint(ctx context.Context, s note.Signer) ([]byte, error) {
	if err := faults.Fail("checkpoint"); err != nil {
		return nil, err
	}
	return f.Catalog.Checkpoint(ctx, s)
}

// ensureLogKey makes the home's checkpoint key pair if it has none.
func ensureLogKey(home string) error {
	if _, err := os.Stat(LogKeyFile(home)); err == nil {
		return nil
	}
	name := "brickyard-catalog"
	if h, err := os.Hostname(); err == nil && h != "" && !strings.ContainsAny(h, "+ ") {
		name += "-" + h
	}
	skey, vkey, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		return err
	}
	if err := writeNew(LogKeyFile(home), []byte(skey+"\n"), 0o600); err != nil {
		return err
	}
	return writeNew(LogPublicKeyFile(home), []byte(vkey+"\n"), 0o644)
}

// writeNew writes a new file, never replacing one (O_EXCL): a key someone
// may depend on is never overwritten.
func writeNew(path string, b []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return fmt.Errorf("write key: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("write key %s: %w", path, err)
	}
	return f.Close()
}

// defaultActor is $USER, the account name, or "unknown".
func defaultActor() string {
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username // CI containers often have no $USER
	}
	return "unknown"
}

// layoutAt opens the existing OCI layout store at dir.
func layoutAt(dir string) (*layout.Store, error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, err
	}
	return layout.New(dir)
}
