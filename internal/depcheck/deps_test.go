package depcheck

import (
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/brickyard/brickyard"

// rule forbids the packages matching from to depend, directly or through
// others, on any package matching one of deny. A pattern is a path in the
// module ("." for the root package, "sign/..." for sign and below) or, with
// a leading "!", a path prefix outside it ("!github.com/sigstore/cosign").
type rule struct {
	from []string
	deny []string
	why  string
}

// upper are the packages above the layers: the workflow in the root
// package, the CLI, the examples and benchmarks.
var upper = []string{".", "cmd/...", "examples/...", "bench/..."}

// rules is the table of forbidden edges and package sets.
var rules = []rule{
	{[]string{"artifact/..."}, append([]string{"registry/...", "sign/...", "catalog/..."}, upper...), "artifact is the model: it imports no other brickyard package"},
	{[]string{"registry/..."}, append([]string{"sign/...", "catalog/..."}, upper...), "stores know nothing of signatures or records"},
	{[]string{"sign/..."}, append([]string{"registry/...", "catalog/..."}, upper...), "sign declares the small store interfaces it needs (sign.Reader, sign.Writer) and takes artifact.Stored, not catalog.Record"},
	{[]string{"catalog", "catalog/sqlite", "catalog/postgres", "catalog/internal/..."}, append([]string{"registry/...", "sign/..."}, upper...), "the catalog declares the verifier it needs (catalog.Verifier) and reads stores through internal/ocistore"},
	{[]string{"catalog/..."}, upper, "the catalog side (the record store, its backends, audit, cloud, retention) sits below the workflow"},
	{[]string{"internal/..."}, append([]string{"registry/...", "sign/...", "catalog/..."}, upper...), "internal helpers sit just above artifact"},
	{[]string{"."}, []string{"cmd/...", "examples/..."}, "the workflow is a library under the CLI and the examples"},
	{append([]string{"artifact/...", "registry/...", "catalog/...", "internal/...", "sign/..."}, upper...), []string{"!github.com/sigstore/cosign"}, "cosign's Go packages (~700 modules, ~50 MB) are linked nowhere: sign verifies and signs cosign's format on go-containerregistry and sigstore/sigstore, sign/cosignkey reads and writes its key files with the library cosign uses; only tests import cosign, to check interop"},
	{[]string{"artifact/...", "registry/...", "catalog/...", "internal/...", "sign", "sign/cosignkey", ".", "examples/..."}, []string{"!github.com/sigstore/sigstore-go"}, "Sigstore bundle verification (~25 MB) is imported only by tools that need bundles, through sign/bundle"},
	{[]string{"artifact/...", "registry/...", "catalog", "catalog/sqlite", "catalog/postgres", "catalog/internal/...", "internal/..."}, []string{"!github.com/sigstore", "!github.com/in-toto"}, "signature code stays in sign"},
}

// match reports whether package path p (full import path) matches pattern.
func match(pattern, p string) bool {
	if ext, ok := strings.CutPrefix(pattern, "!"); ok {
		return p == ext || strings.HasPrefix(p, ext+"/")
	}
	if pattern == "." {
		return p == module
	}
	if base, ok := strings.CutSuffix(pattern, "/..."); ok {
		return p == module+"/"+base || strings.HasPrefix(p, module+"/"+base+"/")
	}
	return p == module+"/"+pattern
}

type pkg struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

// modulePackages lists every package of the module (tests excluded) with
// its transitive dependencies.
func modulePackages(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-e", "-json=ImportPath,Imports,Deps", module+"/...")
	cmd.Dir = filepath.Join("..", "..")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// TestForbiddenImports checks the table: no package depends on what its
// row forbids, and each row names packages that exist (a renamed package
// must not silently escape its rule).
func TestForbiddenImports(t *testing.T) {
	pkgs := modulePackages(t)
	for _, r := range rules {
		for _, from := range r.from {
			seen := false
			for _, p := range pkgs {
				if !match(from, p.ImportPath) {
					continue
				}
				seen = true
				for _, d := range p.Deps {
					for _, deny := range r.deny {
						if match(deny, d) && !match(from, d) {
							t.Errorf("%s depends on %s (rule %s ↛ %s: %s)", strings.TrimPrefix(p.ImportPath, module+"/"), d, from, deny, r.why)
						}
					}
				}
			}
			if !seen && from != "." {
				t.Errorf("rule %s: no package matches it", from)
			}
		}
	}
}

// TestPackageSets asserts requirement 5's package sets: the deploy tool
// (resolve, verify cosign key signatures, trust policy, fetch) links no
// cosign package and no sigstore-go; sign/bundle is the one package that
// imports sigstore-go, so whatever links sigstore-go links it through
// sign/bundle.
func TestPackageSets(t *testing.T) {
	const (
		cosign     = "!github.com/sigstore/cosign"
		sigstoreGo = "!github.com/sigstore/sigstore-go"
		bundle     = module + "/sign/bundle"
	)
	pkgs := modulePackages(t)
	deploy := false
	for _, p := range pkgs {
		if p.ImportPath == module+"/examples/deploy" {
			deploy = true
			for _, d := range p.Deps {
				if match(cosign, d) || match(sigstoreGo, d) {
					t.Errorf("examples/deploy links %s", d)
				}
			}
		}
		for _, imp := range p.Imports {
			if match(sigstoreGo, imp) && p.ImportPath != bundle {
				t.Errorf("%s imports %s: only sign/bundle may", p.ImportPath, imp)
			}
		}
		viaBundle, links := false, false
		for _, d := range p.Deps {
			viaBundle = viaBundle || d == bundle
			links = links || match(sigstoreGo, d)
		}
		if links && !viaBundle && p.ImportPath != bundle {
			t.Errorf("%s links sigstore-go without sign/bundle", p.ImportPath)
		}
	}
	if !deploy {
		t.Error("examples/deploy not found")
	}
}

// TestDeployToolSize builds examples/deploy, the deploy tool (resolve,
// verify cosign key signatures and a trust policy, fetch), stripped, and
// checks it stays under 25 MB: cosign's packages made it 47.0 MB
// (46,985,481 bytes) before sign stopped linking them; 21.4 MB after.
func TestDeployToolSize(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	bin := filepath.Join(t.TempDir(), "deploy")
	cmd := exec.Command("go", "build", "-ldflags=-s -w", "-o", bin, module+"/examples/deploy")
	cmd.Dir = filepath.Join("..", "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	fi, err := os.Stat(bin)
	if err != nil {
		t.Fatal(err)
	}
	const limit = 25_000_000 // bytes: 25 MB, whether MB means 10^6 or 2^20
	t.Logf("examples/deploy stripped: %d bytes", fi.Size())
	if fi.Size() >= limit {
		t.Errorf("examples/deploy is %d bytes stripped, want < %d", fi.Size(), limit)
	}
}
