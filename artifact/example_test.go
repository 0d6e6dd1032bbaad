package artifact_test

import (
	"fmt"
	"time"

	"github.com/brickyard/brickyard/artifact"
)

// An AMI copied to two regions, encoded as an OCI artifact manifest.
func Example() {
	v, err := artifact.ParseVersion("1.4.0+build.7")
	if err != nil {
		panic(err)
	}
	a := &artifact.Artifact{
		Name:     "golden/web",
		Kind:     artifact.KindMachineImage,
		Version:  v,
		Platform: artifact.Platform{OS: "linux", Architecture: "amd64"},
		Build:    artifact.Build{Builder: "packer/amazon-ebs", Created: time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)},
		MachineImage: &artifact.MachineImage{
			Provider: "aws",
			Owner:    "123456789012",
			Images:   map[string]string{"eu-west-1": "ami-0a1b2c3d4e5f60718", "us-east-1": "ami-0f1e2d3c4b5a69788"},
		},
	}
	e, err := artifact.Encode(a)
	if err != nil {
		panic(err)
	}
	tag, _ := artifact.Tag(a.Version)
	back, err := artifact.Decode(e.Manifest, e.Config)
	if err != nil {
		panic(err)
	}
	fmt.Println("artifactType:", e.Descriptor.ArtifactType)
	fmt.Println("tag:", tag)
	fmt.Println("layers:", e.Layers[0].MediaType)
	fmt.Println("decoded:", back.Ref(), back.Kind, back.Platform, back.MachineImage.Images["us-east-1"])
	// Output:
	// artifactType: application/vnd.brickyard.machine-image.v1
	// tag: 1.4.0_build.7
	// layers: application/vnd.oci.empty.v1+json
	// decoded: golden/web@1.4.0+build.7 machine-image linux/amd64 ami-0f1e2d3c4b5a69788
}

func ExampleParseVersion() {
	for _, s := range []string{"2.0.0-rc.1", "1.2", "v1.2.3", "latest"} {
		if _, err := artifact.ParseVersion(s); err != nil {
			fmt.Println("refused:", s)
			continue
		}
		fmt.Println("ok:", s)
	}
	// Output:
	// ok: 2.0.0-rc.1
	// refused: 1.2
	// refused: v1.2.3
	// refused: latest
}
