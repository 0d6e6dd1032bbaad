// Command transfer measures pushing and pulling a 2 GiB qcow2 disk to a
// local CNCF distribution registry with brickyard and with the tools people
// use today, all in the same run on the same file: skopeo copy (from an OCI
// layout holding the same blob), crane push/pull, oras push/pull, and the
// floor, curl moving the same bytes with no hashing (a monolithic blob PUT
// and a blob GET). It prints each best-of-N time, the ratios against
// brickyard and against the floor, brickyard's peak RSS, and the pull
// floors (see pullFloors): what curl, dd and openssl take to do the parts
// of a durable, verifying pull on this machine, alone and at once.
//
//	scripts/bench-transfer            # builds the tools, then: go run ./bench/transfer
//	go run ./bench/transfer -size 2147483648 -runs 2 -tools BIN_DIR
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/brickyard/brickyard/registry/registrytest"
)

func main() {
	size := flag.Int64("size", 2<<30, "bytes of disk data")
	runs := flag.Int("runs", 2, "runs per tool and direction; the best is kept")
	tools := flag.String("tools", "", "directory holding crane and oras (scripts/build-tools prints it)")
	only := flag.String("only", "", "comma-separated peers to measure besides brickyard and the curl floor, e.g. oras,crane; default all")
	flag.Parse()
	if err := run(*size, *runs, *tools, *only); err != nil {
		fmt.Fprintln(os.Stderr, "transfer:", err)
		os.Exit(1)
	}
}

type result struct {
	name       string
	push, pull time.Duration
	// CPU time of the best run: the tool's own (user+system, with its
	// children) and the registry's while the tool ran.
	pushCPU, pullCPU, pushRegCPU, pullRegCPU time.Duration
}

func run(size int64, runs int, toolDir, only string) error {
	work, err := os.MkdirTemp("", "brickyard-transfer-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	reg, err := registrytest.RunDistribution(filepath.Join(work, "registry"))
	if err != nil {
		return err
	}
	defer reg.Stop()
	host := reg.Addr

	fmt.Fprintf(os.Stderr, "making a %d-byte qcow2 disk...\n", size)
	disk := filepath.Join(work, "disk.qcow2")
	if err := makeDisk(work, disk, size); err != nil {
		return err
	}
	fi, _ := os.Stat(disk)
	hashStart := time.Now()
	dgst, err := sha256File(disk)
	if err != nil {
		return err
	}
	hashTime := time.Since(hashStart)
	by := filepath.Join(work, "brickyard")
	if err := sh("", "go", "build", "-o", by, "./cmd/brickyard"); err != nil {
		return err
	}
	home := filepath.Join(work, "home")
	if err := sh("", by, "--home", home, "init"); err != nil {
		return err
	}
	if err := sh("", by, "--home", home, "--progress", "never", "publish", "vm-disk", "bench", "1.0.0", disk); err != nil {
		return err
	}
	layout, err := ociLayout(work, disk, dgst, fi.Size())
	if err != nil {
		return err
	}
	crane, oras := filepath.Join(toolDir, "crane"), filepath.Join(toolDir, "oras")

	var pushRSS, pullRSS int64
	floors := pullFloors()
	results := []result{{name: "brickyard"}}
	for _, name := range []string{"skopeo", "crane", "oras"} {
		if only == "" || slices.Contains(strings.Split(only, ","), name) {
			results = append(results, result{name: name})
		}
	}
	results = append(results, result{name: "curl (floor)"})
	for i := range runs {
		for j := range results {
			r := &results[j]
			repo := fmt.Sprintf("%s/%s-%d", host, strings.Fields(r.name)[0], i)
			out := filepath.Join(work, fmt.Sprintf("pull-%d-%d", j, i))
			var push, pull []string
			switch r.name {
			case "brickyard":
				push = []string{by, "--home", home, "copy", "bench@1.0.0", repo + ":1.0.0"}
				pull = []string{by, "--home", out, "copy", repo + ":1.0.0", "bench:1.0.0"}
				if err := sh("", by, "--home", out, "init"); err != nil {
					return err
				}
			case "skopeo":
				push = []string{"skopeo", "copy", "-q", "--dest-tls-verify=false", "oci:" + layout + ":1.0.0", "docker://" + repo + ":1.0.0"}
				pull = []string{"skopeo", "copy", "-q", "--src-tls-verify=false", "docker://" + repo + ":1.0.0", "oci:" + out + ":1.0.0"}
			case "crane":
				push = []string{crane, "push", "--insecure", layout, repo + ":1.0.0"}
				pull = []string{crane, "pull", "--insecure", "--format=oci", repo + ":1.0.0", out}
			case "oras":
				push = []string{oras, "push", "--plain-http", repo + ":1.0.0", filepath.Base(disk) + ":application/vnd.brickyard.disk.qcow2"}
				pull = []string{oras, "pull", "--plain-http", "-o", out, repo + ":1.0.0"}
			case "curl (floor)":
				loc, err := startUpload(host, repo)
				if err != nil {
					return err
				}
				push = []string{"curl", "-sf", "-X", "PUT", "-H", "Content-Type: application/octet-stream", "-T", disk, loc + "&digest=sha256:" + dgst}
				pull = []string{"curl", "-sf", "-o", out, "http://" + host + "/v2/" + strings.TrimPrefix(repo, host+"/") + "/blobs/sha256:" + dgst}
			}
			if r.name == "skopeo" {
				forgetSkopeoBlobs()
			}
			regBefore := cpuTime(reg.Pid())
			d, rss, cpu, err := timed(work, push)
			if err != nil {
				return fmt.Errorf("%s push: %w", r.name, err)
			}
			regCPU := cpuTime(reg.Pid()) - regBefore
			if r.name == "brickyard" {
				pushRSS = max(pushRSS, rss)
			}
			if r.push == 0 || d < r.push {
				r.push, r.pushCPU, r.pushRegCPU = d, cpu, regCPU
			}
			regBefore = cpuTime(reg.Pid())
			if d, rss, cpu, err = timed(work, pull); err != nil {
				return fmt.Errorf("%s pull: %w", r.name, err)
			}
			regCPU = cpuTime(reg.Pid()) - regBefore
			if r.name == "brickyard" {
				pullRSS = max(pullRSS, rss)
			}
			if r.pull == 0 || d < r.pull {
				r.pull, r.pullCPU, r.pullRegCPU = d, cpu, regCPU
			}
			os.RemoveAll(out)
			if r.name == "curl (floor)" {
				for k := range floors {
					f := &floors[k]
					get := func(dst string) string {
						return shellQuote(append(slices.Clone(pull[:len(pull)-3]), "-o", dst, pull[len(pull)-1]))
					}
					d, _, _, err := timed(work, []string{"sh", "-c", f.script(get, disk, out)})
					if err != nil {
						return fmt.Errorf("%s: %w", f.name, err)
					}
					if f.best == 0 || d < f.best {
						f.best = d
					}
					os.RemoveAll(out)
				}
			}
		}
	}
	floor := results[len(results)-1]
	fmt.Printf("%d-byte qcow2 to distribution on 127.0.0.1, best of %d\n", fi.Size(), runs)
	fmt.Printf("%-13s %9s %9s %11s %11s %12s %12s\n", "tool", "push s", "pull s", "push/by", "pull/by", "push/floor", "pull/floor")
	for _, r := range results {
		fmt.Printf("%-13s %9.2f %9.2f %11.2f %11.2f %12.2f %12.2f\n", r.name, r.push.Seconds(), r.pull.Seconds(),
			r.push.Seconds()/results[0].push.Seconds(), r.pull.Seconds()/results[0].pull.Seconds(),
			r.push.Seconds()/floor.push.Seconds(), r.pull.Seconds()/floor.pull.Seconds())
	}
	fmt.Printf("pull floors, best of %d (each also x curl's pull, and brickyard's pull / it):\n", runs)
	for _, f := range floors {
		fmt.Printf("  %-58s %6.2f s %6.2f x %6.2f\n", f.name, f.best.Seconds(),
			f.best.Seconds()/floor.pull.Seconds(), results[0].pull.Seconds()/f.best.Seconds())
	}
	fmt.Printf("brickyard copy peak RSS: %.1f MiB pushing, %.1f MiB pulling\n", float64(pushRSS)/1024, float64(pullRSS)/1024)

	// Where the CPU goes, in the best run of each: the tool's own time
	// and the registry's while it ran. On a machine with few cores the
	// sum bounds the wall time from below: a tool that must hash every
	// byte (all but curl) needs the hash's CPU on top of moving the bytes.
	cores := runtime.NumCPU()
	fmt.Printf("CPU seconds (tool + registry) in the best run, %d cores:\n", cores)
	fmt.Printf("%-13s %15s %15s\n", "tool", "push", "pull")
	for _, r := range results {
		fmt.Printf("%-13s %6.2f + %6.2f %6.2f + %6.2f\n", r.name, r.pushCPU.Seconds(), r.pushRegCPU.Seconds(), r.pullCPU.Seconds(), r.pullRegCPU.Seconds())
	}
	bound := (floor.pullCPU + floor.pullRegCPU + hashTime).Seconds() / float64(cores)
	fmt.Printf("sha256 of the disk alone (one core, page cache): %.2f s. Pull bound for a hashing client: (curl's CPU + registry's + sha256) / %d cores = %.2f s = %.2f x curl's pull\n",
		hashTime.Seconds(), cores, bound, bound/floor.pull.Seconds())
	return nil
}

// A pullFloor is a shell script that does part of what a durable,
// verifying pull must do, with standard tools and no data passed between
// them, so that no client doing all of it can be faster on this machine.
type pullFloor struct {
	name string
	// script returns the sh script, given get, which returns curl's pull
	// command writing to dst, and the disk and output files (unquoted).
	script func(get func(dst string) string, disk, out string) string
	best   time.Duration
}

// pullFloors returns the floors the benchmark measures next to curl's
// plain pull. brickyard keeps what it pulls durably (synced before the
// tag is written) and hashes every byte, while curl -o leaves the bytes in
// the page cache, unhashed. On a machine with few cores, receiving from
// the registry, writing to disk and hashing compete for the same CPUs and
// the disk's page-cache writeback slows the receive; the concurrent
// floors measure that interference with curl, dd and openssl running at
// once on the same bytes.
func pullFloors() []pullFloor {
	return []pullFloor{
		{name: "durable: curl -o, then sync", script: func(get func(string) string, _, out string) string {
			return get(out) + " && sync " + q(out)
		}},
		{name: "disk: dd oflag=direct conv=fsync from the page cache", script: func(_ func(string) string, disk, out string) string {
			return "dd if=" + q(disk) + " of=" + q(out) + " bs=4M oflag=direct conv=fsync status=none"
		}},
		{name: "concurrent: curl -o /dev/null & dd (receive + write)", script: func(get func(string) string, disk, out string) string {
			return concurrently(get("/dev/null"),
				"dd if="+q(disk)+" of="+q(out)+" bs=4M oflag=direct conv=fsync status=none")
		}},
		{name: "concurrent: ... & openssl dgst (receive + write + hash)", script: func(get func(string) string, disk, out string) string {
			return concurrently(get("/dev/null"),
				"dd if="+q(disk)+" of="+q(out)+" bs=4M oflag=direct conv=fsync status=none",
				"openssl dgst -sha256 "+q(disk)+" >/dev/null")
		}},
	}
}

// q quotes one word for sh.
func q(s string) string { return shellQuote([]string{s}) }

// concurrently returns an sh script that runs cmds at once and fails if
// any of them fails.
func concurrently(cmds ...string) string {
	var b strings.Builder
	for i, c := range cmds {
		fmt.Fprintf(&b, "(%s) & p%d=$!; ", c, i)
	}
	b.WriteString("ok=0; ")
	for i := range cmds {
		fmt.Fprintf(&b, "wait $p%d || ok=1; ", i)
	}
	b.WriteString("exit $ok")
	return b.String()
}

// cpuTime returns the user+system CPU time pid has used so far
// (/proc/PID/stat fields 14 and 15, in clock ticks of 1/100 s on Linux),
// or 0 if it cannot be read.
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// timed runs argv in dir and returns its wall time, peak RSS in KiB and
// CPU time (user+system, including the children it waited for).
// The peak is the child's VmHWM (/proc/PID/status), read every 10 ms while
// it runs: wait4's ru_maxrss cannot be used, because Linux carries the
// spawning process's high-water mark across exec, so it would report this
// program's own peak whenever that is the larger (golang/go#32054).
func timed(dir string, argv []string) (time.Duration, int64, time.Duration, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, 0, err
	}
	done := make(chan struct{})
	peak := make(chan int64)
	go func() {
		var hwm int64
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			hwm = max(hwm, vmHWM(cmd.Process.Pid))
			select {
			case <-done:
				peak <- hwm
				return
			case <-tick.C:
			}
		}
	}()
	err := cmd.Wait()
	d := time.Since(start)
	close(done)
	rss := <-peak
	if err != nil {
		return d, 0, 0, fmt.Errorf("%s: %w\n%s", strings.Join(argv, " "), err, stderr.String())
	}
	return d, rss, cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), nil
}

// vmHWM returns the VmHWM line of /proc/pid/status in KiB, or 0.
func vmHWM(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

func sh(dir string, argv ...string) error {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir, cmd.Stderr = dir, os.Stderr
	if out, err := cmd.Output(); err != nil {
		return fmt.Errorf("%s: %w\n%s", strings.Join(argv, " "), err, out)
	}
	return nil
}

// makeDisk writes size bytes of random data as a raw disk and converts it
// to qcow2, so every cluster is allocated.
func makeDisk(work, path string, size int64) error {
	raw := filepath.Join(work, "disk.raw")
	f, err := os.Create(raw)
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(3, 3))
	buf := make([]byte, 1<<20)
	for written := int64(0); written < size; written += int64(len(buf)) {
		for i := 0; i < len(buf); i += 8 {
			v := rng.Uint64()
			for j := range 8 {
				buf[i+j] = byte(v >> (8 * j))
			}
		}
		if _, err := f.Write(buf); err != nil {
			return err
		}
	}
	if err := f.Close(); err != nil {
		return err
	}
	defer os.Remove(raw)
	return sh("", "qemu-img", "convert", "-O", "qcow2", raw, path)
}

func sha256File(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// ociLayout makes an OCI layout holding one manifest whose layer is the
// disk (hard-linked, not copied), for skopeo and crane to push.
func ociLayout(work, disk, dgst string, size int64) (string, error) {
	dir := filepath.Join(work, "layout")
	blobs := filepath.Join(dir, "blobs", "sha256")
	if err := os.MkdirAll(blobs, 0o755); err != nil {
		return "", err
	}
	if err := os.Link(disk, filepath.Join(blobs, dgst)); err != nil {
		return "", err
	}
	put := func(b []byte) (string, error) {
		sum := sha256.Sum256(b)
		h := hex.EncodeToString(sum[:])
		return h, os.WriteFile(filepath.Join(blobs, h), b, 0o644)
	}
	cfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:` + dgst + `"]}}`)
	ch, err := put(cfg)
	if err != nil {
		return "", err
	}
	m, _ := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + ch, "size": len(cfg)},
		"layers": []any{map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": "sha256:" + dgst, "size": size}},
	})
	mh, err := put(m)
	if err != nil {
		return "", err
	}
	idx, _ := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
		"manifests": []any{map[string]any{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + mh, "size": len(m),
			"annotations": map[string]string{"org.opencontainers.image.ref.name": "1.0.0"}}},
	})
	if err := os.WriteFile(filepath.Join(dir, "index.json"), idx, 0o644); err != nil {
		return "", err
	}
	return dir, os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644)
}

// startUpload opens a blob upload session for curl's monolithic PUT.
func startUpload(host, repo string) (string, error) {
	out, err := exec.Command("curl", "-sf", "-D", "-", "-o", "/dev/null", "-X", "POST", "http://"+host+"/v2/"+strings.TrimPrefix(repo, host+"/")+"/blobs/uploads/").Output()
	if err != nil {
		return "", fmt.Errorf("curl POST upload: %w", err)
	}
	for _, line := range strings.Split(string(out), "\r\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(k, "Location") {
			loc := strings.TrimSpace(v)
			if strings.HasPrefix(loc, "/") {
				loc = "http://" + host + loc
			}
			if !strings.Contains(loc, "?") {
				loc += "?"
			}
			return loc, nil
		}
	}
	return "", fmt.Errorf("no Location in the upload answer:\n%s", out)
}

// forgetSkopeoBlobs removes skopeo's blob info cache, which otherwise
// remembers where the registry already holds the blob and mounts it from
// the previous run's repository instead of uploading it: a second run
// would time a mount, not a push.
func forgetSkopeoBlobs() {
	dirs := []string{"/var/lib/containers/cache"}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, ".local", "share", "containers", "cache"))
	}
	for _, d := range dirs {
		for _, f := range []string{"blob-info-cache-v1.boltdb", "blob-info-cache-v1.sqlite"} {
			os.Remove(filepath.Join(d, f))
		}
	}
}

// shellQuote joins argv for sh -c, each word in single quotes.
func shellQuote(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}
