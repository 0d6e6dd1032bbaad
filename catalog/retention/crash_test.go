package retention

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/brickyard/brickyard/catalog/sqlite"
	"github.com/brickyard/brickyard/registry"
	"github.com/brickyard/brickyard/registry/layout"
)

// TestApplyKilled kills a real process applying a plan with SIGKILL, again
// and again at random points (each step pauses a little so kills land
// inside apply, between and within its steps), until one run finishes;
// then the store and catalog must be exactly what the plan says: nothing
// kept deleted, everything deleted gone with one tombstone each.
func TestApplyKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("kills a process in a loop")
	}
	ctx := context.Background()
	dir := t.TempDir()
	st, err := layout.New(filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, st, "oci-layout", dir)
	f.demoSet(t)
	for _, v := range []string{"1.0.4", "1.0.5", "1.0.6", "1.0.7", "1.0.8", "1.0.9"} {
		f.publish(t, "web", v, "base@1.1.0")
	}
	pl, _, _ := planDemo(t, f, dir)
	b, _ := json.Marshal(pl)
	writeFile(t, dir, "plan.json", string(b))
	writeFile(t, dir, "policy.yaml", demoPolicy)
	f.cat.Close()

	kills, mid, window := 0, 0, 40
	dels := 0
	for _, d := range pl.Decisions {
		if d.Delete {
			dels++
		}
	}
	for run := 0; ; run++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestApplyHelper$")
		cmd.Env = append(os.Environ(), "RETENTION_APPLY_HELPER="+dir)
		out, _ := os.Create(filepath.Join(dir, "helper.log"))
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		var err error
		if run < 40 {
			// Wait until this run makes progress (its journal grows), so
			// that kills land among the deletions whatever the machine's
			// speed, then kill it a random moment later.
			before := journalSize(dir)
			progressed, exited := false, false
			for !progressed {
				select {
				case err = <-done:
					progressed, exited = true, true
				case <-time.After(5 * time.Millisecond):
					progressed = journalSize(dir) > before
				}
			}
			if !exited {
				select {
				case err = <-done:
				case <-time.After(time.Duration(rand.IntN(window)) * time.Millisecond):
					cmd.Process.Kill()
					<-done
					kills++
					out.Close()
					if n := doneLines(dir); n > 0 && n < dels {
						mid++
					}
					continue
				}
			}
		} else {
			err = <-done
		}
		out.Close()
		if err != nil {
			log, _ := os.ReadFile(filepath.Join(dir, "helper.log"))
			t.Fatalf("run %d: %v\n%s", run, err, log)
		}
		break
	}
	t.Logf("%d kills before a run finished, %d of them with some of the %d deletions done", kills, mid, dels)
	if mid == 0 {
		t.Error("no run was killed in the middle of its deletions: the test proves nothing")
	}
	cat, err := sqlite.Open(ctx, f.catPath)
	if err != nil {
		t.Fatal(err)
	}
	f.cat = cat
	checkApplied(t, f, pl)
}

// TestApplyHelper is the process TestApplyKilled kills: it applies
// DIR/plan.json to DIR/store and DIR/catalog.db, pausing at each step.
func TestApplyHelper(t *testing.T) {
	dir := os.Getenv("RETENTION_APPLY_HELPER")
	if dir == "" {
		t.Skip("run by TestApplyKilled")
	}
	ctx := context.Background()
	stepHook = func(string) { time.Sleep(3 * time.Millisecond) }
	st, err := layout.New(filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	cat, err := sqlite.Open(ctx, filepath.Join(dir, "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	b, err := os.ReadFile(filepath.Join(dir, "plan.json"))
	if err != nil {
		t.Fatal(err)
	}
	pl, err := ReadPlan(b)
	if err != nil {
		t.Fatal(err)
	}
	pb, _ := os.ReadFile(filepath.Join(dir, "policy.yaml"))
	p, err := ParsePolicy(pb)
	if err != nil {
		t.Fatal(err)
	}
	in, err := Gather(ctx, FileSource(filepath.Join(dir, "in-use.txt")))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Apply(ctx, cat, pl, ApplyOptions{Stores: func(string) (registry.Store, error) { return st, nil },
		Policy: p, InUse: in, Journal: filepath.Join(dir, "journal"), Actor: "killed"})
	if err != nil {
		t.Fatal(err)
	}
}

// doneLines counts the artifacts the journal in dir says are done.
func doneLines(dir string) int {
	b, _ := os.ReadFile(filepath.Join(dir, "journal"))
	return strings.Count(string(b), "\ndone ")
}

func journalSize(dir string) int64 {
	fi, err := os.Stat(filepath.Join(dir, "journal"))
	if err != nil {
		return 0
	}
	return fi.Size()
}
