// Package pgtest starts a real, throw-away PostgreSQL server for tests and
// benchmarks: Debian's postgresql binaries, initdb and pg_ctl in a temporary
// directory, listening on a free port of 127.0.0.1 only. PostgreSQL refuses
// to run as root, so when the caller is root the server runs as the
// "postgres" user the Debian package creates.
package pgtest

import (
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
)

// ErrNoPostgres means the PostgreSQL server binaries are not installed.
var ErrNoPostgres = errors.New("PostgreSQL server binaries not found (Debian package postgresql; scripts/install-tools installs it)")

// Server is a running PostgreSQL.
type Server struct {
	DSN  string // postgres://brickyard@127.0.0.1:PORT/postgres?sslmode=disable
	Port int
	Dir  string
	bin  string
	user *[2]int // uid, gid to run the server as (when running as root)
}

// binDir finds initdb and pg_ctl: Debian keeps them in
// /usr/lib/postgresql/VERSION/bin, not on PATH.
func binDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Strings(dirs)
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "pg_ctl")); err == nil {
			return dirs[i], nil
		}
	}
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", ErrNoPostgres
}

// Run initialises a cluster under dir and starts it, with the server
// settings given as "name=value" (postgres -c), e.g. "shared_buffers=256MB".
// Stop it with Stop.
func Run(dir string, settings ...string) (*Server, error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	s := &Server{Dir: dir, bin: bin}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root, and no postgres user to run PostgreSQL as: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		s.user = &[2]int{uid, gid}
		if err := os.Chown(dir, uid, gid); err != nil {
			return nil, err
		}
		// The server user must be able to reach dir.
		for p := filepath.Dir(dir); p != "/" && p != "."; p = filepath.Dir(p) {
			if fi, err := os.Stat(p); err == nil && fi.Mode().Perm()&0o001 == 0 {
				os.Chmod(p, fi.Mode().Perm()|0o011)
			}
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	data := filepath.Join(dir, "data")
	if out, err := s.cmd("initdb", "-D", data, "-A", "trust", "-U", "brickyard", "--no-sync", "-E", "UTF8", "--locale", "C").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=on", port, dir)
	for _, kv := range settings {
		opts += " -c " + kv
	}
	if out, err := s.cmd("pg_ctl", "-D", data, "-o", opts, "-l", filepath.Join(dir, "log"), "-w", "-t", "60", "start").CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "log"))
		return nil, fmt.Errorf("pg_ctl start: %v\n%s\n%s", err, out, log)
	}
	s.Port = port
	s.DSN = fmt.Sprintf("postgres://brickyard@127.0.0.1:%d/postgres?sslmode=disable", port)
	return s, nil
}

func (s *Server) cmd(name string, args ...string) *exec.Cmd {
	c := exec.Command(filepath.Join(s.bin, name), args...)
	c.Dir = s.Dir
	if s.user != nil {
		runAs(c, s.user[0], s.user[1])
	}
	return c
}

// Stop stops the server at once.
func (s *Server) Stop() {
	s.cmd("pg_ctl", "-D", filepath.Join(s.Dir, "data"), "-m", "immediate", "-w", "stop").Run()
}

// CreateDatabase makes a new empty database on s and returns its DSN.
func (s *Server) CreateDatabase(name string) (string, error) {
	db, err := sql.Open("pgx", s.DSN)
	if err != nil {
		return "", err
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE DATABASE "` + name + `"`); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	return fmt.Sprintf("postgres://brickyard@127.0.0.1:%d/%s?sslmode=disable", s.Port, name), nil
}

// Start runs a server for the length of t and returns it; its log is
// printed if t fails. If PostgreSQL is not installed, t is skipped with
// the reason (scripts/test installs it, so CI never skips).
func Start(t testing.TB) *Server {
	t.Helper()
	dir, err := os.MkdirTemp("", "brickyard-pg-")
	if err != nil {
		t.Fatal(err)
	}
	s, err := Run(dir)
	if errors.Is(err, ErrNoPostgres) {
		os.RemoveAll(dir)
		t.Skip("SKIPPED LOUDLY: " + err.Error())
	}
	if err != nil {
		os.RemoveAll(dir)
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			if log, err := os.ReadFile(filepath.Join(dir, "log")); err == nil {
				t.Logf("postgres log:\n%s", log)
			}
		}
		s.Stop()
		os.RemoveAll(dir)
	})
	return s
}
