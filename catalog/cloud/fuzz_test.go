package cloud

import (
	"strings"
	"testing"

	"github.com/brickyard/brickyard/artifact"
)

// FuzzParseImageName feeds AMI names (outside input: anyone can name an
// AMI) to ParseImageName: an accepted name must give a valid artifact name
// and version, and the version must be at the end of the AMI name.
func FuzzParseImageName(f *testing.F) {
	for _, s := range []string{"web-1.2.3", "web_v1.2.3-rc.1", "base/2.0.0+build.5", "Web Server 1.0.0", "tmp-build-42", "", "-1.0.0", "a-1.0.0-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		name, v, ok := ParseImageName(s)
		if !ok {
			return
		}
		if err := artifact.ValidateName(name); err != nil {
			t.Fatalf("%q → name %q: %v", s, name, err)
		}
		if _, err := artifact.ParseVersion(v.Original()); err != nil {
			t.Fatalf("%q → version %q: %v", s, v.Original(), err)
		}
		if !strings.HasSuffix(s, v.Original()) {
			t.Fatalf("%q → version %q, not its end", s, v.Original())
		}
	})
}

func TestParseImageName(t *testing.T) {
	for _, tc := range []struct{ in, name, version string }{
		{"web-1.2.3", "web", "1.2.3"},
		{"web_v1.2.3-rc.1", "web", "1.2.3-rc.1"},
		{"base/2.0.0+build.5", "base", "2.0.0+build.5"},
		{"Web Server 1.0.0", "web-server", "1.0.0"},
		{"tmp-build-42", "", ""},
		{"1.0.0", "", ""},
	} {
		name, v, ok := ParseImageName(tc.in)
		if tc.name == "" {
			if ok {
				t.Errorf("%q parsed as %s@%s", tc.in, name, v)
			}
			continue
		}
		if !ok || name != tc.name || v.Original() != tc.version {
			t.Errorf("%q → %q %v %v, want %s@%s", tc.in, name, v, ok, tc.name, tc.version)
		}
	}
}
