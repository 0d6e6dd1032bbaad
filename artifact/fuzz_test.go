package artifact

import (
	"testing"
)

// FuzzDecode feeds arbitrary manifest and config bytes to Decode: it must
// return an error or an artifact that encodes back to the same manifest,
// never panic.
func FuzzDecode(f *testing.F) {
	for _, a := range sampleArtifacts(f) {
		e, err := Encode(a)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(e.Manifest, e.Config)
	}
	ie, err := Encode(sampleIndex(f))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(ie.Manifest, []byte(nil))
	f.Add([]byte(`{"schemaVersion":2}`), []byte(`{}`))
	f.Fuzz(func(t *testing.T, manifest, config []byte) {
		a, err := Decode(manifest, config)
		if err != nil {
			return
		}
		e, err := Encode(a)
		if err != nil {
			t.Fatalf("decoded artifact does not encode: %v", err)
		}
		if string(e.Manifest) != string(manifest) {
			t.Fatalf("decoded artifact encodes to another manifest")
		}
	})
}

// FuzzParseVersion checks that every accepted version maps to a tag and back.
func FuzzParseVersion(f *testing.F) {
	for _, s := range []string{"1.0.0", "1.2.0-rc.1+build.5", "v1", "1.2", "0.0.0-0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseVersion(s)
		if err != nil {
			return
		}
		tag, err := Tag(v)
		if err != nil {
			return
		}
		back, err := VersionOfTag(tag)
		if err != nil || !back.Equal(v) || back.Original() != s {
			t.Fatalf("%q → tag %q → %v, %v", s, tag, back, err)
		}
	})
}
