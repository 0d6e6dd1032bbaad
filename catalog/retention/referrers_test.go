package retention

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/catalog"
	"github.com/brickyard/brickyard/registry"
	"github.com/brickyard/brickyard/registry/layout"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestApplyOCIImageReferrers: deleting an OCI-image artifact removes it
// from the referrers of the image it tracks, leaving the other artifacts
// tracking that image listed, and the image itself in place.
func TestApplyOCIImageReferrers(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := layout.New(dir + "/store")
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, st, "oci-layout", dir)
	// The tracked image: an empty config and one layer.
	cfg, _ := st.PushBlob(ctx, "app", ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig}, bytes.NewReader([]byte("{}")))
	layer, _ := st.PushBlob(ctx, "app", ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer}, bytes.NewReader([]byte("layer")))
	mb, _ := json.Marshal(ocispec.Manifest{Versioned: specsVersioned(), MediaType: ocispec.MediaTypeImageManifest, Config: cfg, Layers: []ocispec.Descriptor{layer}})
	img, err := st.PushManifest(ctx, "app", ocispec.MediaTypeImageManifest, mb)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Tag(ctx, "app", img, "image"); err != nil {
		t.Fatal(err)
	}
	var recs []catalog.Record
	for _, v := range []string{"1.0.0", "1.1.0", "1.2.0"} {
		ver, _ := artifact.ParseVersion(v)
		a := &artifact.Artifact{Name: "app", Kind: artifact.KindOCIImage, Version: ver, Build: artifact.Build{Created: time.Now()}, Image: &img}
		e, err := registry.Publish(ctx, st, a)
		if err != nil {
			t.Fatal(err)
		}
		r := catalog.Record{Name: "app", Kind: a.Kind, Version: ver, Digest: e.Descriptor.Digest, Created: a.Build.Created, Store: "oci-layout",
			Repository: "app", MediaType: e.Descriptor.MediaType, Size: e.Descriptor.Size, Actor: "t"}
		if err := f.cat.Record(ctx, r); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	p, err := ParsePolicy([]byte("version: 1\nrules:\n  - names: [app]\n    keep: {newest_per_major: 1}\n"))
	if err != nil {
		t.Fatal(err)
	}
	pl, err := MakePlan(ctx, f.cat, p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Apply(ctx, f.cat, pl, ApplyOptions{Stores: f.stores, Policy: p, Journal: dir + "/journal", Actor: "t"}); err != nil {
		t.Fatal(err)
	}
	refs, err := registry.Referrers(ctx, st, "app", img.Digest, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(refs) != 1 || refs[0].Digest != recs[2].Digest {
		t.Errorf("referrers of the image after deleting 1.0.0 and 1.1.0: %v, want only 1.2.0's %s", refs, recs[2].Digest)
	}
	if _, err := st.Resolve(ctx, "app", "image"); err != nil {
		t.Errorf("the tracked image: %v", err)
	}
}

func specsVersioned() specs.Versioned { return specs.Versioned{SchemaVersion: 2} }
