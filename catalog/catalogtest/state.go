package catalogtest

import (
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/catalog"
	"github.com/opencontainers/go-digest"
	"golang.org/x/mod/sumdb/note"
)

// chain records base@1.0.0 ← mid@1.0.0 ← {leaf@1.0.0, other@1.0.0} and
// returns them in that order.
func chain(t *testing.T, c catalog.Catalog) []catalog.Record {
	ctx := context.Background()
	base := rec(t, "base", "1.0.0", artifact.KindMachineImage)
	mid := rec(t, "mid", "1.0.0", artifact.KindVMDisk, base.Digest)
	leaf := rec(t, "leaf", "1.0.0", artifact.KindOCIImage, mid.Digest)
	other := rec(t, "other", "1.0.0", artifact.KindOCIImage, mid.Digest)
	for _, r := range []catalog.Record{base, mid, leaf, other} {
		must(t, c.Record(ctx, r))
	}
	return []catalog.Record{base, mid, leaf, other}
}

func state(t *testing.T, c catalog.Catalog, d digest.Digest) (catalog.State, *catalog.LifecycleChange) {
	t.Helper()
	r, err := c.Get(context.Background(), d)
	must(t, err)
	return r.Status(time.Now())
}

func testLifecycle(t *testing.T, c catalog.Catalog) {
	ctx := context.Background()
	rs := chain(t, c)
	base, mid, leaf, other := rs[0], rs[1], rs[2], rs[3]
	trust := fakeVerifier{ok: map[digest.Digest]bool{base.Digest: true, mid.Digest: true, leaf.Digest: true, other.Digest: true}}

	// Deprecated: still resolves, with a warning.
	_, err := c.ChangeLifecycle(ctx, leaf.Digest, catalog.LifecycleChange{State: catalog.StateDeprecated, Reason: "use 2.x", Actor: "release"})
	must(t, err)
	got, err := catalog.Resolve(ctx, c, catalog.Query{Name: "leaf", Constraint: "^1"}, trust)
	if err != nil || len(got.Warnings) != 1 || !strings.Contains(got.Warnings[0], "use 2.x") {
		t.Errorf("Resolve of a deprecated artifact = %v, %v; want it with a warning", got.Warnings, err)
	}

	// Revoking mid cascades to leaf and other, each naming mid.
	changed, err := c.ChangeLifecycle(ctx, mid.Digest, catalog.LifecycleChange{State: catalog.StateRevoked, Reason: "CVE-2026-0001", Actor: "security"})
	must(t, err)
	if len(changed) != 3 || changed[0] != mid.Digest {
		t.Errorf("revoke mid changed %v, want mid, leaf, other", changed)
	}
	for _, r := range []catalog.Record{leaf, other} {
		s, ch := state(t, c, r.Digest)
		if s != catalog.StateRevoked || ch.Cause != mid.Digest || !strings.Contains(ch.Reason, "mid@1.0.0") || !strings.Contains(ch.Reason, "CVE-2026-0001") {
			t.Errorf("%s after revoking its ancestor: %s %+v", r.Name, s, ch)
		}
	}
	if s, _ := state(t, c, base.Digest); s != catalog.StateActive {
		t.Errorf("the ancestor of a revoked artifact is %s, want active", s)
	}
	_, err = catalog.Resolve(ctx, c, catalog.Query{Name: "leaf", Constraint: "^1"}, trust)
	if !errors.Is(err, catalog.ErrRevoked) || !strings.Contains(err.Error(), "by ancestor") {
		t.Errorf("Resolve of an artifact revoked by its ancestor: %v", err)
	}
	if _, err := c.ChangeLifecycle(ctx, mid.Digest, catalog.LifecycleChange{State: catalog.StateRevoked, Reason: "again", Actor: "security"}); !errors.Is(err, catalog.ErrRevoked) {
		t.Errorf("revoking twice: %v, want ErrRevoked", err)
	}

	// A reinstatement is a new event; history keeps everything.
	_, err = c.ChangeLifecycle(ctx, leaf.Digest, catalog.LifecycleChange{State: catalog.StateActive, Reason: "false positive for leaf", Actor: "security"})
	must(t, err)
	if s, _ := state(t, c, leaf.Digest); s != catalog.StateActive {
		t.Errorf("after reinstatement: %s", s)
	}
	r, _ := c.Get(ctx, leaf.Digest)
	if len(r.Lifecycle) != 3 {
		t.Errorf("leaf's lifecycle history has %d changes, want 3 (deprecated, revoked by ancestor, reinstated)", len(r.Lifecycle))
	}
	if _, err := c.ChangeLifecycle(ctx, leaf.Digest, catalog.LifecycleChange{State: catalog.StateActive, Reason: "x", Actor: "y"}); !errors.Is(err, catalog.ErrInvalidChange) {
		t.Errorf("reinstating an active artifact: %v", err)
	}

	// Opting out of the cascade.
	b2 := rec(t, "base", "2.0.0", artifact.KindMachineImage)
	c2 := rec(t, "child", "1.0.0", artifact.KindVMDisk, b2.Digest)
	must(t, c.Record(ctx, b2))
	must(t, c.Record(ctx, c2))
	changed, err = c.ChangeLifecycle(ctx, b2.Digest, catalog.LifecycleChange{State: catalog.StateRevoked, Reason: "r", Actor: "a", NoCascade: true})
	if err != nil || len(changed) != 1 {
		t.Errorf("revoke without cascade changed %v, %v", changed, err)
	}
	if s, _ := state(t, c, c2.Digest); s != catalog.StateActive {
		t.Errorf("child of an artifact revoked without cascade is %s", s)
	}

	// Bad input: a clear error, nothing changed.
	before, _ := c.Events(ctx)
	bad := []struct {
		d    digest.Digest
		ch   catalog.LifecycleChange
		want error
	}{
		{digest.FromString("unknown"), catalog.LifecycleChange{State: catalog.StateRevoked, Reason: "r", Actor: "a"}, catalog.ErrNotFound},
		{base.Digest, catalog.LifecycleChange{State: catalog.StateRevoked, Actor: "a"}, catalog.ErrInvalidChange},
		{base.Digest, catalog.LifecycleChange{State: "gone", Reason: "r", Actor: "a"}, catalog.ErrInvalidChange},
		{base.Digest, catalog.LifecycleChange{State: catalog.StateDeprecated, Reason: "r", Actor: "a", Effective: time.Now().Add(-time.Hour)}, catalog.ErrInvalidSchedule},
	}
	for _, b := range bad {
		if _, err := c.ChangeLifecycle(ctx, b.d, b.ch); !errors.Is(err, b.want) {
			t.Errorf("ChangeLifecycle(%s, %+v): %v, want %v", b.d, b.ch, err, b.want)
		}
	}
	after, _ := c.Events(ctx)
	if len(after) != len(before) {
		t.Errorf("refused changes appended %d events", len(after)-len(before))
	}
}

func testScheduledLifecycle(t *testing.T, c catalog.Catalog) {
	ctx := context.Background()
	r := rec(t, "web", "1.0.0", artifact.KindVMDisk)
	must(t, c.Record(ctx, r))
	at := time.Now().Add(2 * time.Second).Truncate(time.Second).Add(time.Second)
	_, err := c.ChangeLifecycle(ctx, r.Digest, catalog.LifecycleChange{State: catalog.StateRevoked, Reason: "end of support", Actor: "release", Effective: at})
	must(t, err)
	got, err := c.Get(ctx, r.Digest)
	must(t, err)
	if s, _ := got.Status(at.Add(-time.Second)); s != catalog.StateActive {
		t.Errorf("before its time, a scheduled revocation is already %s", s)
	}
	if s, ch := got.Status(at); s != catalog.StateRevoked || !ch.Effective.Equal(at) {
		t.Errorf("at its time, the scheduled revocation gives %s %+v", s, ch)
	}
	// Evaluated at read time: no daemon, the clock passing is enough.
	trust := fakeVerifier{ok: map[digest.Digest]bool{r.Digest: true}}
	if _, err := catalog.Resolve(ctx, c, catalog.Query{Name: "web", Constraint: "^1"}, trust); err != nil {
		t.Errorf("Resolve before the scheduled revocation: %v", err)
	}
	time.Sleep(time.Until(at) + 100*time.Millisecond)
	if _, err := catalog.Resolve(ctx, c, catalog.Query{Name: "web", Constraint: "^1"}, trust); !errors.Is(err, catalog.ErrRevoked) {
		t.Errorf("Resolve after the scheduled revocation: %v, want ErrRevoked", err)
	}
}

func testChannels(t *testing.T, c catalog.Catalog) {
	ctx := context.Background()
	trust := fakeVerifier{ok: map[digest.Digest]bool{}}
	for _, v := range []string{"2.0.0", "2.1.0", "2.2.0"} {
		r := rec(t, "web", v, artifact.KindVMDisk)
		must(t, c.Record(ctx, r))
		trust.ok[r.Digest] = true
	}
	set := func(v, why string) {
		t.Helper()
		must(t, c.SetChannel(ctx, catalog.ChannelChange{Name: "web", Channel: "prod", Version: v, Reason: why, Actor: "deployer"}))
	}
	set("2.0.0", "first release")
	set("2.1.0", "promote")
	set("2.2.0", "promote")
	got, err := catalog.ResolveChannel(ctx, c, catalog.Query{Name: "web", Constraint: "2.x", Platform: linux}, "prod", trust)
	if err != nil || got.Version.Original() != "2.2.0" {
		t.Fatalf("ResolveChannel prod = %v, %v", got.Version, err)
	}
	back, err := c.RollbackChannel(ctx, "web", "prod", "oncall", "")
	if err != nil || back.Version != "2.1.0" || !strings.Contains(back.Reason, "2.2.0") {
		t.Errorf("RollbackChannel = %+v, %v; want 2.1.0", back, err)
	}
	if got, _ := catalog.ResolveChannel(ctx, c, catalog.Query{Name: "web"}, "prod", trust); got.Version.Original() != "2.1.0" {
		t.Errorf("after rollback prod resolves to %v", got.Version)
	}
	h, err := c.ChannelHistory(ctx, "web", "prod")
	if err != nil || len(h) != 4 || h[0].Reason != "first release" || h[3].Actor != "oncall" || h[3].At.IsZero() {
		t.Errorf("ChannelHistory = %+v, %v", h, err)
	}
	if _, err := catalog.ResolveChannel(ctx, c, catalog.Query{Name: "web", Constraint: "^3", Platform: linux}, "prod", trust); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("ResolveChannel outside the range: %v", err)
	}
	if _, err := catalog.ResolveChannel(ctx, c, catalog.Query{Name: "web", Platform: linux}, "staging", trust); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("ResolveChannel of an unset channel: %v", err)
	}
	// Bad input: unknown version, revoked version, bad channel name, no rollback target.
	if err := c.SetChannel(ctx, catalog.ChannelChange{Name: "web", Channel: "prod", Version: "9.9.9", Actor: "a"}); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("channel to an unknown version: %v", err)
	}
	r20 := rec(t, "web", "2.0.0", artifact.KindVMDisk)
	_, err = c.ChangeLifecycle(ctx, r20.Digest, catalog.LifecycleChange{State: catalog.StateRevoked, Reason: "bad", Actor: "sec"})
	must(t, err)
	if err := c.SetChannel(ctx, catalog.ChannelChange{Name: "web", Channel: "prod", Version: "2.0.0", Actor: "a"}); !errors.Is(err, catalog.ErrRevoked) {
		t.Errorf("channel to a revoked version: %v", err)
	}
	if err := c.SetChannel(ctx, catalog.ChannelChange{Name: "web", Channel: "Prod Env", Version: "2.1.0", Actor: "a"}); !errors.Is(err, catalog.ErrInvalidChange) {
		t.Errorf("malformed channel name: %v", err)
	}
	must(t, c.SetChannel(ctx, catalog.ChannelChange{Name: "web", Channel: "dev", Version: "2.2.0", Actor: "a"}))
	if _, err := c.RollbackChannel(ctx, "web", "dev", "a", ""); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("rollback with no earlier target: %v", err)
	}
	if h2, _ := c.ChannelHistory(ctx, "web", "prod"); len(h2) != 4 {
		t.Errorf("refused channel moves changed the history: %d entries", len(h2))
	}
}

func testVisibility(t *testing.T, c catalog.Catalog) {
	ctx := context.Background()
	r := rec(t, "web", "1.0.0", artifact.KindMachineImage)
	must(t, c.Record(ctx, r))
	must(t, c.SetVisibility(ctx, r.Digest, catalog.VisibilityChange{Level: catalog.VisibilityShared, Principals: []string{"aws:123456789012", "org:acme"}, Reason: "staging account", Actor: "ops"}))
	got, err := c.Get(ctx, r.Digest)
	must(t, err)
	if v := got.Visibility; v == nil || v.Level != catalog.VisibilityShared || len(v.Principals) != 2 || v.Actor != "ops" || v.At.IsZero() {
		t.Errorf("visibility %+v", got.Visibility)
	}
	bad := []catalog.VisibilityChange{
		{Level: catalog.VisibilityShared, Reason: "r", Actor: "a"},
		{Level: catalog.VisibilityPublic, Principals: []string{"x"}, Reason: "r", Actor: "a"},
		{Level: "world", Reason: "r", Actor: "a"},
		{Level: catalog.VisibilityPrivate},
	}
	for _, v := range bad {
		if err := c.SetVisibility(ctx, r.Digest, v); !errors.Is(err, catalog.ErrInvalidChange) {
			t.Errorf("SetVisibility(%+v): %v, want ErrInvalidChange", v, err)
		}
	}
	if err := c.SetVisibility(ctx, digest.FromString("x"), catalog.VisibilityChange{Level: catalog.VisibilityPrivate, Reason: "r", Actor: "a"}); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("SetVisibility of an unknown digest: %v", err)
	}
	// Deprecated because it holds secrets: never public.
	_, err = c.ChangeLifecycle(ctx, r.Digest, catalog.LifecycleChange{State: catalog.StateDeprecated, Reason: "ssh host keys baked in", Actor: "sec", Secrets: true})
	must(t, err)
	if err := c.SetVisibility(ctx, r.Digest, catalog.VisibilityChange{Level: catalog.VisibilityPublic, Reason: "r", Actor: "a"}); !errors.Is(err, catalog.ErrRevoked) {
		t.Errorf("making public a deprecated-with-secrets artifact: %v", err)
	}
	r2 := rec(t, "web", "2.0.0", artifact.KindMachineImage)
	must(t, c.Record(ctx, r2))
	_, err = c.ChangeLifecycle(ctx, r2.Digest, catalog.LifecycleChange{State: catalog.StateRevoked, Reason: "r", Actor: "a"})
	must(t, err)
	if err := c.SetVisibility(ctx, r2.Digest, catalog.VisibilityChange{Level: catalog.VisibilityPublic, Reason: "r", Actor: "a"}); !errors.Is(err, catalog.ErrRevoked) {
		t.Errorf("making public a revoked artifact: %v", err)
	}
	if got, _ := c.Get(ctx, r.Digest); got.Visibility.Level != catalog.VisibilityShared {
		t.Errorf("refused changes altered the visibility: %+v", got.Visibility)
	}
}

func testLineageDAG(t *testing.T, c catalog.Catalog) {
	ctx := context.Background()
	// An OCI image built on a VM disk built from an AMI, plus a multi-parent disk.
	ami := rec(t, "base-ami", "1.0.0", artifact.KindMachineImage)
	disk := rec(t, "base-disk", "1.0.0", artifact.KindVMDisk, ami.Digest)
	tools := rec(t, "tools-disk", "1.0.0", artifact.KindVMDisk)
	both := rec(t, "app-disk", "1.0.0", artifact.KindVMDisk, disk.Digest, tools.Digest)
	img := rec(t, "app-image", "1.0.0", artifact.KindOCIImage, both.Digest, ami.Digest)
	for _, r := range []catalog.Record{ami, disk, tools, both, img} {
		must(t, c.Record(ctx, r))
	}
	d, err := c.Descendants(ctx, ami.Digest)
	if err != nil || names(d) != "[base-disk app-image app-disk]" {
		t.Errorf("Descendants(ami) = %q, %v", names(d), err)
	}
	paths, err := catalog.Paths(ctx, c, ami.Digest, img.Digest)
	if err != nil || len(paths) != 2 {
		t.Fatalf("Paths(ami → image) = %d paths, %v; want 2", len(paths), err)
	}
	var ps []string
	for _, p := range paths {
		ps = append(ps, names(p))
	}
	if j := strings.Join(ps, " | "); !strings.Contains(j, "[base-ami app-image]") || !strings.Contains(j, "[base-ami base-disk app-disk app-image]") {
		t.Errorf("paths: %s", j)
	}
	if p, err := catalog.Paths(ctx, c, tools.Digest, ami.Digest); err != nil || len(p) != 0 {
		t.Errorf("Paths between unrelated artifacts = %v, %v", p, err)
	}
	// Out of date: base-disk 1.1.0 is newer than what app-disk was built on.
	must(t, c.Record(ctx, rec(t, "base-disk", "1.1.0", artifact.KindVMDisk, ami.Digest)))
	must(t, c.Record(ctx, rec(t, "base-disk", "2.0.0", artifact.KindVMDisk, ami.Digest)))      // another stream
	must(t, c.Record(ctx, rec(t, "base-disk", "1.2.0-rc.1", artifact.KindVMDisk, ami.Digest))) // a prerelease
	stale, err := catalog.OutOfDate(ctx, c, ami.Digest)
	if err != nil || len(stale) != 1 || stale[0].Record.Name != "app-disk" || stale[0].Newer.Version.Original() != "1.1.0" {
		t.Errorf("OutOfDate = %+v, %v; want app-disk, base-disk 1.1.0 is newer", stale, err)
	}
	// Cycles are refused: an artifact as its own parent, or recorded again
	// with a descendant as parent.
	self := rec(t, "loop", "1.0.0", artifact.KindVMDisk)
	self.Parents = []digest.Digest{self.Digest}
	if err := c.Record(ctx, self); !errors.Is(err, catalog.ErrCycle) {
		t.Errorf("an artifact as its own parent: %v, want ErrCycle", err)
	}
	again := ami
	again.Parents = []digest.Digest{img.Digest}
	if err := c.Record(ctx, again); !errors.Is(err, catalog.ErrCycle) {
		t.Errorf("ami recorded again on its descendant: %v, want ErrCycle", err)
	}
	if got, _ := c.Get(ctx, ami.Digest); len(got.Parents) != 0 {
		t.Errorf("a refused cycle changed the record: %v", got.Parents)
	}
}

func testEventLog(t *testing.T, c catalog.Catalog) {
	ctx := context.Background()
	skey, vkey, err := note.GenerateKey(rand.Reader, "test-catalog")
	must(t, err)
	signer, err := note.NewSigner(skey)
	must(t, err)
	verifier, err := note.NewVerifier(vkey)
	must(t, err)
	verifiers := note.VerifierList(verifier)
	rs := chain(t, c)
	if _, err := c.Checkpoint(ctx, signer); err != nil {
		t.Fatal(err)
	}
	must(t, c.AddSignature(ctx, rs[0].Digest, catalog.Signature{KeyID: "SHA256:k", Digest: digest.FromString("sig"), At: time.Now()}))
	must(t, c.SetChannel(ctx, catalog.ChannelChange{Name: "base", Channel: "prod", Version: "1.0.0", Actor: "a"}))
	_, err = c.ChangeLifecycle(ctx, rs[1].Digest, catalog.LifecycleChange{State: catalog.StateRevoked, Reason: "r", Actor: "a"})
	must(t, err)
	must(t, c.SetVisibility(ctx, rs[0].Digest, catalog.VisibilityChange{Level: catalog.VisibilityPrivate, Reason: "r", Actor: "a"}))
	if _, err := c.Checkpoint(ctx, signer); err != nil {
		t.Fatal(err)
	}
	events, err := c.Events(ctx)
	must(t, err)
	var types []string
	for _, e := range events {
		types = append(types, e.Type)
	}
	// 4 records, 1 signature, 1 channel move, 3 lifecycle changes (mid, leaf, other), 1 visibility.
	if want := "record record record record sign channel lifecycle lifecycle lifecycle visibility"; strings.Join(types, " ") != want {
		t.Errorf("event types %q, want %q", strings.Join(types, " "), want)
	}
	rep, err := catalog.VerifyLog(ctx, c, verifiers)
	if err != nil || rep.Events != 10 || rep.Checkpoints != 2 {
		t.Errorf("VerifyLog = %+v, %v", rep, err)
	}
	// A checkpoint by a key the verifier does not know is refused.
	_, otherV, _ := note.GenerateKey(rand.Reader, "someone-else")
	ov, _ := note.NewVerifier(otherV)
	if _, err := catalog.VerifyLog(ctx, c, note.VerifierList(ov)); err == nil {
		t.Error("VerifyLog accepted checkpoints signed by an unknown key")
	}
}

func testCloudActions(t *testing.T, c catalog.Catalog) {
	ctx := context.Background()
	r := rec(t, "web", "1.0.0", artifact.KindMachineImage)
	must(t, c.Record(ctx, r))
	a := catalog.CloudAction{Provider: "aws", Account: "123456789012", Region: "eu-west-1", Action: "EnableImageDeprecation",
		Resource: "ami-0abc", RequestID: "req-1", Detail: "2026-12-01T00:00:00Z", Actor: "ops"}
	must(t, c.RecordCloudAction(ctx, r.Digest, a))
	events, err := c.Events(ctx)
	must(t, err)
	last := events[len(events)-1]
	if last.Type != catalog.EventCloudAction || last.Subject != r.Digest.String() || last.Actor != "ops" ||
		!containsAll(last.Body, `"requestId":"req-1"`, `"resource":"ami-0abc"`, `"action":"EnableImageDeprecation"`, `"region":"eu-west-1"`) {
		t.Errorf("cloud action event %+v", last)
	}
	if err := c.RecordCloudAction(ctx, digest.FromString("x"), a); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("RecordCloudAction of an unknown digest: %v, want ErrNotFound", err)
	}
	for _, bad := range []catalog.CloudAction{{Action: "x", Resource: "y"}, {Provider: "aws", Resource: "y"}, {Provider: "aws", Action: "x"}} {
		if err := c.RecordCloudAction(ctx, r.Digest, bad); !errors.Is(err, catalog.ErrInvalidChange) {
			t.Errorf("RecordCloudAction(%+v): %v, want ErrInvalidChange", bad, err)
		}
	}
	if n, err := c.Events(ctx); err != nil || len(n) != len(events) {
		t.Errorf("refused actions wrote events: %d → %d (%v)", len(events), len(n), err)
	}
}
