package sqlite_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/catalog"
	"github.com/brickyard/brickyard/catalog/sqlite"
	"github.com/opencontainers/go-digest"
)

// Record a base disk and a machine image built on it, then walk the lineage.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "catalog-example")
	defer os.RemoveAll(dir)
	cat, err := sqlite.Open(ctx, filepath.Join(dir, "catalog.db"))
	if err != nil {
		panic(err)
	}
	defer cat.Close()

	v, _ := artifact.ParseVersion("1.0.0")
	base := catalog.Record{Name: "base", Kind: artifact.KindVMDisk, Version: v, Digest: digest.FromString("base"),
		Created: time.Now(), Repository: "base"}
	web := catalog.Record{Name: "web", Kind: artifact.KindMachineImage, Version: v, Digest: digest.FromString("web"),
		Parents: []digest.Digest{base.Digest}, Created: time.Now(), Repository: "web"}
	for _, r := range []catalog.Record{base, web} {
		if err := cat.Record(ctx, r); err != nil {
			panic(err)
		}
	}
	anc, _ := cat.Ancestors(ctx, web.Digest)
	fmt.Println("web@1.0.0 was built from", anc[0].Ref())
	// Output:
	// web@1.0.0 was built from base@1.0.0
}
