package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/brickyard/brickyard/catalog"
	"github.com/brickyard/brickyard/registry"
	"github.com/brickyard/brickyard/sign"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
)

// provenanceFlags say what a provenance statement claims beyond what the
// artifact itself records (builder, source, revision, parents, created).
type provenanceFlags struct {
	builderID string
	buildType string
	started   string
}

func (f *provenanceFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.builderID, "builder-id", "", "SLSA builder id, a URI naming the build platform (default: https://brickyard.dev/builders/<--builder>)")
	fl.StringVar(&f.buildType, "build-type", "", "SLSA build type URI (default: https://www.packer.io/build@v1 for packer builders, else https://brickyard.dev/build@v1)")
	fl.StringVar(&f.started, "started", "", "build start, RFC 3339 (default: the artifact's created time)")
}

// provenance builds the SLSA provenance of rec from its manifest, its
// parents in the catalog, and the flags.
func (f *provenanceFlags) provenance(ctx context.Context, e *env, rec catalog.Record) (sign.Provenance, error) {
	st, err := e.storeOf(rec)
	if err != nil {
		return sign.Provenance{}, err
	}
	a, _, _, err := registry.FetchArtifact(ctx, st, rec.Repository, ocispec.Descriptor{MediaType: rec.MediaType, Digest: rec.Digest, Size: rec.Size})
	if err != nil {
		return sign.Provenance{}, err
	}
	p := sign.Provenance{BuilderID: f.builderID, BuildType: f.buildType, Source: a.Build.Source, Revision: a.Build.Revision,
		StartedOn: a.Build.Created, FinishedOn: rec.Published}
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
	if f.started != "" {
		if p.StartedOn, err = time.Parse(time.RFC3339, f.started); err != nil {
			return sign.Provenance{}, usageError{fmt.Errorf("--started %q: want RFC 3339", f.started)}
		}
	}
	if p.FinishedOn.IsZero() {
		p.FinishedOn = time.Now().UTC()
	}
	for _, d := range rec.Parents {
		name := d.String()
		if pr, err := e.cat.Get(ctx, d); err == nil {
			name = pr.Ref()
		}
		p.Dependencies = append(p.Dependencies, sign.Dependency{Name: name, Digest: d})
	}
	return p, nil
}

// attestProvenance signs rec's provenance as an in-toto/DSSE attestation
// stored next to it, as `cosign attest --type slsaprovenance1` does.
func attestProvenance(ctx context.Context, e *env, s *sign.Signer, f *provenanceFlags, rec catalog.Record) (sign.Signature, error) {
	p, err := f.provenance(ctx, e, rec)
	if err != nil {
		return sign.Signature{}, err
	}
	st, err := e.storeOf(rec)
	if err != nil {
		return sign.Signature{}, err
	}
	stmt, err := sign.ProvenanceStatement(sign.IdentityOf(st, rec.Repository), rec.Digest, p)
	if err != nil {
		return sign.Signature{}, err
	}
	att, err := s.Attest(ctx, st, rec.Repository, ocispec.Descriptor{MediaType: rec.MediaType, Digest: rec.Digest, Size: rec.Size}, stmt)
	if err != nil {
		return sign.Signature{}, fmt.Errorf("attest %s@%s: %w", rec.Name, rec.Version, err)
	}
	return att, nil
}

func newAttestCmd(e *env) *cobra.Command {
	var key, platform string
	var pf provenanceFlags
	cmd := &cobra.Command{
		Use:   "attest REF",
		Short: "Attach signed SLSA provenance v1 to an artifact, as `cosign attest --type slsaprovenance1` does",
		Long: `Build an in-toto Statement v1 with an SLSA provenance v1 predicate for the
artifact REF (NAME@VERSION or digest): its builder, source and revision from
the artifact's build info, its parents from the catalog as resolved
dependencies, and its build times. Sign it as a DSSE envelope with a cosign
private key (password from $COSIGN_PASSWORD) and store it under cosign's
sha256-<hex>.att tag, where cosign verify-attestation finds it.`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			ctx := cmd.Context()
			signer, err := loadSigner(key)
			if err != nil {
				return err
			}
			rec, err := e.openRecord(ctx, argv[0], platform)
			if err != nil {
				return err
			}
			att, err := attestProvenance(ctx, e, signer, &pf, rec)
			if err != nil {
				return err
			}
			if e.json {
				return e.printJSON(map[string]string{"digest": rec.Digest.String(), "keyId": att.KeyID, "tag": att.Tag, "predicateType": sign.PredicateSLSAProvenance})
			}
			fmt.Fprintf(e.out, "attested %s@%s %s by %s (tag %s)\n", rec.Name, rec.Version, rec.Digest, att.KeyID, att.Tag)
			return nil
		},
	}
	cmd.Flags().StringVar(&key, "key", "cosign.key", "cosign private key file")
	cmd.Flags().StringVar(&platform, "platform", "", "pick the platform when a version has several")
	pf.register(cmd)
	return cmd
}

func newVerifyAttestationCmd(e *env) *cobra.Command {
	var keys []string
	var platform string
	cmd := &cobra.Command{
		Use:   "verify-attestation REF",
		Short: "Verify an artifact's SLSA provenance against trusted keys and the catalog's lineage (exit 3 if not trusted)",
		Long: `Verify that the artifact REF carries an SLSA provenance v1 attestation signed
by one of the trusted --key files, whose subject is the artifact's digest in
its own repository, and whose base artifacts are exactly the parents the
catalog records. Prints the builder and the base artifacts.`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			ctx := cmd.Context()
			v, err := loadVerifier(keys, "")
			if err != nil {
				return err
			}
			rec, err := e.openRecord(ctx, argv[0], platform)
			if err != nil {
				return err
			}
			st, err := e.storeOf(rec)
			if err != nil {
				return err
			}
			att, err := v.VerifyAttestation(ctx, st, rec.Repository, sign.IdentityOf(st, rec.Repository), rec.Digest, sign.PredicateSLSAProvenance)
			if err != nil {
				return fmt.Errorf("verify-attestation %s@%s: %w", rec.Name, rec.Version, err)
			}
			p, err := sign.ParseProvenance(att.Statement)
			if err != nil {
				return err
			}
			if err := p.CheckLineage(rec.Parents); err != nil {
				return fmt.Errorf("verify-attestation %s@%s: %w", rec.Name, rec.Version, err)
			}
			if e.json {
				return e.printJSON(struct {
					Digest        string          `json:"digest"`
					KeyID         string          `json:"keyId"`
					PredicateType string          `json:"predicateType"`
					Provenance    sign.Provenance `json:"provenance"`
				}{rec.Digest.String(), att.KeyID, att.PredicateType, p})
			}
			fmt.Fprintf(e.out, "verified provenance of %s@%s %s, signed by %s\n  builder %s\n  build type %s\n", rec.Name, rec.Version, rec.Digest, att.KeyID, p.BuilderID, p.BuildType)
			for _, d := range p.Dependencies {
				fmt.Fprintf(e.out, "  built on %s %s\n", d.Name, d.Digest)
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&keys, "key", nil, "trusted cosign public key file (repeatable)")
	cmd.Flags().StringVar(&platform, "platform", "", "pick the platform when a version has several")
	return cmd
}

func newPolicyCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Check trust policy files and artifacts against them",
	}
	var platform string
	check := &cobra.Command{
		Use:   "check POLICY [REF...]",
		Short: "Check a trust policy file; with REFs, check each artifact against it (exit 3 if one is not trusted)",
		Long: `Decode the trust policy file strictly and load its keys. With REFs
(NAME@VERSION or digest), apply the policy to each: owner, signature,
machine-image account, and provenance where required. Exit 0 if all pass,
3 if one is not trusted, 1 on any other error.`,
		Args: args(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			ctx := cmd.Context()
			pol, err := sign.LoadPolicy(argv[0])
			if err != nil {
				return err
			}
			if len(argv) == 1 {
				if e.json {
					return e.printJSON(map[string]any{"policy": argv[0], "valid": true, "rules": len(pol.Rules)})
				}
				fmt.Fprintf(e.out, "policy %s: valid, %d rule(s)\n", argv[0], len(pol.Rules))
				return nil
			}
			if err := e.open(ctx); err != nil {
				return err
			}
			pv := perStore{e, func(st sign.Reader) catalog.Verifier { return sign.PolicyVerifier{Store: st, Policy: pol} }}
			type result struct {
				Ref     string `json:"ref"`
				Digest  string `json:"digest,omitempty"`
				Trusted bool   `json:"trusted"`
				KeyID   string `json:"keyId,omitempty"`
				Error   string `json:"error,omitempty"`
			}
			var results []result
			var firstErr error
			for _, ref := range argv[1:] {
				rec, err := e.lookup(ctx, ref, platform)
				if err == nil {
					if st, ch := rec.Status(time.Now()); st == catalog.StateRevoked {
						err = fmt.Errorf("%s@%s is %s: %w", rec.Name, rec.Version, ch.Describe(), catalog.ErrRevoked)
					} else {
						var id string
						if id, err = pv.Verify(ctx, rec); err == nil {
							results = append(results, result{Ref: ref, Digest: rec.Digest.String(), Trusted: true, KeyID: id})
							continue
						}
					}
				}
				if firstErr == nil {
					firstErr = err
				}
				results = append(results, result{Ref: ref, Digest: rec.Digest.String(), Error: err.Error()})
			}
			if e.json {
				if err := e.printJSON(results); err != nil {
					return err
				}
			} else {
				for _, r := range results {
					if r.Trusted {
						fmt.Fprintf(e.out, "trusted     %s %s (key %s)\n", r.Ref, r.Digest, r.KeyID)
					} else {
						fmt.Fprintf(e.out, "NOT TRUSTED %s: %s\n", r.Ref, r.Error)
					}
				}
			}
			return firstErr
		},
	}
	check.Flags().StringVar(&platform, "platform", "", "pick the platform when a version has several")
	cmd.AddCommand(check)
	return cmd
}
