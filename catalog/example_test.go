package catalog_test

import (
	"context"
	"fmt"

	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/catalog"
	"github.com/opencontainers/go-digest"
)

// versions is a Lister over a fixed list, for the example; real programs
// use catalog/sqlite.
type versions []catalog.Record

func (v versions) Versions(context.Context, string) ([]catalog.Record, error) { return v, nil }
func (v versions) Names(context.Context) ([]string, error)                    { return []string{"web"}, nil }

// signedOnly stands in for sign.StoreVerifier: it trusts the digests it holds.
type signedOnly map[digest.Digest]bool

func (s signedOnly) Verify(_ context.Context, r artifact.Stored) (string, error) {
	if !s[r.Manifest.Digest] {
		return "", catalog.ErrUnsigned
	}
	return "SHA256:example", nil
}

// Resolve picks the newest version in the range that is signed: not the
// unsigned 1.3.0, not the prerelease 1.2.0-rc.1.
func ExampleResolve() {
	var recs versions
	trusted := signedOnly{}
	for _, v := range []string{"1.0.0", "1.1.0", "1.2.0-rc.1", "1.3.0"} {
		ver, _ := artifact.ParseVersion(v)
		r := catalog.Record{Name: "web", Kind: artifact.KindVMDisk, Version: ver, Digest: digest.FromString(v), Repository: "web"}
		recs = append(recs, r)
		if v != "1.3.0" {
			trusted[r.Digest] = true
		}
	}
	r, err := catalog.Resolve(context.Background(), recs, catalog.Query{Name: "web", Constraint: "^1.0"}, trusted)
	fmt.Println(r.Ref(), err)
	_, err = catalog.Resolve(context.Background(), recs, catalog.Query{Name: "web", Constraint: "~1.3"}, trusted)
	fmt.Println(err)
	// Output:
	// web@1.1.0 <nil>
	// web ~1.3: 1 version(s) match, none may be deployed:
	//   1.3.0: unsigned
}
