package catalogtest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/catalog"
	"github.com/opencontainers/go-digest"
)

// crashEnv marks the child process of RunCrash.
const crashEnv = "BRICKYARD_CATALOGTEST_CRASH_CHILD"

// RunCrash checks that a publisher killed with SIGKILL in the middle of
// its writes leaves a catalog that opens, whose event log verifies, and
// that holds each artifact whole or not at all. It re-runs the calling
// test binary as the publisher (the test named by testName must call
// RunCrash first thing), kills it at a random moment, several times, then
// opens the catalog with open and checks it.
func RunCrash(t *testing.T, testName string, open func() (catalog.Catalog, error)) {
	if os.Getenv(crashEnv) != "" {
		publishForever(open)
		return
	}
	for round := range 4 {
		cmd := exec.Command(os.Args[0], "-test.run=^"+testName+"$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashEnv+"=1", fmt.Sprintf("BRICKYARD_CATALOGTEST_ROUND=%d", round))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 6)
		if _, err := out.Read(buf); err != nil { // "ready\n" once publishing started
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("publisher did not start: %v", err)
		}
		time.Sleep(time.Duration(50+round*70) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
	}
	c, err := open()
	if err != nil {
		t.Fatalf("the catalog does not open after its publisher was killed: %v", err)
	}
	defer c.Close()
	CheckConsistent(t, c)
}

// publishForever records chains of artifacts with signatures and lifecycle
// changes until it is killed.
func publishForever(open func() (catalog.Catalog, error)) {
	ctx := context.Background()
	c, err := open()
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(1)
	}
	fmt.Println("ready")
	round := os.Getenv("BRICKYARD_CATALOGTEST_ROUND")
	var prev []digest.Digest
	for i := 0; ; i++ {
		v, _ := artifact.ParseVersion(fmt.Sprintf("%s.0.%d", round, i))
		r := catalog.Record{Name: "crash", Kind: artifact.KindVMDisk, Version: v, Parents: prev,
			Digest:  digest.FromString(fmt.Sprintf("crash %s %d", round, i)),
			Created: time.Now(), Store: "oci-layout", Repository: "crash", MediaType: "application/vnd.oci.image.manifest.v1+json", Size: 1}
		if err := c.Record(ctx, r); err != nil {
			fmt.Fprintln(os.Stderr, "record:", err)
			os.Exit(1)
		}
		c.AddSignature(ctx, r.Digest, catalog.Signature{KeyID: "SHA256:k", Digest: digest.FromString(r.Digest.String()), At: time.Now()})
		if i%7 == 6 {
			c.ChangeLifecycle(ctx, prev[0], catalog.LifecycleChange{State: catalog.StateRevoked, Reason: "r", Actor: "a"})
		}
		prev = []digest.Digest{r.Digest}
	}
}

// CheckConsistent checks that the catalog's state and its event log agree:
// the log verifies, every recorded artifact has exactly one record event
// stating the same parents, and every record event has its artifact.
func CheckConsistent(t *testing.T, c catalog.Catalog) {
	t.Helper()
	ctx := context.Background()
	if _, err := catalog.VerifyLog(ctx, c, nil); err != nil {
		t.Errorf("VerifyLog: %v", err)
	}
	events, err := c.Events(ctx)
	must(t, err)
	stated := map[digest.Digest][]digest.Digest{}
	for _, e := range events {
		if e.Type != catalog.EventRecord {
			continue
		}
		var body struct {
			Parents []digest.Digest `json:"parents"`
		}
		if err := json.Unmarshal([]byte(e.Body), &body); err != nil {
			t.Errorf("record event %d: %v", e.Seq, err)
		}
		d := digest.Digest(e.Subject)
		if _, dup := stated[d]; dup {
			t.Errorf("artifact %s recorded by two events", d)
		}
		stated[d] = body.Parents
	}
	names, err := c.Names(ctx)
	must(t, err)
	n := 0
	for _, name := range names {
		recs, err := c.Versions(ctx, name)
		must(t, err)
		for _, r := range recs {
			n++
			ps, ok := stated[r.Digest]
			if !ok {
				t.Errorf("%s is recorded without a record event", r.Ref())
				continue
			}
			if fmt.Sprint(ps) != fmt.Sprint(r.Parents) && !(len(ps) == 0 && len(r.Parents) == 0) {
				t.Errorf("%s has parents %v, its event states %v", r.Ref(), r.Parents, ps)
			}
		}
	}
	if n != len(stated) {
		t.Errorf("%d artifacts recorded, %d record events", n, len(stated))
	}
	if n == 0 {
		t.Error("the publisher recorded nothing before it was killed: the test proves nothing")
	}
	t.Logf("%d artifacts and %d events, consistent", n, len(events))
}
