package packer_test

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/artifact/packer"
)

func TestParseManifestLastRun(t *testing.T) {
	f, err := os.Open("testdata/manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := packer.ParseManifest(f)
	if err != nil {
		t.Fatal(err)
	}
	run := m.Run("")
	if len(run) != 2 {
		t.Fatalf("last run has %d builds, want 2", len(run))
	}
	for _, b := range run {
		out, err := packer.Classify(b)
		if err != nil {
			t.Fatal(err)
		}
		if out.Kind != artifact.KindVMDisk || len(out.Disks) != 1 {
			t.Fatalf("build %s = %+v, want a vm-disk with 1 file", b.Name, out)
		}
	}
	amiBuild := m.Run("0b7e3c1a-aaaa-bbbb-cccc-000000000001")[0]
	ami, err := packer.Classify(amiBuild)
	if err != nil {
		t.Fatal(err)
	}
	if ami.Kind != artifact.KindMachineImage || ami.Images["us-east-1"] != "ami-0fedcba9876543210" {
		t.Fatalf("ami = %+v", ami)
	}
}

func TestClassifyRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    packer.Build
		want error
	}{
		{"file builder without files", packer.Build{Name: "b", BuilderID: "packer.file"}, packer.ErrNoOutput},
		{"artifice without files", packer.Build{Name: "b", BuilderID: "packer.post-processor.artifice"}, packer.ErrNoOutput},
		{"amazon without id", packer.Build{Name: "b", BuilderID: "mitchellh.amazonebs"}, packer.ErrNoOutput},
		{"amazon id malformed", packer.Build{Name: "b", BuilderID: "mitchellh.amazonebs", ArtifactID: "eu-west-1:img-1"}, packer.ErrInvalidManifest},
		{"amazon region twice", packer.Build{Name: "b", BuilderID: "mitchellh.amazonebs", ArtifactID: "eu-west-1:ami-01234567,eu-west-1:ami-89abcdef"}, packer.ErrInvalidManifest},
		{"docker without id", packer.Build{Name: "b", BuilderID: "packer.post-processor.docker-push"}, packer.ErrNoOutput},
		{"docker local image id", packer.Build{Name: "b", BuilderID: "packer.docker", ArtifactID: "sha256:0123"}, packer.ErrNoOutput},
		{"unknown builder", packer.Build{Name: "b", BuilderID: "example.unknown", ArtifactID: "x"}, packer.ErrUnsupportedBuilder},
		{"unknown builder, nothing", packer.Build{Name: "b", BuilderID: "example.unknown"}, packer.ErrNoOutput},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := packer.Classify(tc.b)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Classify = %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), "b") {
				t.Fatalf("error %q does not name the build", err)
			}
		})
	}
}

func TestParseManifestRefuses(t *testing.T) {
	for _, in := range []string{
		``, `[]`, `{}`, `{"builds":[{"name":"","builder_type":"qemu"}]}`,
		`{"builds":[{"name":"a","builder_type":"qemu","build_time":-1}]}`,
		`{"builds":[{"name":"a","builder_type":"qemu","files":[{"name":"x","size":-5}]}]}`,
		`{"builds":[{"name":"a","builder_type":"qemu","files":[{"name":"","size":5}]}]}`,
	} {
		if _, err := packer.ParseManifest(strings.NewReader(in)); !errors.Is(err, packer.ErrInvalidManifest) {
			t.Errorf("ParseManifest(%q) = %v, want ErrInvalidManifest", in, err)
		}
	}
	big := bytes.Repeat([]byte(" "), packer.MaxManifestSize+1)
	if _, err := packer.ParseManifest(bytes.NewReader(big)); !errors.Is(err, packer.ErrInvalidManifest) {
		t.Errorf("oversized manifest: %v", err)
	}
}

func FuzzParseManifest(f *testing.F) {
	seed, err := os.ReadFile("testdata/manifest.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte(`{"builds":[],"last_run_uuid":""}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := packer.ParseManifest(bytes.NewReader(b))
		if err != nil {
			return
		}
		for _, build := range m.Run("") {
			if o, err := packer.Classify(build); err == nil && o.Kind == "" {
				t.Fatalf("Classify(%+v) gave no kind", build)
			}
		}
	})
}

func TestStageLastBuildPublishes(t *testing.T) {
	dir := t.TempDir()
	expected := []string{"qemu.web", "file.web"}
	qemu := packer.Build{Name: "qemu.web", BuilderID: "transcend.qemu", Files: []packer.File{{Name: "web.qcow2"}}}
	file := packer.Build{Name: "file.web", BuilderID: "packer.file", Files: []packer.File{{Name: "web.raw"}}}
	if _, last, err := packer.Stage(dir, "run-1", expected, qemu); err != nil || last {
		t.Fatalf("first build: last=%v err=%v, want staged only", last, err)
	}
	builds, last, err := packer.Stage(dir, "run-1", expected, file)
	if err != nil || !last || len(builds) != 2 {
		t.Fatalf("second build: %d builds, last=%v, err=%v; want both, last", len(builds), last, err)
	}
	if builds[0].Name != "file.web" || builds[1].BuilderID != "transcend.qemu" {
		t.Fatalf("staged builds = %+v", builds)
	}
	// The set is claimed once: staging again (a retried post-processor)
	// does not publish twice.
	if _, last, err := packer.Stage(dir, "run-1", expected, file); err != nil || last {
		t.Fatalf("restaged: last=%v err=%v", last, err)
	}
	// Another run starts afresh.
	if _, last, _ := packer.Stage(dir, "run-2", expected, file); last {
		t.Fatal("a new run completed with one build")
	}
	if _, _, err := packer.Stage(dir, "run-2", expected, packer.Build{Name: "other"}); !errors.Is(err, packer.ErrUnexpectedBuild) {
		t.Fatalf("unexpected build: %v", err)
	}
}

func TestStageConcurrentBuildsPublishOnce(t *testing.T) {
	for round := 0; round < 20; round++ {
		dir := t.TempDir()
		names := []string{"a", "b", "c", "d"}
		lasts := make(chan bool, len(names))
		for _, n := range names {
			go func() {
				_, last, err := packer.Stage(dir, "run", names, packer.Build{Name: n, BuilderID: "packer.file"})
				if err != nil {
					t.Error(err)
				}
				lasts <- last
			}()
		}
		n := 0
		for range names {
			if <-lasts {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("round %d: %d builds published, want 1", round, n)
		}
	}
}
