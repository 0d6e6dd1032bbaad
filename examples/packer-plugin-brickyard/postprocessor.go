package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/brickyard/brickyard"
	"github.com/brickyard/brickyard/artifact"
	bpacker "github.com/brickyard/brickyard/artifact/packer"
	"github.com/brickyard/brickyard/catalog"
	"github.com/brickyard/brickyard/registry/ec2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/hashicorp/packer-plugin-sdk/template/config"
)

// BuilderID is the id of the artifact the post-processor returns.
const BuilderID = "brickyard.post-processor"

// PostProcessor publishes a build with brickyard.
type PostProcessor struct {
	config Config
	opts   []brickyard.Option
}

func (p *PostProcessor) ConfigSpec() hcldec.ObjectSpec { return p.config.FlatMapstructure().HCL2Spec() }

// Configure checks every setting before the build runs: a bad version, a
// key that does not decrypt, an unknown parent or a version already
// published fail `packer build` at once, naming the setting.
func (p *PostProcessor) Configure(raws ...interface{}) error {
	err := config.Decode(&p.config, &config.DecodeOpts{
		PluginType: "brickyard", Interpolate: true, InterpolateContext: &p.config.ctx,
	}, raws...)
	if err != nil {
		return err
	}
	c := &p.config
	if c.Home == "" {
		if c.Home = os.Getenv("BRICKYARD_HOME"); c.Home == "" {
			c.Home = ".brickyard"
		}
	}
	var errs error
	if err := artifact.ValidateName(c.Name); err != nil {
		errs = errors.Join(errs, fmt.Errorf("artifact_name: %w", err))
	}
	if _, err := artifact.ParseVersion(c.Version); err != nil {
		errs = errors.Join(errs, fmt.Errorf("version: %w", err))
	}
	if c.Platform != "" {
		if _, err := artifact.ParsePlatform(c.Platform); err != nil {
			errs = errors.Join(errs, fmt.Errorf("platform: %w", err))
		}
	}
	if c.Key != "" {
		pw := c.KeyPassword
		if pw == "" {
			pw = os.Getenv("COSIGN_PASSWORD")
		}
		p.opts = append(p.opts, brickyard.WithKeyFile(c.Key, []byte(pw)))
	}
	if errs != nil {
		return errs
	}
	cl, err := p.open(context.Background())
	if err != nil {
		return err
	}
	defer cl.Close(context.Background())
	for _, ref := range c.Parent {
		if _, err := cl.Lookup(context.Background(), ref, ""); err != nil {
			errs = errors.Join(errs, fmt.Errorf("parent %s: %w", ref, err))
		}
	}
	if r, err := cl.Lookup(context.Background(), c.Name+"@"+c.Version, c.Platform); err == nil {
		errs = errors.Join(errs, fmt.Errorf("version: %s is already published (%s): versions are immutable: %w", r.Ref(), r.Digest, catalog.ErrDuplicateVersion))
	}
	return errs
}

func (p *PostProcessor) open(ctx context.Context) (*brickyard.Client, error) {
	cl, err := brickyard.Open(ctx, p.config.Home, p.opts...)
	if err != nil {
		if p.config.Key != "" {
			return nil, fmt.Errorf("key %s or home %s: %w", p.config.Key, p.config.Home, err)
		}
		return nil, fmt.Errorf("home %s: %w", p.config.Home, err)
	}
	return cl, nil
}

// PostProcess stages the build (when several builds make the version) and,
// for the build that completes the set, publishes, signs and sets the
// channel. It keeps the input artifact.
func (p *PostProcessor) PostProcess(ctx context.Context, ui packer.Ui, source packer.Artifact) (packer.Artifact, bool, bool, error) {
	c := &p.config
	b := bpacker.Build{Name: c.PackerBuildName, BuilderID: source.BuilderId(), ArtifactID: source.Id(),
		CustomData: generated(source)}
	if d, ok := source.State("digest").(string); ok && d != "" && !strings.Contains(b.ArtifactID, "@") {
		b.ArtifactID += "@" + d // docker-push: the repository digest it pushed
	}
	for _, f := range source.Files() {
		abs, err := filepath.Abs(f) // staged for another plugin process
		if err != nil {
			return nil, true, false, err
		}
		fi, err := os.Stat(abs)
		if err != nil {
			return nil, true, false, fmt.Errorf("build %s: file %w", b.Name, err)
		}
		b.Files = append(b.Files, bpacker.File{Name: abs, Size: fi.Size()})
	}
	if _, err := bpacker.Classify(b); err != nil {
		return nil, true, false, err
	}
	runID := os.Getenv("PACKER_RUN_UUID")
	builds, last, err := bpacker.Stage(filepath.Join(c.Home, "packer-builds", c.Name+"@"+c.Version), runID, c.Builds, b)
	if err != nil {
		return nil, true, false, err
	}
	if !last {
		ui.Say(fmt.Sprintf("brickyard: staged build %s of %s@%s; the last of %q publishes", b.Name, c.Name, c.Version, c.Builds))
		return source, true, false, nil
	}
	cl, err := p.open(ctx)
	if err != nil {
		return nil, true, false, err
	}
	defer cl.Close(context.Background())
	meta := brickyard.Meta{Name: c.Name, Version: c.Version, Platform: c.Platform, Parents: c.Parent,
		Sign: c.Key != "", Build: artifact.Build{Source: c.Source, Revision: c.Revision}}
	if len(meta.Parents) == 0 {
		if meta.Parents, err = generatedParents(ctx, cl, builds); err != nil {
			return nil, true, false, err
		}
	}
	req := brickyard.PackerRequest{Meta: meta, Builds: builds, Owner: c.Owner}
	if req.AMIs, err = p.amis(ctx, builds); err != nil {
		return nil, true, false, err
	}
	res, err := cl.PublishPacker(ctx, req)
	if err != nil {
		return nil, true, false, err
	}
	pub := res.Published
	for _, f := range res.Skipped {
		ui.Message(fmt.Sprintf("brickyard: %s is not a disk, left out", f))
	}
	ui.Say(fmt.Sprintf("brickyard: published %s %s", pub.Record.Ref(), pub.Record.Digest))
	if pub.Record.Kind == artifact.KindIndex {
		var names []string
		for _, b := range builds {
			names = append(names, b.Name)
		}
		ui.Say(fmt.Sprintf("brickyard: %s is an index over the builds %s", pub.Record.Ref(), strings.Join(names, ", ")))
	}
	if pub.Signature != nil {
		ui.Say(fmt.Sprintf("brickyard: signed %s by %s", pub.Record.Ref(), pub.Signature.KeyID))
	}
	if c.Channel != "" {
		if _, err := cl.Promote(ctx, pub.Record, c.Channel, "packer build "+runID); err != nil {
			return nil, true, false, fmt.Errorf("channel %s: %w", c.Channel, err)
		}
		ui.Say(fmt.Sprintf("brickyard: channel %s → %s", c.Channel, pub.Record.Version.Original()))
	}
	return &Artifact{rec: pub.Record, files: source.Files()}, true, false, nil
}

// generated is what the builder reports in its generated data that names
// the base image: SourceAMI (amazon builders) and SourceImageDigest. It is
// staged with the build, so the build that publishes sees every build's.
func generated(source packer.Artifact) map[string]string {
	out := map[string]string{}
	add := func(k, v interface{}) {
		ks, _ := k.(string)
		vs, _ := v.(string)
		if (ks == "SourceAMI" || ks == "SourceImageDigest") && vs != "" {
			out[ks] = vs
		}
	}
	switch data := source.State("generated_data").(type) {
	case map[interface{}]interface{}:
		for k, v := range data {
			add(k, v)
		}
	case map[string]interface{}:
		for k, v := range data {
			add(k, v)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// generatedParents are the base images the builds report, when no parent
// setting names them: a SourceImageDigest as it is, a SourceAMI as the
// catalog artifact that records that AMI (in any region). A SourceAMI the
// catalog does not know is an error naming it and the parent setting.
func generatedParents(ctx context.Context, cl *brickyard.Client, builds []bpacker.Build) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, b := range builds {
		p := b.CustomData["SourceImageDigest"]
		if ami := b.CustomData["SourceAMI"]; ami != "" {
			r, err := cl.LookupImageID(ctx, ami)
			if err != nil {
				return nil, fmt.Errorf("build %s: generated_data SourceAMI %s: %w (publish the base image to brickyard first, or name it with the parent setting)", b.Name, ami, err)
			}
			p = r.Digest.String()
		}
		if p != "" && !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out, nil
}

// amis is the EC2 client that looks up the AMIs of the amazon builds, when
// describe_amis or ec2_endpoint asks for one; nil otherwise.
func (p *PostProcessor) amis(ctx context.Context, builds []bpacker.Build) (brickyard.AMIDescriber, error) {
	c := &p.config
	if !c.DescribeAMIs && c.EC2Endpoint == "" {
		return nil, nil
	}
	var regions []string
	for _, b := range builds {
		if out, err := bpacker.Classify(b); err == nil {
			for r := range out.Images {
				if !slices.Contains(regions, r) {
					regions = append(regions, r)
				}
			}
		}
	}
	if len(regions) == 0 {
		return nil, nil
	}
	opts := []ec2.Option{ec2.WithRegions(regions...)}
	if c.EC2Endpoint != "" {
		opts = append(opts, ec2.WithEndpoint(c.EC2Endpoint))
	}
	cl, err := ec2.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("describe_amis: %w", err)
	}
	return cl, nil
}
