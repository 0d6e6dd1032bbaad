package artifact

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// manifestCases reads testdata/manifests: good-*.json must parse, bad-*.json
// must be refused.
func manifestCases(t testing.TB) map[string][]byte {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "manifests", "*.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no test manifests: %v", err)
	}
	out := map[string][]byte{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[strings.TrimSuffix(filepath.Base(p), ".json")] = b
	}
	return out
}

// TestParseOCI: each case of testdata/manifests as served with no media
// type, and the cases where the media type it is served as decides.
func TestParseOCI(t *testing.T) {
	cases := manifestCases(t)
	for name, b := range cases {
		_, err := ParseOCI("", b)
		if strings.HasPrefix(name, "good-") && err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if strings.HasPrefix(name, "bad-") && (!errors.Is(err, ErrInvalidOCI) || !errors.Is(err, ErrInvalidManifest)) {
			t.Errorf("%s: err = %v, want ErrInvalidOCI", name, err)
		}
	}
	served := []struct {
		name, mediaType string
		ok              bool
		says            string
	}{
		{"good-docker-schema2", MediaTypeDockerManifest, true, ""},
		{"good-oci-index", ocispec.MediaTypeImageIndex, true, ""},
		{"good-oci-index", ocispec.MediaTypeImageManifest, false, "CVE-2021-41190"},
		{"good-oci-manifest", ocispec.MediaTypeImageIndex, false, "CVE-2021-41190"},
		{"good-no-mediatype", ocispec.MediaTypeImageIndex, false, "with a config or layers"},
		{"good-oci-manifest", "application/vnd.docker.distribution.manifest.v1+prettyjws", false, "schema 1"},
		{"good-oci-manifest", "text/html", false, "text/html"},
		{"bad-schema1", "", false, "schema 1"},
		{"bad-negative-size", "", false, "negative size"},
		{"bad-absurd-size", "", false, "limit 4398046511104"},
		{"bad-digest-algorithm", "", false, "md5"},
		{"bad-digest-sha512", "", false, "sha512"},
		{"bad-no-mediatype", "", false, "no mediaType"},
		{"bad-empty-config-size", "", false, `must be "{}"`},
		{"bad-data-size", "", false, "embedded data"},
		{"bad-duplicate-digest", "", false, `"digest" appears twice`},
		{"bad-duplicate-key-case", "", false, `"Layers" appears twice`},
		{"bad-deep", "", false, "nested more than"},
	}
	for _, c := range served {
		m, err := ParseOCI(c.mediaType, cases[c.name])
		if c.ok && (err != nil || m.MediaType != c.mediaType) {
			t.Errorf("%s as %q: %v, %v", c.name, c.mediaType, m, err)
		}
		if !c.ok && (!errors.Is(err, ErrInvalidOCI) || !strings.Contains(err.Error(), c.says)) {
			t.Errorf("%s as %q: err = %v, want ErrInvalidOCI saying %q", c.name, c.mediaType, err, c.says)
		}
	}
	if _, err := ParseOCI("", cases["bad-absurd-size"]); !errors.Is(err, ErrTooLarge) {
		t.Errorf("absurd size: %v, want ErrTooLarge too", err)
	}
	m, err := ParseOCI("", cases["good-artifact"])
	if err != nil || len(m.References()) != 2 || m.Subject == nil || m.MediaType != ocispec.MediaTypeImageManifest {
		t.Errorf("artifact: %+v, %v; want config and layer referenced, a subject", m, err)
	}
	if m, err := ParseOCI("", cases["good-oci-index"]); err != nil || m.MediaType != ocispec.MediaTypeImageIndex || len(m.References()) != 1 {
		t.Errorf("index: %+v, %v", m, err)
	}
}

func TestValidateManifestDescriptor(t *testing.T) {
	good := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("m"), Size: 100}
	if err := ValidateManifestDescriptor(good); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		d    ocispec.Descriptor
		says string
	}{
		"schema 1":     {ocispec.Descriptor{MediaType: "application/vnd.docker.distribution.manifest.v1+json", Digest: good.Digest, Size: 1}, "schema 1"},
		"a layer":      {ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: good.Digest, Size: 1}, "not a manifest"},
		"no type":      {ocispec.Descriptor{Digest: good.Digest, Size: 1}, "no mediaType"},
		"bad digest":   {ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: "sha256:zz", Size: 1}, "sha256:zz"},
		"negative":     {ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: good.Digest, Size: -2}, "negative"},
		"over 4 MiB":   {ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: good.Digest, Size: MaxManifestSize + 1}, "limit"},
		"empty digest": {ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Size: 1}, "digest"},
	} {
		if err := ValidateManifestDescriptor(c.d); !errors.Is(err, ErrInvalidOCI) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: err = %v, want ErrInvalidOCI saying %q", name, err, c.says)
		}
	}
}

// FuzzParseOCI feeds arbitrary bytes, served as each manifest media type
// or none, to ParseOCI: it must not panic, and what it accepts must keep
// the promises it documents.
func FuzzParseOCI(f *testing.F) {
	for _, b := range manifestCases(f) {
		f.Add(uint8(0), b)
	}
	f.Add(uint8(1), []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`))
	mediaTypes := []string{"", ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageIndex, MediaTypeDockerManifest, MediaTypeDockerManifestList}
	f.Fuzz(func(t *testing.T, which uint8, b []byte) {
		mt := mediaTypes[int(which)%len(mediaTypes)]
		m, err := ParseOCI(mt, b)
		if err != nil {
			if !errors.Is(err, ErrInvalidOCI) {
				t.Fatalf("error %v does not wrap ErrInvalidOCI", err)
			}
			return
		}
		if !IsManifestMediaType(m.MediaType) || (mt != "" && m.MediaType != mt) {
			t.Fatalf("accepted as media type %q (served as %q)", m.MediaType, mt)
		}
		if IsIndexMediaType(m.MediaType) != (m.Config == nil) || (m.Config == nil && len(m.Layers) > 0) {
			t.Fatalf("%s with config %v and %d layers", m.MediaType, m.Config, len(m.Layers))
		}
		descs := m.References()
		if m.Subject != nil {
			descs = append(descs, *m.Subject)
		}
		for _, d := range descs {
			if d.MediaType == "" || d.Digest.Validate() != nil || d.Digest.Algorithm() != digest.SHA256 || d.Size < 0 || d.Size > MaxBlobSize {
				t.Fatalf("accepted descriptor %+v", d)
			}
		}
	})
}
