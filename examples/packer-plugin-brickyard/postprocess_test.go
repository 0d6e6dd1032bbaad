package main

import (
	"context"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/brickyard/brickyard"
	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/registry"
	"github.com/brickyard/brickyard/registry/ec2/ec2test"
	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/hashicorp/packer-plugin-sdk/packer"
)

// postProcess configures the post-processor with settings (plus home and
// the build name) and runs it on source, as Packer would, without Packer:
// the amazon and docker plugins are not built here, so their artifacts are
// constructed with their builder ids, ids and state.
func postProcess(t *testing.T, home, build string, settings map[string]interface{}, source packer.Artifact) (packer.Artifact, error) {
	t.Helper()
	raw := map[string]interface{}{"home": home, "packer_build_name": build}
	for k, v := range settings {
		raw[k] = v
	}
	var p PostProcessor
	if err := p.Configure(raw); err != nil {
		return nil, err
	}
	out, _, _, err := p.PostProcess(context.Background(), packer.TestUi(t), source)
	return out, err
}

// TestAmazonEBS publishes an amazon-ebs artifact against EC2 (moto): the
// AMI is recorded with the owner and snapshots EC2 reports, and its parent
// is the catalog artifact recording the generated SourceAMI; an unknown
// SourceAMI fails naming it and the parent setting, unless parent is set.
func TestAmazonEBS(t *testing.T) {
	m := ec2test.Start(t, ec2test.MotoOptions{})
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	ctx := context.Background()
	seed := ec2test.EC2(m.URL, "eu-west-1")
	baseAMI, _, err := ec2test.RegisterImage(ctx, seed, "base", nil)
	if err != nil {
		t.Fatal(err)
	}
	webAMI, webSnap, err := ec2test.RegisterImage(ctx, seed, "web", nil)
	if err != nil {
		t.Fatal(err)
	}
	otherAMI, _, err := ec2test.RegisterImage(ctx, seed, "other", nil)
	if err != nil {
		t.Fatal(err)
	}
	home := filepath.Join(t.TempDir(), "home")
	cl, err := brickyard.Init(ctx, home)
	if err != nil {
		t.Fatal(err)
	}
	base, err := cl.PublishMachineImage(ctx, brickyard.MachineImageRequest{Meta: brickyard.Meta{Name: "base-ami", Version: "1.0.0"},
		MachineImage: artifact.MachineImage{Provider: "aws", Owner: ec2test.Account, Images: map[string]string{"eu-west-1": baseAMI}}})
	if err != nil {
		t.Fatal(err)
	}
	cl.Close(ctx)

	ebs := func(ami, source string) *packer.MockArtifact {
		return &packer.MockArtifact{BuilderIdValue: "mitchellh.amazonebs", FilesValue: []string{}, IdValue: "eu-west-1:" + ami,
			StateValues: map[string]interface{}{"generated_data": map[interface{}]interface{}{"SourceAMI": source}}}
	}
	settings := map[string]interface{}{"artifact_name": "web-ami", "version": "1.0.0", "ec2_endpoint": m.URL}
	out, err := postProcess(t, home, "amazon-ebs.web", settings, ebs(webAMI, baseAMI))
	if err != nil {
		t.Fatal(err)
	}
	cl, err = brickyard.Open(ctx, home)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close(ctx)
	r, err := cl.Lookup(ctx, "web-ami@1.0.0", "")
	if err != nil || out.Id() != r.Digest.String() {
		t.Fatalf("lookup: %v; the artifact reports %s, the record %s", err, out.Id(), r.Digest)
	}
	a, _, _, err := cl.Inspect(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	mi := a.MachineImage
	if mi.Owner != ec2test.Account || mi.Images["eu-west-1"] != webAMI || len(r.Parents) != 1 || r.Parents[0] != base.Record.Digest {
		t.Fatalf("recorded %+v, parents %v; want owner %s, parent %s", mi, r.Parents, ec2test.Account, base.Record.Digest)
	}
	t.Logf("recorded %s: owner %s, snapshots %v (EC2 reports snapshot %q)", webAMI, mi.Owner, mi.Snapshots, webSnap)
	if webSnap == "" || len(mi.Snapshots["eu-west-1"]) != 1 || mi.Snapshots["eu-west-1"][0] != webSnap {
		t.Errorf("snapshots %v, want [%s]", mi.Snapshots, webSnap)
	}

	settings["version"] = "1.1.0"
	_, err = postProcess(t, home, "amazon-ebs.web", settings, ebs(otherAMI, "ami-0000000000000dead"))
	if err == nil || !strings.Contains(err.Error(), "SourceAMI ami-0000000000000dead") || !strings.Contains(err.Error(), "parent setting") {
		t.Fatalf("unknown SourceAMI: %v, want an error naming it and the parent setting", err)
	}
	if _, err := cl.Lookup(ctx, "web-ami@1.1.0", ""); err == nil {
		t.Fatal("web-ami@1.1.0 was published with an unknown SourceAMI")
	}
	settings["parent"] = []string{"base-ami@1.0.0"}
	if _, err := postProcess(t, home, "amazon-ebs.web", settings, ebs(otherAMI, "ami-0000000000000dead")); err != nil {
		t.Fatalf("an explicit parent with an unknown SourceAMI: %v", err)
	}
}

// TestDockerPush publishes what docker-push hands on (a pushed reference
// and its repository digest) as an OCI-image artifact tracking the image
// in its registry (an in-process one), and refuses a local image id.
func TestDockerPush(t *testing.T) {
	srv := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	img, err := random.Image(512, 2)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(host + "/team/web:1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	dg, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	home := filepath.Join(t.TempDir(), "home")
	cl, err := brickyard.Init(ctx, home)
	if err != nil {
		t.Fatal(err)
	}
	cl.Close(ctx)
	settings := map[string]interface{}{"artifact_name": "web-image", "version": "1.0.0"}
	pushed := &packer.MockArtifact{BuilderIdValue: "packer.post-processor.docker-import", FilesValue: []string{}, IdValue: host + "/team/web:1.0.0",
		StateValues: map[string]interface{}{"digest": dg.String()}}
	if _, err := postProcess(t, home, "docker.web", settings, pushed); err != nil {
		t.Fatal(err)
	}
	cl, err = brickyard.Open(ctx, home)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close(ctx)
	r, err := cl.Lookup(ctx, "web-image@1.0.0", "")
	if err != nil {
		t.Fatal(err)
	}
	a, _, _, err := cl.Inspect(ctx, r)
	if err != nil || r.Kind != artifact.KindOCIImage || a.Image.Digest.String() != dg.String() {
		t.Fatalf("recorded %+v (%v), want an oci-image tracking %s", a, err, dg)
	}

	settings["version"] = "1.1.0"
	local := &packer.MockArtifact{BuilderIdValue: "packer.docker", FilesValue: []string{}, IdValue: dg.String()}
	if _, err := postProcess(t, home, "docker.web", settings, local); err == nil || !strings.Contains(err.Error(), "local image") {
		t.Fatalf("a local image id: %v, want an error saying it is in no registry", err)
	}
	pushed.StateValues["digest"] = "sha256:" + strings.Repeat("0", 64)
	if _, err := postProcess(t, home, "docker.web", settings, pushed); !errors.Is(err, registry.ErrDigestMismatch) {
		t.Fatalf("a digest the tag does not hold: %v, want registry.ErrDigestMismatch", err)
	}
}
