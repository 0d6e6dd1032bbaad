package audit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	sdkec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/brickyard/brickyard/catalog"
	"github.com/brickyard/brickyard/catalog/audit"
	"github.com/brickyard/brickyard/catalog/cloud"
	"github.com/brickyard/brickyard/catalog/sqlite"
	"github.com/brickyard/brickyard/registry/ec2"
	"github.com/brickyard/brickyard/registry/ec2/ec2test"
	"github.com/brickyard/brickyard/registry/layout"
	"github.com/opencontainers/go-digest"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

const squatter = "999999999999"

// fixture is an account in moto (behind the proxy) with a catalog that
// imported its AMIs, set up so that every rule fires once or more.
type fixture struct {
	proxy *ec2test.Proxy
	c     *ec2.Client
	cat   *sqlite.Catalog
	store *layout.Store
	ids   map[string]string // name → eu-west-1 image id
	snaps map[string]string // name → eu-west-1 snapshot id
	ix    *cloud.Index
}

func setup(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	seed := filepath.Join(dir, "amis.json")
	// A public AMI of another account named like the catalog's "web"
	// (whoAMI), and one named like nothing of ours.
	must(t, os.WriteFile(seed, []byte(`[
 {"ami_id": "ami-0badc0ffee0000001", "name": "web-2.0.0", "owner_id": "`+squatter+`", "public": true, "architecture": "x86_64", "description": "totally legit web"},
 {"ami_id": "ami-0badc0ffee0000002", "name": "other-1.0.0", "owner_id": "`+squatter+`", "public": true, "architecture": "x86_64"}
]`), 0o644))
	m := ec2test.Start(t, ec2test.MotoOptions{AMIsPath: seed})
	p, err := ec2test.NewProxy(m.URL)
	must(t, err)
	t.Cleanup(p.Close)
	c, err := ec2.New(ctx, ec2.WithRegions("eu-west-1", "us-east-1"), ec2.WithEndpoint(p.URL),
		ec2.WithCredentials(credentials.NewStaticCredentialsProvider("test", "test", "")), ec2.WithRetry(2, 10*time.Millisecond), ec2.WithPageSize(6))
	must(t, err)
	cat, err := sqlite.Open(ctx, filepath.Join(dir, "catalog.db"))
	must(t, err)
	t.Cleanup(func() { cat.Close() })
	st, err := layout.New(filepath.Join(dir, "store"))
	must(t, err)
	f := &fixture{proxy: p, c: c, cat: cat, store: st, ids: map[string]string{}, snaps: map[string]string{}}
	eu, us := ec2test.EC2(m.URL, "eu-west-1"), ec2test.EC2(m.URL, "us-east-1")
	for _, n := range []string{"web-1.0.0", "web-1.1.0", "web-1.2.0", "web-1.3.0", "web-1.4.0", "web-1.5.0", "tmp-build-42"} {
		id, snap, err := ec2test.RegisterImage(ctx, eu, n, nil)
		must(t, err)
		f.ids[n], f.snaps[n] = id, snap
	}
	// web-1.0.0 is copied to us-east-1: one artifact, two regions.
	cp, err := us.CopyImage(ctx, &sdkec2.CopyImageInput{SourceImageId: aws.String(f.ids["web-1.0.0"]), SourceRegion: aws.String("eu-west-1"), Name: aws.String("web-1.0.0")})
	must(t, err)
	f.ids["web-1.0.0@us-east-1"] = aws.ToString(cp.ImageId)

	ix := &cloud.Index{}
	im := &cloud.Importer{Images: c, Store: st, Cat: cat, Syncer: &cloud.Syncer{Cloud: c, Log: cat, Account: ec2test.Account, Actor: "test"}}
	rep, err := im.Import(ctx, ix, cloud.ImportOptions{Regions: []string{"eu-west-1", "us-east-1"}, StoreName: "oci-layout", Actor: "test"})
	must(t, err)
	if len(rep.Imported) != 6 || len(rep.Skipped) != 1 || rep.Skipped[0].ImageID != f.ids["tmp-build-42"] {
		t.Fatalf("import: %+v", rep)
	}
	f.ix = ix
	return f
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) known(t *testing.T, ref string) cloud.Known {
	t.Helper()
	for _, k := range f.ix.Artifacts {
		if k.Record.Ref() == ref {
			return k
		}
	}
	t.Fatalf("%s not imported", ref)
	return cloud.Known{}
}

// arrange makes the cloud and the catalog disagree in every way a rule
// checks.
func (f *fixture) arrange(t *testing.T) {
	ctx := context.Background()
	const a, b, c = "111111111111", "222222222222", "333333333333"
	eu := "eu-west-1"
	// Every artifact signed but web-1.0.0.
	for _, k := range f.ix.Artifacts {
		if k.Record.Ref() != "web@1.0.0" {
			must(t, f.cat.AddSignature(ctx, k.Record.Digest, catalog.Signature{KeyID: "k", Digest: digest.FromString(k.Record.Ref()), At: time.Now()}))
		}
	}
	// web-1.0.0: private intent, public in eu-west-1.
	_, err := f.c.SetLaunchPermissions(ctx, eu, f.ids["web-1.0.0"], ec2.Permissions{Public: true})
	must(t, err)
	// web-1.1.0: shared with a by intent, with a and b in fact; its snapshot with c.
	must(t, f.cat.SetVisibility(ctx, f.known(t, "web@1.1.0").Record.Digest, catalog.VisibilityChange{Level: catalog.VisibilityShared, Principals: []string{"aws:" + a}, Reason: "staging", Actor: "ops"}))
	_, err = f.c.SetLaunchPermissions(ctx, eu, f.ids["web-1.1.0"], ec2.Permissions{Accounts: []string{a, b}})
	must(t, err)
	_, err = f.c.SetSnapshotPermissions(ctx, eu, f.snaps["web-1.1.0"], ec2.Permissions{Accounts: []string{a, c}})
	must(t, err)
	// web-1.2.0: private, its snapshot public.
	_, err = f.c.SetSnapshotPermissions(ctx, eu, f.snaps["web-1.2.0"], ec2.Permissions{Public: true})
	must(t, err)
	// web-1.3.0: revoked, still shared and running.
	_, err = f.cat.ChangeLifecycle(ctx, f.known(t, "web@1.3.0").Record.Digest, catalog.LifecycleChange{State: catalog.StateRevoked, Reason: "CVE", Actor: "sec", NoCascade: true})
	must(t, err)
	_, err = f.c.SetLaunchPermissions(ctx, eu, f.ids["web-1.3.0"], ec2.Permissions{Accounts: []string{a}})
	must(t, err)
	raw := ec2test.EC2(f.proxy.URL, eu)
	_, err = raw.RunInstances(ctx, &sdkec2.RunInstancesInput{ImageId: aws.String(f.ids["web-1.3.0"]), MinCount: aws.Int32(1), MaxCount: aws.Int32(1), InstanceType: types.InstanceTypeT3Micro})
	must(t, err)
	// web-1.4.0: deprecated in the catalog only, still shared with b, in
	// a launch template.
	_, err = f.cat.ChangeLifecycle(ctx, f.known(t, "web@1.4.0").Record.Digest, catalog.LifecycleChange{State: catalog.StateDeprecated, Reason: "old", Actor: "ops"})
	must(t, err)
	_, err = f.c.SetLaunchPermissions(ctx, eu, f.ids["web-1.4.0"], ec2.Permissions{Accounts: []string{b}})
	must(t, err)
	_, err = raw.CreateLaunchTemplate(ctx, &sdkec2.CreateLaunchTemplateInput{LaunchTemplateName: aws.String("web"),
		LaunchTemplateData: &types.RequestLaunchTemplateData{ImageId: aws.String(f.ids["web-1.4.0"])}})
	must(t, err)
	// web-1.5.0: deregistered behind the catalog's back.
	_, err = raw.DeregisterImage(ctx, &sdkec2.DeregisterImageInput{ImageId: aws.String(f.ids["web-1.5.0"])})
	must(t, err)
	// Image Block Public Access on in eu-west-1 only.
	_, err = raw.EnableImageBlockPublicAccess(ctx, &sdkec2.EnableImageBlockPublicAccessInput{ImageBlockPublicAccessState: types.ImageBlockPublicAccessEnabledStateBlockNewSharing})
	must(t, err)
}

func has(r audit.Report, rule, region, resource string) bool {
	return slices.ContainsFunc(r.Findings, func(f audit.Finding) bool {
		return f.Rule == rule && f.Region == region && (resource == "" || f.Resource == resource)
	})
}

func TestAuditAWS(t *testing.T) {
	f := setup(t)
	f.arrange(t)
	ctx := context.Background()
	ix, err := cloud.BuildIndex(ctx, f.cat, cloud.OneStore(f.store), "aws") // with the signatures, lifecycle and intents set since the import
	must(t, err)
	rep, err := audit.AWS(ctx, f.c, ix, audit.AWSOptions{Regions: []string{"eu-west-1", "us-east-1"}})
	must(t, err)
	var table bytes.Buffer
	must(t, rep.WriteTable(&table))
	t.Logf("\n%s", table.String())
	eu, us := "eu-west-1", "us-east-1"
	for _, want := range []struct{ rule, region, resource string }{
		{audit.RulePublicUnintended, eu, f.ids["web-1.0.0"]},
		{audit.RuleSharedBeyondIntent, eu, f.ids["web-1.1.0"]},
		{audit.RuleSnapshotWider, eu, f.snaps["web-1.1.0"]},
		{audit.RuleSnapshotPublic, eu, f.snaps["web-1.2.0"]},
		{audit.RuleRevokedShared, eu, f.ids["web-1.3.0"]},
		{audit.RuleRevokedNotDisabled, eu, f.ids["web-1.3.0"]},
		{audit.RuleRevokedInUse, eu, f.ids["web-1.3.0"]},
		{audit.RuleDeprecatedShared, eu, f.ids["web-1.4.0"]},
		{audit.RuleDeprecatedInUse, eu, f.ids["web-1.4.0"]},
		{audit.RuleDeprecatedNotInTheCloud, eu, f.ids["web-1.4.0"]},
		{audit.RuleUnknownImage, eu, f.ids["tmp-build-42"]},
		{audit.RuleImageGone, eu, f.ids["web-1.5.0"]},
		{audit.RuleUnsigned, "", f.known(t, "web@1.0.0").Record.Digest.String()},
		{audit.RuleBlockPublicAccessOff, us, us},
		{audit.RuleNameSquatting, eu, "ami-0badc0ffee0000001"},
		{audit.RuleNameSquatting, us, "ami-0badc0ffee0000001"},
	} {
		if !has(rep, want.rule, want.region, want.resource) {
			t.Errorf("no %s finding for %s in %s", want.rule, want.resource, want.region)
		}
	}
	for _, notWant := range []struct{ rule, region, resource string }{
		{audit.RuleBlockPublicAccessOff, eu, ""},                       // on there
		{audit.RuleNameSquatting, eu, "ami-0badc0ffee0000002"},         // another name
		{audit.RulePublicUnintended, us, f.ids["web-1.0.0@us-east-1"]}, // private copy
		{audit.RuleUnknownImage, us, f.ids["web-1.0.0@us-east-1"]},     // the copy is part of web@1.0.0
		{audit.RuleCouldNotCheck, eu, ""},
		{audit.RuleCouldNotCheck, us, ""},
	} {
		if has(rep, notWant.rule, notWant.region, notWant.resource) {
			t.Errorf("unexpected %s finding for %q in %s", notWant.rule, notWant.resource, notWant.region)
		}
	}
	// Every rule but could-not-check (TestAuditAWSFailsClosed) fires here.
	for _, r := range audit.Rules {
		if r.ID != audit.RuleCouldNotCheck && !slices.ContainsFunc(rep.Findings, func(f audit.Finding) bool { return f.Rule == r.ID }) {
			t.Errorf("rule %s (%s) fired by no finding", r.ID, r.Name)
		}
	}
	if !rep.Fails(audit.Critical) || rep.Max() != audit.Critical {
		t.Errorf("max severity %s", rep.Max())
	}

	// SARIF 2.1.0, validated against the official schema.
	var sarif bytes.Buffer
	must(t, rep.WriteSARIF(&sarif, "test"))
	validateSARIF(t, sarif.Bytes())
	var log struct {
		Runs []struct {
			Results []struct {
				RuleID string `json:"ruleId"`
				Level  string `json:"level"`
			} `json:"results"`
		} `json:"runs"`
	}
	must(t, json.Unmarshal(sarif.Bytes(), &log))
	if len(log.Runs) != 1 || len(log.Runs[0].Results) != len(rep.Findings) {
		t.Errorf("SARIF holds %d runs, results %v; %d findings", len(log.Runs), log.Runs, len(rep.Findings))
	}
}

func TestAuditAWSFailsClosed(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		fault ec2test.Fault
		want  string // in the could-not-check message
	}{
		{"access denied on launch permissions", ec2test.Fault{Action: "DescribeImageAttribute", Region: "eu-west-1", Kind: ec2test.AccessDenied}, "launch permissions of " + f.ids["web-1.0.0"]},
		{"throttled past the budget", ec2test.Fault{Action: "DescribeSnapshotAttribute", Region: "eu-west-1", Kind: ec2test.Throttle}, "create-volume permissions of snapshot " + f.snaps["web-1.0.0"]},
		{"launch templates denied", ec2test.Fault{Action: "DescribeLaunchTemplates", Region: "us-east-1", Kind: ec2test.AccessDenied}, "which instances and launch templates use images"},
		{"block public access denied", ec2test.Fault{Action: "GetImageBlockPublicAccessState", Region: "eu-west-1", Kind: ec2test.AccessDenied}, "Image Block Public Access"},
		{"region not answering", ec2test.Fault{Region: "us-east-1", Kind: ec2test.Drop}, "the images the account owns"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.proxy.ClearFaults()
			f.proxy.Inject(tc.fault)
			defer f.proxy.ClearFaults()
			rep, err := audit.AWS(ctx, f.c, f.ix, audit.AWSOptions{Regions: []string{"eu-west-1", "us-east-1"}})
			must(t, err)
			found := slices.ContainsFunc(rep.Findings, func(x audit.Finding) bool {
				return x.Rule == audit.RuleCouldNotCheck && strings.Contains(x.Message, tc.want)
			})
			if !found {
				var b bytes.Buffer
				rep.WriteTable(&b)
				t.Errorf("no could-not-check finding about %q:\n%s", tc.want, b.String())
			}
			if !rep.Fails(audit.High) {
				t.Errorf("a report that could not check passes --fail-on high")
			}
			if tc.fault.Region == "us-east-1" && has(rep, audit.RuleImageGone, "us-east-1", "") {
				t.Errorf("a region that did not answer has its images reported gone")
			}
		})
	}
}

func validateSARIF(t *testing.T, doc []byte) {
	t.Helper()
	sf, err := os.Open(filepath.Join("testdata", "sarif-schema-2.1.0.json"))
	must(t, err)
	defer sf.Close()
	schema, err := jsonschema.UnmarshalJSON(sf)
	must(t, err)
	c := jsonschema.NewCompiler()
	must(t, c.AddResource("sarif-schema-2.1.0.json", schema))
	sch, err := c.Compile("sarif-schema-2.1.0.json")
	must(t, err)
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	must(t, err)
	if err := sch.Validate(inst); err != nil {
		t.Errorf("SARIF does not validate against the SARIF 2.1.0 schema: %v", err)
	}
}
