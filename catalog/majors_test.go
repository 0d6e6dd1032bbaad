package catalog

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/Masterminds/semver/v3"
)

var rangeSeeds = []string{
	"^1", "^1.2", "^0.3.1", "~1.2", "~>2.1", "1.x", "1.2.x", "2", "=1.2.3", "1.2.3-rc.1",
	">=1.2, <3", ">= 1.2 < 3.0.0-0", ">1 <=4.x", "1.2 - 3.4", "^1 || ^3", "*", "x", ">=2", "<2", "!=1.2.3",
	"v1.x", ">=1.0.0-0", "^1.2.3 || >=5, <6 || 9.x", "<=0.9", "1.2.3 - 4", ">=3 <2",
}

// TestMajorRangeIsConservative: whatever semver.Constraints.Check accepts
// lies within majorRange's bounds (the pre-filter never hides a match).
func TestMajorRangeIsConservative(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	for _, r := range rangeSeeds {
		checkConservative(t, r, rnd)
	}
	lo, hi, ok := majorRange("^3")
	if !ok || lo != 3 || hi != 3 {
		t.Errorf(`majorRange("^3") = %d, %d, %v; want 3, 3, true`, lo, hi, ok)
	}
	if _, _, ok := majorRange("1.2 -"); ok {
		t.Error(`majorRange("1.2 -") is ok; want not ok`)
	}
}

func checkConservative(t *testing.T, r string, rnd *rand.Rand) {
	c, err := semver.NewConstraint(r)
	if err != nil {
		return
	}
	lo, hi, ok := majorRange(r)
	if !ok {
		return
	}
	for i := 0; i < 500; i++ {
		s := fmt.Sprintf("%d.%d.%d", rnd.IntN(12), rnd.IntN(5), rnd.IntN(5))
		if rnd.IntN(4) == 0 {
			s += "-rc.1"
		}
		v := semver.MustParse(s)
		if c.Check(v) && (v.Major() < lo || v.Major() > hi) {
			t.Fatalf("%q matches %s but majorRange gives [%d, %d]", r, v, lo, hi)
		}
	}
}

func FuzzMajorRange(f *testing.F) {
	for _, r := range rangeSeeds {
		f.Add(r)
	}
	f.Fuzz(func(t *testing.T, r string) {
		checkConservative(t, r, rand.New(rand.NewPCG(3, 4)))
	})
}
