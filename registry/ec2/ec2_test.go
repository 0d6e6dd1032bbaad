package ec2_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	sdkec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/brickyard/brickyard/registry/ec2"
	"github.com/brickyard/brickyard/registry/ec2/ec2test"
)

type env struct {
	moto  *ec2test.Moto
	proxy *ec2test.Proxy
	c     *ec2.Client
}

func setup(t *testing.T, regions ...string) *env {
	t.Helper()
	m := ec2test.Start(t, ec2test.MotoOptions{})
	p, err := ec2test.NewProxy(m.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	c, err := ec2.New(context.Background(), ec2.WithRegions(regions...), ec2.WithEndpoint(p.URL),
		ec2.WithCredentials(credentials.NewStaticCredentialsProvider("test", "test", "")),
		ec2.WithRetry(3, 20*time.Millisecond), ec2.WithPageSize(6))
	if err != nil {
		t.Fatal(err)
	}
	return &env{moto: m, proxy: p, c: c}
}

func (e *env) register(t *testing.T, region, name string, tags map[string]string) (string, string) {
	t.Helper()
	id, snap, err := ec2test.RegisterImage(context.Background(), ec2test.EC2(e.moto.URL, region), name, tags)
	if err != nil {
		t.Fatal(err)
	}
	return id, snap
}

func TestImagesPagedAcrossRegions(t *testing.T) {
	e := setup(t, "eu-west-1", "us-east-1")
	ctx := context.Background()
	for i := range 15 {
		e.register(t, "eu-west-1", fmt.Sprintf("web-1.0.%d", i), map[string]string{"team": "core"})
	}
	e.register(t, "us-east-1", "web-1.0.0", nil)
	e.proxy.ResetCalls()
	got, err := e.c.Images(ctx, "eu-west-1", ec2.ImageQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 15 {
		t.Fatalf("%d images in eu-west-1, want 15", len(got))
	}
	if n := e.proxy.Calls()["DescribeImages"]; n != 3 {
		t.Errorf("15 images in pages of 6: %d DescribeImages calls, want 3", n)
	}
	im := got[0]
	if im.Owner != ec2test.Account || len(im.Snapshots) != 1 || im.Tags["team"] != "core" || im.Created.IsZero() || im.Region != "eu-west-1" {
		t.Errorf("image %+v", im)
	}
	us, err := e.c.Images(ctx, "us-east-1", ec2.ImageQuery{Filters: map[string][]string{"name": {"web-*"}}})
	if err != nil || len(us) != 1 {
		t.Fatalf("us-east-1: %d images, %v", len(us), err)
	}
	if _, err := e.c.Images(ctx, "ap-south-1", ec2.ImageQuery{}); !errors.Is(err, ec2.ErrInvalidOption) {
		t.Errorf("a region the client does not have: %v", err)
	}
}

func TestPermissionsSetExactly(t *testing.T) {
	e := setup(t, "eu-west-1")
	ctx := context.Background()
	id, snap := e.register(t, "eu-west-1", "web-1.0.0", nil)
	const a, b = "111111111111", "222222222222"
	for _, want := range []ec2.Permissions{
		{Public: true, Accounts: []string{a}},
		{Accounts: []string{b}},
		{},
	} {
		act, err := e.c.SetLaunchPermissions(ctx, "eu-west-1", id, want)
		if err != nil {
			t.Fatal(err)
		}
		if !act.Changed || act.RequestID == "" {
			t.Errorf("set %s: %+v, want a change with a request id", want, act)
		}
		have, err := e.c.LaunchPermissions(ctx, "eu-west-1", id)
		if err != nil || !have.Equal(want) {
			t.Errorf("launch permissions %s after setting %s (%v)", have, want, err)
		}
		if _, err := e.c.SetSnapshotPermissions(ctx, "eu-west-1", snap, want); err != nil {
			t.Fatal(err)
		}
		hs, err := e.c.SnapshotPermissions(ctx, "eu-west-1", snap)
		if err != nil || !hs.Equal(want.Snapshot()) {
			t.Errorf("snapshot permissions %s after setting %s (%v)", hs, want, err)
		}
		// Again: nothing to change, no modifying call.
		e.proxy.ResetCalls()
		act, err = e.c.SetLaunchPermissions(ctx, "eu-west-1", id, want)
		sacts, serr := e.c.SetSnapshotPermissions(ctx, "eu-west-1", snap, want)
		if err != nil || serr != nil || act.Changed || len(sacts) != 0 || e.proxy.Calls()["ModifyImageAttribute"]+e.proxy.Calls()["ModifySnapshotAttribute"] != 0 {
			t.Errorf("setting %s again: %+v %+v %v %v calls %v", want, act, sacts, err, serr, e.proxy.Calls())
		}
	}
}

func TestDeprecateDisableIdempotent(t *testing.T) {
	e := setup(t, "eu-west-1")
	ctx := context.Background()
	id, _ := e.register(t, "eu-west-1", "web-1.0.0", nil)
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	act, err := e.c.Deprecate(ctx, "eu-west-1", id, at)
	if err != nil || !act.Changed || act.RequestID == "" {
		t.Fatalf("deprecate: %+v %v", act, err)
	}
	if act, err = e.c.Deprecate(ctx, "eu-west-1", id, at); err != nil || act.Changed {
		t.Errorf("deprecate again: %+v %v, want no change", act, err)
	}
	if act, err = e.c.Disable(ctx, "eu-west-1", id); err != nil || !act.Changed {
		t.Fatalf("disable: %+v %v", act, err)
	}
	if act, err = e.c.Disable(ctx, "eu-west-1", id); err != nil || act.Changed {
		t.Errorf("disable again: %+v %v, want no change", act, err)
	}
	ims, err := e.c.Images(ctx, "eu-west-1", ec2.ImageQuery{})
	if err != nil || len(ims) != 1 || ims[0].State != "disabled" || !ims[0].Deprecation.Equal(at) {
		t.Errorf("after deprecate and disable: %+v %v", ims, err)
	}
	if _, err := e.c.Disable(ctx, "eu-west-1", "ami-00000000deadbeef"); !errors.Is(err, ec2.ErrNotFound) {
		t.Errorf("disable a missing image: %v, want ErrNotFound", err)
	}
}

func TestDeregisterRefusesProtectedDeletesSnapshots(t *testing.T) {
	e := setup(t, "eu-west-1")
	ctx := context.Background()
	kept, keptSnap := e.register(t, "eu-west-1", "web-1.0.0", nil)
	gone, snap := e.register(t, "eu-west-1", "web-2.0.0", nil)
	raw := ec2test.EC2(e.proxy.URL, "eu-west-1")
	if _, err := raw.EnableImageDeregistrationProtection(ctx, &sdkec2.EnableImageDeregistrationProtectionInput{ImageId: aws.String(kept)}); err != nil {
		t.Fatal(err)
	}
	e.proxy.ResetCalls()
	if _, err := e.c.Deregister(ctx, "eu-west-1", kept); !errors.Is(err, ec2.ErrDeregistrationProtected) {
		t.Errorf("deregister a protected image: %v, want ErrDeregistrationProtected", err)
	}
	if n := e.proxy.Calls()["DeregisterImage"]; n != 0 {
		t.Errorf("%d DeregisterImage calls for a protected image", n)
	}
	acts, err := e.c.Deregister(ctx, "eu-west-1", gone)
	if err != nil || len(acts) != 2 || acts[0].Action != "DeregisterImage" || acts[1].Action != "DeleteSnapshot" || acts[1].Resource != snap || !acts[1].Changed {
		t.Fatalf("deregister: %+v %v", acts, err)
	}
	snaps, err := e.c.Snapshots(ctx, "eu-west-1", ec2.SnapshotQuery{Owners: []string{"self"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range snaps {
		if s.ID == snap {
			t.Errorf("snapshot %s of the deregistered image is still there", snap)
		}
	}
	if acts, err = e.c.Deregister(ctx, "eu-west-1", gone); err != nil || acts[0].Changed {
		t.Errorf("deregister again: %+v %v, want a no-op", acts, err)
	}

	// Interrupted between DeregisterImage and DeleteSnapshot: the image is
	// gone, its snapshot is not. Given the recorded snapshots, Deregister
	// finishes, and keeps a snapshot another image still names.
	half, halfSnap := e.register(t, "eu-west-1", "web-3.0.0", nil)
	if _, err := raw.DeregisterImage(ctx, &sdkec2.DeregisterImageInput{ImageId: aws.String(half)}); err != nil {
		t.Fatal(err)
	}
	acts, err = e.c.Deregister(ctx, "eu-west-1", half, halfSnap, keptSnap)
	if err != nil || len(acts) != 3 || acts[0].Changed || acts[1].Resource != halfSnap || !acts[1].Changed || acts[2].Changed || acts[2].Detail != "kept: also used by "+kept {
		t.Fatalf("finish an interrupted deregistration: %+v %v", acts, err)
	}
	if acts, err = e.c.Deregister(ctx, "eu-west-1", half, halfSnap); err != nil || acts[0].Changed || acts[1].Changed {
		t.Errorf("finish again: %+v %v, want a no-op", acts, err)
	}
}

func TestFaults(t *testing.T) {
	e := setup(t, "eu-west-1", "us-east-1")
	ctx := context.Background()
	e.register(t, "eu-west-1", "web-1.0.0", nil)
	for _, tc := range []struct {
		name  string
		fault ec2test.Fault
		want  error // nil: retried to success
	}{
		{"throttled twice", ec2test.Fault{Action: "DescribeImages", Kind: ec2test.Throttle, Times: 2}, nil},
		{"dropped once", ec2test.Fault{Action: "DescribeImages", Kind: ec2test.Drop, Times: 1}, nil},
		{"throttled past the budget", ec2test.Fault{Action: "DescribeImages", Kind: ec2test.Throttle}, errAny},
		{"access denied", ec2test.Fault{Action: "DescribeImages", Kind: ec2test.AccessDenied}, ec2.ErrAccessDenied},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.proxy.ClearFaults()
			e.proxy.Inject(tc.fault)
			defer e.proxy.ClearFaults()
			_, err := e.c.Images(ctx, "eu-west-1", ec2.ImageQuery{})
			switch {
			case tc.want == nil && err != nil:
				t.Errorf("not retried to success: %v", err)
			case tc.want == errAny && err == nil, tc.want != nil && tc.want != errAny && !errors.Is(err, tc.want):
				t.Errorf("err %v, want %v", err, tc.want)
			}
		})
	}
}

var errAny = errors.New("any error")
