package sign_test

import (
	"context"
	"fmt"
	"os"

	"github.com/brickyard/brickyard/artifact"
	"github.com/brickyard/brickyard/registry"
	"github.com/brickyard/brickyard/registry/layout"
	"github.com/brickyard/brickyard/sign"
	"github.com/brickyard/brickyard/sign/cosignkey"
)

// Sign an artifact in a layout store with a cosign key, then verify it.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "sign-example")
	defer os.RemoveAll(dir)
	st, _ := layout.New(dir)

	v, _ := artifact.ParseVersion("1.0.0")
	e, err := registry.Publish(ctx, st, &artifact.Artifact{Name: "web", Kind: artifact.KindMachineImage, Version: v,
		MachineImage: &artifact.MachineImage{Provider: "aws", Owner: "123456789012", Images: map[string]string{"eu-west-1": "ami-0abc"}}})
	if err != nil {
		panic(err)
	}

	priv, pub, _ := cosignkey.GenerateKeyPair([]byte("example password"))
	signer, err := cosignkey.LoadSigner(priv, []byte("example password"))
	if err != nil {
		panic(err)
	}
	sig, err := signer.Sign(ctx, st, "web", "web", e.Descriptor)
	if err != nil {
		panic(err)
	}
	verifier, _ := sign.NewVerifier(pub)
	got, err := verifier.Verify(ctx, st, "web", "web", e.Descriptor.Digest)
	fmt.Println("stored under cosign's tag:", sig.Tag == "sha256-"+e.Descriptor.Digest.Encoded()+".sig")
	fmt.Println("verified the published digest:", err == nil && got.Digest == e.Descriptor.Digest)
	// Output:
	// stored under cosign's tag: true
	// verified the published digest: true
}
