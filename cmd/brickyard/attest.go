package main

import (
	"fmt"
	"os"
	"time"

	"github.com/brickyard/brickyard"
	"github.com/brickyard/brickyard/catalog"
	"github.com/brickyard/brickyard/sign"
	"github.com/brickyard/brickyard/sign/bundle"
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

// request is what the flags ask a provenance statement to claim.
func (f *provenanceFlags) request() (brickyard.ProvenanceRequest, error) {
	r := brickyard.ProvenanceRequest{BuilderID: f.builderID, BuildType: f.buildType}
	if f.started != "" {
		t, err := time.Parse(time.RFC3339, f.started)
		if err != nil {
			return r, usageError{fmt.Errorf("--started %q: want RFC 3339", f.started)}
		}
		r.Started = t
	}
	return r, nil
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
			req, err := pf.request()
			if err != nil {
				return err
			}
			e.opts = append(e.opts, brickyard.WithKeyFile(key, []byte(os.Getenv("COSIGN_PASSWORD"))))
			rec, err := e.openRecord(ctx, argv[0], platform)
			if err != nil {
				return err
			}
			att, err := e.c.Attest(ctx, rec, req)
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
			if err := e.trustKeys(keys, ""); err != nil {
				return err
			}
			rec, err := e.openRecord(ctx, argv[0], platform)
			if err != nil {
				return err
			}
			vp, err := e.c.VerifyProvenance(ctx, rec)
			if err != nil {
				return err
			}
			p, att := vp.Provenance, vp
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
			pol, err := sign.LoadPolicy(argv[0], bundle.PolicyOption())
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
			e.opts = append(e.opts, brickyard.WithPolicy(pol))
			if err := e.open(ctx); err != nil {
				return err
			}
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
				rec, err := e.c.Lookup(ctx, ref, platform)
				if err == nil {
					if st, ch := rec.Status(time.Now()); st == catalog.StateRevoked {
						err = fmt.Errorf("%s@%s is %s: %w", rec.Name, rec.Version, ch.Describe(), catalog.ErrRevoked)
					} else {
						var id string
						if id, err = e.c.Verify(ctx, rec); err == nil {
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
