package main

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/brickyard/brickyard/registry/registrytest"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"
)

// cli runs brickyard in-process with a home in dir and returns its stdout,
// stderr and exit code.
type cli struct {
	t    *testing.T
	dir  string
	home string
}

func newCLI(t *testing.T) *cli {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("COSIGN_PASSWORD", "test-password")
	t.Setenv("SOURCE_DATE_EPOCH", "1795510800")
	c := &cli{t: t, dir: dir, home: filepath.Join(dir, "home")}
	c.ok("init")
	c.ok("keygen", "--output-key-prefix", filepath.Join(dir, "cosign"))
	return c
}

func (c *cli) run(argv ...string) (stdout, stderr string, code int) {
	var out, errb bytes.Buffer
	cmd := newRootCmd(&out, &errb)
	cmd.SetArgs(append([]string{"--home", c.home}, argv...))
	err := cmd.ExecuteContext(context.Background())
	if err != nil {
		errb.WriteString("brickyard: " + err.Error() + "\n")
	}
	return out.String(), errb.String(), exitCode(err)
}

func (c *cli) ok(argv ...string) string {
	c.t.Helper()
	out, errs, code := c.run(argv...)
	if code != 0 {
		c.t.Fatalf("brickyard %s: exit %d\n%s%s", strings.Join(argv, " "), code, out, errs)
	}
	return out
}

// fail runs argv, expecting exit code want and stderr mentioning every one of msgs.
func (c *cli) fail(want int, msgs []string, argv ...string) {
	c.t.Helper()
	out, errs, code := c.run(argv...)
	if code != want {
		c.t.Fatalf("brickyard %s: exit %d, want %d\n%s%s", strings.Join(argv, " "), code, want, out, errs)
	}
	for _, m := range msgs {
		if !strings.Contains(errs, m) {
			c.t.Errorf("brickyard %s: stderr does not mention %q:\n%s", strings.Join(argv, " "), m, errs)
		}
	}
}

func (c *cli) key() string    { return filepath.Join(c.dir, "cosign.key") }
func (c *cli) pubKey() string { return filepath.Join(c.dir, "cosign.pub") }

// disk makes a real disk with qemu-img, or a raw disk when qemu-img is missing.
func (c *cli) disk(name, format string) string {
	c.t.Helper()
	p := filepath.Join(c.dir, name)
	if _, err := exec.LookPath("qemu-img"); err != nil {
		if format != "raw" {
			c.t.Skipf("qemu-img not installed (scripts/test installs qemu-utils): cannot make a %s disk", format)
		}
		if err := os.WriteFile(p, make([]byte, 1<<20), 0o644); err != nil {
			c.t.Fatal(err)
		}
		return p
	}
	if out, err := exec.Command("qemu-img", "create", "-q", "-f", format, p, "64M").CombinedOutput(); err != nil {
		c.t.Fatalf("qemu-img: %v\n%s", err, out)
	}
	return p
}

// image writes a real container image, made of real files, to an OCI layout
// and returns "DIR:TAG".
func (c *cli) image() string {
	c.t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, body := range map[string]string{"srv/www/index.html": "<h1>hello</h1>\n", "etc/motd": "brickyard\n"} {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			c.t.Fatal(err)
		}
		tw.Write([]byte(body))
	}
	tw.Close()
	layer, err := tarball.LayerFromReader(bytes.NewReader(buf.Bytes()), tarball.WithMediaType(types.OCILayer))
	if err != nil {
		c.t.Fatal(err)
	}
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err := mutate.AppendLayers(base, layer)
	if err != nil {
		c.t.Fatal(err)
	}
	dir := filepath.Join(c.dir, "image")
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		c.t.Fatal(err)
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": "1.0"})); err != nil {
		c.t.Fatal(err)
	}
	return dir + ":1.0"
}

func TestEndToEnd(t *testing.T) {
	c := newCLI(t)
	q, v := c.disk("base.qcow2", "qcow2"), c.disk("base.vmdk", "vmdk")
	c.ok("publish", "vm-disk", "base", "1.0.0", q, v, "--platform", "linux/amd64", "--key", c.key())
	for _, ver := range []string{"1.1.0", "1.2.0-rc.1"} {
		d := c.disk("web-"+ver+".qcow2", "qcow2")
		c.ok("publish", "vm-disk", "web", ver, d, "--platform", "linux/amd64", "--parent", "base@1.0.0", "--key", c.key())
	}
	c.ok("publish", "vm-disk", "web", "1.3.0", c.disk("web-1.3.0.raw", "raw"), "--platform", "linux/amd64", "--parent", "base@1.0.0")
	c.ok("publish", "oci-image", "web-container", "1.1.0", "--from", c.image(), "--parent", "base@1.0.0", "--key", c.key())
	c.ok("publish", "machine-image", "web-ami", "1.1.0", "--owner", "123456789012",
		"--image", "eu-west-1=ami-1", "--image", "us-east-1=ami-2", "--parent", "base@1.0.0", "--key", c.key())

	var got recordJSON
	if err := json.Unmarshal([]byte(c.ok("--json", "resolve", "web", "^1.0", "--platform", "linux/amd64", "--key", c.pubKey())), &got); err != nil {
		t.Fatal(err)
	}
	if got.Version != "1.1.0" || len(got.SignedBy) != 1 {
		t.Fatalf("resolve web ^1.0 = %+v, want the signed 1.1.0", got)
	}
	if out := c.ok("resolve", "web", ">=1.2.0-rc.0", "--key", c.pubKey()); !strings.HasPrefix(out, "web@1.2.0-rc.1 sha256:") {
		t.Errorf("a range naming a prerelease should get it: %q", out)
	}
	c.fail(exitUntrusted, []string{"web", "unsigned"}, "verify", "web@1.3.0", "--key", c.pubKey())
	c.fail(exitUntrusted, []string{"~1.3"}, "resolve", "web", "~1.3", "--key", c.pubKey())
	c.fail(exitNotFound, []string{"^9"}, "resolve", "web", "^9", "--key", c.pubKey())
	c.ok("verify", "web-ami@1.1.0", "--key", c.pubKey())
	c.fail(exitError, []string{"trusted root", "no-such-root.json"}, "verify", "web-ami@1.1.0", "--key", c.pubKey(), "--trusted-root", "no-such-root.json")
	c.fail(exitUsage, []string{"--trusted-root"}, "resolve", "web", "^1", "--policy", "p.yaml", "--trusted-root", "r.json")
	c.ok("verify", "web-container@1.1.0", "--key", c.pubKey())

	var list []recordJSON
	if err := json.Unmarshal([]byte(c.ok("list", "--json")), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 6 {
		t.Errorf("list: %d records, want 6", len(list))
	}
	var tree node
	if err := json.Unmarshal([]byte(c.ok("lineage", "base@1.0.0", "--descendants", "--json")), &tree); err != nil {
		t.Fatal(err)
	}
	if len(tree.Next) != 5 {
		t.Errorf("base has %d descendants, want 5: %+v", len(tree.Next), tree)
	}
	if out := c.ok("lineage", "web@1.1.0"); !strings.Contains(out, "└── base@1.0.0") {
		t.Errorf("lineage of web@1.1.0 does not show base:\n%s", out)
	}
	if out := c.ok("inspect", "web-ami@1.1.0"); !strings.Contains(out, `"ami-2"`) || !strings.Contains(out, "application/vnd.brickyard.machine-image.v1") {
		t.Errorf("inspect: %s", out)
	}
	if _, err := exec.LookPath("skopeo"); err == nil {
		out, err := exec.Command("skopeo", "inspect", "--raw", "oci:"+filepath.Join(c.home, "store", "base")+":1.0.0").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "application/vnd.brickyard.disk.vmdk") {
			t.Errorf("skopeo inspect --raw: %v\n%s", err, out)
		}
	}
}

func TestBadInput(t *testing.T) {
	c := newCLI(t)
	d := c.disk("a.raw", "raw")
	for _, v := range []string{"1.2", "v1.2.3.4", "latest"} {
		c.fail(exitUsage, []string{v, "version"}, "publish", "vm-disk", "web", v, d)
	}
	for _, n := range []string{"Web", "a/../b", strings.Repeat("x", 300)} {
		c.fail(exitUsage, []string{"name"}, "publish", "vm-disk", n, "1.0.0", d)
	}
	c.fail(exitNotFound, []string{"base@1.0.0", "parent"}, "publish", "vm-disk", "web", "1.0.0", d, "--parent", "base@1.0.0")
	missing := filepath.Join(c.dir, "missing.qcow2")
	c.fail(exitError, []string{missing}, "publish", "vm-disk", "web", "1.0.0", missing)
	text := filepath.Join(c.dir, "notes.txt")
	os.WriteFile(text, []byte("not a disk\n"), 0o644)
	c.fail(exitError, []string{text}, "publish", "vm-disk", "web", "1.0.0", text)

	c.ok("publish", "vm-disk", "web", "1.0.0", d)
	other := filepath.Join(c.dir, "b.raw")
	os.WriteFile(other, bytes.Repeat([]byte{1}, 1<<20), 0o644)
	c.fail(exitError, []string{"web@1.0.0", "immutable"}, "publish", "vm-disk", "web", "1.0.0", other)

	t.Setenv("COSIGN_PASSWORD", "wrong")
	c.fail(exitError, []string{"password"}, "sign", "web@1.0.0", "--key", c.key())
	c.fail(exitUsage, []string{"unknown flag"}, "list", "--bogus")
	c.fail(exitUsage, []string{"RANGE", "--channel"}, "resolve", "web", "--key", c.pubKey())
	c.fail(exitError, []string{"brickyard init"}, "--home", filepath.Join(c.dir, "nowhere"), "list")
}

func TestCopyToRegistryAndBack(t *testing.T) {
	host := registrytest.StartDistribution(t)
	c := newCLI(t)
	c.ok("publish", "vm-disk", "base", "1.0.0", c.disk("base.raw", "raw"), "--key", c.key())
	out := c.ok("copy", "base@1.0.0", host+"/golden/base:1.0.0")
	if !strings.Contains(out, "copied home store base:1.0.0 sha256:") || !strings.HasSuffix(strings.TrimSpace(out), " to "+host+"/golden/base:1.0.0") {
		t.Errorf("copy said %q", out)
	}
	other := &cli{t: t, dir: c.dir, home: filepath.Join(c.dir, "home2")}
	other.ok("init")
	var res map[string]string
	if err := json.Unmarshal([]byte(other.ok("--json", "copy", host+"/golden/base:1.0.0", "base:1.0.0", "--key", c.pubKey())), &res); err != nil {
		t.Fatal(err)
	}
	// Copied into a home store: recorded in its catalog, signature and all.
	if res["recorded"] != "base@1.0.0" {
		t.Errorf("copy into the home store recorded %q, want base@1.0.0", res["recorded"])
	}
	other.ok("verify", "base@1.0.0", "--key", c.pubKey())
	if out := other.ok("list"); !strings.Contains(out, "yes") {
		t.Errorf("list after the copy does not show base 1.0.0 signed:\n%s", out)
	}
	var pub recordJSON
	if err := json.Unmarshal([]byte(c.ok("--json", "resolve", "base", "1.0.0", "--key", c.pubKey())), &pub); err != nil {
		t.Fatal(err)
	}
	if res["digest"] != pub.Digest.String() {
		t.Errorf("digest changed on the way: %s, published %s", res["digest"], pub.Digest)
	}
	c.fail(exitUsage, []string{"keeps the tag"}, "copy", "base@1.0.0", host+"/golden/base:2.0.0")

	// A large blob gets a progress bar on stderr when asked for.
	big := filepath.Join(c.dir, "big.raw")
	if err := os.WriteFile(big, bytes.Repeat([]byte{7}, 8<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	c.ok("publish", "vm-disk", "big", "1.0.0", big)
	_, errs, code := c.run("--progress", "always", "copy", "big@1.0.0", host+"/golden/big:1.0.0")
	if code != 0 || !strings.Contains(errs, "copy ") || !strings.Contains(errs, "100%") {
		t.Errorf("copy with --progress always: exit %d, stderr %q", code, errs)
	}
	c.fail(exitNotFound, []string{"9.9.9"}, "copy", "base:9.9.9", host+"/golden/base:9.9.9")
}

// TestTrackImagePushedBySkopeo: an image that skopeo pushed to a registry
// is tracked as an OCI-image artifact whose subject is exactly that image.
func TestTrackImagePushedBySkopeo(t *testing.T) {
	if _, err := exec.LookPath("skopeo"); err != nil {
		t.Skip("SKIPPED LOUDLY: skopeo is not installed (scripts/test installs it)")
	}
	host := registrytest.StartDistribution(t)
	c := newCLI(t)
	dir, tag, _ := strings.Cut(c.image(), ":")
	if out, err := exec.Command("skopeo", "copy", "--dest-tls-verify=false", "oci:"+dir+":"+tag, "docker://"+host+"/app:"+tag).CombinedOutput(); err != nil {
		t.Fatalf("skopeo copy: %v\n%s", err, out)
	}
	raw, err := exec.Command("skopeo", "inspect", "--raw", "--tls-verify=false", "docker://"+host+"/app:"+tag).Output()
	if err != nil {
		t.Fatal(err)
	}
	c.ok("publish", "oci-image", "app", "1.0.0", "--from", "docker://"+host+"/app:"+tag, "--key", c.key())
	var out struct {
		Manifest struct {
			Subject struct {
				Digest string `json:"digest"`
			} `json:"subject"`
		} `json:"manifest"`
	}
	if err := json.Unmarshal([]byte(c.ok("inspect", "app@1.0.0")), &out); err != nil {
		t.Fatal(err)
	}
	if want := digest.FromBytes(raw).String(); out.Manifest.Subject.Digest != want {
		t.Errorf("subject %s, skopeo pushed %s", out.Manifest.Subject.Digest, want)
	}
	c.ok("verify", "app@1.0.0", "--key", c.pubKey())

	// The image itself copied into the home store is stored, and the
	// command says why it is not in the catalog.
	if _, errs, code := c.run("copy", host+"/app:"+tag, "plain:"+tag); code != 0 || !strings.Contains(errs, "not recorded in the catalog") {
		t.Errorf("copy of a plain image into the home store: exit %d, stderr %q", code, errs)
	}
}

func TestImportPackerManifest(t *testing.T) {
	c := newCLI(t)
	qcow2 := c.disk("web.qcow2", "qcow2")
	man := filepath.Join(c.dir, "packer-manifest.json")
	body := `{"builds":[{"name":"web","builder_type":"qemu","build_time":1764750000,"files":[{"name":"` + filepath.Base(qcow2) +
		`","size":1}],"artifact_id":"VM","packer_run_uuid":"r1","custom_data":{"name":"web","version":"1.4.0"}}],"last_run_uuid":"r1"}`
	if err := os.WriteFile(man, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	out := c.ok("import", "packer-manifest", man, "--key", c.key(), "--channel", "dev")
	if !strings.Contains(out, "published web@1.4.0 (vm-disk)") || !strings.Contains(out, "signed") {
		t.Fatalf("import packer-manifest printed:\n%s", out)
	}
	c.ok("verify", "web@1.4.0", "--key", c.pubKey())
	if out := c.ok("import", "packer-manifest", man, "web", "1.4.0"); !strings.Contains(out, "already published web@1.4.0") {
		t.Errorf("importing the same manifest again is not a no-op:\n%s", out)
	}
	c.fail(1, []string{"no.json"}, "import", "packer-manifest", filepath.Join(c.dir, "no.json"), "web", "1.5.0")

	// Two builders of one run (an AMI and a qcow2) make one version: an
	// index over one artifact per build, which verifies, inspects, and
	// fetches the disk of the qemu build.
	body = `{"builds":[{"name":"web","builder_type":"qemu","build_time":1764750000,"files":[{"name":"` + filepath.Base(qcow2) +
		`","size":1}],"artifact_id":"VM","packer_run_uuid":"r2"},` +
		`{"name":"web","builder_type":"amazon-ebs","build_time":1764750000,"artifact_id":"eu-west-1:ami-0123456789abcdef0","packer_run_uuid":"r2"}],"last_run_uuid":"r2"}`
	if err := os.WriteFile(man, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	out = c.ok("import", "packer-manifest", man, "web", "2.0.0", "--owner", "123456789012", "--key", c.key())
	if !strings.Contains(out, "published web@2.0.0 (index)") {
		t.Fatalf("import packer-manifest of two builds printed:\n%s", out)
	}
	c.ok("verify", "web@2.0.0", "--key", c.pubKey())
	if out := c.ok("inspect", "web@2.0.0"); !strings.Contains(out, "application/vnd.brickyard.index.v1") || !strings.Contains(out, "amazon-ebs.web") {
		t.Errorf("inspect of the index:\n%s", out)
	}
	if out := c.ok("fetch", "web@2.0.0", "--format", "qcow2", "--output", filepath.Join(c.dir, "out2"), "--key", c.pubKey()); !strings.Contains(out, filepath.Base(qcow2)) {
		t.Errorf("fetch of the index's qcow2:\n%s", out)
	}
}
