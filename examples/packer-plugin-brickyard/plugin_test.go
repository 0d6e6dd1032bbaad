package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/brickyard/brickyard"
	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/catalog"
	"github.com/brickyard/brickyard/sign/cosignkey"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestPackerBuild runs real Packer (built by scripts/build-tools packer into
// the test cache, or $PACKER) with this plugin on HCL templates and checks
// the result through the library. Set PACKER_ACC=1 to make a missing Packer
// fail instead of skip.
type packerRun struct {
	t      *testing.T
	dir    string
	home   string
	packer string
	env    []string
}

func newPackerRun(t *testing.T) *packerRun {
	t.Helper()
	bin := os.Getenv("PACKER")
	if bin == "" {
		cache, _ := os.UserCacheDir()
		if x := os.Getenv("XDG_CACHE_HOME"); x != "" {
			cache = x
		}
		bin = filepath.Join(cache, "brickyard-test", "bin", "packer")
	}
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("PACKER_ACC") != "" {
			t.Fatalf("PACKER_ACC=1 but no packer at %s: run scripts/build-tools packer", bin)
		}
		t.Skipf("SKIPPED: no packer at %s (scripts/build-tools packer builds it; scripts/test does)", bin)
	}
	for _, tool := range []string{"qemu-img"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("SKIPPED: %s missing (scripts/install-tools installs it)", tool)
		}
	}
	dir := t.TempDir()
	plugins := filepath.Join(dir, "plugins")
	exe := "packer-plugin-brickyard"
	if runtime.GOOS == "windows" {
		exe += ".exe"
	}
	build := exec.Command("go", "build", "-o", filepath.Join(plugins, exe), ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build plugin: %v\n%s", err, out)
	}
	r := &packerRun{t: t, dir: dir, home: filepath.Join(dir, "home"), packer: bin,
		env: append(os.Environ(), "CHECKPOINT_DISABLE=1", "PACKER_PLUGIN_PATH="+plugins,
			"COSIGN_PASSWORD=test-password", "PACKER_NO_COLOR=1", "BRICKYARD_HOME=")}
	priv, pub, err := cosignkey.GenerateKeyPair([]byte("test-password"))
	if err != nil {
		t.Fatal(err)
	}
	r.write("cosign.key", string(priv))
	r.write("cosign.pub", string(pub))
	ctx := context.Background()
	cl, err := brickyard.Init(ctx, r.home, brickyard.WithKeyFile(r.path("cosign.key"), []byte("test-password")))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close(context.Background())
	base := r.qcow2("base.qcow2")
	if _, err := cl.PublishDisk(ctx, brickyard.DiskRequest{Meta: brickyard.Meta{Name: "base", Version: "1.0.0", Platform: "linux/amd64", Sign: true}, Files: []string{base}}); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *packerRun) path(name string) string { return filepath.Join(r.dir, name) }

func (r *packerRun) write(name, body string) {
	r.t.Helper()
	if err := os.WriteFile(r.path(name), []byte(body), 0o600); err != nil {
		r.t.Fatal(err)
	}
}

func (r *packerRun) qcow2(name string) string {
	r.t.Helper()
	out, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", r.path(name), "64M").CombinedOutput()
	if err != nil {
		r.t.Fatalf("qemu-img: %v\n%s", err, out)
	}
	return r.path(name)
}

// build runs packer build on the template body, returning its output and
// whether it succeeded.
func (r *packerRun) build(template string) (string, bool) {
	r.t.Helper()
	r.write("build.pkr.hcl", strings.ReplaceAll(template, "HOME", r.home))
	cmd := exec.Command(r.packer, "build", "-color=false", "build.pkr.hcl")
	cmd.Dir, cmd.Env = r.dir, r.env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	r.t.Logf("packer build:\n%s", out.String())
	return out.String(), err == nil
}

func (r *packerRun) client() *brickyard.Client {
	r.t.Helper()
	cl, err := brickyard.Open(context.Background(), r.home, brickyard.WithPublicKeyFiles(r.path("cosign.pub")))
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { cl.Close(context.Background()) })
	return cl
}

// check asserts that ref is published, verifies against cosign.pub, has
// base@1.0.0 as parent and holds n disk files (in its members, for an
// index); it returns the record and its members.
func (r *packerRun) check(ref string, disks int) (catalog.Record, []brickyard.Member) {
	r.t.Helper()
	ctx := context.Background()
	cl := r.client()
	rec, err := cl.Lookup(ctx, ref, "")
	if err != nil {
		r.t.Fatalf("lookup %s: %v", ref, err)
	}
	if _, err := cl.Verify(ctx, rec); err != nil {
		r.t.Fatalf("verify %s: %v", ref, err)
	}
	base, err := cl.Lookup(ctx, "base@1.0.0", "")
	if err != nil {
		r.t.Fatal(err)
	}
	if len(rec.Parents) != 1 || rec.Parents[0] != base.Digest {
		r.t.Fatalf("%s parents = %v, want [%s]", ref, rec.Parents, base.Digest)
	}
	ms, err := cl.Members(ctx, rec)
	if err != nil {
		r.t.Fatal(err)
	}
	n := 0
	for _, m := range ms {
		n += len(m.Artifact.Disks)
	}
	if n != disks {
		r.t.Fatalf("%s has %d disks, want %d", ref, n, disks)
	}
	return rec, ms
}

const artificeTemplate = `
source "null" "web" { communicator = "none" }
build {
  sources = ["source.null.web"]
  provisioner "shell-local" { inline = ["qemu-img create -q -f qcow2 web.qcow2 64M"] }
  post-processors {
    post-processor "artifice" { files = ["web.qcow2"] }
    post-processor "brickyard" {
      home     = "HOME"
      artifact_name = "web"
      version  = "1.4.0"
      platform = "linux/amd64"
      parent   = ["base@1.0.0"]
      key      = "cosign.key"
      channel  = "dev"
    }
  }
}
`

func TestPackerArtifice(t *testing.T) {
	r := newPackerRun(t)
	out, ok := r.build(artificeTemplate)
	if !ok {
		t.Fatalf("packer build failed:\n%s", out)
	}
	if !strings.Contains(out, "brickyard: published web@1.4.0 sha256:") || !strings.Contains(out, "brickyard: channel dev") {
		t.Fatalf("packer build output does not report the publish and channel:\n%s", out)
	}
	r.check("web@1.4.0", 1)
	ch, err := r.client().Catalog().Channel(context.Background(), "web", "dev")
	if err != nil || ch.Version != "1.4.0" {
		t.Fatalf("channel dev = %+v, %v", ch, err)
	}
	// The same build again is refused before it runs: versions are immutable.
	out, ok = r.build(artificeTemplate)
	if ok || !strings.Contains(out, "already published") {
		t.Fatalf("second build of web@1.4.0: ok=%v\n%s", ok, out)
	}
}

func TestPackerFileBuilder(t *testing.T) {
	r := newPackerRun(t)
	r.qcow2("src.qcow2")
	out, ok := r.build(`
source "file" "web" {
  source = "src.qcow2"
  target = "web.qcow2"
}
build {
  sources = ["source.file.web"]
  post-processor "brickyard" {
    home = "HOME"
    artifact_name = "web"
    version = "2.0.0"
    parent = ["base@1.0.0"]
    key = "cosign.key"
  }
}
`)
	if !ok {
		t.Fatalf("packer build failed:\n%s", out)
	}
	r.check("web@2.0.0", 1)
}

func TestPackerTwoBuildersOneVersion(t *testing.T) {
	r := newPackerRun(t)
	r.qcow2("src.qcow2")
	out, ok := r.build(`
source "file" "disk" {
  source = "src.qcow2"
  target = "web-file.qcow2"
}
source "null" "qemu" { communicator = "none" }
build {
  sources = ["source.file.disk", "source.null.qemu"]
  provisioner "shell-local" {
    only   = ["null.qemu"]
    inline = ["qemu-img create -q -f vmdk web.vmdk 64M"]
  }
  post-processors {
    post-processor "artifice" {
      only  = ["null.qemu"]
      files = ["web.vmdk"]
    }
    post-processor "brickyard" {
      home          = "HOME"
      artifact_name = "web"
      version       = "3.0.0"
      parent        = ["base@1.0.0"]
      key           = "cosign.key"
      builds        = ["disk", "qemu"]
    }
  }
}
`)
	if !ok {
		t.Fatalf("packer build failed:\n%s", out)
	}
	// One version: an index over the artifacts of the two builds, the
	// version tag on the index, the index signed.
	rec, ms := r.check("web@3.0.0", 2)
	if rec.Kind != artifact.KindIndex || len(ms) != 2 || ms[0].Build != "disk" || ms[1].Build != "qemu" ||
		ms[0].Artifact.Disks[0].Format != artifact.DiskQCOW2 || ms[1].Artifact.Disks[0].Format != artifact.DiskVMDK {
		t.Fatalf("web@3.0.0 is a %s with members %+v, want an index over the builds disk (qcow2) and qemu (vmdk)", rec.Kind, ms)
	}
	tag, err := r.client().Store().Resolve(context.Background(), "web", "3.0.0")
	if err != nil || tag.Digest != rec.Digest || tag.MediaType != ocispec.MediaTypeImageIndex {
		t.Fatalf("tag 3.0.0 = %+v %v, want the index %s", tag, err, rec.Digest)
	}
	fetched, err := r.client().FetchDisk(context.Background(), rec, r.path("out"), brickyard.FetchOptions{Format: "vmdk"})
	if err != nil || len(fetched) != 1 || fetched[0].Disk.Title != "web.vmdk" {
		t.Fatalf("fetch the vmdk of web@3.0.0: %+v %v", fetched, err)
	}
}

func TestPackerBadSettings(t *testing.T) {
	r := newPackerRun(t)
	tmpl := func(settings string) string {
		return `
source "null" "web" { communicator = "none" }
build {
  sources = ["source.null.web"]
  provisioner "shell-local" { inline = ["qemu-img create -q -f qcow2 web.qcow2 64M"] }
  post-processors {
    post-processor "artifice" { files = ["web.qcow2"] }
    post-processor "brickyard" {
      home = "HOME"
      artifact_name = "web"
` + settings + `
    }
  }
}
`
	}
	r.write("other.key", "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\nbm90IGEga2V5\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n")
	for _, tc := range []struct{ name, settings, want string }{
		{"missing version", ``, "version"},
		{"invalid version", `version = "1.4"`, "version"},
		{"unknown parent", `version = "1.5.0"
      parent = ["nosuch@1.0.0"]`, "parent nosuch@1.0.0"},
		{"key that does not decrypt", `version = "1.5.0"
      key = "other.key"`, "key other.key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, ok := r.build(tmpl(tc.settings))
			if ok || !strings.Contains(out, tc.want) {
				t.Fatalf("packer build: ok=%v, want a failure naming %q:\n%s", ok, tc.want, out)
			}
			if _, err := r.client().Lookup(context.Background(), "web@1.5.0", ""); err == nil {
				t.Fatal("web@1.5.0 was published")
			}
		})
	}
	t.Run("builder artifact with no files", func(t *testing.T) {
		out, ok := r.build(`
source "null" "web" { communicator = "none" }
build {
  sources = ["source.null.web"]
  post-processor "brickyard" {
    home = "HOME"
    artifact_name = "web"
    version = "1.6.0"
  }
}
`)
		if ok || !strings.Contains(out, "no files and no id") {
			t.Fatalf("packer build: ok=%v, want a failure naming the empty artifact:\n%s", ok, out)
		}
	})
}
