package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/brickyard/brickyard/catalog"
	"github.com/brickyard/brickyard/registry/ec2/ec2test"
)

// TestAWSCommands runs import, publish --tag-images, lifecycle sync, audit
// and delete against moto behind the test proxy.
func TestAWSCommands(t *testing.T) {
	m := ec2test.Start(t, ec2test.MotoOptions{})
	p, err := ec2test.NewProxy(m.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	dir := t.TempDir()
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_REGION", "eu-west-1")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "none"))
	ctx := context.Background()
	eu := ec2test.EC2(m.URL, "eu-west-1")
	base, _, err := ec2test.RegisterImage(ctx, eu, "base-1.0.0", nil)
	if err != nil {
		t.Fatal(err)
	}
	web, webSnap, err := ec2test.RegisterImage(ctx, eu, "web image", map[string]string{"brickyard:name": "web", "brickyard:version": "2.0.0", "brickyard:source-ami": base})
	if err != nil {
		t.Fatal(err)
	}
	us := ec2test.EC2(m.URL, "us-east-1")
	cp, err := us.CopyImage(ctx, &sdkec2.CopyImageInput{SourceImageId: aws.String(web), SourceRegion: aws.String("eu-west-1"), Name: aws.String("web image")})
	if err != nil {
		t.Fatal(err)
	}
	c := newCLI(t)
	awsArgs := []string{"--endpoint", p.URL, "--region", "eu-west-1", "--region", "us-east-1"}

	// Import: base first, then web (its parent), web's copy folded in.
	out := c.ok(append([]string{"--json", "import", "ec2"}, awsArgs...)...)
	var rep struct {
		Imported []struct {
			Ref     string            `json:"ref"`
			Digest  string            `json:"digest"`
			Images  map[string]string `json:"images"`
			Parents []string          `json:"parents"`
		} `json:"imported"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(rep.Imported) != 2 || rep.Imported[0].Ref != "base@1.0.0" || rep.Imported[1].Ref != "web@2.0.0" ||
		rep.Imported[1].Images["us-east-1"] != aws.ToString(cp.ImageId) || len(rep.Imported[1].Parents) != 1 || rep.Imported[1].Parents[0] != rep.Imported[0].Digest {
		t.Fatalf("import: %s", out)
	}
	webDigest := rep.Imported[1].Digest
	d, err := us.DescribeImages(ctx, &sdkec2.DescribeImagesInput{ImageIds: []string{aws.ToString(cp.ImageId)}})
	if err != nil || len(d.Images) != 1 || !hasTag(d.Images[0], "brickyard:digest", webDigest) {
		t.Errorf("the us-east-1 copy is not tagged with its record's digest: %+v %v", d.Images, err)
	}
	if again := c.ok(append([]string{"import", "ec2"}, awsArgs...)...); strings.Contains(again, "imported ") {
		t.Errorf("importing again recorded more:\n%s", again)
	}

	// Publish a machine image by hand and tag it.
	solo, _, err := ec2test.RegisterImage(ctx, eu, "solo", nil)
	if err != nil {
		t.Fatal(err)
	}
	c.ok("publish", "machine-image", "solo", "1.0.0", "--owner", ec2test.Account, "--image", "eu-west-1="+solo, "--tag-images", "--endpoint", p.URL)
	d, err = eu.DescribeImages(ctx, &sdkec2.DescribeImagesInput{ImageIds: []string{solo}})
	if err != nil || len(d.Images) != 1 || !hasTag(d.Images[0], "brickyard:version", "1.0.0") || !hasTag(d.Images[0], "brickyard:name", "solo") {
		t.Errorf("published AMI not tagged: %+v %v", d.Images, err)
	}

	// Lifecycle reaches the cloud; a second sync changes nothing.
	c.ok("visibility", "set", "web@2.0.0", "shared", "--with", "aws:111111111111", "--reason", "staging")
	c.ok("deprecate", "web@2.0.0", "--reason", "2.1 is out")
	before := countCloudEvents(t, c)
	c.ok(append([]string{"aws", "sync", "web@2.0.0"}, "--endpoint", p.URL)...)
	after := countCloudEvents(t, c)
	// launch permission + snapshot permission + deprecation, in 2 regions (the copy's snapshot is recorded too).
	if after-before < 4 {
		t.Errorf("sync recorded %d cloud-action events, want ≥ 4", after-before)
	}
	c.ok("aws", "sync", "web@2.0.0", "--endpoint", p.URL)
	if n := countCloudEvents(t, c); n != after {
		t.Errorf("a second sync recorded %d more events", n-after)
	}
	perm, err := eu.DescribeImageAttribute(ctx, &sdkec2.DescribeImageAttributeInput{ImageId: aws.String(web), Attribute: "launchPermission"})
	if err != nil || len(perm.LaunchPermissions) != 1 || aws.ToString(perm.LaunchPermissions[0].UserId) != "111111111111" {
		t.Errorf("launch permissions after sync: %+v %v", perm.LaunchPermissions, err)
	}
	snapPerm, err := eu.DescribeSnapshotAttribute(ctx, &sdkec2.DescribeSnapshotAttributeInput{SnapshotId: aws.String(webSnap), Attribute: "createVolumePermission"})
	if err != nil || len(snapPerm.CreateVolumePermissions) != 1 {
		t.Errorf("snapshot permissions after sync: %+v %v", snapPerm.CreateVolumePermissions, err)
	}
	for _, e := range events(t, c) {
		if e.Type == catalog.EventCloudAction && !strings.Contains(e.Body, `"requestId":"`) {
			t.Errorf("cloud action without a request id: %s", e.Body)
		}
	}

	// Revoke: unshared and disabled.
	c.ok("revoke", "web@2.0.0", "--reason", "CVE-2026-1")
	c.ok("aws", "sync", "web@2.0.0", "--endpoint", p.URL)
	raw := ec2test.EC2(p.URL, "eu-west-1") // the proxy holds what moto lacks: disabled images, protection
	img, err := raw.DescribeImages(ctx, &sdkec2.DescribeImagesInput{ImageIds: []string{web}, IncludeDisabled: aws.Bool(true)})
	if err != nil || len(img.Images) != 1 || img.Images[0].State != "disabled" {
		t.Errorf("revoked image not disabled: %+v %v", img.Images, err)
	}
	perm, err = eu.DescribeImageAttribute(ctx, &sdkec2.DescribeImageAttributeInput{ImageId: aws.String(web), Attribute: "launchPermission"})
	if err != nil || len(perm.LaunchPermissions) != 0 {
		t.Errorf("revoked image still shared: %+v %v", perm.LaunchPermissions, err)
	}

	// Audit: exit 5 at --fail-on low (unsigned artifacts), 0 at critical; SARIF.
	_, _, code := c.run(append([]string{"audit", "aws", "--fail-on", "low"}, awsArgs...)...)
	if code != exitFindings {
		t.Errorf("audit --fail-on low: exit %d, want %d", code, exitFindings)
	}
	sarif := c.ok(append([]string{"audit", "aws", "--format", "sarif", "--fail-on", "critical"}, awsArgs...)...)
	if !strings.Contains(sarif, `"version": "2.1.0"`) || !strings.Contains(sarif, "BY-AWS-011") {
		t.Errorf("SARIF output:\n%.2000s", sarif)
	}

	// Delete: a protected image is refused and reported, the rest deleted.
	if _, err := raw.EnableImageDeregistrationProtection(ctx, &sdkec2.EnableImageDeregistrationProtectionInput{ImageId: aws.String(web)}); err != nil {
		t.Fatal(err)
	}
	out, errs, code := c.run("aws", "delete", "web@2.0.0", "--endpoint", p.URL)
	if code == 0 || !strings.Contains(errs, "deregistration protection") {
		t.Errorf("delete of a protected image: exit %d\n%s%s", code, out, errs)
	}
	img, err = us.DescribeImages(ctx, &sdkec2.DescribeImagesInput{Owners: []string{"self"}, Filters: []types.Filter{{Name: aws.String("image-id"), Values: []string{aws.ToString(cp.ImageId)}}}})
	if err != nil || len(img.Images) != 0 {
		t.Errorf("the unprotected copy in us-east-1 is still there: %+v %v", img.Images, err)
	}
}

func hasTag(im types.Image, k, v string) bool {
	for _, t := range im.Tags {
		if aws.ToString(t.Key) == k && aws.ToString(t.Value) == v {
			return true
		}
	}
	return false
}

func events(t *testing.T, c *cli) []catalog.Event {
	t.Helper()
	var es []catalog.Event
	out := c.ok("--json", "log", "show")
	if err := json.Unmarshal([]byte(out), &es); err != nil {
		t.Fatalf("%v\n%.500s", err, out)
	}
	return es
}

func countCloudEvents(t *testing.T, c *cli) int {
	n := 0
	for _, e := range events(t, c) {
		if e.Type == catalog.EventCloudAction {
			n++
		}
	}
	return n
}

// TestRetentionApplyAWS: retention apply deregisters the AMIs of the
// machine images its plan deletes, with the AWS flags of 'aws delete',
// refuses a protected one while the rest proceeds, and a second apply
// changes nothing.
func TestRetentionApplyAWS(t *testing.T) {
	m := ec2test.Start(t, ec2test.MotoOptions{})
	p, err := ec2test.NewProxy(m.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	dir := t.TempDir()
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_REGION", "eu-west-1")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "none"))
	ctx := context.Background()
	eu := ec2test.EC2(m.URL, "eu-west-1")
	ids := map[string]string{}
	for _, n := range []string{"app-1.0.0", "app-1.1.0", "app-1.2.0"} {
		id, _, err := ec2test.RegisterImage(ctx, eu, n, nil)
		if err != nil {
			t.Fatal(err)
		}
		ids[n] = id
	}
	raw := ec2test.EC2(p.URL, "eu-west-1")
	if _, err := raw.EnableImageDeregistrationProtection(ctx, &sdkec2.EnableImageDeregistrationProtectionInput{ImageId: aws.String(ids["app-1.1.0"])}); err != nil {
		t.Fatal(err)
	}
	c := newCLI(t)
	c.ok("import", "ec2", "--endpoint", p.URL, "--region", "eu-west-1")
	policy := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(policy, []byte("version: 1\nrules:\n  - names: [\"app\"]\n    keep:\n      newest_per_major: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	plan := filepath.Join(dir, "plan.json")
	c.ok("retention", "plan", policy, "--out", plan)

	out, errs, code := c.run("retention", "apply", plan, "--endpoint", p.URL)
	if code == 0 || !strings.Contains(out, "refused app@1.1.0") || !strings.Contains(out, "deregistration protection") || !strings.Contains(out, "1 deleted now") {
		t.Errorf("apply: exit %d\n%s%s", code, out, errs)
	}
	live := func(id string) bool {
		d, err := eu.DescribeImages(ctx, &sdkec2.DescribeImagesInput{Owners: []string{"self"}, Filters: []types.Filter{{Name: aws.String("image-id"), Values: []string{id}}}})
		if err != nil {
			t.Fatal(err)
		}
		return len(d.Images) == 1
	}
	if live(ids["app-1.0.0"]) || !live(ids["app-1.1.0"]) || !live(ids["app-1.2.0"]) {
		t.Errorf("after apply: app-1.0.0 live %v (want false), app-1.1.0 %v, app-1.2.0 %v (want true)", live(ids["app-1.0.0"]), live(ids["app-1.1.0"]), live(ids["app-1.2.0"]))
	}
	var deregs int
	for _, e := range events(t, c) {
		if e.Type == catalog.EventCloudAction && strings.Contains(e.Body, `"action":"DeregisterImage"`) {
			deregs++
			if !strings.Contains(e.Body, `"requestId":"`) || !strings.Contains(e.Body, `"plan":"sha256:`) {
				t.Errorf("deregistration event without a request id or plan: %s", e.Body)
			}
		}
	}
	if deregs != 1 {
		t.Errorf("%d DeregisterImage events, want 1", deregs)
	}
	before := countCloudEvents(t, c)
	out, errs, code = c.run("retention", "apply", plan, "--endpoint", p.URL)
	if code == 0 || !strings.Contains(out, "0 deleted now, 1 by an earlier run, 1 refused") {
		t.Errorf("apply again: exit %d\n%s%s", code, out, errs)
	}
	if n := countCloudEvents(t, c); n != before {
		t.Errorf("apply again recorded %d cloud actions", n-before)
	}
}
