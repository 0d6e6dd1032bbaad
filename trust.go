package brickyard

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/catalog"
	"github.com/brickyard/brickyard/registry"
	"github.com/brickyard/brickyard/sign"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// verifier is the catalog.Verifier of a Client: each record is checked in
// the store it names (StoreOf), against the trust policy if the Client has
// one, else against its trusted keys.
type verifier struct{ c *Client }

var _ catalog.Verifier = verifier{}

func (v verifier) Verify(ctx context.Context, r artifact.Stored) (string, error) {
	st, err := v.c.storeOf(r)
	if err != nil {
		return "", err
	}
	if v.c.o.policy != nil {
		return sign.PolicyVerifier{Store: st, Policy: v.c.o.policy}.Verify(ctx, r)
	}
	return sign.StoreVerifier{Store: st, Verifier: v.c.o.keys}.Verify(ctx, r)
}

func (c *Client) trusts() error {
	if c.o.policy == nil && c.o.keys == nil {
		return fmt.Errorf("verification needs trusted keys (WithPublicKeyFiles, WithVerifier) or a policy (WithPolicy): %w", ErrNoTrust)
	}
	return nil
}

// Verify checks r in its store against the Client's trust policy, or its
// trusted keys: a signature bound to r.Digest and r's repository, and what
// the policy demands (owner, provenance). It does not look at the
// lifecycle (Resolve and FetchDisk do). It returns the id of the key that
// verified it.
//
// Errors: ErrNoTrust; sign.ErrUnsigned, ErrUntrusted, ErrInvalidSignature,
// ErrOwnerMismatch, ErrNoPolicy, ErrProvenanceMissing,
// ErrProvenanceMismatch; store errors otherwise. Each names r.
func (c *Client) Verify(ctx context.Context, r catalog.Record) (keyID string, err error) {
	if err := c.trusts(); err != nil {
		return "", err
	}
	id, err := verifier{c}.Verify(ctx, r.Stored())
	if err != nil {
		return "", fmt.Errorf("verify %s (%s): %w", r.Ref(), r.Digest, err)
	}
	return id, nil
}

// Query asks Resolve for the artifact to deploy.
type Query struct {
	Name string
	// Range is a semver range (Masterminds/semver syntax: "^1.2", "~1.2.3",
	// ">=1.0, <2", "1.x"); prereleases match only when it names one. It may
	// be empty when Channel is set.
	Range string
	// Channel, if set, resolves the version the channel points at (e.g.
	// "prod"), which must then match Range if Range is set.
	Channel string
	// Platform, "os/arch[/variant]", if set, must match the artifact's.
	Platform string
}

// Resolve returns the record to deploy for q: the highest version of
// q.Name in q.Range (or the one q.Channel points at) for q.Platform that is
// not revoked and that the Client's trust policy or keys verify in its
// store. The record's Digest is what was verified: deploy by digest, never
// by tag. A deprecated version comes back with a warning in its Warnings.
//
// Errors: ErrNoTrust; ErrInvalidRef if neither Range nor Channel is given;
// artifact's name and platform errors; catalog.ErrInvalidConstraint;
// catalog.ErrNotFound if nothing matches; a *catalog.ResolveError listing
// each matching version's reason, wrapping the newest one's
// (catalog.ErrRevoked, sign.ErrUnsigned, ErrUntrusted, the policy's).
func (c *Client) Resolve(ctx context.Context, q Query) (catalog.Record, error) {
	if err := c.trusts(); err != nil {
		return catalog.Record{}, err
	}
	if err := artifact.ValidateName(q.Name); err != nil {
		return catalog.Record{}, err
	}
	if q.Range == "" && q.Channel == "" {
		return catalog.Record{}, fmt.Errorf("resolve %s: give a range (e.g. ^1.0), a channel, or both: %w", q.Name, ErrInvalidRef)
	}
	var p artifact.Platform
	if q.Platform != "" {
		var err error
		if p, err = artifact.ParsePlatform(q.Platform); err != nil {
			return catalog.Record{}, err
		}
	}
	if q.Channel != "" {
		return catalog.ResolveChannel(ctx, c.cat, catalog.Query{Name: q.Name, Constraint: q.Range, Platform: p}, q.Channel, verifier{c})
	}
	return catalog.Resolve(ctx, c.cat, catalog.Query{Name: q.Name, Constraint: q.Range, Platform: p}, verifier{c})
}

// Sign signs the manifest of r in its store with the Client's signer,
// cosign-style (the "sha256-<hex>.sig" tag, appended to any signatures
// there; the identity is r's repository in that store), and records the
// signature in the catalog.
//
// Errors: ErrNoSigner; the store's and catalog's errors, naming r.
func (c *Client) Sign(ctx context.Context, r catalog.Record) (sign.Signature, error) {
	if c.o.signer == nil {
		return sign.Signature{}, fmt.Errorf("sign %s: %w", r.Ref(), ErrNoSigner)
	}
	st, err := c.StoreOf(r)
	if err != nil {
		return sign.Signature{}, err
	}
	sig, err := c.o.signer.Sign(ctx, st, r.Repository, sign.IdentityOf(st, r.Repository), descOf(r))
	if err != nil {
		return sign.Signature{}, fmt.Errorf("sign %s: %w", r.Ref(), err)
	}
	cs := catalog.Signature{KeyID: sig.KeyID, Digest: sig.Descriptor.Digest, At: c.o.now().UTC()}
	if err := c.cat.AddSignature(ctx, r.Digest, cs); err != nil {
		return sign.Signature{}, fmt.Errorf("record signature of %s: %w", r.Ref(), err)
	}
	return sig, nil
}

// ProvenanceRequest says what an SLSA provenance statement claims beyond
// what the artifact records (builder, source, revision, parents, created).
type ProvenanceRequest struct {
	// BuilderID is a URI naming the build platform; default
	// "https://brickyard.dev/builders/" + the artifact's builder.
	BuilderID string
	// BuildType is a URI; default "https://www.packer.io/build@v1" for a
	// builder named packer*, else "https://brickyard.dev/build@v1".
	BuildType string
	// Started is the build start; default the artifact's build time.
	Started time.Time
}

// Provenance builds the SLSA provenance v1 of r from its stored manifest
// (builder, source, revision, build time), its parents in the catalog (as
// resolved dependencies) and req.
func (c *Client) Provenance(ctx context.Context, r catalog.Record, req ProvenanceRequest) (sign.Provenance, error) {
	st, err := c.StoreOf(r)
	if err != nil {
		return sign.Provenance{}, err
	}
	a, _, _, err := registry.FetchArtifact(ctx, st, r.Repository, descOf(r))
	if err != nil {
		return sign.Provenance{}, fmt.Errorf("provenance of %s: %w", r.Ref(), err)
	}
	p := sign.Provenance{BuilderID: req.BuilderID, BuildType: req.BuildType, Source: a.Build.Source, Revision: a.Build.Revision,
		StartedOn: a.Build.Created, FinishedOn: r.Published}
	builder := a.Build.Builder
	if builder == "" {
		builder = "unknown"
	}
	if p.BuilderID == "" {
		p.BuilderID = "https://brickyard.dev/builders/" + builder
	}
	if p.BuildType == "" {
		p.BuildType = "https://brickyard.dev/build@v1"
		if strings.HasPrefix(builder, "packer") {
			p.BuildType = "https://www.packer.io/build@v1"
		}
	}
	if !req.Started.IsZero() {
		p.StartedOn = req.Started
	}
	if p.FinishedOn.IsZero() {
		p.FinishedOn = c.o.now().UTC()
	}
	for _, d := range r.Parents {
		name := d.String()
		if pr, err := c.cat.Get(ctx, d); err == nil {
			name = pr.Ref()
		}
		p.Dependencies = append(p.Dependencies, sign.Dependency{Name: name, Digest: d})
	}
	return p, nil
}

// Attest signs r's SLSA provenance v1 (see Provenance) as an in-toto DSSE
// attestation stored next to it, as `cosign attest --type slsaprovenance1`
// does. Errors: ErrNoSigner; the store's errors, naming r.
func (c *Client) Attest(ctx context.Context, r catalog.Record, req ProvenanceRequest) (sign.Signature, error) {
	if c.o.signer == nil {
		return sign.Signature{}, fmt.Errorf("attest %s: %w", r.Ref(), ErrNoSigner)
	}
	p, err := c.Provenance(ctx, r, req)
	if err != nil {
		return sign.Signature{}, err
	}
	st, err := c.StoreOf(r)
	if err != nil {
		return sign.Signature{}, err
	}
	stmt, err := sign.ProvenanceStatement(sign.IdentityOf(st, r.Repository), r.Digest, p)
	if err != nil {
		return sign.Signature{}, err
	}
	att, err := c.o.signer.Attest(ctx, st, r.Repository, descOf(r), stmt)
	if err != nil {
		return sign.Signature{}, fmt.Errorf("attest %s: %w", r.Ref(), err)
	}
	return att, nil
}

// VerifiedProvenance is what VerifyProvenance found.
type VerifiedProvenance struct {
	KeyID         string
	PredicateType string
	Provenance    sign.Provenance
}

// VerifyProvenance checks that r carries an SLSA provenance v1
// attestation signed by one of the Client's trusted keys, whose subject is
// r's digest in its repository, and whose base artifacts are exactly the
// parents the catalog records.
//
// Errors: ErrNoTrust (trusted keys are needed, a policy is not enough);
// sign.ErrProvenanceMissing, ErrProvenanceMismatch, ErrUntrusted; store
// errors. Each names r.
func (c *Client) VerifyProvenance(ctx context.Context, r catalog.Record) (VerifiedProvenance, error) {
	if c.o.keys == nil {
		return VerifiedProvenance{}, fmt.Errorf("verify provenance of %s: trusted keys: %w", r.Ref(), ErrNoTrust)
	}
	st, err := c.StoreOf(r)
	if err != nil {
		return VerifiedProvenance{}, err
	}
	att, err := c.o.keys.VerifyAttestation(ctx, st, r.Repository, r.Digest, sign.PredicateSLSAProvenance)
	if err != nil {
		return VerifiedProvenance{}, fmt.Errorf("verify provenance of %s: %w", r.Ref(), err)
	}
	p, err := sign.ParseProvenance(att.Statement)
	if err != nil {
		return VerifiedProvenance{}, err
	}
	if err := p.CheckLineage(r.Parents); err != nil {
		return VerifiedProvenance{}, fmt.Errorf("verify provenance of %s: %w", r.Ref(), err)
	}
	return VerifiedProvenance{KeyID: att.KeyID, PredicateType: att.PredicateType, Provenance: p}, nil
}

// Inspect reads r's manifest and config back from its store and decodes
// them (strictly). It returns the artifact and the raw manifest and config
// bytes.
func (c *Client) Inspect(ctx context.Context, r catalog.Record) (a *artifact.Artifact, manifest, cfg []byte, err error) {
	st, err := c.StoreOf(r)
	if err != nil {
		return nil, nil, nil, err
	}
	a, manifest, cfg, err = registry.FetchArtifact(ctx, st, r.Repository, descOf(r))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s: %w", r.Ref(), err)
	}
	return a, manifest, cfg, nil
}

func descOf(r catalog.Record) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: r.MediaType, Digest: r.Digest, Size: r.Size}
}
