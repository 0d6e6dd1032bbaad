package main

import (
	"errors"
	"fmt"

	"github.com/brickyard/brickyard"
	"github.com/spf13/cobra"
)

func newCopyCmd(e *env) *cobra.Command {
	var keys []string
	cmd := &cobra.Command{
		Use:   "copy SRC DST",
		Short: "Copy an artifact between stores, with its signatures, preserving digests",
		Long: `Copy an artifact (or any image) between the home store and OCI registries,
or between two registries, preserving its digest and carrying its cosign
signature, attestations and referrers along, and theirs in turn, as
oras cp -r and cosign copy do. What the destination already has is kept:
signatures and referrers are added to its own. The tag is written last, so
a copy that fails leaves no tag behind.

SRC and DST are HOST[:PORT]/NAME:TAG for a registry (credentials from the
docker config.json and credential helpers; plain HTTP for loopback hosts or
with --insecure) or NAME:TAG / NAME@VERSION for the home store:

  brickyard copy web@1.1.0 registry.example:5000/golden/web:1.1.0
  brickyard copy registry.example:5000/golden/web:1.1.0 web:1.1.0

The destination tag is immutable: copying other content onto it fails.

A brickyard artifact copied into the home store is recorded in its catalog
(as catalog rebuild would), so resolve, verify and fetch find it; its
parents must be recorded first. With --key, its signatures that verify
with the key are recorded too.`,
		Args: args(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			ctx := cmd.Context()
			if len(keys) > 0 {
				if err := e.trustKeys(keys, ""); err != nil {
					return err
				}
			}
			var res brickyard.Copied
			err := e.open(ctx)
			switch {
			case errors.Is(err, brickyard.ErrNoHome):
				res, err = brickyard.Copy(ctx, argv[0], argv[1], e.options()...) // registry to registry
			case err == nil:
				res, err = e.c.Copy(ctx, argv[0], argv[1])
			}
			for _, why := range res.NotRecorded {
				fmt.Fprintln(e.err, "not recorded in the catalog:", why)
			}
			if err != nil {
				return err
			}
			if e.json {
				out := map[string]string{"digest": res.Descriptor.Digest.String(), "from": res.From, "to": res.To, "tag": res.Tag}
				if res.Recorded != "" {
					out["recorded"] = res.Recorded
				}
				return e.printJSON(out)
			}
			fmt.Fprintf(e.out, "copied %s:%s %s to %s:%s\n", res.From, res.Tag, res.Descriptor.Digest, res.To, res.Tag)
			if res.Recorded != "" {
				fmt.Fprintf(e.out, "recorded %s in the catalog\n", res.Recorded)
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&keys, "key", nil, "when copying into the home store, record the signatures that verify with this public key (repeatable)")
	return cmd
}
