package artifact

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// sampleIndex is an index over the machine image and the VM disk of
// sampleArtifacts, as two builds of web@1.1.0 for linux/amd64.
func sampleIndex(t testing.TB) *Artifact {
	t.Helper()
	s := sampleArtifacts(t)
	idx := mustVersion(t, "1.1.0")
	idx.Name, idx.Kind = "web", KindIndex
	idx.Parents, idx.BaseName = s["machine-image"].Parents, "base:1.0.0"
	idx.Build = Build{Builder: "packer/amazon-ebs,qemu", Created: s["machine-image"].Build.Created}
	amd64 := Platform{OS: "linux", Architecture: "amd64"}
	for _, k := range []string{"machine-image", "vm-disk"} {
		m := s[k]
		m.Name, m.Version, m.Platform = "web", idx.Version, amd64
		e, err := Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		idx.Members = append(idx.Members, MemberDescriptor(e, amd64, k+".web"))
	}
	idx.Platform = amd64
	return idx
}

func TestIndexRoundTrip(t *testing.T) {
	idx := sampleIndex(t)
	e, err := Encode(idx)
	if err != nil {
		t.Fatal(err)
	}
	if e.Descriptor.MediaType != ocispec.MediaTypeImageIndex || e.Descriptor.ArtifactType != ArtifactTypeIndex || e.Config != nil {
		t.Fatalf("descriptor %+v, config %q", e.Descriptor, e.Config)
	}
	var raw ocispec.Index
	if err := json.Unmarshal(e.Manifest, &raw); err != nil {
		t.Fatal(err)
	}
	if raw.Annotations[AnnotationName] != "web" || raw.Annotations[ocispec.AnnotationVersion] != "1.1.0" ||
		raw.Annotations[ocispec.AnnotationBaseImageDigest] != idx.Parents[0].String() ||
		raw.Manifests[0].Platform.Architecture != "amd64" || raw.Manifests[1].Annotations[AnnotationBuild] != "vm-disk.web" {
		t.Fatalf("index %s", e.Manifest)
	}
	back, err := Decode(e.Manifest, nil)
	if err != nil {
		t.Fatal(err)
	}
	if back.Kind != KindIndex || back.Platform != idx.Platform || len(back.Members) != 2 || back.Build != idx.Build ||
		back.Parents[0] != idx.Parents[0] {
		t.Fatalf("decoded %+v", back)
	}
	if m, ok := back.Member("machine-image.web"); !ok || m.ArtifactType != ArtifactTypeMachineImage {
		t.Errorf("Member(machine-image.web) = %+v %v", m, ok)
	}
	// Members for two platforms: the index has none of its own.
	arm := idx.Members[1]
	arm.Platform = &ocispec.Platform{OS: "linux", Architecture: "arm64"}
	if p := IndexPlatform([]ocispec.Descriptor{idx.Members[0], arm}); !p.IsZero() {
		t.Errorf("platform of a multi-platform index = %s", p)
	}
}

func TestIndexRefused(t *testing.T) {
	e, err := Encode(sampleIndex(t))
	if err != nil {
		t.Fatal(err)
	}
	nested := sampleIndex(t)
	nested.Members[0].ArtifactType = ArtifactTypeIndex
	dup := sampleIndex(t)
	dup.Members[1] = dup.Members[0]
	wrongPlatform := sampleIndex(t)
	wrongPlatform.Platform = Platform{OS: "linux", Architecture: "arm64"}
	reserved := sampleIndex(t)
	reserved.Annotations = map[string]string{AnnotationParents: digest.FromString("x").String()}
	for name, a := range map[string]*Artifact{"an index in an index": nested, "a member twice": dup,
		"a platform its members do not have": wrongPlatform, "a reserved annotation": reserved} {
		if _, err := Encode(a); err == nil {
			t.Errorf("%s: encoded", name)
		}
	}
	for name, b := range map[string]string{
		"another artifactType": strings.Replace(string(e.Manifest), ArtifactTypeIndex, ArtifactTypeVMDisk, 1),
		"not canonical":        strings.Replace(string(e.Manifest), `"schemaVersion":2`, `"schemaVersion":2 `, 1),
		"an extra parent":      strings.Replace(string(e.Manifest), `"dev.brickyard.name"`, `"dev.brickyard.parents":"sha256:`+strings.Repeat("0", 64)+`","dev.brickyard.name"`, 1),
	} {
		if _, err := Decode([]byte(b), nil); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
	// An image manifest may not claim the index's artifactType.
	s := sampleArtifacts(t)["machine-image"]
	me, _ := Encode(s)
	fake := strings.Replace(string(me.Manifest), ArtifactTypeMachineImage, ArtifactTypeIndex, 1)
	if _, err := Decode([]byte(fake), me.Config); !errors.Is(err, ErrInvalidManifest) {
		t.Errorf("an image manifest with the index artifactType: %v", err)
	}
}
