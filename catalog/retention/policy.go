package retention

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/brickyard/brickyard/artifact"
	"github.com/opencontainers/go-digest"
	"gopkg.in/yaml.v3"
)

// MaxPolicySize bounds a policy file, in bytes.
const MaxPolicySize = 1 << 20

// Policy is a parsed retention policy. Its YAML form:
//
//	version: 1
//	pinned: ["base@1.0.0", "sha256:..."]   # kept whatever the rules say
//	rules:                                  # the first rule whose names match applies
//	  - names: ["web", "web-*"]             # path.Match patterns
//	    keep:                               # kept if any of these holds (OR)
//	      newest_per_major: 3               # the 3 newest releases of each major
//	      newest_per_minor: 2               # the newest patch of the 2 newest minors of each major
//	      newest_per_stream: 2              # the 2 newest patches of each major.minor
//	      prereleases: 14d                  # prereleases younger than 14 days
//	      younger_than: 7d                  # anything younger than 7 days
//	      channel_history: 3                # the 3 targets of each channel before its current one
//	    delete:                             # deleted even if a keep rule holds
//	      revoked_after: 7d                 # revoked for 7 days or more
//	      deprecated_after: 90d
//
// Whatever the rules say, an artifact is kept if it is in use, pinned, or
// a channel's current target (protections), or an ancestor of a kept
// artifact. An artifact no rule's names match is kept; one a rule matches
// and no keep rule keeps is deleted. Ages count from when the catalog
// recorded the artifact (Published); the revoked and deprecated ages from
// when that state took effect. Durations are whole hours, days or weeks:
// "12h", "30d", "2w".
type Policy struct {
	Pinned []Pin
	Rules  []Rule
	Digest digest.Digest // of the policy file's bytes
}

// Pin is one pinned artifact: a digest, or a name and version.
type Pin struct {
	Ref  string // as written
	Line int
}

// Rule is the retention rule of the artifacts whose name matches Names.
type Rule struct {
	Line            int      // where the rule starts in the policy file
	Names           []string // path.Match patterns
	NewestPerMajor  int      // 0: unset
	NewestPerMinor  int
	NewestPerStream int
	Prereleases     time.Duration // 0: unset
	YoungerThan     time.Duration
	ChannelHistory  int
	RevokedAfter    time.Duration // 0: unset
	DeprecatedAfter time.Duration
	// revokedSet and deprecatedSet tell "0" (unset) from a set value.
	revokedSet, deprecatedSet bool
}

// Matches reports whether name matches one of the rule's patterns.
func (r *Rule) Matches(name string) bool {
	for _, p := range r.Names {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}

// ParsePolicy parses a policy file strictly: unknown fields, a count
// below 1, an invalid name pattern, pinned reference or duration, a rule
// without names or keep, a name pattern used by two rules, and a delete
// rule shorter than the same rule's younger_than (an artifact both kept
// and deleted) are errors wrapping ErrInvalidPolicy that name the line.
func ParsePolicy(b []byte) (*Policy, error) {
	if len(b) > MaxPolicySize {
		return nil, fmt.Errorf("%w: %d bytes (limit %d)", ErrInvalidPolicy, len(b), MaxPolicySize)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidPolicy, err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, fmt.Errorf("%w: empty document", ErrInvalidPolicy)
	}
	sum := sha256.Sum256(b)
	p := &Policy{Digest: digest.NewDigestFromEncoded(digest.SHA256, hex.EncodeToString(sum[:]))}
	version := false
	err := fields(doc.Content[0], func(key string, v *yaml.Node) error {
		switch key {
		case "version":
			n, err := count(v)
			if err != nil {
				return err
			}
			if n != 1 {
				return bad(v, "version %d: this program knows version 1", n)
			}
			version = true
		case "pinned":
			return list(v, func(item *yaml.Node) error {
				ref, err := scalar(item)
				if err != nil {
					return err
				}
				if err := checkPin(ref); err != nil {
					return bad(item, "pinned %q: %v", ref, err)
				}
				p.Pinned = append(p.Pinned, Pin{Ref: ref, Line: item.Line})
				return nil
			})
		case "rules":
			return list(v, func(item *yaml.Node) error {
				r, err := parseRule(item)
				if err != nil {
					return err
				}
				p.Rules = append(p.Rules, r)
				return nil
			})
		default:
			return bad(v, "unknown field %q (version, pinned, rules)", key)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !version {
		return nil, bad(doc.Content[0], "no version: want version: 1")
	}
	seen := map[string]int{}
	for _, r := range p.Rules {
		for _, n := range r.Names {
			if l, dup := seen[n]; dup {
				return nil, fmt.Errorf("%w: line %d: names %q is already the pattern of the rule at line %d: which one applies would be ambiguous", ErrInvalidPolicy, r.Line, n, l)
			}
			seen[n] = r.Line
		}
	}
	return p, nil
}

func parseRule(n *yaml.Node) (Rule, error) {
	r := Rule{Line: n.Line}
	var haveKeep bool
	err := fields(n, func(key string, v *yaml.Node) error {
		switch key {
		case "names":
			return list(v, func(item *yaml.Node) error {
				s, err := scalar(item)
				if err != nil {
					return err
				}
				if _, err := path.Match(s, ""); err != nil || s == "" || strings.ContainsAny(s, " \t") {
					return bad(item, "name pattern %q is not a valid path.Match pattern", s)
				}
				r.Names = append(r.Names, s)
				return nil
			})
		case "keep":
			haveKeep = true
			return fields(v, func(key string, v *yaml.Node) error {
				var err error
				switch key {
				case "newest_per_major":
					r.NewestPerMajor, err = count(v)
				case "newest_per_minor":
					r.NewestPerMinor, err = count(v)
				case "newest_per_stream":
					r.NewestPerStream, err = count(v)
				case "channel_history":
					r.ChannelHistory, err = count(v)
				case "prereleases":
					r.Prereleases, err = duration(v)
				case "younger_than":
					r.YoungerThan, err = duration(v)
				default:
					return bad(v, "unknown keep rule %q (newest_per_major, newest_per_minor, newest_per_stream, prereleases, younger_than, channel_history)", key)
				}
				return err
			})
		case "delete":
			return fields(v, func(key string, v *yaml.Node) error {
				var err error
				switch key {
				case "revoked_after":
					r.RevokedAfter, err = duration(v)
					r.revokedSet = true
				case "deprecated_after":
					r.DeprecatedAfter, err = duration(v)
					r.deprecatedSet = true
				default:
					return bad(v, "unknown delete rule %q (revoked_after, deprecated_after)", key)
				}
				return err
			})
		default:
			return bad(v, "unknown field %q of a rule (names, keep, delete)", key)
		}
	})
	if err != nil {
		return r, err
	}
	switch {
	case len(r.Names) == 0:
		return r, bad(n, "a rule without names")
	case !haveKeep:
		return r, bad(n, "a rule without keep (write keep: {} to keep only what is protected)")
	case r.revokedSet && r.YoungerThan > r.RevokedAfter:
		return r, bad(n, "delete.revoked_after %s is shorter than keep.younger_than %s: a revoked artifact in between would be both kept and deleted", human(r.RevokedAfter), human(r.YoungerThan))
	case r.deprecatedSet && r.YoungerThan > r.DeprecatedAfter:
		return r, bad(n, "delete.deprecated_after %s is shorter than keep.younger_than %s: a deprecated artifact in between would be both kept and deleted", human(r.DeprecatedAfter), human(r.YoungerThan))
	}
	return r, nil
}

func checkPin(ref string) error {
	if d, err := digest.Parse(ref); err == nil {
		return d.Validate()
	}
	name, v, ok := strings.Cut(ref, "@")
	if !ok {
		return fmt.Errorf("want NAME@VERSION or a digest")
	}
	if err := artifact.ValidateName(name); err != nil {
		return err
	}
	_, err := artifact.ParseVersion(v)
	return err
}

func bad(n *yaml.Node, format string, args ...any) error {
	return fmt.Errorf("%w: line %d: %s", ErrInvalidPolicy, n.Line, fmt.Sprintf(format, args...))
}

// fields calls f with each key and value of mapping n, refusing a key
// given twice.
func fields(n *yaml.Node, f func(key string, v *yaml.Node) error) error {
	if n.Kind != yaml.MappingNode {
		return bad(n, "want a mapping")
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if k.Kind != yaml.ScalarNode {
			return bad(k, "want a plain key")
		}
		if seen[k.Value] {
			return bad(k, "%q given twice", k.Value)
		}
		seen[k.Value] = true
		if err := f(k.Value, n.Content[i+1]); err != nil {
			return err
		}
	}
	return nil
}

func list(n *yaml.Node, f func(*yaml.Node) error) error {
	if n.Kind != yaml.SequenceNode {
		return bad(n, "want a list")
	}
	for _, item := range n.Content {
		if err := f(item); err != nil {
			return err
		}
	}
	return nil
}

func scalar(n *yaml.Node) (string, error) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return "", bad(n, "want a value")
	}
	return n.Value, nil
}

// count parses a whole number of at least 1 (and at most 1,000,000).
func count(n *yaml.Node) (int, error) {
	s, err := scalar(n)
	if err != nil {
		return 0, err
	}
	v, err := strconv.Atoi(s)
	if err != nil || n.Tag != "!!int" {
		return 0, bad(n, "%q is not a whole number", s)
	}
	if v < 1 || v > 1_000_000 {
		return 0, bad(n, "%d: want a number from 1 to 1000000", v)
	}
	return v, nil
}

// duration parses "12h", "30d" or "2w", at least 1h and at most 100 years.
// time.ParseDuration knows no days or weeks, which is what retention is
// counted in; this is its small extension.
func duration(n *yaml.Node) (time.Duration, error) {
	s, err := scalar(n)
	if err != nil {
		return 0, err
	}
	units := map[byte]time.Duration{'h': time.Hour, 'd': 24 * time.Hour, 'w': 7 * 24 * time.Hour}
	if len(s) < 2 || units[s[len(s)-1]] == 0 {
		return 0, bad(n, "duration %q: want a whole number of hours, days or weeks, e.g. 12h, 30d, 2w", s)
	}
	v, err := strconv.Atoi(s[:len(s)-1])
	if err != nil || v < 1 || strings.ContainsAny(s[:1], "+-") {
		return 0, bad(n, "duration %q: want a positive whole number of hours, days or weeks, e.g. 12h, 30d, 2w", s)
	}
	d := time.Duration(v) * units[s[len(s)-1]]
	if d > 100*365*24*time.Hour || d/units[s[len(s)-1]] != time.Duration(v) {
		return 0, bad(n, "duration %q: longer than 100 years", s)
	}
	return d, nil
}

// human writes d in the units of the policy file.
func human(d time.Duration) string {
	switch {
	case d%(7*24*time.Hour) == 0:
		return strconv.FormatInt(int64(d/(7*24*time.Hour)), 10) + "w"
	case d%(24*time.Hour) == 0:
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	}
	return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
}
