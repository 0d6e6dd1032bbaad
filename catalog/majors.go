package catalog

import (
	"math"
	"sort"
	"strconv"
	"strings"
)

// majorRange returns bounds [lo, hi] on the major version of any version
// that semver range c (Masterminds syntax) can match, and ok=false when it
// cannot tell. It is only a pre-filter: Resolve still checks each candidate
// with semver.Constraints.Check, so the bounds need only be wide enough,
// never exact. With 10,000 versions of a name, Check on every version
// above the answer costs milliseconds; the bounds let Resolve jump to the
// right major with a binary search. Masterminds/semver does not expose a
// constraint's bounds, hence this small parser of its grammar.
func majorRange(c string) (lo, hi uint64, ok bool) {
	lo, hi = math.MaxUint64, 0
	for _, group := range strings.Split(c, "||") {
		glo, ghi, ok := groupMajors(group)
		if !ok {
			return 0, 0, false
		}
		lo, hi = min(lo, glo), max(hi, ghi)
	}
	return lo, hi, lo <= hi
}

// groupMajors bounds one AND-group: terms separated by commas or spaces,
// or a hyphen range "A - B".
func groupMajors(g string) (lo, hi uint64, ok bool) {
	lo, hi = 0, math.MaxUint64
	fields := strings.Fields(strings.ReplaceAll(g, ",", " "))
	if len(fields) == 0 {
		return 0, 0, false
	}
	if len(fields) == 3 && fields[1] == "-" {
		a, okA := leadingMajor(fields[0])
		b, okB := leadingMajor(fields[2])
		return a, b, okA && okB
	}
	for i := 0; i < len(fields); i++ {
		t := fields[i]
		v := strings.TrimLeft(t, "<>=!^~")
		op := t[:len(t)-len(v)]
		if v == "" && i+1 < len(fields) { // an operator apart from its version: ">= 1.2"
			i++
			v = fields[i]
		}
		if v == "*" || v == "x" || v == "X" {
			continue
		}
		m, ok := leadingMajor(v)
		if !ok {
			return 0, 0, false
		}
		switch op {
		case "", "=", "^", "~", "~>":
			lo, hi = max(lo, m), min(hi, m)
		case ">", ">=", "=>":
			lo = max(lo, m)
		case "<", "<=", "=<":
			hi = min(hi, m)
		case "!=":
		default:
			return 0, 0, false
		}
	}
	return lo, hi, true
}

// leadingMajor is the major number of a version in a range ("v1.2.x" → 1).
func leadingMajor(v string) (uint64, bool) {
	v = strings.TrimPrefix(strings.TrimPrefix(v, "v"), "V")
	end := strings.IndexAny(v, ".-+")
	if end < 0 {
		end = len(v)
	}
	m, err := strconv.ParseUint(v[:end], 10, 64)
	return m, err == nil
}

// majorWindow returns the half-open index range [from, to) of heads
// (ascending semver order) whose major lies in [lo, hi].
func majorWindow(heads []Head, lo, hi uint64) (from, to int) {
	from = sort.Search(len(heads), func(i int) bool { return heads[i].Version.Major() >= lo })
	to = sort.Search(len(heads), func(i int) bool { return heads[i].Version.Major() > hi })
	return from, max(from, to)
}
