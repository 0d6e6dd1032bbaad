package retention

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/catalog"
	"github.com/brickyard/brickyard/registry/layout"
	"github.com/opencontainers/go-digest"
)

func TestReport(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := layout.New(dir + "/store")
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, st, "oci-layout", dir)
	f.demoSet(t)
	// An orphan tag, and a record whose manifest is not in the store.
	w := f.recs["web@1.1.1"]
	if err := st.Tag(ctx, "web", Decision{Digest: w.Digest, MediaType: w.MediaType, Size: w.Size}.Descriptor(), "latest"); err != nil {
		t.Fatal(err)
	}
	v, _ := artifact.ParseVersion("1.0.0")
	ghost := catalog.Record{Name: "ghost", Kind: artifact.KindVMDisk, Version: v, Digest: digest.FromString("ghost"), Store: "oci-layout", Repository: "ghost",
		MediaType: w.MediaType, Size: 100, Created: time.Now()}
	if err := f.cat.Record(ctx, ghost); err != nil {
		t.Fatal(err)
	}
	pl, _, _ := planDemo(t, f, dir)
	if err := pl.Measure(ctx, f.stores); err != nil {
		t.Fatal(err)
	}
	rep, err := MakeReport(ctx, f.cat, pl, f.stores)
	if err != nil {
		t.Fatal(err)
	}
	var web Group
	for _, g := range rep.Names {
		if g.Key == "web" {
			web = g
		}
	}
	// 7 versions; the shared disk counted once; prod's 1.0.1 and the
	// in-use rc are not idle; 1.1.0 revoked; all signed; 30 days old.
	if web.Versions != 7 || web.Revoked != 1 || web.Unsigned != 0 || web.Idle != 5 || web.SharedBytes < int64(len(f.shared)) ||
		web.SharedBytes > int64(len(f.shared))+4096 || web.UniqueBytes < 7*16<<10 || web.Ages[2] != 7 {
		t.Errorf("web: %+v", web)
	}
	if len(rep.Owners) != 1 || rep.Owners[0].Versions != 10 {
		t.Errorf("owners %+v", rep.Owners)
	}
	if strings.Join(rep.Orphans, "\n") != "oci-layout web:latest ("+w.Digest.String()+")" {
		t.Errorf("orphans %q", rep.Orphans)
	}
	if len(rep.Dangling) != 1 || !strings.HasPrefix(rep.Dangling[0], "ghost@1.0.0") {
		t.Errorf("dangling %q", rep.Dangling)
	}
	if rep.Deletes != 3 || len(rep.Reclaim) != 1 || rep.Reclaim[0].Bytes == 0 {
		t.Errorf("would delete %d, reclaim %+v", rep.Deletes, rep.Reclaim)
	}
	for _, format := range []string{"svg", "png"} {
		var b bytes.Buffer
		if err := rep.Chart(&b, format); err != nil {
			t.Fatal(err)
		}
		if b.Len() < 1000 || (format == "svg" && !strings.Contains(b.String()[:200], "<svg")) || (format == "png" && !bytes.HasPrefix(b.Bytes(), []byte("\x89PNG"))) {
			t.Errorf("%s chart: %d bytes: %q", format, b.Len(), b.String()[:min(80, b.Len())])
		}
	}
}
