// Command packer-plugin-brickyard is a Packer plugin whose post-processor,
// type "brickyard", publishes a build's outputs (disk files, AMIs, a pushed
// container image) as one immutable, signed, semver-tagged brickyard
// version, with its base image as parent, and points a channel at it.
//
// It is a short program over brickyard's workflow API: what a build
// produced is classified by package artifact/packer, and publishing,
// signing and channels are brickyard.Client calls.
package main

import (
	"fmt"
	"os"

	"github.com/hashicorp/packer-plugin-sdk/plugin"
	"github.com/hashicorp/packer-plugin-sdk/version"
)

// Version is the plugin's version, as `packer plugins installed` shows it.
var Version = version.NewPluginVersion("0.1.0", "", "")

func main() {
	pps := plugin.NewSet()
	pps.RegisterPostProcessor(plugin.DEFAULT_NAME, new(PostProcessor))
	pps.SetVersion(Version)
	if err := pps.Run(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
