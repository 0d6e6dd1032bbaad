package retention

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParsePolicy(t *testing.T) {
	b, err := os.ReadFile("testdata/policy/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParsePolicy(b)
	if err != nil {
		t.Fatal(err)
	}
	r := p.Rules[0]
	if len(p.Pinned) != 2 || p.Pinned[0].Line != 3 || len(p.Rules) != 2 || r.Line != 6 || r.NewestPerMajor != 3 || r.NewestPerMinor != 2 ||
		r.NewestPerStream != 2 || r.Prereleases != 14*24*time.Hour || r.YoungerThan != 7*24*time.Hour || r.ChannelHistory != 3 ||
		r.RevokedAfter != 7*24*time.Hour || r.DeprecatedAfter != 90*24*time.Hour || !r.Matches("web-api") || r.Matches("webx") ||
		!p.Rules[1].Matches("sandbox/x") || p.Digest == "" {
		t.Errorf("parsed %+v %+v", p, r)
	}
}

func TestParsePolicyErrors(t *testing.T) {
	head := "version: 1\nrules:\n  - names: [web]\n"
	for _, tc := range []struct{ name, doc, want string }{
		{"unknown top field", "version: 1\nrule: []\n", `line 2: unknown field "rule"`},
		{"unknown keep rule", head + "    keep:\n      newest: 3\n", `line 5: unknown keep rule "newest"`},
		{"unknown rule field", head + "    keep: {}\n    owner: x\n", `line 5: unknown field "owner"`},
		{"zero count", head + "    keep:\n      newest_per_major: 0\n", "line 5: 0: want a number from 1"},
		{"negative count", head + "    keep:\n      newest_per_stream: -2\n", "line 5: -2: want a number from 1"},
		{"count not a number", head + "    keep:\n      newest_per_minor: three\n", `line 5: "three" is not a whole number`},
		{"bad duration", head + "    keep:\n      younger_than: 7 days\n", `line 5: duration "7 days"`},
		{"duration without unit", head + "    keep:\n      prereleases: \"30\"\n", `line 5: duration "30"`},
		{"go duration minutes", head + "    keep:\n      prereleases: 30m\n", `line 5: duration "30m"`},
		{"huge duration", head + "    keep:\n      prereleases: 99999999999w\n", "line 5"},
		{"bad pattern", "version: 1\nrules:\n  - names: [\"web[\"]\n    keep: {}\n", `line 3: name pattern "web["`},
		{"no keep", head, "line 3: a rule without keep"},
		{"no names", "version: 1\nrules:\n  - keep: {}\n", "line 3: a rule without names"},
		{"same pattern twice", head + "    keep: {}\n  - names: [api, web]\n    keep: {}\n", `line 5: names "web" is already the pattern of the rule at line 3`},
		{"revoked before young", head + "    keep:\n      younger_than: 30d\n    delete:\n      revoked_after: 7d\n", "line 3: delete.revoked_after 1w is shorter than keep.younger_than 30d"},
		{"deprecated before young", head + "    keep:\n      younger_than: 2w\n    delete:\n      deprecated_after: 1w\n", "line 3: delete.deprecated_after 1w is shorter"},
		{"bad pin", "version: 1\npinned: [web]\n", `line 2: pinned "web"`},
		{"no version", "rules: []\n", "no version"},
		{"version 2", "version: 2\n", "line 1: version 2"},
		{"field twice", "version: 1\nversion: 1\n", "line 2"},
		{"not yaml", "version: [1\n", "invalid retention policy"},
		{"empty", "", "empty document"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParsePolicy([]byte(tc.doc))
			if !errors.Is(err, ErrInvalidPolicy) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ParsePolicy:\n%s\n= %v\nwant ErrInvalidPolicy with %q", tc.doc, err, tc.want)
			}
		})
	}
}

// FuzzParsePolicy: any input parses or fails with ErrInvalidPolicy, never
// panics, and what parses has sane values.
func FuzzParsePolicy(f *testing.F) {
	files, _ := filepath.Glob("testdata/policy/*.yaml")
	for _, p := range files {
		b, _ := os.ReadFile(p)
		f.Add(b)
	}
	f.Add([]byte(demoPolicy))
	f.Add([]byte("version: 1\nrules:\n  - names: [a]\n    keep: {newest_per_major: 1}\n    delete: {revoked_after: 1h}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParsePolicy(b)
		if err != nil {
			if !errors.Is(err, ErrInvalidPolicy) {
				t.Fatalf("error %v is not ErrInvalidPolicy", err)
			}
			return
		}
		for _, r := range p.Rules {
			if len(r.Names) == 0 || r.Prereleases < 0 || r.YoungerThan < 0 || r.RevokedAfter < 0 || r.DeprecatedAfter < 0 ||
				r.NewestPerMajor < 0 || r.NewestPerMinor < 0 || r.NewestPerStream < 0 || r.ChannelHistory < 0 {
				t.Fatalf("accepted %+v", r)
			}
		}
	})
}
