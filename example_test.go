package brickyard_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"log"
	"os"

	"github.com/brickyard/brickyard"
	"github.com/brickyard/brickyard/artifact"
)

// A Packer post-processor publishes and signs; a deploy tool resolves the
// newest trusted version on a channel. Here both share one home.
func Example() {
	ctx := context.Background()
	home, err := os.MkdirTemp("", "brickyard-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(home)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader) // a KMS key, say
	if err != nil {
		log.Fatal(err)
	}
	c, err := brickyard.Init(ctx, home, brickyard.WithCryptoSigner(key), brickyard.WithPublicKeys(key.Public()))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close(ctx)

	for _, v := range []string{"1.0.0", "1.1.0"} {
		p, err := c.PublishMachineImage(ctx, brickyard.MachineImageRequest{
			Meta:         brickyard.Meta{Name: "web-ami", Version: v, Platform: "linux/amd64", Sign: true},
			MachineImage: artifact.MachineImage{Provider: "aws", Owner: "123456789012", Images: map[string]string{"eu-west-1": "ami-" + v}},
		})
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("published", p.Record.Ref(), "signed:", p.Signature != nil)
		if v == "1.0.0" {
			if _, err := c.Promote(ctx, p.Record, "prod", "first release"); err != nil {
				log.Fatal(err)
			}
		}
	}
	rec, err := c.Resolve(ctx, brickyard.Query{Name: "web-ami", Range: "^1", Channel: "prod", Platform: "linux/amd64"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("deploy", rec.Ref())
	// Output:
	// published web-ami@1.0.0 signed: true
	// published web-ami@1.1.0 signed: true
	// deploy web-ami@1.0.0
}
