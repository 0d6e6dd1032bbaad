package catalogtest

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/catalog"
)

// LineageByDigestSeed is SQL (no placeholders, several statements) that
// writes four artifacts and their parents into a catalog at the schema
// where parents named artifacts by digest (SQLite version 3, PostgreSQL
// version 1): base-ami ← base ← web-image, and web built on web-image and
// base, in that order. A backend's migration test runs it on a database
// migrated that far, opens the catalog (which migrates the rest) and
// calls CheckLineageMigrated.
func LineageByDigestSeed(t testing.TB) string {
	var b strings.Builder
	for _, r := range lineageRecords(t) {
		fmt.Fprintf(&b, `INSERT INTO artifacts (digest, name, kind, version, version_key, platform, created, published, store, repository, media_type, size)
			VALUES ('%s', '%s', '%s', '1.0.0', '1.0.0', 'linux/amd64', 0, 0, 'oci-layout', '%[2]s', 'application/vnd.oci.image.manifest.v1+json', 512);
`, r.Digest, r.Name, r.Kind)
		for i, p := range r.Parents {
			fmt.Fprintf(&b, "INSERT INTO parents (child, position, parent) VALUES ('%s', %d, '%s');\n", r.Digest, i, p)
		}
	}
	return b.String()
}

func lineageRecords(t testing.TB) []catalog.Record {
	ami := rec(t, "base-ami", "1.0.0", artifact.KindMachineImage)
	disk := rec(t, "base", "1.0.0", artifact.KindVMDisk, ami.Digest)
	img := rec(t, "web-image", "1.0.0", artifact.KindOCIImage, disk.Digest)
	web := rec(t, "web", "1.0.0", artifact.KindMachineImage, img.Digest, disk.Digest)
	return []catalog.Record{ami, disk, img, web}
}

// CheckLineageMigrated checks that c, opened on LineageByDigestSeed's
// rows, has kept every parent, in order, and answers lineage queries, and
// that the migrated catalog takes new records built on the old ones.
func CheckLineageMigrated(t *testing.T, c catalog.Catalog) {
	ctx := context.Background()
	rs := lineageRecords(t)
	ami, disk, web := rs[0], rs[1], rs[3]
	got, err := c.Get(ctx, web.Digest)
	must(t, err)
	if fmt.Sprint(got.Parents) != fmt.Sprint(web.Parents) {
		t.Errorf("web's parents after migration: %v, want %v", got.Parents, web.Parents)
	}
	anc, err := c.Ancestors(ctx, web.Digest)
	must(t, err)
	if got := names(anc); got != "[base web-image base-ami]" {
		t.Errorf("Ancestors(web) after migration = %s", got)
	}
	des, err := c.Descendants(ctx, ami.Digest)
	must(t, err)
	if got := names(des); got != "[base web-image web]" {
		t.Errorf("Descendants(base-ami) after migration = %s", got)
	}
	next := rec(t, "web", "1.1.0", artifact.KindMachineImage, web.Digest, disk.Digest)
	must(t, c.Record(ctx, next))
	kids, err := c.Children(ctx, disk.Digest)
	must(t, err)
	if got := names(kids); got != "[web-image web web]" {
		t.Errorf("Children(base) after a new record = %s", got)
	}
}
