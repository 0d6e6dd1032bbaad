package registrytest

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Distribution is a running CNCF distribution registry (Debian's
// docker-registry package) on a loopback port.
type Distribution struct {
	Addr string // host:port on 127.0.0.1
	Log  string // path of its log file
	cmd  *exec.Cmd
	logf *os.File
}

// ErrNoDistribution means the docker-registry binary is not installed.
var ErrNoDistribution = errors.New("docker-registry is not installed (Debian package docker-registry; scripts/install-tools installs it)")

// RunDistribution starts the registry on a free port of 127.0.0.1 with its
// storage and log under dir, deletes enabled, and waits until GET /v2/
// answers 200 (at most 15 s). Stop it with Stop.
func RunDistribution(dir string) (*Distribution, error) {
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		return nil, ErrNoDistribution
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	cfg := fmt.Sprintf("version: 0.1\nlog: {level: error, accesslog: {disabled: true}}\nstorage: {filesystem: {rootdirectory: %s}, delete: {enabled: true}}\nhttp: {addr: %s}\n",
		filepath.Join(dir, "data"), addr)
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	d := &Distribution{Addr: addr, Log: filepath.Join(dir, "registry.log")}
	if d.logf, err = os.Create(d.Log); err != nil {
		return nil, err
	}
	d.cmd = exec.Command(bin, "serve", cfgPath)
	d.cmd.Stdout, d.cmd.Stderr = d.logf, d.logf
	if err := d.cmd.Start(); err != nil {
		d.logf.Close()
		return nil, err
	}
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get("http://" + addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return d, nil
			}
		}
	}
	d.Stop()
	return nil, fmt.Errorf("docker-registry did not answer on %s within 15 s (log: %s)", addr, d.Log)
}

// Pid returns the registry's process id, for benchmarks that account for
// the CPU time it spends.
func (d *Distribution) Pid() int { return d.cmd.Process.Pid }

// Stop kills the registry and waits for it.
func (d *Distribution) Stop() {
	d.cmd.Process.Kill()
	d.cmd.Wait()
	d.logf.Close()
}

// StartDistribution runs the registry for the length of t (see
// RunDistribution) and returns its host:port; its log is printed if t
// fails. If the binary is missing, t is skipped with the reason
// (scripts/test installs it, so CI never skips).
func StartDistribution(t testing.TB) string {
	t.Helper()
	return StartDistributionIn(t, t.TempDir())
}

// StartDistributionIn is StartDistribution with the registry's files under
// dir: its storage in dir/data, for tests that look at what it keeps.
func StartDistributionIn(t testing.TB, dir string) string {
	t.Helper()
	d, err := RunDistribution(dir)
	if errors.Is(err, ErrNoDistribution) {
		t.Skip("SKIPPED LOUDLY: " + err.Error() + "; the real-registry tests did not run")
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		d.Stop()
		if t.Failed() {
			if b, err := os.ReadFile(d.Log); err == nil {
				t.Logf("docker-registry log:\n%s", b)
			}
		}
	})
	return d.Addr
}
