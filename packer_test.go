package brickyard_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/brickyard/brickyard"
	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/artifact/packer"
)

func TestPublishPackerManifest(t *testing.T) {
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Skip("SKIPPED: qemu-img missing (scripts/install-tools installs it)")
	}
	dir := t.TempDir()
	for _, args := range [][]string{
		{"create", "-q", "-f", "qcow2", filepath.Join(dir, "web.qcow2"), "64M"},
		{"create", "-q", "-f", "vmdk", filepath.Join(dir, "web.vmdk"), "64M"},
	} {
		if out, err := exec.Command("qemu-img", args...).CombinedOutput(); err != nil {
			t.Fatalf("qemu-img: %v\n%s", err, out)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "web.vmx"), []byte(".encoding = \"UTF-8\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	manifest := `{"builds":[
 {"name":"web","builder_type":"qemu","build_time":1764750000,"files":[{"name":"web.qcow2","size":1}],"artifact_id":"VM","packer_run_uuid":"r1"},
 {"name":"web","builder_type":"vmware-iso","build_time":1764750100,"files":[{"name":"web.vmdk","size":1},{"name":"web.vmx","size":1}],"artifact_id":"VM","packer_run_uuid":"r1"}
],"last_run_uuid":"r1"}`
	m, err := packer.ParseManifest(strings.NewReader(manifest))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cl, err := brickyard.Init(ctx, filepath.Join(dir, "home"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close(ctx)
	res, err := cl.PublishPacker(ctx, brickyard.PackerRequest{Meta: brickyard.Meta{Name: "web", Version: "1.4.0"}, Builds: m.Run(""), Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	// Two builders make one version: an index over one artifact per build,
	// named by builder type since both builds are named "web".
	ms, err := cl.Members(ctx, res.Record)
	if err != nil {
		t.Fatal(err)
	}
	if res.Record.Kind != artifact.KindIndex || len(ms) != 2 || len(res.Skipped) != 1 {
		t.Fatalf("published a %s of %d members, skipped %q", res.Record.Kind, len(ms), res.Skipped)
	}
	a, _, _, err := cl.Inspect(ctx, res.Record)
	if err != nil {
		t.Fatal(err)
	}
	if a.Build.Builder != "packer/qemu,vmware-iso" || a.Build.Created.Unix() != 1764750100 ||
		ms[0].Build != "qemu.web" || ms[0].Artifact.Disks[0].Format != artifact.DiskQCOW2 ||
		ms[1].Build != "vmware-iso.web" || ms[1].Artifact.Disks[0].Format != artifact.DiskVMDK || ms[1].Artifact.Build.Builder != "packer/vmware-iso" {
		t.Fatalf("index builder %q created %v; members %+v", a.Build.Builder, a.Build.Created, ms)
	}
	_, err = cl.PublishPacker(ctx, brickyard.PackerRequest{Meta: brickyard.Meta{Name: "web", Version: "1.5.0"},
		Builds: []packer.Build{{Name: "web", BuilderType: "null"}}})
	if !errors.Is(err, packer.ErrNoOutput) {
		t.Fatalf("a build with no files: %v, want packer.ErrNoOutput", err)
	}
}
