package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/brickyard/brickyard/catalog/postgres/pgtest"
	"github.com/brickyard/brickyard/registry/layout"
	"github.com/brickyard/brickyard/registry/registrytest"
)

// The crash tests run the real brickyard binary, stop it at a named write
// (internal/faults: BRICKYARD_TEST_PAUSE), kill it there with SIGKILL,
// and check that running the command again completes it and leaves the
// store and catalog consistent (brickyard fsck). They log a table of the
// kills per step and, when $BRICKYARD_FAULT_REPORT names a file, append it
// there (scripts/test prints it).

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// brickyardBin builds the brickyard binary once per test run.
func brickyardBin(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "brickyard-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "brickyard")
		if out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// proc runs the brickyard binary with a home, a cosign key and no
// SOURCE_DATE_EPOCH, so that each run stamps its own build time, as a
// user's would.
type proc struct {
	t       *testing.T
	bin     string
	dir     string
	home    string
	catalog string // --catalog, or "" for HOME/catalog.db
}

func newProc(t *testing.T, catalogDSN string) *proc {
	t.Helper()
	dir := t.TempDir()
	p := &proc{t: t, bin: brickyardBin(t), dir: dir, home: filepath.Join(dir, "home"), catalog: catalogDSN}
	p.ok(nil, "init")
	p.ok(nil, "keygen", "--output-key-prefix", filepath.Join(dir, "cosign"))
	return p
}

func (p *proc) command(env []string, argv ...string) *exec.Cmd {
	args := []string{"--home", p.home, "--progress", "never"}
	if p.catalog != "" {
		args = append(args, "--catalog", p.catalog)
	}
	cmd := exec.Command(p.bin, append(args, argv...)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SOURCE_DATE_EPOCH=") && !strings.HasPrefix(kv, "BRICKYARD_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "COSIGN_PASSWORD=crash-test")
	cmd.Env = append(cmd.Env, env...)
	return cmd
}

func (p *proc) run(env []string, argv ...string) (string, int) {
	var out bytes.Buffer
	cmd := p.command(env, argv...)
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return out.String(), ee.ExitCode()
	}
	if err != nil {
		p.t.Fatal(err)
	}
	return out.String(), 0
}

func (p *proc) ok(env []string, argv ...string) string {
	p.t.Helper()
	out, code := p.run(env, argv...)
	if code != 0 {
		p.t.Fatalf("brickyard %s: exit %d\n%s", strings.Join(argv, " "), code, out)
	}
	return out
}

// killAt runs argv until it reaches step, kills it with SIGKILL there,
// and reports whether it got there (false: it finished first, which a
// step that argv does not pass through gives).
func (p *proc) killAt(step string, argv ...string) bool {
	p.t.Helper()
	marker := filepath.Join(p.dir, "paused-"+step)
	os.Remove(marker)
	cmd := p.command([]string{"BRICKYARD_TEST_PAUSE=" + step, "BRICKYARD_TEST_PAUSE_FILE=" + marker}, argv...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.After(2 * time.Minute)
	for {
		select {
		case err := <-done:
			p.t.Logf("brickyard %s finished before step %s (%v):\n%s", strings.Join(argv, " "), step, err, out.String())
			return false
		case <-deadline:
			cmd.Process.Kill()
			<-done
			p.t.Fatalf("brickyard %s did not reach step %s in 2 minutes:\n%s", strings.Join(argv, " "), step, out.String())
		case <-time.After(10 * time.Millisecond):
		}
		if _, err := os.Stat(marker); err == nil {
			cmd.Process.Signal(syscall.SIGKILL)
			<-done
			return true
		}
	}
}

// ingests counts the ingest files left in the home store.
func (p *proc) ingests() int {
	n := 0
	filepath.Walk(filepath.Join(p.home, "store"), func(path string, fi os.FileInfo, err error) error {
		if err == nil && strings.HasPrefix(fi.Name(), ".ingest-") {
			n++
		}
		return nil
	})
	return n
}

// faultTable collects what the crash tests injected, for the report.
type faultTable struct {
	mu   sync.Mutex
	rows map[string]*faultRow
}

type faultRow struct {
	kills, completed int
	left             map[string]bool
}

func (f *faultTable) add(fault, left string, completed bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.rows == nil {
		f.rows = map[string]*faultRow{}
	}
	r := f.rows[fault]
	if r == nil {
		r = &faultRow{left: map[string]bool{}}
		f.rows[fault] = r
	}
	r.kills++
	if completed {
		r.completed++
	}
	r.left[left] = true
}

func (f *faultTable) report(t *testing.T, title string) {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n%-44s %6s %-60s %s\n", title, "FAULT", "TIMES", "LEFT BEHIND", "RE-RUN COMPLETED")
	var keys []string
	for k := range f.rows {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		r := f.rows[k]
		var left []string
		for l := range r.left {
			left = append(left, l)
		}
		sort.Strings(left)
		fmt.Fprintf(&b, "%-44s %6d %-60s %d/%d\n", k, r.kills, strings.Join(left, "; "), r.completed, r.kills)
	}
	t.Log("\n" + b.String())
	if path := os.Getenv("BRICKYARD_FAULT_REPORT"); path != "" {
		if f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644); err == nil {
			f.WriteString(b.String() + "\n")
			f.Close()
		}
	}
}

// crashRounds is how often each step is killed: $BRICKYARD_CRASH_ROUNDS,
// default 1 (a bounded loop; scripts/test keeps the default).
func crashRounds() int {
	if n, err := strconv.Atoi(os.Getenv("BRICKYARD_CRASH_ROUNDS")); err == nil && n > 0 {
		return n
	}
	return 1
}

// publishSteps are the writes of a publish with --key, in order.
var publishSteps = []string{"ingest", "blob", "manifest", "tag", "record", "signature", "signature-recorded"}

// leftAfter describes what a kill left, as fsck (and the collector, for
// unreachable blobs) find it before the re-run.
func (p *proc) leftAfter() string {
	var what []string
	if st, err := layout.New(filepath.Join(p.home, "store")); err == nil {
		if rep, err := st.GC(context.Background(), layout.GCOptions{Grace: -1, IngestGrace: -1, DryRun: true}); err == nil && len(rep.Removed) > 0 {
			what = append(what, fmt.Sprintf("%d unreachable blobs", len(rep.Removed)))
		}
	}
	out, code := p.run(nil, "fsck")
	if code == 0 && len(what) == 0 {
		return "nothing"
	}
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		for _, w := range []string{"stale ingest", "unrecorded tag", "missing blob", "dangling tag", "corrupt blob", "tag mismatch", "missing manifest", "event log"} {
			if strings.HasPrefix(line, w) && !slicesContains(what, w) {
				what = append(what, w)
			}
		}
	}
	return strings.Join(what, ", ")
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// crashPublish kills `publish vm-disk` at every step rounds times, then
// runs gc, re-runs the same publish, and checks that it completes, that
// verify and fsck pass, and that publishing it once more is a no-op.
func crashPublish(t *testing.T, p *proc, steps []string, rounds int, table *faultTable, label string) {
	disk := filepath.Join(p.dir, "disk.raw")
	if err := os.WriteFile(disk, bytes.Repeat([]byte(strings.Repeat("brickyard crash test", 32)[:511]+"\n"), 8192), 0o644); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, step := range steps {
		for range rounds {
			n++
			version := fmt.Sprintf("1.0.%d", n)
			argv := []string{"publish", "vm-disk", "web", version, disk, "--platform", "linux/amd64", "--key", filepath.Join(p.dir, "cosign.key")}
			if !p.killAt(step, argv...) {
				t.Fatalf("publish never reached step %s", step)
			}
			left := p.leftAfter()
			if step == "ingest" && p.ingests() == 0 {
				t.Errorf("killed at ingest: no ingest file left to collect")
			}
			p.ok(nil, "gc", "--grace", "0", "--ingest-grace", "0")
			if p.ingests() != 0 {
				t.Errorf("killed at %s: gc left %d ingest files", step, p.ingests())
			}
			out, code := p.run(nil, argv...)
			completed := code == 0
			if !completed {
				t.Errorf("%s: re-run after a kill at %s: exit %d\n%s", label, step, code, out)
			}
			p.ok(nil, "verify", "web@"+version, "--key", filepath.Join(p.dir, "cosign.pub"))
			if out := p.ok(nil, "fsck"); !strings.Contains(out, "no problems left") {
				t.Errorf("fsck after the re-run: %s", out)
			}
			if out := p.ok(nil, argv...); !strings.Contains(out, "already published") || !strings.Contains(out, "already") {
				t.Errorf("publishing the same content again: %s", out)
			}
			if out := p.ok(nil, "log", "checkpoint"); !strings.Contains(out, "nothing to sign") {
				t.Errorf("the log is not fully checkpointed after the re-run: %s", out)
			}
			table.add(label+" publish killed at "+step, left, completed)
		}
	}
}

// TestPublishKilledAtEachStep is requirement 1's and 3's test with SQLite:
// a real `brickyard publish` killed with SIGKILL at each of its writes
// (crashRounds each), then gc, then the same publish again.
func TestPublishKilledAtEachStep(t *testing.T) {
	var table faultTable
	crashPublish(t, newProc(t, ""), publishSteps, crashRounds(), &table, "sqlite")
	table.report(t, "publish killed (SIGKILL) at each write, SQLite catalog")
}

// TestPublishKilledAtEachStepPostgres kills publishes around the catalog
// steps with the catalog in a real PostgreSQL.
func TestPublishKilledAtEachStepPostgres(t *testing.T) {
	srv := pgtest.Start(t)
	var table faultTable
	crashPublish(t, newProc(t, srv.DSN), []string{"tag", "record", "signature", "signature-recorded"}, crashRounds(), &table, "postgres")
	table.report(t, "publish killed (SIGKILL) around the catalog writes, PostgreSQL catalog")
}

// TestCheckpointFailureRetried: signing the checkpoint fails (as on a full
// disk) after a publish is recorded: the command says what was done and
// what was not, and the next command signs it.
func TestCheckpointFailureRetried(t *testing.T) {
	p := newProc(t, "")
	argv := []string{"publish", "machine-image", "web-ami", "1.0.0", "--owner", "123456789012", "--image", "eu-west-1=ami-1"}
	out, code := p.run([]string{"BRICKYARD_TEST_FAIL=checkpoint"}, argv...)
	if code == 0 || !strings.Contains(out, "published web-ami@1.0.0") || !strings.Contains(out, "NOT done: sign a checkpoint") || !strings.Contains(out, "brickyard log checkpoint") {
		t.Fatalf("publish with a failing checkpoint: exit %d\n%s", code, out)
	}
	if out := p.ok(nil, "list"); !strings.Contains(out, "web-ami") {
		t.Fatalf("list: %s", out)
	}
	if out := p.ok(nil, "log", "checkpoint"); !strings.Contains(out, "nothing to sign") {
		t.Errorf("the command after the failure did not sign the checkpoint: %s", out)
	}
	p.ok(nil, "log", "verify")
	// The same, retried explicitly.
	p.run([]string{"BRICKYARD_TEST_FAIL=checkpoint"}, "publish", "machine-image", "web-ami", "1.1.0", "--owner", "123456789012", "--image", "eu-west-1=ami-2")
	if out := p.ok(nil, "log", "checkpoint"); !strings.Contains(out, "signed a checkpoint") {
		t.Errorf("log checkpoint after a failure: %s", out)
	}
}

// TestCopyKilledMidIngest copies an artifact from a real registry into the
// home store and kills the copy while its blob is being ingested and just
// after it is committed: gc removes what it left, and the copy run again
// completes and is recorded.
func TestCopyKilledMidIngest(t *testing.T) {
	host := registrytest.StartDistribution(t)
	p := newProc(t, "")
	disk := filepath.Join(p.dir, "disk.raw")
	os.WriteFile(disk, bytes.Repeat([]byte(strings.Repeat("copy crash test ", 32)[:511]+"\n"), 12288), 0o644)
	p.ok(nil, "publish", "vm-disk", "app", "1.0.0", disk, "--key", filepath.Join(p.dir, "cosign.key"))
	p.ok(nil, "copy", "app@1.0.0", host+"/app:1.0.0")
	var table faultTable
	for i, step := range []string{"ingest", "blob", "ingest", "blob"} {
		q := newProc(t, "")
		argv := []string{"copy", host + "/app:1.0.0", "app:1.0.0", "--key", filepath.Join(p.dir, "cosign.pub")}
		if !q.killAt(step, argv...) {
			t.Fatalf("copy %d never reached %s", i, step)
		}
		left := q.leftAfter()
		q.ok(nil, "gc", "--grace", "0", "--ingest-grace", "0")
		if q.ingests() != 0 {
			t.Errorf("gc left ingest files")
		}
		out, code := q.run(nil, argv...)
		if code != 0 || !strings.Contains(out, "recorded app@1.0.0") {
			t.Errorf("copy again after a kill at %s: exit %d\n%s", step, code, out)
		}
		q.ok(nil, "verify", "app@1.0.0", "--key", filepath.Join(p.dir, "cosign.pub"))
		if out := q.ok(nil, "fsck"); !strings.Contains(out, "no problems left") {
			t.Errorf("fsck: %s", out)
		}
		table.add("copy registry→home killed at "+step, left, code == 0)
	}
	table.report(t, "copy killed (SIGKILL) mid-ingest")
}

// TestConcurrentCopyProcesses is requirement 2's test with real processes:
// 2 and then 8 `brickyard copy` processes of different content to one
// version tag of a real distribution registry, 3 rounds each (the library
// test registry/remote.TestConcurrentCopiesOneWinner runs 50 rounds of
// each with goroutines): every round exactly one exits 0, the tag holds
// its digest, and the others exit non-zero naming ErrImmutableTag's both
// digests.
func TestConcurrentCopyProcesses(t *testing.T) {
	host := registrytest.StartDistribution(t)
	srcs := make([]*proc, 8)
	digests := make([]string, 8)
	for i := range srcs {
		srcs[i] = newProc(t, "")
		out := srcs[i].ok(nil, "--json", "publish", "machine-image", "web", "1.0.0", "--owner", "123456789012", "--image", fmt.Sprintf("eu-west-1=ami-%d", i))
		j := strings.Index(out, `"digest": "`)
		digests[i] = out[j+len(`"digest": "`) : j+len(`"digest": "`)+71]
	}
	for _, n := range []int{2, 8} {
		for round := range 3 {
			dst := fmt.Sprintf("%s/race%d/r%d:1.0.0", host, n, round)
			outs := make([]string, n)
			codes := make([]int, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					outs[i], codes[i] = srcs[i].run(nil, "copy", "web@1.0.0", dst)
				}()
			}
			wg.Wait()
			won := -1
			for i := range n {
				switch {
				case codes[i] == 0 && won >= 0:
					t.Errorf("%d copies, round %d: processes %d and %d both exited 0:\n%s\n%s", n, round, won, i, outs[won], outs[i])
				case codes[i] == 0:
					won = i
				case !strings.Contains(outs[i], "immutable") || !strings.Contains(outs[i], digests[i]) || strings.Count(outs[i], "sha256:") < 2:
					t.Errorf("%d copies, round %d: process %d: exit %d without naming both digests:\n%s", n, round, i, codes[i], outs[i])
				}
			}
			if won < 0 {
				t.Fatalf("%d copies, round %d: no process exited 0: %v", n, round, outs)
			}
			if !strings.Contains(outs[won], digests[won]) {
				t.Errorf("the winner's output does not name its digest: %s", outs[won])
			}
			// The tag holds the winner's digest: copying it back says so.
			back := newProc(t, "")
			if out := back.ok(nil, "--json", "copy", dst, "web:1.0.0"); !strings.Contains(out, digests[won]) {
				t.Errorf("%d copies, round %d: the tag does not hold the winner's %s: %s", n, round, digests[won], out)
			}
		}
	}
}
