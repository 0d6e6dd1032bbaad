package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/brickyard/brickyard"
	"github.com/brickyard/brickyard/registry"
	"github.com/brickyard/brickyard/sign"
	"github.com/brickyard/brickyard/sign/bundle"
	"github.com/spf13/cobra"
)

// trustKeys makes the client trust the public keys in keyPaths and, if
// trustedRoot is not empty, check Sigstore bundles' tlog entries and
// timestamps against the trusted root in that file.
func (e *env) trustKeys(keyPaths []string, trustedRoot string) error {
	if len(keyPaths) == 0 {
		return usageError{fmt.Errorf("no trusted public key: give --key PATH (repeatable)")}
	}
	var pems [][]byte
	for _, p := range keyPaths {
		b, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("trusted key: %w", err)
		}
		pems = append(pems, b)
	}
	v, err := sign.NewVerifier(pems...)
	if err != nil {
		return fmt.Errorf("trusted keys %v: %w", keyPaths, err)
	}
	bv, err := bundle.Load(trustedRoot)
	if err != nil {
		return err
	}
	e.opts = append(e.opts, brickyard.WithVerifier(v.WithBundles(bv)))
	return nil
}

// trustedRootUsage is the help of the --trusted-root flags.
const trustedRootUsage = "Sigstore trusted root file (trusted_root.json): check the tlog entries and signed timestamps of Sigstore bundles against it, offline"

func newSignCmd(e *env) *cobra.Command {
	var key, platform string
	cmd := &cobra.Command{
		Use:   "sign REF",
		Short: "Sign an artifact (NAME@VERSION or digest) with a cosign key; the signature is stored as cosign stores it",
		Long: `Sign the manifest digest of an artifact with a cosign private key (password
from $COSIGN_PASSWORD). The signature is cosign's simple-signing payload,
stored under cosign's sha256-<hex>.sig tag next to the artifact, and recorded
in the catalog.`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			ctx := cmd.Context()
			e.opts = append(e.opts, brickyard.WithKeyFile(key, []byte(os.Getenv("COSIGN_PASSWORD"))))
			rec, err := e.openRecord(ctx, argv[0], platform)
			if err != nil {
				return err
			}
			sig, err := e.c.Sign(ctx, rec)
			if err != nil {
				return err
			}
			if e.json {
				return e.printJSON(map[string]string{"digest": rec.Digest.String(), "keyId": sig.KeyID, "tag": sig.Tag})
			}
			fmt.Fprintf(e.out, "signed %s@%s %s by %s (tag %s)\n", rec.Name, rec.Version, rec.Digest, sig.KeyID, sig.Tag)
			return nil
		},
	}
	cmd.Flags().StringVar(&key, "key", "cosign.key", "cosign private key file")
	cmd.Flags().StringVar(&platform, "platform", "", "pick the platform when a version has several")
	return cmd
}

func newVerifyCmd(e *env) *cobra.Command {
	var keys []string
	var platform, trustedRoot string
	var manifestOnly bool
	cmd := &cobra.Command{
		Use:   "verify REF",
		Short: "Verify an artifact's cosign signature against trusted public keys (exit 3 if not trusted)",
		Long: `Verify an artifact's signature against the trusted --key files, offline:
a cosign signature (the .sig tag), or a Sigstore bundle attached as a
referrer (cosign sign --new-bundle-format), whose transparency-log entries
and signed timestamps are checked against --trusted-root when it is given.
The content is checked first: the manifest, config and layers (disk files;
for an OCI image, the tracked image and its blobs) are read back and
re-hashed (--manifest-only: the manifest and config only), and a blob that
does not match its digest is refused, named.
Exit 3 if a blob does not match or no signature is trusted, 1 on any other error.`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			ctx := cmd.Context()
			if err := e.trustKeys(keys, trustedRoot); err != nil {
				return err
			}
			rec, err := e.openRecord(ctx, argv[0], platform)
			if err != nil {
				return err
			}
			content, err := e.c.VerifyContent(ctx, rec, manifestOnly)
			if errors.Is(err, registry.ErrDigestMismatch) {
				return untrusted{fmt.Errorf("verify %s@%s: %w", rec.Name, rec.Version, err)}
			}
			if err != nil {
				return fmt.Errorf("verify %s@%s: %w", rec.Name, rec.Version, err)
			}
			keyID, err := e.c.Verify(ctx, rec)
			if err != nil {
				return err
			}
			if e.json {
				return e.printJSON(map[string]any{"digest": rec.Digest.String(), "keyId": keyID, "verified": "true",
					"contentBlobs": content.Blobs, "contentBytes": content.Bytes})
			}
			fmt.Fprintf(e.out, "verified %s@%s %s, signed by %s; content re-hashed: %d blobs, %d bytes\n", rec.Name, rec.Version, rec.Digest, keyID, content.Blobs, content.Bytes)
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&keys, "key", nil, "trusted cosign public key file (repeatable)")
	cmd.Flags().StringVar(&trustedRoot, "trusted-root", "", trustedRootUsage)
	cmd.Flags().StringVar(&platform, "platform", "", "pick the platform when a version has several")
	cmd.Flags().BoolVar(&manifestOnly, "manifest-only", false, "re-hash only the manifest and config, not the layers (disks) nor the tracked image")
	return cmd
}
