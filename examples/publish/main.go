// Command publish is what a Packer post-processor does with brickyard after
// a build: publish the disk files the build wrote as one version of NAME,
// built on its parent, signed by a key the build never sees in full (any
// crypto.Signer: a KMS or HSM key; here an ECDSA P-384 key read from a PEM
// file stands in for one) and attested with SLSA provenance, in one call
// that checks the parent and the version before it writes anything.
//
//	publish -signing-key kms.pem -parent base@1.0.0 -builder packer/qemu web 1.1.0 output/web.qcow2
package main

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/brickyard/brickyard"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "publish:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("publish", flag.ContinueOnError)
	home := fs.String("home", ".brickyard", "brickyard home")
	keyFile := fs.String("signing-key", "kms.pem", "EC private key (PEM), standing in for a KMS key")
	m := brickyard.Meta{Sign: true, Provenance: &brickyard.ProvenanceRequest{}}
	fs.StringVar(&m.Platform, "platform", "linux/amd64", "platform the disks run on")
	fs.StringVar(&m.Build.Builder, "builder", "packer/qemu", "what built them")
	parent := fs.String("parent", "", "the artifact the build started from, NAME@VERSION")
	if err := fs.Parse(args); err != nil || fs.NArg() < 3 {
		return fmt.Errorf("usage: publish [flags] NAME VERSION FILE...")
	}
	b, err := os.ReadFile(*keyFile)
	if err != nil {
		return err
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return fmt.Errorf("%s: no PEM block", *keyFile)
	}
	key, err := x509.ParseECPrivateKey(block.Bytes)
	if err != nil {
		return fmt.Errorf("%s: %w", *keyFile, err)
	}
	c, err := brickyard.Init(ctx, *home, brickyard.WithStore(os.Getenv("BRICKYARD_STORE")), brickyard.WithCatalog(os.Getenv("BRICKYARD_CATALOG")), brickyard.WithCryptoSigner(key))
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	if *parent != "" {
		m.Parents = []string{*parent}
	}
	m.Name, m.Version = fs.Arg(0), fs.Arg(1)
	p, err := c.PublishDisk(ctx, brickyard.DiskRequest{Meta: m, Files: fs.Args()[2:], Bootable: true})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "published %s %s signed by %s\n", p.Record.Ref(), p.Record.Digest, p.Signature.KeyID)
	return nil
}
