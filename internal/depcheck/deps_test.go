package depcheck

import (
	"os/exec"
	"strings"
	"testing"
)

func TestNoSigstoreOutsideSign(t *testing.T) {
	// The catalog's core (contract and backends) stays light; catalog/audit,
	// catalog/cloud and catalog/retention sit beside the workflow and may
	// verify signatures.
	for _, pkgs := range []string{"./artifact/...", "./registry/...", "./catalog", "./catalog/sqlite", "./catalog/postgres", "./catalog/internal/..."} {
		out, err := exec.Command("go", "list", "-deps", "github.com/brickyard/brickyard/"+strings.TrimPrefix(pkgs, "./")).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkgs, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			if strings.Contains(dep, "sigstore") {
				t.Errorf("%s depends on %s; only package sign may import cosign/sigstore", pkgs, dep)
			}
		}
	}
}

// TestSignDoesNotImportRegistry keeps DESIGN.md's rule: sign declares the
// small interfaces it needs of a store, and registry's stores satisfy them;
// what both need lives in internal/ocistore.
func TestSignDoesNotImportRegistry(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{join .Imports "\n"}}`, "github.com/brickyard/brickyard/sign").CombinedOutput()
	if err != nil {
		t.Fatalf("go list sign: %v\n%s", err, out)
	}
	for _, imp := range strings.Fields(string(out)) {
		if imp == "github.com/brickyard/brickyard/registry" || strings.HasPrefix(imp, "github.com/brickyard/brickyard/registry/") {
			t.Errorf("package sign imports %s", imp)
		}
	}
}
