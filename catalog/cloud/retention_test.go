package cloud_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	sdkec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/brickyard/brickyard/catalog"
	"github.com/brickyard/brickyard/catalog/cloud"
	"github.com/brickyard/brickyard/catalog/retention"
	"github.com/brickyard/brickyard/catalog/sqlite"
	"github.com/brickyard/brickyard/registry"
	"github.com/brickyard/brickyard/registry/ec2"
	"github.com/brickyard/brickyard/registry/ec2/ec2test"
	"github.com/brickyard/brickyard/registry/layout"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestRetentionDeletesAMIs: a retention plan deleting old machine-image
// versions reaches AWS (moto behind ec2test's proxy): each AMI is
// deregistered in every region and the snapshots it alone used deleted,
// each change an event with its request id and the plan; a protected AMI
// is refused and reported while the rest proceeds; applying again changes
// nothing; once the protection is lifted, the plan finishes.
func TestRetentionDeletesAMIs(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	m := ec2test.Start(t, ec2test.MotoOptions{})
	p, err := ec2test.NewProxy(m.URL)
	must(t, err)
	t.Cleanup(p.Close)
	eu, us := "eu-west-1", "us-east-1"
	c, err := ec2.New(ctx, ec2.WithRegions(eu, us), ec2.WithEndpoint(p.URL),
		ec2.WithCredentials(credentials.NewStaticCredentialsProvider("test", "test", "")), ec2.WithRetry(2, 10*time.Millisecond), ec2.WithPageSize(6))
	must(t, err)
	cat, err := sqlite.Open(ctx, filepath.Join(dir, "catalog.db"))
	must(t, err)
	t.Cleanup(func() { cat.Close() })
	st, err := layout.New(filepath.Join(dir, "store"))
	must(t, err)

	rawEU, rawUS := ec2test.EC2(p.URL, eu), ec2test.EC2(p.URL, us)
	ids := map[string]string{}
	for _, n := range []string{"web-1.0.0", "web-1.1.0", "web-1.2.0", "web-2.0.0"} {
		id, _, err := ec2test.RegisterImage(ctx, ec2test.EC2(m.URL, eu), n, nil)
		must(t, err)
		ids[n] = id
	}
	cp, err := rawUS.CopyImage(ctx, &sdkec2.CopyImageInput{SourceImageId: aws.String(ids["web-1.0.0"]), SourceRegion: aws.String(eu), Name: aws.String("web-1.0.0")})
	must(t, err)
	ids["web-1.0.0@us"] = aws.ToString(cp.ImageId)
	syncer := &cloud.Syncer{Cloud: c, Log: cat, Account: ec2test.Account, Actor: "test"}
	_, err = (&cloud.Importer{Images: c, Store: st, Cat: cat, Syncer: syncer}).Import(ctx, &cloud.Index{}, cloud.ImportOptions{Regions: []string{eu, us}, StoreName: "oci-layout", Actor: "test"})
	must(t, err)
	ix, err := cloud.BuildIndex(ctx, cat, cloud.OneStore(st), "aws")
	must(t, err)
	known := func(ref string) cloud.Known {
		t.Helper()
		for _, k := range ix.Artifacts {
			if k.Record.Ref() == ref {
				return k
			}
		}
		t.Fatalf("%s not imported", ref)
		return cloud.Known{}
	}
	old, prot := known("web@1.0.0"), known("web@1.1.0")
	if len(old.Image.Images) != 2 || len(old.Image.Snapshots[eu]) != 1 || len(old.Image.Snapshots[us]) != 1 {
		t.Fatalf("web@1.0.0 imported as %+v, want an image and a snapshot in each of two regions", old.Image)
	}
	_, err = rawEU.EnableImageDeregistrationProtection(ctx, &sdkec2.EnableImageDeregistrationProtectionInput{ImageId: aws.String(ids["web-1.1.0"])})
	must(t, err)
	// An earlier delete was killed between DeregisterImage and
	// DeleteSnapshot in us-east-1: the copy is gone, its snapshot is not.
	_, err = rawUS.DeregisterImage(ctx, &sdkec2.DeregisterImageInput{ImageId: aws.String(ids["web-1.0.0@us"])})
	must(t, err)

	pol, err := retention.ParsePolicy([]byte("version: 1\nrules:\n  - names: [\"web\"]\n    keep:\n      newest_per_major: 1\n"))
	must(t, err)
	plan, err := retention.MakePlan(ctx, cat, pol, retention.Options{})
	must(t, err)
	var dels []string
	for _, d := range plan.Decisions {
		if d.Delete {
			dels = append(dels, d.Ref())
		}
	}
	slices.Sort(dels) // in publication order, which follows the import's
	if !slices.Equal(dels, []string{"web@1.0.0", "web@1.1.0"}) {
		t.Fatalf("plan deletes %v, want web@1.0.0 and web@1.1.0", dels)
	}
	before, err := cat.Events(ctx)
	must(t, err)
	o := retention.ApplyOptions{
		Stores:  func(string) (registry.Store, error) { return st, nil },
		Images:  &cloud.RetentionDeleter{Syncer: syncer, Index: ix},
		Policy:  pol,
		Journal: filepath.Join(dir, "apply.journal"),
		Actor:   "test",
	}

	rep, err := retention.Apply(ctx, cat, plan, o)
	if !errors.Is(err, retention.ErrRefused) {
		t.Fatalf("apply: %v, want ErrRefused", err)
	}
	if rep.Deleted != 1 || len(rep.Refused) != 1 || rep.Refused[0].Ref != "web@1.1.0" {
		t.Fatalf("apply: %+v, want web@1.0.0 deleted and web@1.1.0 refused", rep)
	}
	t.Logf("refused: %s", rep.Refused[0].Reason)
	live := map[string]bool{}
	for _, r := range []string{eu, us} {
		ims, err := c.Images(ctx, r, ec2.ImageQuery{Owners: []string{"self"}})
		must(t, err)
		for _, im := range ims {
			live[im.ID] = true
		}
	}
	for n, want := range map[string]bool{"web-1.0.0": false, "web-1.0.0@us": false, "web-1.1.0": true, "web-1.2.0": true, "web-2.0.0": true} {
		if live[ids[n]] != want {
			t.Errorf("image %s (%s) live = %v, want %v", n, ids[n], live[ids[n]], want)
		}
	}
	snapLive := func(region, id string) bool {
		snaps, err := c.Snapshots(ctx, region, ec2.SnapshotQuery{Owners: []string{"self"}})
		must(t, err)
		return slices.ContainsFunc(snaps, func(s ec2.Snapshot) bool { return s.ID == id })
	}
	for _, s := range []struct {
		region, id string
		want       bool
	}{{eu, old.Image.Snapshots[eu][0], false}, {us, old.Image.Snapshots[us][0], false}, {eu, prot.Image.Snapshots[eu][0], true}} {
		if snapLive(s.region, s.id) != s.want {
			t.Errorf("snapshot %s in %s live = %v, want %v", s.id, s.region, !s.want, s.want)
		}
	}
	// Each cloud change is an event with its request id and the plan.
	after, err := cat.Events(ctx)
	must(t, err)
	var acts []string
	for _, e := range after[len(before):] {
		if e.Type != catalog.EventCloudAction {
			continue
		}
		var a catalog.CloudAction
		must(t, json.Unmarshal([]byte(e.Body), &a))
		if a.RequestID == "" || a.Plan != plan.Digest.String() || e.Subject != old.Record.Digest.String() {
			t.Errorf("cloud action event %+v: want a request id, plan %s, subject web@1.0.0", a, plan.Digest)
		}
		acts = append(acts, a.Region+" "+a.Action+" "+a.Resource)
	}
	wantActs := []string{eu + " DeregisterImage " + ids["web-1.0.0"], eu + " DeleteSnapshot " + old.Image.Snapshots[eu][0], us + " DeleteSnapshot " + old.Image.Snapshots[us][0]}
	if !slices.Equal(acts, wantActs) {
		t.Errorf("cloud action events %q, want %q", acts, wantActs)
	}
	tomb := func(ref string) bool {
		rs, err := cat.Versions(ctx, "web")
		must(t, err)
		for _, r := range rs {
			if r.Ref() == ref {
				return r.Deleted != nil
			}
		}
		t.Fatalf("%s gone from the catalog", ref)
		return false
	}
	if !tomb("web@1.0.0") || tomb("web@1.1.0") || tomb("web@1.2.0") {
		t.Errorf("tombstones: web@1.0.0 %v, web@1.1.0 %v, web@1.2.0 %v; want only web@1.0.0", tomb("web@1.0.0"), tomb("web@1.1.0"), tomb("web@1.2.0"))
	}
	if ok, err := st.Exists(ctx, prot.Record.Repository, ocispec.Descriptor{MediaType: prot.Record.MediaType, Digest: prot.Record.Digest, Size: prot.Record.Size}); err != nil || !ok {
		t.Errorf("the refused artifact's manifest is gone from the store (%v)", err)
	}

	// Again: the same refusal, nothing else changes, no call that changes anything.
	p.ResetCalls()
	rep, err = retention.Apply(ctx, cat, plan, o)
	if !errors.Is(err, retention.ErrRefused) || rep.Deleted != 0 || rep.Resumed != 1 || len(rep.Refused) != 1 {
		t.Fatalf("apply again: %+v %v, want the same refusal and nothing else", rep, err)
	}
	calls := p.Calls()
	if calls["DeregisterImage"]+calls["DeleteSnapshot"] != 0 {
		t.Errorf("apply again made calls that change things: %v", calls)
	}
	again, err := cat.Events(ctx)
	must(t, err)
	if len(again) != len(after) {
		t.Errorf("apply again wrote %d events", len(again)-len(after))
	}

	// Protection lifted: the plan finishes.
	_, err = rawEU.DisableImageDeregistrationProtection(ctx, &sdkec2.DisableImageDeregistrationProtectionInput{ImageId: aws.String(ids["web-1.1.0"])})
	must(t, err)
	rep, err = retention.Apply(ctx, cat, plan, o)
	if err != nil || rep.Deleted != 1 || len(rep.Refused) != 0 {
		t.Fatalf("apply after the protection was lifted: %+v %v", rep, err)
	}
	if !tomb("web@1.1.0") || snapLive(eu, prot.Image.Snapshots[eu][0]) {
		t.Errorf("web@1.1.0 not deleted after its protection was lifted")
	}
}
