package sign_test

import (
	"testing"

	"github.com/brickyard/brickyard/sign"
	"github.com/opencontainers/go-digest"
)

// FuzzParsePolicy: any policy file is either refused with an error or
// yields rules that each have names, keys and an owner; never a panic.
func FuzzParsePolicy(f *testing.F) {
	f.Add([]byte("version: 1\nrules:\n- names: [web]\n  keys: ['-----BEGIN PUBLIC KEY-----\n\n    AAAA\n\n    -----END PUBLIC KEY-----']\n  owner: {accounts: ['1']}\n"))
	f.Add([]byte(`{"version":1,"rules":[{"names":["*"],"keys":[],"owner":{}}]}`))
	f.Add([]byte("version: 1\nrules:\n- names: ['[']\n"))
	f.Add([]byte("&a [*a, *a]"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := sign.ParsePolicy(data, dir)
		if err != nil {
			return
		}
		for i, r := range p.Rules {
			if len(r.Names) == 0 || len(r.Keys) == 0 || (len(r.Owner.Repositories) == 0 && len(r.Owner.Accounts) == 0) {
				t.Fatalf("rule %d accepted without names, keys or owner: %+v", i, r)
			}
		}
	})
}

// FuzzParseProvenance: what ParseProvenance accepts round-trips through
// ProvenanceStatement to the same lineage.
func FuzzParseProvenance(f *testing.F) {
	stmt, _ := sign.ProvenanceStatement("web", digest.FromString("web"), sign.Provenance{BuilderID: "b", BuildType: "t",
		Source: "https://git.example/x", Revision: "abc", Dependencies: []sign.Dependency{{Name: "base", Digest: digest.FromString("base")}}})
	f.Add(stmt)
	f.Add([]byte(`{"predicateType":"https://slsa.dev/provenance/v1","predicate":{"buildDefinition":{"resolvedDependencies":[{"digest":{"sha256":"zz"}}]}}}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := sign.ParseProvenance(data)
		if err != nil || p.BuilderID == "" || p.BuildType == "" {
			return
		}
		again, err := sign.ProvenanceStatement("web", digest.FromString("web"), p)
		if err != nil {
			t.Fatalf("re-encoding accepted provenance %+v: %v", p, err)
		}
		q, err := sign.ParseProvenance(again)
		if err != nil || q.CheckLineage(p.Parents()) != nil {
			t.Fatalf("round trip: %+v, %v", q, err)
		}
	})
}
