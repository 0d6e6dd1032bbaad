package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/brickyard/brickyard"
	"github.com/brickyard/brickyard/artifact"
	bpacker "github.com/brickyard/brickyard/artifact/packer"
	"github.com/brickyard/brickyard/catalog"
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
	b := bpacker.Build{Name: c.PackerBuildName, BuilderID: source.BuilderId(), ArtifactID: source.Id()}
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
		meta.Parents = generatedParent(source)
	}
	res, err := cl.PublishPacker(ctx, brickyard.PackerRequest{Meta: meta, Builds: builds, Owner: c.Owner})
	if err != nil {
		return nil, true, false, err
	}
	pub := res.Published
	for _, f := range res.Skipped {
		ui.Message(fmt.Sprintf("brickyard: %s is not a disk, left out", f))
	}
	ui.Say(fmt.Sprintf("brickyard: published %s %s", pub.Record.Ref(), pub.Record.Digest))
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

// generatedParent is the source image digest a builder reports in its
// generated data, if any: the base image is the parent when no parent
// setting names it.
func generatedParent(source packer.Artifact) []string {
	data, _ := source.State("generated_data").(map[interface{}]interface{})
	if d, ok := data["SourceImageDigest"].(string); ok && d != "" {
		return []string{d}
	}
	return nil
}
