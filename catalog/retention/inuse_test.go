package retention

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func refs(t *testing.T, s Source) string {
	t.Helper()
	uses, err := s.InUse(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, u := range uses {
		out = append(out, u.Ref+" @"+filepath.Base(u.Where))
	}
	return strings.Join(out, "\n")
}

func TestKubernetesSource(t *testing.T) {
	got := refs(t, KubernetesSource("testdata/k8s"))
	want := "registry.example/team/init@sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae @web.yaml:9\n" +
		"registry.example/web:1.1.0 @web.yaml:12\nregistry.example/base:1.0.0 @web.yaml:24"
	if got != want {
		t.Errorf("uses:\n%s\nwant:\n%s", got, want)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte("a: [1\n"), 0o644)
	if _, err := KubernetesSource(dir).InUse(context.Background()); !errors.Is(err, ErrInvalidSource) || !strings.Contains(err.Error(), "bad.yaml") {
		t.Errorf("bad YAML: %v", err)
	}
}

func TestTerraformSource(t *testing.T) {
	got := refs(t, TerraformSource("testdata/terraform.tfstate"))
	want := "ami-0aaa @terraform.tfstate: aws_instance.a\nami-0bbb @terraform.tfstate: aws_instance.a\n" +
		"ami-0ccc @terraform.tfstate: aws_launch_template.lt\nami-0ccc @terraform.tfstate: aws_autoscaling_group.asg (launch template web)"
	if got != want {
		t.Errorf("uses:\n%s\nwant:\n%s", got, want)
	}
	dir := t.TempDir()
	for name, body := range map[string]string{"v3": `{"version": 3}`, "junk": `{`, "array": `[]`} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o644)
		if _, err := TerraformSource(p).InUse(context.Background()); !errors.Is(err, ErrInvalidSource) {
			t.Errorf("%s: %v, want ErrInvalidSource", name, err)
		}
	}
}

func TestFileSourceAndGather(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "in-use.txt", "# comment\n\nweb@1.0.0\nami-0abc\nweb@1.0.0\n")
	in, err := Gather(context.Background(), FileSource(p), TerraformSource("testdata/terraform.tfstate"))
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Uses) != 7 || in.Uses[0].Ref != "ami-0aaa" || in.Digest == "" {
		t.Errorf("gathered %+v", in)
	}
	// Where a use was seen does not change the set's digest; what is used does.
	p2 := writeFile(t, dir, "other.txt", "ami-0abc\nweb@1.0.0\n")
	in2, _ := Gather(context.Background(), FileSource(p2), TerraformSource("testdata/terraform.tfstate"))
	if in2.Digest != in.Digest {
		t.Error("the digest depends on where uses were seen")
	}
	writeFile(t, dir, "bad.txt", "two words\n")
	if _, err := FileSource(filepath.Join(dir, "bad.txt")).InUse(context.Background()); !errors.Is(err, ErrInvalidSource) || !strings.Contains(err.Error(), "bad.txt:1") {
		t.Errorf("a line of two words: %v", err)
	}
	if _, err := FileSource(filepath.Join(dir, "missing")).InUse(context.Background()); !errors.Is(err, ErrInvalidSource) {
		t.Errorf("a missing file: %v", err)
	}
}

// FuzzSources: Kubernetes YAML, Terraform state and plan JSON from
// outside never panic; failures are the package's errors.
func FuzzSources(f *testing.F) {
	for _, p := range []string{"testdata/k8s/apps/web.yaml", "testdata/terraform.tfstate"} {
		b, _ := os.ReadFile(p)
		f.Add(b)
	}
	f.Add([]byte(`{"format":1,"digest":"sha256:x","decisions":[{"name":"a"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		dir := t.TempDir()
		p := filepath.Join(dir, "in.yaml")
		os.WriteFile(p, b, 0o644)
		for _, s := range []Source{KubernetesSource(dir), TerraformSource(p), FileSource(p)} {
			if _, err := s.InUse(context.Background()); err != nil && !errors.Is(err, ErrInvalidSource) {
				t.Fatalf("%T: %v", s, err)
			}
		}
		if _, err := ReadPlan(b); err != nil && !errors.Is(err, ErrInvalidPlan) {
			t.Fatalf("ReadPlan: %v", err)
		}
	})
}
