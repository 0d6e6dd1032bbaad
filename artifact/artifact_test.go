package artifact

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func mustVersion(t testing.TB, s string) *Artifact {
	t.Helper()
	v, err := ParseVersion(s)
	if err != nil {
		t.Fatal(err)
	}
	return &Artifact{Version: v}
}

func sampleArtifacts(t testing.TB) map[string]*Artifact {
	t.Helper()
	created := time.Date(2026, 11, 24, 10, 30, 0, 0, time.UTC)
	parent := digest.FromString("base manifest")
	disk := mustVersion(t, "1.0.0")
	disk.Name, disk.Kind = "base", KindVMDisk
	disk.Platform = Platform{OS: "linux", Architecture: "amd64"}
	disk.Build = Build{Builder: "qemu-img", Source: "https://git.example/golden", Revision: "abc123", Created: created}
	disk.Disks = []Disk{
		{Format: DiskQCOW2, VirtualSize: 1 << 30, Title: "base.qcow2", Digest: digest.FromString("q"), Size: 196624, Bootable: true, Firmware: "uefi"},
		{Format: DiskVMDK, VirtualSize: 1 << 30, Title: "base.vmdk", Digest: digest.FromString("v"), Size: 65536},
	}
	ami := mustVersion(t, "1.1.0+build.3")
	ami.Name, ami.Kind = "web", KindMachineImage
	ami.Parents, ami.BaseName = []digest.Digest{parent}, "base:1.0.0"
	ami.Build.Created = created
	ami.Annotations = map[string]string{"com.example.team": "platform"}
	ami.MachineImage = &MachineImage{Provider: "aws", Owner: "123456789012",
		Images:    map[string]string{"eu-west-1": "ami-1", "us-east-1": "ami-2"},
		Snapshots: map[string][]string{"eu-west-1": {"snap-1"}}}
	img := mustVersion(t, "2.0.0-rc.1")
	img.Name, img.Kind = "team/app", KindOCIImage
	img.Image = &ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("img"), Size: 527}
	return map[string]*Artifact{"vm-disk": disk, "machine-image": ami, "oci-image": img}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	for name, a := range sampleArtifacts(t) {
		t.Run(name, func(t *testing.T) {
			e, err := Encode(a)
			if err != nil {
				t.Fatal(err)
			}
			e2, _ := Encode(a)
			if e.Descriptor.Digest != e2.Descriptor.Digest {
				t.Fatal("encoding is not deterministic")
			}
			var m ocispec.Manifest
			if err := json.Unmarshal(e.Manifest, &m); err != nil {
				t.Fatal(err)
			}
			if m.ArtifactType != a.Kind.ArtifactType() || m.Config.MediaType != MediaTypeConfig {
				t.Fatalf("artifactType %q config %q", m.ArtifactType, m.Config.MediaType)
			}
			if got := m.Annotations[ocispec.AnnotationVersion]; got != a.Version.Original() {
				t.Errorf("version annotation %q", got)
			}
			switch a.Kind {
			case KindVMDisk:
				if len(m.Layers) != 2 || m.Layers[1].MediaType != "application/vnd.brickyard.disk.vmdk" ||
					m.Layers[0].Annotations[ocispec.AnnotationTitle] != "base.qcow2" {
					t.Errorf("disk layers %+v", m.Layers)
				}
				if m.Annotations[ocispec.AnnotationRevision] != "abc123" || m.Annotations[ocispec.AnnotationSource] == "" {
					t.Errorf("build annotations %v", m.Annotations)
				}
			case KindMachineImage:
				if m.Layers[0].Digest != ocispec.DescriptorEmptyJSON.Digest || m.Subject != nil {
					t.Errorf("machine image layers %+v subject %v", m.Layers, m.Subject)
				}
				if m.Annotations[ocispec.AnnotationBaseImageDigest] != a.Parents[0].String() ||
					m.Annotations[ocispec.AnnotationBaseImageName] != "base:1.0.0" {
					t.Errorf("base annotations %v", m.Annotations)
				}
			case KindOCIImage:
				if m.Subject == nil || m.Subject.Digest != a.Image.Digest {
					t.Errorf("subject %+v", m.Subject)
				}
			}
			back, err := Decode(e.Manifest, e.Config)
			if err != nil {
				t.Fatal(err)
			}
			e3, err := Encode(back)
			if err != nil {
				t.Fatal(err)
			}
			if string(e3.Manifest) != string(e.Manifest) || string(e3.Config) != string(e.Config) {
				t.Errorf("round trip changed the encoding:\n%s\n%s", e.Config, e3.Config)
			}
		})
	}
}

func TestTag(t *testing.T) {
	for in, want := range map[string]string{"1.0.0": "1.0.0", "1.2.0-rc.1+build.5": "1.2.0-rc.1_build.5"} {
		v, err := ParseVersion(in)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Tag(v)
		if err != nil || got != want {
			t.Errorf("Tag(%s) = %q, %v; want %q", in, got, err, want)
		}
		back, err := VersionOfTag(got)
		if err != nil || back.Original() != in {
			t.Errorf("VersionOfTag(%s) = %v, %v", got, back, err)
		}
	}
	if _, err := Tag(mustVersion(t, "1.0.0-"+strings.Repeat("a", 130)).Version); !errors.Is(err, ErrInvalidVersion) {
		t.Errorf("over-long tag: %v", err)
	}
	if _, err := VersionOfTag("sha256-abc.sig"); !errors.Is(err, ErrInvalidVersion) {
		t.Errorf("signature tag taken as a version: %v", err)
	}
}

func TestBadInput(t *testing.T) {
	for _, s := range []string{"", "1.2", "v1.2.3", "1.2.3.4", "v1.2.3.4", "latest", "01.2.3", "1.2.3-"} {
		_, err := ParseVersion(s)
		if !errors.Is(err, ErrInvalidVersion) || !strings.Contains(err.Error(), "version") {
			t.Errorf("ParseVersion(%q) = %v", s, err)
		}
		if s != "" && !strings.Contains(err.Error(), s) {
			t.Errorf("ParseVersion(%q) error does not name the input: %v", s, err)
		}
	}
	for _, s := range []string{"", "Web", "web/../etc", "..", "a..b", "-web", "web-", "web//x", "web:1", strings.Repeat("a", 300), "x", "7"} {
		if err := ValidateName(s); !errors.Is(err, ErrInvalidName) {
			t.Errorf("ValidateName(%q) = %v", s, err)
		}
	}
	for _, s := range []string{"web", "golden/web", "a.b_c__d-e--f/g0", "ab", "a/b"} {
		if err := ValidateName(s); err != nil {
			t.Errorf("ValidateName(%q) = %v", s, err)
		}
	}
	for _, s := range []string{"", "linux", "linux/", "Linux/amd64", "linux/amd64/v8/x"} {
		if _, err := ParsePlatform(s); !errors.Is(err, ErrInvalidPlatform) {
			t.Errorf("ParsePlatform(%q) = %v", s, err)
		}
	}
	if _, err := ParseKind("ami"); !errors.Is(err, ErrInvalidKind) {
		t.Errorf("ParseKind: %v", err)
	}
}

func TestValidate(t *testing.T) {
	cases := map[string]struct {
		mutate func(a *Artifact)
		want   error
	}{
		"bad parent":            {func(a *Artifact) { a.Parents = []digest.Digest{"sha256:nothex"} }, ErrInvalidDigest},
		"repeated parent":       {func(a *Artifact) { a.Parents = append(a.Parents, a.Parents[0]) }, ErrInvalidArtifact},
		"standard annotation":   {func(a *Artifact) { a.Annotations = map[string]string{ocispec.AnnotationVersion: "9"} }, ErrInvalidArtifact},
		"no images":             {func(a *Artifact) { a.MachineImage.Images = nil }, ErrInvalidArtifact},
		"no owner":              {func(a *Artifact) { a.MachineImage.Owner = "" }, ErrInvalidArtifact},
		"snapshot w/o image":    {func(a *Artifact) { a.MachineImage.Snapshots = map[string][]string{"ap-south-1": {"s"}} }, ErrInvalidArtifact},
		"other kind's content":  {func(a *Artifact) { a.Disks = []Disk{{}} }, ErrInvalidArtifact},
		"no version":            {func(a *Artifact) { a.Version = nil }, ErrInvalidVersion},
		"unknown kind":          {func(a *Artifact) { a.Kind = "ami" }, ErrInvalidKind},
		"bad platform":          {func(a *Artifact) { a.Platform = Platform{OS: "Linux", Architecture: "x"} }, ErrInvalidPlatform},
		"base name w/o parents": {func(a *Artifact) { a.Parents = nil }, ErrInvalidArtifact},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			a := sampleArtifacts(t)["machine-image"]
			c.mutate(a)
			if _, err := Encode(a); !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
}

func TestDecodeStrict(t *testing.T) {
	a := sampleArtifacts(t)["vm-disk"]
	e, err := Encode(a)
	if err != nil {
		t.Fatal(err)
	}
	edit := func(f func(m map[string]any)) []byte {
		var m map[string]any
		if err := json.Unmarshal(e.Manifest, &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		b, _ := json.Marshal(m)
		return b
	}
	otherKindCfg := strings.Replace(string(e.Config), `"kind":"vm-disk"`, `"kind":"machine-image"`, 1)
	cases := map[string]struct {
		manifest, config []byte
		want             error
	}{
		"unknown artifactType": {edit(func(m map[string]any) { m["artifactType"] = "application/vnd.example.thing" }), e.Config, ErrUnknownArtifactType},
		"no artifactType":      {edit(func(m map[string]any) { delete(m, "artifactType") }), e.Config, ErrUnknownArtifactType},
		"oversized config": {edit(func(m map[string]any) {
			m["config"].(map[string]any)["size"] = MaxConfigSize + 1
		}), e.Config, ErrTooLarge},
		"oversized manifest":   {append(e.Manifest, make([]byte, MaxManifestSize)...), e.Config, ErrTooLarge},
		"config media type":    {edit(func(m map[string]any) { m["config"].(map[string]any)["mediaType"] = "application/json" }), e.Config, ErrUnknownMediaType},
		"layer media type":     {edit(func(m map[string]any) { m["layers"].([]any)[0].(map[string]any)["mediaType"] = "application/x-tar" }), e.Config, ErrUnknownMediaType},
		"missing config":       {e.Manifest, nil, ErrDigestMismatch},
		"config of other kind": {e.Manifest, []byte(otherKindCfg), ErrDigestMismatch},
		"not json":             {[]byte("<html>502 Bad Gateway</html>"), e.Config, ErrInvalidManifest},
		"index media type":     {edit(func(m map[string]any) { m["mediaType"] = ocispec.MediaTypeImageIndex }), e.Config, ErrInvalidManifest},
		"layers dropped":       {edit(func(m map[string]any) { m["layers"] = m["layers"].([]any)[:1] }), e.Config, ErrInvalidManifest},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := Decode(c.manifest, c.config); !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
	// A config that claims another kind, under a manifest that names it by digest.
	m := edit(func(m map[string]any) {
		c := m["config"].(map[string]any)
		c["digest"] = digest.FromString(otherKindCfg).String()
		c["size"] = len(otherKindCfg)
	})
	if _, err := Decode(m, []byte(otherKindCfg)); !errors.Is(err, ErrKindMismatch) {
		t.Fatalf("kind contradiction: %v", err)
	}
}

func TestPlatformMatches(t *testing.T) {
	arm := Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}
	if !arm.Matches(Platform{OS: "linux", Architecture: "arm64"}) || arm.Matches(Platform{OS: "linux", Architecture: "amd64"}) ||
		arm.Matches(Platform{OS: "linux", Architecture: "arm64", Variant: "v7"}) {
		t.Fatal("Matches")
	}
	p, err := ParsePlatform(arm.String())
	if err != nil || p != arm {
		t.Fatalf("ParsePlatform(%s) = %v, %v", arm, p, err)
	}
}
