package depcheck

import (
	"os/exec"
	"strings"
	"testing"
)

func TestNoSigstoreOutsideSign(t *testing.T) {
	for _, pkgs := range []string{"./artifact/...", "./registry/...", "./catalog/..."} {
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
