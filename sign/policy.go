package sign

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/internal/ocistore"
)

// MaxPolicySize is the largest policy file read, in bytes.
const MaxPolicySize = 1 << 20

// Policy is a trust policy: per artifact-name pattern, the keys whose
// signatures are trusted, the owner the artifact must come from, and
// whether signed SLSA provenance is required and from which builders.
//
// A policy file is YAML or JSON, decoded strictly (an unknown field is an
// error):
//
//	version: 1
//	trustedRoot: trusted_root.json     # optional: Sigstore trusted root for bundles' tlog entries and timestamps
//	rules:
//	  - names: ["web", "team/*"]        # path.Match patterns; the first rule that matches applies
//	    keys: ["keys/release.pub"]       # PEM public keys, relative to the policy file
//	    owner:
//	      repositories: ["127.0.0.1:5000/team"]  # repository prefixes (segment-wise)
//	      accounts: ["123456789012"]             # cloud accounts, for machine images
//	    provenance:
//	      required: true
//	      builders: ["https://ci.example/packer"]  # empty: any builder
//
// A rule must name an owner: name-based lookups without one are what the
// "whoAMI" attack exploits. A machine image is trusted only if its account
// is listed in owner.accounts.
type Policy struct {
	Version int `json:"version"`
	// TrustedRoot, if set, is a Sigstore trusted root file (relative to
	// the policy file) that Sigstore bundles are checked against; it needs
	// bundle support (package sign/bundle's PolicyOption).
	TrustedRoot string `json:"trustedRoot,omitempty"`
	Rules       []Rule `json:"rules"`
}

// Rule is one entry of a Policy.
type Rule struct {
	Names      []string        `json:"names"`
	Keys       []string        `json:"keys"`
	Owner      Owner           `json:"owner"`
	Provenance *ProvenanceRule `json:"provenance,omitempty"`

	verifier *Verifier
}

// Owner says where a trusted artifact must come from.
type Owner struct {
	// Repositories are prefixes of the full repository name (see
	// Identifier), matched whole segment by segment: "127.0.0.1:5000/team"
	// matches "127.0.0.1:5000/team/web", not "127.0.0.1:5000/teamevil/web".
	Repositories []string `json:"repositories,omitempty"`
	// Accounts are the cloud accounts (AWS account ids, ...) a machine
	// image may belong to.
	Accounts []string `json:"accounts,omitempty"`
}

// ProvenanceRule says what provenance a rule demands.
type ProvenanceRule struct {
	Required bool     `json:"required"`
	Builders []string `json:"builders,omitempty"`
}

// PolicyOption is an option of LoadPolicy and ParsePolicy.
type PolicyOption func(*policyOptions)

type policyOptions struct {
	bundles func(trustedRoot string) (BundleVerifier, error)
}

// WithBundleSupport makes every rule's verifier also accept Sigstore
// bundles, verified by what load returns for the policy's trustedRoot file
// (an absolute path, or "" if the policy names none). Package sign/bundle
// provides it (bundle.PolicyOption); without it a policy that names a
// trustedRoot is refused, and bundles are not looked for.
func WithBundleSupport(load func(trustedRoot string) (BundleVerifier, error)) PolicyOption {
	return func(o *policyOptions) { o.bundles = load }
}

// LoadPolicy reads and checks a policy file (see ParsePolicy); key paths
// are relative to the file's directory.
func LoadPolicy(file string, opts ...PolicyOption) (*Policy, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	defer f.Close()
	b, err := readLimited(f, MaxPolicySize)
	if err != nil {
		return nil, fmt.Errorf("policy %s: %w", file, err)
	}
	p, err := ParsePolicy(b, filepath.Dir(file), opts...)
	if err != nil {
		return nil, fmt.Errorf("policy %s: %w", file, err)
	}
	return p, nil
}

// ParsePolicy decodes a policy (YAML or JSON, strict) and loads its keys,
// relative to dir. Errors wrap ErrInvalidPolicy (or ErrInvalidKey) and
// name the rule and field at fault.
func ParsePolicy(data []byte, dir string, opts ...PolicyOption) (*Policy, error) {
	var o policyOptions
	for _, opt := range opts {
		opt(&o)
	}
	if len(data) > MaxPolicySize {
		return nil, fmt.Errorf("%w: %d bytes (limit %d)", ErrInvalidPolicy, len(data), MaxPolicySize)
	}
	var p Policy
	if err := yaml.UnmarshalStrict(data, &p); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidPolicy, err)
	}
	if p.Version != 1 {
		return nil, fmt.Errorf("%w: version %d (want 1)", ErrInvalidPolicy, p.Version)
	}
	if len(p.Rules) == 0 {
		return nil, fmt.Errorf("%w: no rules", ErrInvalidPolicy)
	}
	var bundles BundleVerifier
	if p.TrustedRoot != "" && o.bundles == nil {
		return nil, fmt.Errorf("%w: trustedRoot %s: Sigstore bundles are not supported by this program (package sign/bundle)", ErrInvalidPolicy, p.TrustedRoot)
	}
	if o.bundles != nil {
		f := p.TrustedRoot
		if f != "" && !filepath.IsAbs(f) {
			f = filepath.Join(dir, f)
		}
		var err error
		if bundles, err = o.bundles(f); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalidPolicy, err)
		}
	}
	for i := range p.Rules {
		r := &p.Rules[i]
		where := fmt.Sprintf("rule %d", i+1)
		if len(r.Names) == 0 {
			return nil, fmt.Errorf("%w: %s: names is empty", ErrInvalidPolicy, where)
		}
		for _, n := range r.Names {
			if _, err := path.Match(n, ""); err != nil || n == "" {
				return nil, fmt.Errorf("%w: %s: name pattern %q is malformed", ErrInvalidPolicy, where, n)
			}
		}
		where += " (" + strings.Join(r.Names, ", ") + ")"
		if len(r.Keys) == 0 {
			return nil, fmt.Errorf("%w: %s: keys is empty", ErrInvalidPolicy, where)
		}
		if len(r.Owner.Repositories) == 0 && len(r.Owner.Accounts) == 0 {
			return nil, fmt.Errorf("%w: %s: owner names no repository and no account", ErrInvalidPolicy, where)
		}
		for _, o := range append(slices.Clone(r.Owner.Repositories), r.Owner.Accounts...) {
			if strings.TrimSpace(o) == "" {
				return nil, fmt.Errorf("%w: %s: an empty owner", ErrInvalidPolicy, where)
			}
		}
		var pems [][]byte
		for _, k := range r.Keys {
			b := []byte(k)
			if !bytes.Contains(b, []byte("-----BEGIN")) {
				f := k
				if !filepath.IsAbs(f) {
					f = filepath.Join(dir, f)
				}
				var err error
				if b, err = os.ReadFile(f); err != nil {
					return nil, fmt.Errorf("%w: %s: key %s: %v", ErrInvalidPolicy, where, k, err)
				}
			}
			pems = append(pems, b)
		}
		v, err := NewVerifier(pems...)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		if bundles != nil {
			v = v.WithBundles(bundles)
		}
		r.verifier = v
	}
	return &p, nil
}

// For returns the first rule whose names match name, or an error wrapping
// ErrNoPolicy.
func (p *Policy) For(name string) (*Rule, error) {
	for i := range p.Rules {
		for _, pat := range p.Rules[i].Names {
			if ok, _ := path.Match(pat, name); ok {
				return &p.Rules[i], nil
			}
		}
	}
	return nil, fmt.Errorf("%s: %w", name, ErrNoPolicy)
}

// ownsRepository reports whether prefix covers identity segment-wise.
func ownsRepository(prefix, identity string) bool {
	prefix = strings.TrimSuffix(prefix, "/")
	return identity == prefix || strings.HasPrefix(identity, prefix+"/")
}

// PolicyVerifier applies a Policy to artifacts in a store. It satisfies
// catalog.Verifier, so catalog.Resolve applies the policy.
type PolicyVerifier struct {
	Store  Reader
	Policy *Policy
}

// Verify checks artifact a against the policy rule for its name, in this
// order: the repository owner, the signature (Verifier.Verify, bound to
// a.Manifest.Digest), the machine image's account (read from the signed
// manifest; for an index, that of each machine-image member it names),
// and, when the rule requires it, a signed SLSA provenance attestation
// from an allowed builder whose base artifacts are exactly a.Parents. It
// returns the id of the key that verified the signature.
//
// Errors, distinct under errors.Is: ErrNoPolicy, ErrOwnerMismatch,
// ErrUnsigned, ErrUntrusted, ErrInvalidSignature, ErrProvenanceMissing,
// ErrProvenanceMismatch; store errors otherwise.
func (pv PolicyVerifier) Verify(ctx context.Context, a artifact.Stored) (string, error) {
	rule, err := pv.Policy.For(a.Name)
	if err != nil {
		return "", err
	}
	identity := IdentityOf(pv.Store, a.Repository)
	if len(rule.Owner.Repositories) > 0 && !slices.ContainsFunc(rule.Owner.Repositories, func(p string) bool { return ownsRepository(p, identity) }) {
		return "", fmt.Errorf("%s@%s: repository %s is not owned by %s: %w", a.Name, a.Version, identity, strings.Join(rule.Owner.Repositories, ", "), ErrOwnerMismatch)
	}
	v, err := rule.verifier.Verify(ctx, pv.Store, a.Repository, identity, a.Manifest.Digest)
	if err != nil {
		return "", err
	}
	if err := pv.checkAccounts(ctx, a, rule); err != nil {
		return "", err
	}
	if rule.Provenance != nil && rule.Provenance.Required {
		att, err := rule.verifier.VerifyAttestation(ctx, pv.Store, a.Repository, a.Manifest.Digest, PredicateSLSAProvenance)
		if err != nil {
			return "", err
		}
		p, err := ParseProvenance(att.Statement)
		if err != nil {
			return "", fmt.Errorf("%s@%s: %w", a.Name, a.Version, err)
		}
		if len(rule.Provenance.Builders) > 0 && !slices.Contains(rule.Provenance.Builders, p.BuilderID) {
			return "", fmt.Errorf("%s@%s: built by %q, the policy allows [%s]: %w", a.Name, a.Version, p.BuilderID, strings.Join(rule.Provenance.Builders, ", "), ErrProvenanceMismatch)
		}
		if err := p.CheckLineage(a.Parents); err != nil {
			return "", fmt.Errorf("%s@%s: %w", a.Name, a.Version, err)
		}
	}
	return v.KeyID, nil
}

// checkAccounts checks that the machine image r records, or each
// machine-image member of the index r records (reached by the digests the
// signed index names), belongs to an account the rule trusts.
func (pv PolicyVerifier) checkAccounts(ctx context.Context, r artifact.Stored, rule *Rule) error {
	if r.Kind != artifact.KindMachineImage && r.Kind != artifact.KindIndex {
		return nil
	}
	a, _, _, err := ocistore.FetchArtifact(ctx, pv.Store, r.Repository, r.Manifest)
	if err != nil {
		return err
	}
	images, err := ocistore.MachineImages(ctx, pv.Store, r.Repository, a)
	if err != nil {
		return err
	}
	for _, a := range images {
		if a.MachineImage == nil || !slices.Contains(rule.Owner.Accounts, a.MachineImage.Owner) {
			owner := ""
			if a.MachineImage != nil {
				owner = a.MachineImage.Owner
			}
			return fmt.Errorf("%s@%s: machine image of account %q; the policy trusts accounts [%s]: %w", r.Name, r.Version, owner, strings.Join(rule.Owner.Accounts, ", "), ErrOwnerMismatch)
		}
	}
	return nil
}

func readLimited(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%w: over %d bytes", ErrInvalidPolicy, limit)
	}
	return b, nil
}
