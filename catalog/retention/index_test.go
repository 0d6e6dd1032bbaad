package retention

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/catalog"
	"github.com/brickyard/brickyard/registry"
	"github.com/brickyard/brickyard/registry/layout"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// recordingDeleter is an ImageDeleter that records what it is asked.
type recordingDeleter struct{ asked []string }

func (r *recordingDeleter) DeleteImages(_ context.Context, _ digest.Digest, d Decision) error {
	r.asked = append(r.asked, d.Ref())
	return nil
}

// publishIndex publishes NAME@VERSION as an index over one member per
// build: "ami" a machine image, anything else a VM disk of one small disk.
func (f *fixture) publishIndex(t testing.TB, name, version string, builds ...string) catalog.Record {
	t.Helper()
	ctx := context.Background()
	v, err := artifact.ParseVersion(version)
	if err != nil {
		t.Fatal(err)
	}
	created := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	idx := &artifact.Artifact{Name: name, Kind: artifact.KindIndex, Version: v, Build: artifact.Build{Builder: "test", Created: created}}
	for _, b := range builds {
		m := &artifact.Artifact{Name: name, Version: v, Build: artifact.Build{Builder: "test", Created: created}}
		if b == "ami" {
			m.Kind = artifact.KindMachineImage
			m.MachineImage = &artifact.MachineImage{Provider: "aws", Owner: "123456789012", Images: map[string]string{"eu-west-1": "ami-" + name + version}}
		} else {
			m.Kind, m.Platform = artifact.KindVMDisk, artifact.Platform{OS: "linux", Architecture: "amd64"}
			body := []byte("disk " + name + " " + version)
			desc, err := f.store.PushBlob(ctx, name, ocispec.Descriptor{MediaType: artifact.DiskFormat("raw").MediaType()}, bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			m.Disks = []artifact.Disk{{Format: "raw", VirtualSize: desc.Size, Title: "disk.raw", Digest: desc.Digest, Size: desc.Size}}
		}
		e, err := registry.PushArtifact(ctx, f.store, m)
		if err != nil {
			t.Fatal(err)
		}
		idx.Members = append(idx.Members, artifact.MemberDescriptor(e, m.Platform, b))
	}
	idx.Platform = artifact.IndexPlatform(idx.Members)
	e, err := registry.Publish(ctx, f.store, idx)
	if err != nil {
		t.Fatal(err)
	}
	r := catalog.Record{Name: name, Kind: idx.Kind, Version: v, Platform: idx.Platform, Digest: e.Descriptor.Digest, Created: created,
		Store: f.storeName, Repository: name, MediaType: e.Descriptor.MediaType, Size: e.Descriptor.Size, Actor: "test"}
	if err := f.cat.Record(ctx, r); err != nil {
		t.Fatal(err)
	}
	f.recs[r.Ref()] = r
	return r
}

// TestApplyIndexOfMachineImages: deleting an index whose members include
// a machine image asks the ImageDeleter to delete its images (and is
// refused without one); an index of VM disks alone is not its business.
func TestApplyIndexOfMachineImages(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := layout.New(filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, st, "oci-layout", dir)
	f.publishIndex(t, "golden", "1.0.0", "ami", "qemu")
	f.publishIndex(t, "golden", "1.1.0", "qemu")
	f.publishIndex(t, "golden", "1.2.0", "ami", "qemu")
	p, err := ParsePolicy([]byte("version: 1\nrules:\n  - names: [\"golden\"]\n    keep: {newest_per_major: 1}\n"))
	if err != nil {
		t.Fatal(err)
	}
	pl, err := MakePlan(ctx, f.cat, p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var dels []string
	for _, d := range pl.Decisions {
		if d.Delete {
			dels = append(dels, d.Ref())
		}
	}
	slices.Sort(dels)
	if !slices.Equal(dels, []string{"golden@1.0.0", "golden@1.1.0"}) {
		t.Fatalf("plan deletes %v, want golden@1.0.0 and golden@1.1.0", dels)
	}

	if _, err := Apply(ctx, f.cat, pl, ApplyOptions{Stores: f.stores, Policy: p, Journal: filepath.Join(dir, "j0"), Actor: "test"}); !errors.Is(err, ErrNoImageDeleter) {
		t.Fatalf("apply without an image deleter: %v, want ErrNoImageDeleter", err)
	}
	rd := &recordingDeleter{}
	rep, err := Apply(ctx, f.cat, pl, ApplyOptions{Stores: f.stores, Images: rd, Policy: p, Journal: filepath.Join(dir, "j1"), Actor: "test"})
	if err != nil || rep.Deleted != 2 {
		t.Fatalf("apply: %+v %v, want golden@1.0.0 and golden@1.1.0 deleted", rep, err)
	}
	if !slices.Equal(rd.asked, []string{"golden@1.0.0"}) {
		t.Errorf("image deleter asked for %v, want golden@1.0.0", rd.asked)
	}
	for _, d := range pl.Decisions {
		r, err := f.cat.Get(ctx, d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		_, err = st.Resolve(ctx, "golden", d.Version)
		if (r.Deleted != nil) != d.Delete || errors.Is(err, registry.ErrNotFound) != d.Delete {
			t.Errorf("%s: tombstone %+v, tag %v; want deleted %v", d.Ref(), r.Deleted, err, d.Delete)
		}
	}
}
