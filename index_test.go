package brickyard_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/brickyard/brickyard"
	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/artifact/packer"
	"github.com/brickyard/brickyard/catalog"
	"github.com/brickyard/brickyard/registry"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestPublishPackerIndex publishes the builds of one `packer build` with
// several builders as one version, an OCI image index over one artifact
// per build, signed once (the index digest), and checks that it resolves
// for its platform, verifies, fetches the disk of the build asked for and
// records its parent; then that a failed publish leaves no version and an
// identical one is a no-op.
func TestPublishPackerIndex(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	key, pub := p384(t, dir)
	c, err := brickyard.Init(ctx, filepath.Join(dir, "home"), brickyard.WithCryptoSigner(key), brickyard.WithPublicKeyFiles(pub))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	base := qcow2(t, dir, "base.qcow2", "16M")
	pb, err := c.PublishDisk(ctx, brickyard.DiskRequest{Meta: brickyard.Meta{Name: "base", Version: "1.0.0", Platform: "linux/amd64", Sign: true}, Files: []string{base}})
	if err != nil {
		t.Fatal(err)
	}
	qemu := qcow2(t, dir, "web.qcow2", "32M")
	raw := filepath.Join(dir, "web.img")
	if err := os.WriteFile(raw, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	meta := brickyard.Meta{Name: "web", Version: "1.4.0", Platform: "linux/amd64", Parents: []string{"base@1.0.0"}, Sign: true}

	cases := []struct {
		name    string
		version string
		builds  []packer.Build
		kinds   []artifact.Kind
		format  string // the disk fetched
	}{
		{"qcow2 and file", "1.4.0", []packer.Build{
			{Name: "qemu.web", BuilderID: "transcend.qemu", BuildTime: 1764750000, Files: []packer.File{{Name: qemu}}},
			{Name: "file.web", BuilderID: "packer.file", BuildTime: 1764750000, Files: []packer.File{{Name: raw}}, ArtifactID: "File"},
		}, []artifact.Kind{artifact.KindVMDisk, artifact.KindVMDisk}, "raw"},
		{"AMI and qcow2", "1.5.0", []packer.Build{
			{Name: "amazon-ebs.web", BuilderID: "mitchellh.amazonebs", BuildTime: 1764750000, ArtifactID: "eu-west-1:ami-0123456789abcdef0,us-east-1:ami-0fedcba9876543210"},
			{Name: "qemu.web", BuilderID: "transcend.qemu", BuildTime: 1764750000, Files: []packer.File{{Name: qemu}}},
		}, []artifact.Kind{artifact.KindMachineImage, artifact.KindVMDisk}, "qcow2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := meta
			m.Version = tc.version
			res, err := c.PublishPacker(ctx, brickyard.PackerRequest{Meta: m, Builds: tc.builds, Owner: "123456789012"})
			if err != nil {
				t.Fatal(err)
			}
			r := res.Record
			if r.Kind != artifact.KindIndex || r.MediaType != ocispec.MediaTypeImageIndex || r.Platform.String() != "linux/amd64" ||
				len(r.Parents) != 1 || r.Parents[0] != pb.Record.Digest || res.Signature == nil || len(r.Signatures) != 1 {
				t.Fatalf("record %+v, signature %v", r, res.Signature)
			}
			// The version tag holds the index; each member is reachable from it.
			tag, err := c.Store().Resolve(ctx, "web", res.Tag)
			if err != nil || tag.Digest != r.Digest {
				t.Fatalf("tag %s = %s %v, want the index %s", res.Tag, tag.Digest, err, r.Digest)
			}
			ms, err := c.Members(ctx, r)
			if err != nil {
				t.Fatal(err)
			}
			for i, mem := range ms {
				if mem.Artifact.Kind != tc.kinds[i] || mem.Build != tc.builds[i].Name || mem.Descriptor.Platform == nil ||
					mem.Artifact.Parents[0] != pb.Record.Digest || mem.Artifact.Version.Original() != tc.version {
					t.Errorf("member %d: %s %+v", i, mem.Build, mem.Artifact)
				}
			}
			got, err := c.Resolve(ctx, brickyard.Query{Name: "web", Range: tc.version, Platform: "linux/amd64"})
			if err != nil || got.Digest != r.Digest {
				t.Fatalf("resolve = %s %v, want the index %s", got.Digest, err, r.Digest)
			}
			if _, err := c.Verify(ctx, got); err != nil {
				t.Fatal(err)
			}
			kids, err := c.Catalog().Children(ctx, pb.Record.Digest)
			if err != nil || kids[len(kids)-1].Digest != r.Digest {
				t.Errorf("children of base: %v %v", refs(kids), err)
			}
			fetched, err := c.FetchDisk(ctx, got, filepath.Join(dir, tc.name), brickyard.FetchOptions{Format: tc.format, Platform: "linux/amd64"})
			if err != nil || len(fetched) != 1 || string(fetched[0].Disk.Format) != tc.format {
				t.Fatalf("fetch %s: %+v %v", tc.format, fetched, err)
			}
			if _, err := c.FetchDisk(ctx, got, filepath.Join(dir, tc.name), brickyard.FetchOptions{Platform: "linux/arm64"}); !errors.Is(err, brickyard.ErrWrongKind) {
				t.Errorf("fetch for arm64: %v, want ErrWrongKind", err)
			}
			// The same builds again are a no-op; other content is refused.
			again, err := c.PublishPacker(ctx, brickyard.PackerRequest{Meta: m, Builds: tc.builds, Owner: "123456789012"})
			if err != nil || !again.Existed || again.Record.Digest != r.Digest {
				t.Errorf("the same builds again: %+v %v, want a no-op", again.Published, err)
			}
			other := append([]packer.Build(nil), tc.builds...)
			other[0].BuildTime++
			if _, err := c.PublishPacker(ctx, brickyard.PackerRequest{Meta: m, Builds: other, Owner: "123456789012"}); !errors.Is(err, registry.ErrImmutableTag) {
				t.Errorf("other content under %s: %v, want ErrImmutableTag", tc.version, err)
			}
		})
	}

	// A member that fails leaves no version: no tag, no record.
	notDisk := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(notDisk, []byte("not a disk"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = c.PublishIndex(ctx, brickyard.IndexRequest{Meta: brickyard.Meta{Name: "web", Version: "2.0.0"}, Members: []brickyard.MemberRequest{
		{Build: "qemu.web", Files: []string{qemu}},
		{Build: "broken.web", Files: []string{notDisk}},
	}})
	if err == nil {
		t.Fatal("an index with a member that is not a disk was published")
	}
	if _, err := c.Store().Resolve(ctx, "web", "2.0.0"); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("the failed publish left the version tag: %v", err)
	}
	if _, err := c.Lookup(ctx, "web@2.0.0", ""); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("the failed publish left a record: %v", err)
	}
	r, err := c.LookupImageID(ctx, "ami-0fedcba9876543210")
	if err != nil || r.Ref() != "web@1.5.0" {
		t.Errorf("LookupImageID = %s %v, want the index web@1.5.0", r.Ref(), err)
	}
}
