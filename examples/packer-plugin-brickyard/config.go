//go:generate go run github.com/hashicorp/packer-plugin-sdk/cmd/packer-sdc mapstructure-to-hcl2 -type Config

package main

import (
	"github.com/hashicorp/packer-plugin-sdk/common"
	"github.com/hashicorp/packer-plugin-sdk/template/interpolate"
)

// Config is the post-processor's HCL block:
//
//	post-processor "brickyard" {
//	  artifact_name = "web"
//	  version  = "1.4.0"
//	  platform = "linux/amd64"
//	  parent   = ["base@1.0.0"]
//	  key      = "cosign.key"
//	  channel  = "dev"
//	}
type Config struct {
	common.PackerConfig `mapstructure:",squash"`

	// Home is the brickyard home (store + catalog); default $BRICKYARD_HOME,
	// else ./.brickyard.
	Home string `mapstructure:"home"`
	// Name (artifact_name; "name" is Packer's own) and Version name the artifact; Version is Semantic Versioning 2.0.0.
	Name    string `mapstructure:"artifact_name" required:"true"`
	Version string `mapstructure:"version" required:"true"`
	// Platform is os/arch[/variant], e.g. linux/amd64.
	Platform string `mapstructure:"platform"`
	// Parent lists the artifacts this build was built from, NAME@VERSION or a
	// digest; with none, the builder's generated SourceAMI or
	// SourceImageDigest is looked up in the catalog.
	Parent []string `mapstructure:"parent"`
	// Builds lists the build names that make this version (default: this
	// build alone). The last of them to finish publishes all their outputs as
	// one version, an OCI image index over one artifact per build; each
	// earlier one only stages its output.
	Builds []string `mapstructure:"builds"`
	// Key is a cosign private key file to sign with; its password comes from
	// KeyPassword or $COSIGN_PASSWORD.
	Key         string `mapstructure:"key"`
	KeyPassword string `mapstructure:"key_password"`
	// Channel is pointed at the new version once it is published and signed.
	Channel string `mapstructure:"channel"`
	// Owner is the AWS account that owns the AMIs of an amazon-ebs build.
	Owner string `mapstructure:"owner"`
	// DescribeAMIs looks each AMI of an amazon build up in EC2 (the default
	// AWS credential chain) and records its owner and snapshots.
	DescribeAMIs bool `mapstructure:"describe_amis"`
	// EC2Endpoint sends those EC2 calls to this URL (a VPC endpoint);
	// setting it implies describe_amis.
	EC2Endpoint string `mapstructure:"ec2_endpoint"`
	// Source and Revision record where the template came from.
	Source   string `mapstructure:"source"`
	Revision string `mapstructure:"revision"`

	ctx interpolate.Context
}
