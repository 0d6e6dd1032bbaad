package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/brickyard/brickyard"
	"github.com/brickyard/brickyard/sign/cosignkey"
	"github.com/spf13/cobra"
)

func newInitCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "init",
		Short: "Create the store and catalog in --home",
		Long:  "Create the store and catalog in --home; running it again on an existing home is harmless.\n\n" + homeHelp,
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := e.openOrCreate(cmd.Context()); err != nil {
				return err
			}
			store, kind := e.c.StoreName(), "registry"
			if store == brickyard.LayoutStoreName {
				store, kind = filepath.Join(e.home, "store"), "OCI image layout"
				if e.storeTarget != "" {
					store = e.storeTarget
				}
			}
			logKey, logPub := brickyard.LogKeyFile(e.home), brickyard.LogPublicKeyFile(e.home)
			if e.json {
				return e.printJSON(map[string]string{"store": store, "catalog": e.catalogName(), "logKey": logKey, "logPublicKey": logPub})
			}
			fmt.Fprintf(e.out, "store   %s (%s)\ncatalog %s\nlog key %s (signs event-log checkpoints; verify with %s)\n",
				store, kind, e.catalogName(), logKey, logPub)
			return nil
		},
	}
}

func newKeygenCmd(e *env) *cobra.Command {
	var prefix string
	cmd := &cobra.Command{
		Use:   "keygen",
		Short: "Generate a cosign-compatible key pair (PREFIX.key encrypted with $COSIGN_PASSWORD, PREFIX.pub)",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			priv, pub, err := cosignkey.GenerateKeyPair([]byte(os.Getenv("COSIGN_PASSWORD")))
			if err != nil {
				return err
			}
			if dir := filepath.Dir(prefix); dir != "" {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					return err
				}
			}
			// O_EXCL: never overwrite a private key someone may depend on.
			if err := writeNew(prefix+".key", priv, 0o600); err != nil {
				return err
			}
			if err := writeNew(prefix+".pub", pub, 0o644); err != nil {
				return err
			}
			if e.json {
				return e.printJSON(map[string]string{"privateKey": prefix + ".key", "publicKey": prefix + ".pub"})
			}
			fmt.Fprintf(e.out, "private key %s.key (encrypted with $COSIGN_PASSWORD)\npublic key  %s.pub\n", prefix, prefix)
			return nil
		},
	}
	cmd.Flags().StringVar(&prefix, "output-key-prefix", "cosign", "path prefix of the key files, as cosign generate-key-pair names it")
	return cmd
}

func writeNew(path string, b []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return fmt.Errorf("write key: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("write key %s: %w", path, err)
	}
	return f.Close()
}
