package retention

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/opencontainers/go-digest"
	"gopkg.in/yaml.v3"
)

// Use is one thing in use: a manifest digest ("sha256:..."), a reference
// NAME@VERSION, an image reference ("registry.example/team/web:1.2.0",
// "...@sha256:...") or a machine image id ("ami-0abc..."); and where it
// was seen, for the explanation.
type Use struct {
	Ref   string `json:"ref"`
	Where string `json:"where"`
}

// Source lists what is in use. Sources are pluggable: a file, a directory
// of Kubernetes manifests, a Terraform state; an AWS account (running
// instances, launch templates) is one more implementation.
type Source interface {
	InUse(ctx context.Context) ([]Use, error)
}

// MaxSourceSize bounds each file a source reads, in bytes.
const MaxSourceSize = 64 << 20

var (
	_ Source = FileSource("")
	_ Source = KubernetesSource("")
	_ Source = TerraformSource("")
)

// FileSource is a text file of uses, one per line: digests, NAME@VERSION
// references, image references or machine image ids. Blank lines and
// lines starting with # are skipped.
type FileSource string

// InUse implements Source.
func (f FileSource) InUse(ctx context.Context) ([]Use, error) {
	b, err := readLimited(string(f))
	if err != nil {
		return nil, err
	}
	var out []Use
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.ContainsAny(line, " \t") {
			return nil, fmt.Errorf("%s:%d: %q: one reference per line: %w", f, n, line, ErrInvalidSource)
		}
		out = append(out, Use{Ref: line, Where: fmt.Sprintf("%s:%d", f, n)})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w: %v", f, ErrInvalidSource, err)
	}
	return out, nil
}

// KubernetesSource is a directory of Kubernetes manifests (*.yaml, *.yml,
// multi-document, walked recursively): every container's and init
// container's image: and every KubeVirt containerDisk image, wherever they
// sit in the object (Pods, Deployments, CronJobs, VirtualMachines...).
type KubernetesSource string

// InUse implements Source.
func (k KubernetesSource) InUse(ctx context.Context) ([]Use, error) {
	var out []Use
	err := filepath.WalkDir(string(k), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if d.IsDir() || !(strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
			return nil
		}
		b, err := readLimited(p)
		if err != nil {
			return err
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for {
			var doc yaml.Node
			if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
				return nil
			} else if err != nil {
				return fmt.Errorf("%s: %w: %v", p, ErrInvalidSource, err)
			}
			images(&doc, "", func(img string, line int) {
				out = append(out, Use{Ref: img, Where: fmt.Sprintf("%s:%d", p, line)})
			})
		}
	})
	if err != nil && !errors.Is(err, ErrInvalidSource) {
		return nil, fmt.Errorf("kubernetes manifests %s: %w: %v", k, ErrInvalidSource, err)
	}
	return out, err
}

// images calls f with the value of every "image" key of n: a container's
// image, or a KubeVirt volume's containerDisk.image. parent is the key n
// is the value of; depth is bounded by the YAML parser.
func images(n *yaml.Node, parent string, f func(string, int)) {
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for _, c := range n.Content {
			images(c, parent, f)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Value == "image" && v.Kind == yaml.ScalarNode && v.Value != "" {
				f(v.Value, v.Line)
				continue
			}
			images(v, k.Value, f)
		}
	}
}

// TerraformSource is a Terraform state file (JSON, format version 4): the
// ami of every aws_instance, the image_id of every aws_launch_template,
// and the launch template image ids of aws_autoscaling_group resources
// (which name a template: the template's image id is what is in use, so
// it counts when the template is in the state).
type TerraformSource string

// InUse implements Source.
func (t TerraformSource) InUse(ctx context.Context) ([]Use, error) {
	b, err := readLimited(string(t))
	if err != nil {
		return nil, err
	}
	var st struct {
		Version   int `json:"version"`
		Resources []struct {
			Mode      string `json:"mode"`
			Type      string `json:"type"`
			Name      string `json:"name"`
			Instances []struct {
				Attributes map[string]json.RawMessage `json:"attributes"`
			} `json:"instances"`
		} `json:"resources"`
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("terraform state %s: %w: %v", t, ErrInvalidSource, err)
	}
	if st.Version != 4 {
		return nil, fmt.Errorf("terraform state %s: version %d: %w (want 4)", t, st.Version, ErrInvalidSource)
	}
	str := func(a map[string]json.RawMessage, k string) string {
		var s string
		_ = json.Unmarshal(a[k], &s) // absent or not a string: ""
		return s
	}
	templates := map[string]string{} // launch template id and name → image id
	var out []Use
	var asgTemplates []struct{ where, id, name string }
	for _, r := range st.Resources {
		if r.Mode != "managed" {
			continue
		}
		for _, in := range r.Instances {
			where := fmt.Sprintf("%s: %s.%s", t, r.Type, r.Name)
			switch r.Type {
			case "aws_instance":
				if ami := str(in.Attributes, "ami"); ami != "" {
					out = append(out, Use{Ref: ami, Where: where})
				}
			case "aws_launch_template":
				if img := str(in.Attributes, "image_id"); img != "" {
					out = append(out, Use{Ref: img, Where: where})
					templates[str(in.Attributes, "id")] = img
					templates[str(in.Attributes, "name")] = img
				}
			case "aws_autoscaling_group":
				var lts []struct {
					ID   string `json:"id"`
					Name string `json:"name"`
				}
				_ = json.Unmarshal(in.Attributes["launch_template"], &lts) // absent: none
				for _, lt := range lts {
					asgTemplates = append(asgTemplates, struct{ where, id, name string }{where, lt.ID, lt.Name})
				}
			}
		}
	}
	for _, a := range asgTemplates {
		img := templates[a.id]
		if img == "" {
			img = templates[a.name]
		}
		if img != "" {
			out = append(out, Use{Ref: img, Where: a.where + " (launch template " + a.id + a.name + ")"})
		}
	}
	return out, nil
}

func readLimited(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidSource, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxSourceSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %v", p, ErrInvalidSource, err)
	}
	if len(b) > MaxSourceSize {
		return nil, fmt.Errorf("%s: more than %d bytes: %w", p, MaxSourceSize, ErrInvalidSource)
	}
	return b, nil
}

// InUseSet is the union of what sources list.
type InUseSet struct {
	Uses   []Use         // sorted by Ref, then Where
	Digest digest.Digest // over the sorted, distinct Refs: where they were seen does not change a plan
}

// Gather reads every source.
func Gather(ctx context.Context, sources ...Source) (InUseSet, error) {
	var s InUseSet
	for _, src := range sources {
		uses, err := src.InUse(ctx)
		if err != nil {
			return s, err
		}
		s.Uses = append(s.Uses, uses...)
	}
	sort.Slice(s.Uses, func(i, j int) bool {
		if s.Uses[i].Ref != s.Uses[j].Ref {
			return s.Uses[i].Ref < s.Uses[j].Ref
		}
		return s.Uses[i].Where < s.Uses[j].Where
	})
	h := sha256.New()
	last := ""
	for _, u := range s.Uses {
		if u.Ref != last {
			fmt.Fprintln(h, u.Ref)
			last = u.Ref
		}
	}
	s.Digest = digest.NewDigest(digest.SHA256, h)
	return s, nil
}
