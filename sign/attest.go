package sign

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/in-toto/in-toto-golang/in_toto"
	"github.com/in-toto/in-toto-golang/in_toto/slsa_provenance/common"
	slsa1 "github.com/in-toto/in-toto-golang/in_toto/slsa_provenance/v1"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sigstore/sigstore/pkg/signature/dsse"

	"github.com/brickyard/brickyard/internal/errdef"
)

// Statement and predicate types brickyard writes and reads.
const (
	// StatementType is the in-toto Statement v1 type brickyard writes.
	StatementType = "https://in-toto.io/Statement/v1"
	// PredicateSLSAProvenance is the SLSA provenance v1 predicate type,
	// what `cosign verify-attestation --type slsaprovenance1` expects.
	PredicateSLSAProvenance = slsa1.PredicateSLSAProvenance
)

// What cosign writes for an attestation: the DSSE payload type of an
// in-toto statement and the media type of the layer holding the envelope.
const (
	intotoPayloadType = "application/vnd.in-toto+json"
	dsseMediaType     = "application/vnd.dsse.envelope.v1+json"
)

// statementTypes are the in-toto Statement types accepted on read: v1, and
// v0.1, which `cosign attest` still writes.
var statementTypes = []string{StatementType, in_toto.StatementInTotoV01}

// AttestationTag returns cosign's tag for the attestations of manifest d:
// "sha256-<hex>.att".
func AttestationTag(d digest.Digest) string {
	return d.Algorithm().String() + "-" + d.Encoded() + ".att"
}

// Provenance is how an artifact was built, as brickyard states it in an
// SLSA provenance v1 predicate.
type Provenance struct {
	// BuilderID is runDetails.builder.id: the URI of the build platform,
	// e.g. "https://ci.example/packer-runner".
	BuilderID string `json:"builderId"`
	// BuildType is buildDefinition.buildType: a URI naming the kind of
	// build, e.g. "https://www.packer.io/build@v1".
	BuildType string `json:"buildType"`
	// Source and Revision are the source repository and revision; they
	// are written both as externalParameters and as a resolved dependency
	// with digest {"gitCommit": Revision}.
	Source   string `json:"source,omitempty"`
	Revision string `json:"revision,omitempty"`
	// Dependencies are the base artifacts, as resolved dependencies with a
	// sha256 digest: the artifact's lineage.
	Dependencies []Dependency `json:"dependencies,omitempty"`
	// StartedOn and FinishedOn are the build's start and end, UTC, to the
	// second; zero if unknown.
	StartedOn  time.Time `json:"startedOn,omitzero"`
	FinishedOn time.Time `json:"finishedOn,omitzero"`
}

// Dependency is a base artifact a build used.
type Dependency struct {
	Name   string        `json:"name"`   // e.g. "base@1.0.0" or a repository name
	Digest digest.Digest `json:"digest"` // manifest digest (sha256)
}

// Parents returns the digests of p's base artifacts, in order.
func (p Provenance) Parents() []digest.Digest {
	out := make([]digest.Digest, 0, len(p.Dependencies))
	for _, d := range p.Dependencies {
		out = append(out, d.Digest)
	}
	return out
}

// ProvenanceStatement returns the JSON of an in-toto Statement v1 whose
// one subject is the manifest d named identity (the repository name, as
// `cosign attest` writes it) and whose predicate is SLSA provenance v1
// built from p. Errors name a missing builder id or build type or a
// dependency digest that is not sha256.
func ProvenanceStatement(identity string, d digest.Digest, p Provenance) ([]byte, error) {
	if p.BuilderID == "" || p.BuildType == "" {
		return nil, fmt.Errorf("provenance for %s@%s: builder id and build type are required", identity, d)
	}
	if d.Algorithm() != digest.SHA256 {
		return nil, fmt.Errorf("provenance for %s@%s: subject digest must be sha256", identity, d)
	}
	ext := map[string]string{}
	var deps []slsa1.ResourceDescriptor
	if p.Source != "" {
		ext["source"] = p.Source
		dep := slsa1.ResourceDescriptor{URI: p.Source}
		if p.Revision != "" {
			ext["revision"] = p.Revision
			dep.Digest = common.DigestSet{"gitCommit": p.Revision}
		}
		deps = append(deps, dep)
	}
	for _, dep := range p.Dependencies {
		if dep.Digest.Validate() != nil || dep.Digest.Algorithm() != digest.SHA256 {
			return nil, fmt.Errorf("provenance for %s@%s: dependency %s: digest %q is not a sha256 digest", identity, d, dep.Name, dep.Digest)
		}
		deps = append(deps, slsa1.ResourceDescriptor{Name: dep.Name, Digest: common.DigestSet{"sha256": dep.Digest.Encoded()}})
	}
	st := in_toto.ProvenanceStatementSLSA1{
		StatementHeader: in_toto.StatementHeader{
			Type:          StatementType,
			PredicateType: PredicateSLSAProvenance,
			Subject:       []in_toto.Subject{{Name: identity, Digest: common.DigestSet{"sha256": d.Encoded()}}},
		},
		Predicate: slsa1.ProvenancePredicate{
			BuildDefinition: slsa1.ProvenanceBuildDefinition{BuildType: p.BuildType, ExternalParameters: ext, ResolvedDependencies: deps},
			RunDetails:      slsa1.ProvenanceRunDetails{Builder: slsa1.Builder{ID: p.BuilderID}, BuildMetadata: slsa1.BuildMetadata{StartedOn: timePtr(p.StartedOn), FinishedOn: timePtr(p.FinishedOn)}},
		},
	}
	return json.Marshal(st)
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC().Truncate(time.Second)
	return &t
}

// ParseProvenance reads the SLSA provenance v1 predicate of an in-toto
// statement (v1 or v0.1). Dependencies are the resolved dependencies with a
// sha256 digest; the one with a gitCommit digest gives Source and Revision.
// Errors wrap ErrInvalidSignature.
func ParseProvenance(statement []byte) (Provenance, error) {
	var st in_toto.ProvenanceStatementSLSA1
	if err := json.Unmarshal(statement, &st); err != nil {
		return Provenance{}, fmt.Errorf("%w: provenance statement: %v", ErrInvalidSignature, err)
	}
	if st.PredicateType != PredicateSLSAProvenance {
		return Provenance{}, fmt.Errorf("%w: predicate type %q, not %q", ErrInvalidSignature, st.PredicateType, PredicateSLSAProvenance)
	}
	pr := st.Predicate
	p := Provenance{BuilderID: pr.RunDetails.Builder.ID, BuildType: pr.BuildDefinition.BuildType}
	if m := pr.RunDetails.BuildMetadata; m.StartedOn != nil || m.FinishedOn != nil {
		if m.StartedOn != nil {
			p.StartedOn = m.StartedOn.UTC()
		}
		if m.FinishedOn != nil {
			p.FinishedOn = m.FinishedOn.UTC()
		}
	}
	for _, dep := range pr.BuildDefinition.ResolvedDependencies {
		if h, ok := dep.Digest["sha256"]; ok {
			d := digest.NewDigestFromEncoded(digest.SHA256, h)
			if d.Validate() != nil {
				return Provenance{}, fmt.Errorf("%w: dependency %s: bad sha256 %q", ErrInvalidSignature, dep.Name, h)
			}
			p.Dependencies = append(p.Dependencies, Dependency{Name: dep.Name, Digest: d})
			continue
		}
		if c, ok := dep.Digest["gitCommit"]; ok && p.Source == "" {
			p.Source, p.Revision = dep.URI, c
		}
	}
	return p, nil
}

// CheckLineage returns nil if the provenance's base artifacts are exactly
// parents (in any order), else an error wrapping ErrProvenanceMismatch that
// lists both.
func (p Provenance) CheckLineage(parents []digest.Digest) error {
	a, b := slices.Clone(p.Parents()), slices.Clone(parents)
	slices.Sort(a)
	slices.Sort(b)
	if slices.Equal(slices.Compact(a), slices.Compact(b)) {
		return nil
	}
	return fmt.Errorf("%w: provenance names base artifacts %v, the catalog records %v", ErrProvenanceMismatch, a, b)
}

// Attest signs statement (an in-toto statement JSON whose subjects include
// desc.Digest) as a DSSE envelope of payload type application/vnd.in-toto+json
// and stores it as `cosign attest --key` does: a layer of media type
// application/vnd.dsse.envelope.v1+json, annotated with its predicateType,
// in the manifest tagged AttestationTag(desc.Digest), appended to the
// attestations already there.
func (s *Signer) Attest(ctx context.Context, st Writer, repo string, desc ocispec.Descriptor, statement []byte) (Signature, error) {
	var hdr in_toto.StatementHeader
	if err := json.Unmarshal(statement, &hdr); err != nil {
		return Signature{}, fmt.Errorf("attest %s@%s: statement: %w", repo, desc.Digest, err)
	}
	if !slices.Contains(statementTypes, hdr.Type) || hdr.PredicateType == "" {
		return Signature{}, fmt.Errorf("attest %s@%s: statement type %q with predicate type %q: not an in-toto statement", repo, desc.Digest, hdr.Type, hdr.PredicateType)
	}
	if !subjectsInclude(hdr.Subject, desc.Digest) {
		return Signature{}, fmt.Errorf("attest %s@%s: the statement's subjects do not include %s", repo, desc.Digest, desc.Digest)
	}
	env, err := dsse.WrapSigner(s.sv, intotoPayloadType).SignMessage(bytes.NewReader(statement))
	if err != nil {
		return Signature{}, fmt.Errorf("attest %s@%s: %w", repo, desc.Digest, err)
	}
	att := sigLayer{payload: env, mediaType: dsseMediaType, annotations: map[string]string{"predicateType": hdr.PredicateType, sigAnnotation: ""}} // cosign reads the (empty) signature annotation on every layer
	return s.store(ctx, st, repo, desc, AttestationTag(desc.Digest), att)
}

// store appends sig to the signatures or attestations under tag.
func (s *Signer) store(ctx context.Context, st Writer, repo string, desc ocispec.Descriptor, tag string, sig sigLayer) (Signature, error) {
	sd, err := addSignatures(ctx, st, repo, tag, []sigLayer{sig}, nil)
	if err != nil {
		return Signature{}, fmt.Errorf("sign %s@%s: %w", repo, desc.Digest, err)
	}
	return Signature{Digest: desc.Digest, KeyID: s.keyID, Tag: tag, Descriptor: sd}, nil
}

func subjectsInclude(subjects []in_toto.Subject, d digest.Digest) bool {
	for _, s := range subjects {
		if s.Digest[string(d.Algorithm())] == d.Encoded() {
			return true
		}
	}
	return false
}

// Attestation is a verified attestation.
type Attestation struct {
	Digest        digest.Digest // the subject manifest digest that was verified
	KeyID         string        // the trusted key that signed the envelope
	PredicateType string
	Statement     []byte // the in-toto statement JSON, as signed
}

// VerifyOption configures Verifier.VerifyAttestation.
type VerifyOption func(*verifyOptions)

type verifyOptions struct{ identity string }

// WithIdentity has VerifyAttestation expect identity as the statement's
// subject name instead of IdentityOf(st, repo).
func WithIdentity(identity string) VerifyOption {
	return func(o *verifyOptions) { o.identity = identity }
}

// VerifyAttestation checks that manifest d in repository repo has an
// attestation of predicateType, stored under AttestationTag(d) as
// `cosign attest` stores it, whose DSSE envelope verifies with a trusted key
// (as cosign checks it: payload type application/vnd.in-toto+json, a
// signature over its DSSE pre-authentication encoding; offline) and whose
// statement names d and the repository's identity as its subject:
// IdentityOf(st, repo), as Sign and Attest name it, or the one
// WithIdentity gives (an attestation copied from another store names the
// repository it was made in). It returns the first that does.
//
// Errors: ErrProvenanceMissing if there is no attestation of that type;
// ErrUntrusted if none verifies with a trusted key; ErrInvalidSignature if
// one verifies but is for another digest or repository, or is malformed.
func (v *Verifier) VerifyAttestation(ctx context.Context, st Reader, repo string, d digest.Digest, predicateType string, opts ...VerifyOption) (Attestation, error) {
	o := verifyOptions{identity: IdentityOf(st, repo)}
	for _, opt := range opts {
		opt(&o)
	}
	identity := o.identity
	if err := d.Validate(); err != nil {
		return Attestation{}, fmt.Errorf("verify attestation %s@%s: %w", repo, d, err)
	}
	atts, err := loadSignatures(ctx, st, repo, AttestationTag(d))
	if err != nil && !errors.Is(err, errdef.ErrNotFound) {
		return Attestation{}, fmt.Errorf("verify attestation %s@%s: %w", repo, d, err)
	}
	var invalid error
	n := 0
	for _, att := range atts {
		if pt := att.annotations["predicateType"]; pt != "" && pt != predicateType {
			continue
		}
		n++
		for _, k := range v.keys {
			if !k.verifiesEnvelope(att) {
				continue
			}
			stmt, err := checkStatement(att, d, identity, predicateType)
			if err != nil {
				invalid = err
				continue
			}
			return Attestation{Digest: d, KeyID: k.ID, PredicateType: predicateType, Statement: stmt}, nil
		}
	}
	switch {
	case invalid != nil:
		return Attestation{}, fmt.Errorf("%s@%s: %w", repo, d, invalid)
	case n == 0:
		return Attestation{}, fmt.Errorf("%s@%s: no %s attestation: %w", repo, d, predicateType, ErrProvenanceMissing)
	}
	return Attestation{}, fmt.Errorf("%s@%s: %d %s attestation(s), none by a trusted key: %w", repo, d, n, predicateType, ErrUntrusted)
}

// checkStatement decodes a verified envelope and checks its statement's
// type, predicate type and subject.
func checkStatement(att sigLayer, d digest.Digest, identity, predicateType string) ([]byte, error) {
	var env struct {
		Payload string `json:"payload"`
	}
	if err := json.Unmarshal(att.payload, &env); err != nil {
		return nil, fmt.Errorf("%w: envelope: %v", ErrInvalidSignature, err)
	}
	stmt, err := base64.StdEncoding.DecodeString(env.Payload)
	if err != nil {
		return nil, fmt.Errorf("%w: envelope payload: %v", ErrInvalidSignature, err)
	}
	var hdr in_toto.StatementHeader
	if err := json.Unmarshal(stmt, &hdr); err != nil {
		return nil, fmt.Errorf("%w: statement: %v", ErrInvalidSignature, err)
	}
	switch {
	case !slices.Contains(statementTypes, hdr.Type):
		return nil, fmt.Errorf("%w: statement type %q", ErrInvalidSignature, hdr.Type)
	case hdr.PredicateType != predicateType:
		return nil, fmt.Errorf("%w: predicate type %q, not %q", ErrInvalidSignature, hdr.PredicateType, predicateType)
	}
	for _, s := range hdr.Subject {
		if s.Digest[string(d.Algorithm())] == d.Encoded() {
			if s.Name != identity {
				return nil, fmt.Errorf("%w: statement subject names %q, not %q (copied from another repository?)", ErrInvalidSignature, s.Name, identity)
			}
			return stmt, nil
		}
	}
	return nil, fmt.Errorf("%w: the statement's subjects do not include %s", ErrInvalidSignature, d)
}

// verifiesEnvelope reports whether att, a DSSE envelope of an in-toto
// statement, is signed by k, as cosign's verifyOCIAttestation checks it.
func (k trustedKey) verifiesEnvelope(att sigLayer) bool {
	var env struct {
		PayloadType string `json:"payloadType"`
	}
	if json.Unmarshal(att.payload, &env) != nil || env.PayloadType != intotoPayloadType {
		return false
	}
	for _, sv := range k.vs {
		if dsse.WrapVerifier(sv).VerifySignature(bytes.NewReader(att.payload), nil) == nil {
			return true
		}
	}
	return false
}
