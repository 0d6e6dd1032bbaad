// Package catalogtest is the conformance suite every catalog.Catalog
// backend must pass. A backend's tests call Run with a function that opens
// a new, empty catalog.
package catalogtest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/catalog"
	"github.com/opencontainers/go-digest"
)

// Run runs the suite; open must return a new, empty catalog each call.
func Run(t *testing.T, open func(t *testing.T) catalog.Catalog) {
	tests := []struct {
		name string
		fn   func(t *testing.T, c catalog.Catalog)
	}{
		{"RecordGet", testRecordGet},
		{"Idempotent", testIdempotent},
		{"DuplicateVersion", testDuplicateVersion},
		{"UnknownParent", testUnknownParent},
		{"InvalidRecords", testInvalidRecords},
		{"SemverOrder", testSemverOrder},
		{"Lineage", testLineage},
		{"Resolve", testResolve},
		{"Signatures", testSignatures},
		{"Lifecycle", testLifecycle},
		{"ScheduledLifecycle", testScheduledLifecycle},
		{"Channels", testChannels},
		{"Visibility", testVisibility},
		{"CloudActions", testCloudActions},
		{"LineageDAG", testLineageDAG},
		{"EventLog", testEventLog},
		{"ConcurrentRecord", testConcurrentRecord},
		{"RecordBatch", testRecordBatch},
		{"Tombstone", testTombstone},
		{"Scan", testScan},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := open(t)
			t.Cleanup(func() { c.Close() })
			tc.fn(t, c)
		})
	}
}

var linux = artifact.Platform{OS: "linux", Architecture: "amd64"}

// rec makes a record; its digest is derived from name, version and platform.
func rec(t testing.TB, name, version string, kind artifact.Kind, parents ...digest.Digest) catalog.Record {
	t.Helper()
	v, err := artifact.ParseVersion(version)
	if err != nil {
		t.Fatal(err)
	}
	return catalog.Record{
		Name: name, Kind: kind, Version: v, Platform: linux, Parents: parents,
		Digest:  digest.FromString(name + "@" + version),
		Created: time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC),
		Store:   "oci-layout", Repository: name, MediaType: "application/vnd.oci.image.manifest.v1+json", Size: 512,
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func testRecordGet(t *testing.T, c catalog.Catalog) {
	ctx := context.Background()
	base := rec(t, "base", "1.0.0", artifact.KindVMDisk)
	other := rec(t, "other", "2.0.0", artifact.KindMachineImage)
	must(t, c.Record(ctx, base))
	must(t, c.Record(ctx, other))
	web := rec(t, "team/web", "1.2.0-rc.1+build.5", artifact.KindOCIImage, other.Digest, base.Digest)
	web.Platform = artifact.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}
	before := time.Now().Add(-time.Second)
	must(t, c.Record(ctx, web))
	got, err := c.Get(ctx, web.Digest)
	must(t, err)
	if got.Name != web.Name || got.Kind != web.Kind || got.Version.Original() != web.Version.Original() ||
		got.Platform != web.Platform || !got.Created.Equal(web.Created) || got.Store != web.Store ||
		got.Repository != web.Repository || got.MediaType != web.MediaType || got.Size != web.Size {
		t.Errorf("Get = %+v\nwant %+v", got, web)
	}
	if len(got.Parents) != 2 || got.Parents[0] != other.Digest || got.Parents[1] != base.Digest {
		t.Errorf("parents %v, want [other base] in that order", got.Parents)
	}
	if got.Published.Before(before.Truncate(time.Second)) || got.Published.After(time.Now().Add(time.Second)) {
		t.Errorf("published %v, want about now", got.Published)
	}
	if _, err := c.Get(ctx, digest.FromString("nothing")); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("Get unknown: %v", err)
	}
	names, err := c.Names(ctx)
	must(t, err)
	if fmt.Sprint(names) != "[base other team/web]" {
		t.Errorf("Names = %v", names)
	}
}

func testIdempotent(t *testing.T, c catalog.Catalog) {
	ctx := context.Background()
	r := rec(t, "base", "1.0.0", artifact.KindVMDisk)
	must(t, c.Record(ctx, r))
	must(t, c.Record(ctx, r))
	vs, err := c.Versions(ctx, "base")
	must(t, err)
	if len(vs) != 1 {
		t.Fatalf("%d records after recording twice", len(vs))
	}
}

func testDuplicateVersion(t *testing.T, c catalog.Catalog) {
	ctx := context.Background()
	r := rec(t, "base", "1.0.0", artifact.KindVMDisk)
	must(t, c.Record(ctx, r))
	for _, v := range []string{"1.0.0", "1.0.0+other.build"} {
		r2 := rec(t, "base", v, artifact.KindVMDisk)
		r2.Digest = digest.FromString("other content " + v)
		if err := c.Record(ctx, r2); !errors.Is(err, catalog.ErrDuplicateVersion) {
			t.Errorf("%s with other content: %v, want ErrDuplicateVersion", v, err)
		}
	}
	// Another platform of the same version is another record.
	arm := rec(t, "base", "1.0.0", artifact.KindVMDisk)
	arm.Platform, arm.Digest = artifact.Platform{OS: "linux", Architecture: "arm64"}, digest.FromString("arm")
	must(t, c.Record(ctx, arm))
	vs, err := c.Versions(ctx, "base")
	must(t, err)
	if len(vs) != 2 || vs[0].Digest != r.Digest {
		t.Errorf("versions after refused duplicates: %+v", vs)
	}
}

func testUnknownParent(t *testing.T, c catalog.Catalog) {
	ctx := context.Background()
	ghost := digest.FromString("ghost")
	r := rec(t, "web", "1.0.0", artifact.KindVMDisk, ghost)
	err := c.Record(ctx, r)
	if !errors.Is(err, catalog.ErrUnknownParent) || !containsAll(err.Error(), ghost.String(), "web@1.0.0") {
		t.Fatalf("got %v, want ErrUnknownParent naming the parent", err)
	}
	if _, err := c.Get(ctx, r.Digest); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("a refused record was written: %v", err)
	}
}

func testInvalidRecords(t *testing.T, c catalog.Catalog) {
	ctx := context.Background()
	cases := map[string]struct {
		mutate func(r *catalog.Record)
		want   error
	}{
		"name":     {func(r *catalog.Record) { r.Name = "Web" }, artifact.ErrInvalidName},
		"version":  {func(r *catalog.Record) { r.Version = nil }, artifact.ErrInvalidVersion},
		"kind":     {func(r *catalog.Record) { r.Kind = "ami" }, artifact.ErrInvalidKind},
		"digest":   {func(r *catalog.Record) { r.Digest = "sha256:xyz" }, artifact.ErrInvalidDigest},
		"platform": {func(r *catalog.Record) { r.Platform.OS = "Linux" }, artifact.ErrInvalidPlatform},
		"self":     {func(r *catalog.Record) { r.Parents = []digest.Digest{r.Digest} }, catalog.ErrCycle},
	}
	for name, tc := range cases {
		r := rec(t, "web", "1.0.0", artifact.KindVMDisk)
		tc.mutate(&r)
		if err := c.Record(ctx, r); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", name, err, tc.want)
		}
	}
	names, err := c.Names(ctx)
	must(t, err)
	if len(names) != 0 {
		t.Errorf("invalid records were written: %v", names)
	}
}

func testSemverOrder(t *testing.T, c catalog.Catalog) {
	ctx := context.Background()
	for _, v := range []string{"1.10.0", "1.2.0", "1.0.0", "1.2.0-rc.1", "1.2.0-alpha", "0.9.0+build.1"} {
		must(t, c.Record(ctx, rec(t, "web", v, artifact.KindVMDisk)))
	}
	vs, err := c.Versions(ctx, "web")
	must(t, err)
	var got []string
	for _, r := range vs {
		got = append(got, r.Version.Original())
	}
	if want := "[0.9.0+build.1 1.0.0 1.2.0-alpha 1.2.0-rc.1 1.2.0 1.10.0]"; fmt.Sprint(got) != want {
		t.Errorf("Versions = %v, want %s", got, want)
	}
	if vs, err := c.Versions(ctx, "nothing"); err != nil || len(vs) != 0 {
		t.Errorf("Versions of unknown name = %v, %v", vs, err)
	}
}

func testLineage(t *testing.T, c catalog.Catalog) {
	ctx := context.Background()
	ami := rec(t, "base-ami", "1.0.0", artifact.KindMachineImage)
	disk := rec(t, "base", "1.0.0", artifact.KindVMDisk, ami.Digest)
	img := rec(t, "web-image", "1.0.0", artifact.KindOCIImage, disk.Digest)
	web := rec(t, "web", "1.0.0", artifact.KindMachineImage, img.Digest, disk.Digest)
	for _, r := range []catalog.Record{ami, disk, img, web} {
		must(t, c.Record(ctx, r))
	}
	anc, err := c.Ancestors(ctx, web.Digest)
	must(t, err)
	if got := names(anc); got != "[base web-image base-ami]" {
		t.Errorf("Ancestors(web) = %s, want nearest first, each once", got)
	}
	kids, err := c.Children(ctx, disk.Digest)
	must(t, err)
	if got := names(kids); got != "[web-image web]" {
		t.Errorf("Children(base) = %s", got)
	}
	if anc, err := c.Ancestors(ctx, ami.Digest); err != nil || len(anc) != 0 {
		t.Errorf("Ancestors(root) = %v, %v", anc, err)
	}
	if _, err := c.Ancestors(ctx, digest.FromString("nothing")); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("Ancestors(unknown) = %v", err)
	}
}

func names(rs []catalog.Record) string {
	var n []string
	for _, r := range rs {
		n = append(n, r.Name)
	}
	return fmt.Sprint(n)
}

// fakeVerifier trusts the digests in ok and calls the ones in unsigned
// unsigned; anything else has an untrusted signature. The real, cosign
// verifier is tested in package sign and end to end in cmd/brickyard.
type fakeVerifier struct {
	ok, unsigned map[digest.Digest]bool
}

func (f fakeVerifier) Verify(_ context.Context, r artifact.Stored) (string, error) {
	switch {
	case f.ok[r.Manifest.Digest]:
		return "SHA256:trusted", nil
	case f.unsigned[r.Manifest.Digest]:
		return "", fmt.Errorf("%s@%s: %w", r.Repository, r.Manifest.Digest, catalog.ErrUnsigned)
	}
	return "", fmt.Errorf("%s@%s: %w", r.Repository, r.Manifest.Digest, catalog.ErrUntrusted)
}

func testResolve(t *testing.T, c catalog.Catalog) {
	ctx := context.Background()
	v := fakeVerifier{ok: map[digest.Digest]bool{}, unsigned: map[digest.Digest]bool{}}
	add := func(version string, state string, p artifact.Platform) {
		r := rec(t, "web", version, artifact.KindVMDisk)
		r.Platform = p
		r.Digest = digest.FromString(version + p.String())
		must(t, c.Record(ctx, r))
		switch state {
		case "signed":
			v.ok[r.Digest] = true
		case "unsigned":
			v.unsigned[r.Digest] = true
		}
	}
	arm := artifact.Platform{OS: "linux", Architecture: "arm64"}
	add("1.0.0", "signed", linux)
	add("1.1.0", "signed", linux)
	add("1.2.0-rc.1", "signed", linux)
	add("1.3.0", "unsigned", linux)
	add("1.4.0", "untrusted", linux)
	add("1.5.0", "signed", arm)
	add("2.0.0", "unsigned", linux)
	add("3.0.0", "untrusted", linux)
	cases := []struct {
		constraint string
		platform   artifact.Platform
		want       string
		err        error
	}{
		{"^1.0", linux, "1.1.0", nil},
		{"^1.0", artifact.Platform{}, "1.5.0", nil},
		{"^1.0", arm, "1.5.0", nil},
		{">=1.2.0-rc.0, <1.3", linux, "1.2.0-rc.1", nil},
		{"~1.0", linux, "1.0.0", nil},
		{"^2", linux, "", catalog.ErrUnsigned},
		{"^3", linux, "", catalog.ErrUntrusted},
		{"^9", linux, "", catalog.ErrNotFound},
		{"~1.3", linux, "", catalog.ErrUnsigned},
		{"not a range", linux, "", catalog.ErrInvalidConstraint},
	}
	for _, tc := range cases {
		got, err := catalog.Resolve(ctx, c, catalog.Query{Name: "web", Constraint: tc.constraint, Platform: tc.platform}, v)
		if tc.err != nil {
			if !errors.Is(err, tc.err) || !containsAll(err.Error(), tc.constraint) {
				t.Errorf("Resolve %s %s: %v, want %v naming the range", tc.constraint, tc.platform, err, tc.err)
			}
			if tc.err == catalog.ErrUnsigned && errors.Is(err, catalog.ErrNotFound) {
				t.Errorf("Resolve %s: unsigned must not look like not found", tc.constraint)
			}
			continue
		}
		if err != nil || got.Version.Original() != tc.want {
			t.Errorf("Resolve %s %s = %v, %v; want %s", tc.constraint, tc.platform, got.Version, err, tc.want)
		}
	}
	if _, err := catalog.Resolve(ctx, c, catalog.Query{Name: "web", Constraint: "^1"}, nil); err == nil {
		t.Error("Resolve with a nil verifier must refuse")
	}
}

func testSignatures(t *testing.T, c catalog.Catalog) {
	ctx := context.Background()
	r := rec(t, "web", "1.0.0", artifact.KindVMDisk)
	must(t, c.Record(ctx, r))
	at := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	s1 := catalog.Signature{KeyID: "SHA256:one", Digest: digest.FromString("sig1"), At: at}
	s2 := catalog.Signature{KeyID: "SHA256:two", Digest: digest.FromString("sig2"), At: at.Add(time.Minute)}
	must(t, c.AddSignature(ctx, r.Digest, s1))
	must(t, c.AddSignature(ctx, r.Digest, s2))
	must(t, c.AddSignature(ctx, r.Digest, s1))
	got, err := c.Get(ctx, r.Digest)
	must(t, err)
	if len(got.Signatures) != 2 || got.Signatures[0] != s1 || got.Signatures[1] != s2 {
		t.Errorf("signatures %+v", got.Signatures)
	}
	if err := c.AddSignature(ctx, digest.FromString("nothing"), s1); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("AddSignature to unknown: %v", err)
	}
}

func testConcurrentRecord(t *testing.T, c catalog.Catalog) {
	ctx := context.Background()
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins, dups := map[string]int{}, 0
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 5 {
				// Every goroutine publishes 1.0.j with its own content:
				// exactly one wins each version.
				r := rec(t, "web", fmt.Sprintf("1.0.%d", j), artifact.KindVMDisk)
				r.Digest = digest.FromString(fmt.Sprintf("publisher %d version %d", i, j))
				err := c.Record(ctx, r)
				mu.Lock()
				switch {
				case err == nil:
					wins[r.Version.Original()]++
				case errors.Is(err, catalog.ErrDuplicateVersion):
					dups++
				default:
					t.Errorf("publisher %d: %v", i, err)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	vs, err := c.Versions(ctx, "web")
	must(t, err)
	if len(vs) != 5 || dups != 35 {
		t.Errorf("%d versions recorded, %d duplicates refused; want 5 and 35", len(vs), dups)
	}
	for v, n := range wins {
		if n != 1 {
			t.Errorf("version %s won %d times", v, n)
		}
	}
	// No lost or forked events: one record event per recorded version, in
	// one unbroken chain.
	events, err := c.Events(ctx)
	must(t, err)
	if len(events) != 5 {
		t.Errorf("%d events for 5 recorded versions", len(events))
	}
	if _, err := catalog.VerifyLog(ctx, c, nil); err != nil {
		t.Errorf("VerifyLog after concurrent publishers: %v", err)
	}
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

func testRecordBatch(t *testing.T, c catalog.Catalog) {
	ctx := context.Background()
	var rs []catalog.Record
	var prev []digest.Digest
	for i := range 50 {
		r := rec(t, "web", fmt.Sprintf("1.%d.0", i), artifact.KindVMDisk, prev...)
		rs = append(rs, r)
		prev = []digest.Digest{r.Digest}
	}
	// A batch with one bad record writes nothing.
	bad := append(append([]catalog.Record{}, rs[:10]...), rec(t, "api", "1.0.0", artifact.KindVMDisk, digest.FromString("nowhere")))
	if err := c.RecordBatch(ctx, bad); !errors.Is(err, catalog.ErrUnknownParent) || !strings.Contains(err.Error(), "api@1.0.0") {
		t.Errorf("RecordBatch with an unknown parent: %v", err)
	}
	if vs, _ := c.Versions(ctx, "web"); len(vs) != 0 {
		t.Errorf("a refused batch wrote %d records", len(vs))
	}
	must(t, c.RecordBatch(ctx, rs))
	vs, err := c.Versions(ctx, "web")
	must(t, err)
	if len(vs) != 50 || len(vs[49].Parents) != 1 || vs[49].Parents[0] != rs[48].Digest {
		t.Errorf("after RecordBatch: %d versions", len(vs))
	}
	events, err := c.Events(ctx)
	must(t, err)
	if len(events) != 50 {
		t.Errorf("%d events for a batch of 50", len(events))
	}
	if _, err := catalog.VerifyLog(ctx, c, nil); err != nil {
		t.Errorf("VerifyLog after a batch: %v", err)
	}
	// A batch whose new record takes a recorded version under another
	// digest (refused by the database's unique index, midway through the
	// multi-row INSERT) writes nothing and names the record.
	fresh := rec(t, "web", "2.0.0", artifact.KindVMDisk)
	clash := rec(t, "web", "1.3.0", artifact.KindVMDisk)
	clash.Digest = digest.FromString("another build of 1.3.0")
	if err := c.RecordBatch(ctx, []catalog.Record{fresh, clash}); !errors.Is(err, catalog.ErrDuplicateVersion) || !strings.Contains(err.Error(), "web@1.3.0") {
		t.Errorf("RecordBatch with a taken version: %v, want ErrDuplicateVersion naming web@1.3.0", err)
	}
	if vs, _ := c.Versions(ctx, "web"); len(vs) != 50 {
		t.Errorf("a refused batch left %d versions, want 50", len(vs))
	}
	// Recording the same batch again is a no-op.
	must(t, c.RecordBatch(ctx, rs))
	if events, _ := c.Events(ctx); len(events) != 50 {
		t.Errorf("re-recording a batch: %d events, want 50", len(events))
	}
}
