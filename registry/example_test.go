package registry_test

import (
	"context"
	"fmt"
	"os"

	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/registry"
	"github.com/brickyard/brickyard/registry/layout"
)

// Publish an AMI record to a layout store; its version tag is immutable.
func ExamplePublish() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "publish-example")
	defer os.RemoveAll(dir)
	st, _ := layout.New(dir)

	v, _ := artifact.ParseVersion("2.3.0+build.9")
	a := &artifact.Artifact{Name: "golden/web", Kind: artifact.KindMachineImage, Version: v,
		MachineImage: &artifact.MachineImage{Provider: "aws", Owner: "123456789012",
			Images: map[string]string{"eu-west-1": "ami-0a1b2c3d4e5f60718"}}}
	e, err := registry.Publish(ctx, st, a)
	if err != nil {
		panic(err)
	}
	tags, _ := st.Tags(ctx, "golden/web")
	fmt.Println("tags:", tags)
	fmt.Println("identity:", e.Descriptor.Digest.Algorithm())

	a.MachineImage.Images["eu-west-1"] = "ami-something-else"
	_, err = registry.Publish(ctx, st, a)
	fmt.Println("other content, same version refused:", err != nil)
	// Output:
	// tags: [2.3.0_build.9]
	// identity: sha256
	// other content, same version refused: true
}
