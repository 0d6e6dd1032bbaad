package cloud

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/catalog"
	"github.com/brickyard/brickyard/registry"
	"github.com/brickyard/brickyard/registry/ec2"
	"github.com/opencontainers/go-digest"
)

// ImageLister lists images (DescribeImages, every page).
type ImageLister interface {
	Images(ctx context.Context, region string, q ec2.ImageQuery) ([]ec2.Image, error)
}

var _ ImageLister = (*ec2.Client)(nil)

// TagSourceAMI names the image an AMI was built from (as Packer's
// source_ami template variable is usually recorded): its artifact becomes
// the parent.
const TagSourceAMI = "brickyard:source-ami"

// ImportOptions say what Import looks at and where it records.
type ImportOptions struct {
	Regions []string
	Owners  []string            // DescribeImages owners; default "self"
	Filters map[string][]string // DescribeImages filters, e.g. "name" → ["web-*"], "tag:team" → ["core"]
	// ResolveParent turns a TagParent value (NAME@VERSION or a digest)
	// into a recorded artifact's digest.
	ResolveParent func(ctx context.Context, ref string) (digest.Digest, error)
	StoreName     string // recorded as each record's Store, e.g. "oci-layout"
	Actor         string
}

// Imported is one artifact Import recorded.
type Imported struct {
	Ref     string            `json:"ref"`
	Digest  digest.Digest     `json:"digest"`
	Images  map[string]string `json:"images"` // region → image id
	Parents []digest.Digest   `json:"parents,omitempty"`
}

// Skipped is an image Import did not record, and why.
type Skipped struct {
	Region  string `json:"region"`
	ImageID string `json:"imageId"`
	Name    string `json:"name"`
	Reason  string `json:"reason"`
}

// ImportReport says what Import did.
type ImportReport struct {
	Imported []Imported `json:"imported"`
	Skipped  []Skipped  `json:"skipped,omitempty"`
}

// Importer records existing cloud images as machine-image artifacts.
type Importer struct {
	Images ImageLister
	Store  registry.Publisher
	Cat    catalog.Recorder
	Syncer *Syncer // tags each imported image with its record (Syncer.Tag)
}

// versionNameRE is the documented AMI name pattern: NAME, a separator
// ('-', '_', '/' or ' '), an optional 'v', then a semantic version with
// optional pre-release and build metadata, at the end of the name:
// "web-1.2.3", "web_v1.2.3-rc.1", "base/2.0.0+build.5".
var versionNameRE = regexp.MustCompile(`^(.+?)[-_/ ]v?([0-9]+\.[0-9]+\.[0-9]+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?)$`)

// ParseImageName splits an AMI name of the documented pattern into an
// artifact name (lowercased; characters outside the OCI repository-name
// grammar become '-') and a version. ok is false when the name does not
// follow the pattern or the result is not a valid name and version.
func ParseImageName(s string) (name string, v *semver.Version, ok bool) {
	m := versionNameRE.FindStringSubmatch(s)
	if m == nil {
		return "", nil, false
	}
	name = sanitizeName(m[1])
	v, err := artifact.ParseVersion(m[2])
	if err != nil || artifact.ValidateName(name) != nil {
		return "", nil, false
	}
	return name, v, true
}

func sanitizeName(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '.', r == '_', r == '/':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	return strings.Trim(b.String(), "-._/")
}

var copiedRE = regexp.MustCompile(`\[Copied (ami-[0-9a-z]+) from ([a-z0-9-]+)\]`)

// sourceOf returns the image im was copied from: EC2's SourceImageId, or
// the "[Copied ami-… from REGION]" note CopyImage writes in descriptions.
func sourceOf(im ec2.Image) string {
	if im.SourceImageID != "" {
		return im.SourceImageID
	}
	if m := copiedRE.FindStringSubmatch(im.Description); m != nil {
		return m[1]
	}
	return ""
}

// Import lists the images o selects in every region, groups the copies of
// one image across regions into one artifact (same TagName and TagVersion
// tags, same AMI name, or one copied from the other), and records each
// group as one machine-image artifact, oldest first: version from the
// TagVersion tag or the AMI name (ParseImageName), parent from the
// TagParent tag or the artifact of the image named by TagSourceAMI or
// copied from. Then it tags each image with its record (Syncer.Tag).
//
// Images already in ix are skipped, as are groups without a version, with
// two images in one region, or whose parent is unknown; each skip says
// why. Importing again records nothing new. Recorded artifacts are added
// to ix.
func (im *Importer) Import(ctx context.Context, ix *Index, o ImportOptions) (ImportReport, error) {
	var rep ImportReport
	var images []ec2.Image
	owners := o.Owners
	if len(owners) == 0 {
		owners = []string{"self"}
	}
	for _, region := range o.Regions {
		got, err := im.Images.Images(ctx, region, ec2.ImageQuery{Owners: owners, Filters: o.Filters})
		if err != nil {
			return rep, err
		}
		for _, i := range got {
			if k, ok := ix.Lookup(i.Region, i.ID); ok {
				rep.Skipped = append(rep.Skipped, Skipped{i.Region, i.ID, i.Name, "already recorded as " + k.Record.Ref()})
				continue
			}
			images = append(images, i)
		}
	}
	groups := group(images)
	sort.SliceStable(groups, func(a, b int) bool { return oldest(groups[a]).Before(oldest(groups[b])) })
	// A group whose parent is another group of this import waits for it:
	// passes repeat while one records something, whatever the listing
	// order and however close the creation times.
	for pending := groups; len(pending) > 0; {
		var waiting [][]ec2.Image
		var whys []string
		for _, g := range pending {
			a, why := im.artifactOf(ctx, ix, g, o)
			if why != "" {
				waiting, whys = append(waiting, g), append(whys, why)
				continue
			}
			if err := im.record(ctx, ix, g, a, o, &rep); err != nil {
				return rep, err
			}
		}
		if len(waiting) == len(pending) {
			for n, g := range waiting {
				for _, i := range g {
					rep.Skipped = append(rep.Skipped, Skipped{i.Region, i.ID, i.Name, whys[n]})
				}
			}
			break
		}
		pending = waiting
	}
	return rep, nil
}

// record publishes and records the artifact a of image group g, adds it to
// ix and rep, and tags its images.
func (im *Importer) record(ctx context.Context, ix *Index, g []ec2.Image, a *artifact.Artifact, o ImportOptions, rep *ImportReport) error {
	enc, err := registry.Publish(ctx, im.Store, a)
	if err != nil {
		return fmt.Errorf("import %s: %w", a.Ref(), err)
	}
	rec, err := catalog.RecordOf(o.StoreName, a.Name, enc.Descriptor, enc.Manifest, enc.Config)
	if err != nil {
		return fmt.Errorf("import %s: %w", a.Ref(), err)
	}
	rec.Actor = o.Actor
	if err := im.Cat.Record(ctx, rec); err != nil {
		return fmt.Errorf("import %s: %w", a.Ref(), err)
	}
	k := Known{Record: rec, Image: a.MachineImage}
	ix.Add(k)
	rep.Imported = append(rep.Imported, Imported{Ref: rec.Ref(), Digest: rec.Digest, Images: a.MachineImage.Images, Parents: a.Parents})
	if im.Syncer != nil {
		have := map[string]map[string]string{}
		for _, i := range g {
			have[i.ID] = i.Tags
		}
		if _, err := im.Syncer.Tag(ctx, k, have); err != nil {
			return err
		}
	}
	return nil
}

func oldest(g []ec2.Image) time.Time {
	t := g[0].Created
	for _, i := range g[1:] {
		if i.Created.Before(t) {
			t = i.Created
		}
	}
	return t
}

// group joins images that are copies of one another (union-find over
// their ids).
func group(images []ec2.Image) [][]ec2.Image {
	parent := make([]int, len(images))
	for i := range parent {
		parent[i] = i
	}
	var find func(int) int
	find = func(i int) int {
		if parent[i] != i {
			parent[i] = find(parent[i])
		}
		return parent[i]
	}
	union := func(a, b int) { parent[find(a)] = find(b) }
	byKey := map[string]int{}
	join := func(key string, i int) {
		if j, ok := byKey[key]; ok {
			union(i, j)
		} else {
			byKey[key] = i
		}
	}
	for i, im := range images {
		join("id:"+im.ID, i)
		if n, v := im.Tags[TagName], im.Tags[TagVersion]; n != "" && v != "" {
			join("tag:"+n+"@"+v, i)
		}
		if im.Name != "" {
			join("name:"+im.Name, i)
		}
	}
	for i, im := range images {
		if src := sourceOf(im); src != "" {
			if j, ok := byKey["id:"+src]; ok {
				union(i, j)
			}
		}
	}
	sets := map[int][]ec2.Image{}
	var roots []int
	for i := range images {
		r := find(i)
		if _, ok := sets[r]; !ok {
			roots = append(roots, r)
		}
		sets[r] = append(sets[r], images[i])
	}
	out := make([][]ec2.Image, 0, len(roots))
	for _, r := range roots {
		g := sets[r]
		sort.Slice(g, func(a, b int) bool { return g[a].Region < g[b].Region })
		out = append(out, g)
	}
	return out
}

// artifactOf builds the artifact of a group, or says why it cannot.
func (im *Importer) artifactOf(ctx context.Context, ix *Index, g []ec2.Image, o ImportOptions) (*artifact.Artifact, string) {
	first := g[0]
	name, version := first.Tags[TagName], first.Tags[TagVersion]
	var v *semver.Version
	if name != "" && version != "" {
		var err error
		if v, err = artifact.ParseVersion(version); err != nil {
			return nil, fmt.Sprintf("tag %s=%q: %v", TagVersion, version, err)
		}
		if err := artifact.ValidateName(name); err != nil {
			return nil, fmt.Sprintf("tag %s=%q: %v", TagName, name, err)
		}
	} else {
		var ok bool
		if name, v, ok = ParseImageName(first.Name); !ok {
			return nil, fmt.Sprintf("no version: tag the image %s=VERSION (and %s=NAME) or name it NAME-VERSION (semver)", TagVersion, TagName)
		}
	}
	mi := &artifact.MachineImage{Provider: "aws", Owner: first.Owner, Images: map[string]string{}, BootMode: first.BootMode, ImageName: first.Name}
	for _, i := range g {
		if prev, dup := mi.Images[i.Region]; dup {
			return nil, fmt.Sprintf("two images of %s@%s in %s (%s, %s): record them as two versions", name, v, i.Region, prev, i.ID)
		}
		if i.Owner != first.Owner {
			return nil, fmt.Sprintf("copies owned by two accounts (%s, %s)", first.Owner, i.Owner)
		}
		mi.Images[i.Region] = i.ID
		if len(i.Snapshots) > 0 {
			if mi.Snapshots == nil {
				mi.Snapshots = map[string][]string{}
			}
			mi.Snapshots[i.Region] = i.Snapshots
		}
	}
	for k, val := range first.Tags {
		if k == TagDigest {
			continue // points at the record, which this import makes
		}
		if mi.Tags == nil {
			mi.Tags = map[string]string{}
		}
		mi.Tags[k] = val
	}
	a := &artifact.Artifact{Name: name, Kind: artifact.KindMachineImage, Version: v, MachineImage: mi,
		Build: artifact.Build{Builder: "aws/ec2 (imported)", Created: oldest(g).UTC().Truncate(time.Second)}}
	a.Platform = artifact.Platform{OS: "linux", Architecture: map[string]string{"x86_64": "amd64", "arm64": "arm64", "i386": "386"}[first.Architecture]}
	if a.Platform.Architecture == "" {
		a.Platform = artifact.Platform{}
	}
	// Parent: a tag, else the artifact of the source image.
	if ref := first.Tags[TagParent]; ref != "" {
		if o.ResolveParent == nil {
			return nil, fmt.Sprintf("tag %s=%s: no catalog to resolve it", TagParent, ref)
		}
		d, err := o.ResolveParent(ctx, ref)
		if err != nil {
			return nil, fmt.Sprintf("tag %s=%s: %v", TagParent, ref, err)
		}
		a.Parents = []digest.Digest{d}
	} else {
		for _, i := range g {
			src := i.Tags[TagSourceAMI]
			if src == "" {
				src = sourceOf(i)
			}
			if src == "" || slices.ContainsFunc(g, func(x ec2.Image) bool { return x.ID == src }) {
				continue
			}
			k, ok := ix.LookupAny(src)
			if !ok {
				if i.Tags[TagSourceAMI] != "" {
					return nil, fmt.Sprintf("source image %s (tag %s) is not in the catalog: import it first", src, TagSourceAMI)
				}
				continue
			}
			a.Parents = []digest.Digest{k.Record.Digest}
			break
		}
	}
	if err := a.Validate(); err != nil {
		return nil, err.Error()
	}
	return a, ""
}
